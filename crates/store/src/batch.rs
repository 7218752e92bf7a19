//! Group commit for the hot path (DESIGN.md hot-path budget): concurrent claims of single-use
//! identifiers, and concurrent revocation look-ups, are gathered into one SQL statement each.
//! With 16 requests in flight that is one database round trip (and one commit) instead of 16,
//! on PostgreSQL and SQLite alike. Correctness is the database's: the insert still relies on the
//! primary key, so two nodes racing for one jti still see exactly one winner.

use std::collections::{HashMap, HashSet};

use crate::StoreError;
use crate::db::Db;
use crate::error::is_connection_error;
use crate::replay::GrantWatermark;
use crate::sql::DbSource;
use tokio::sync::{mpsc, oneshot};

/// The largest batch; bounded so the statement stays well under bind-parameter limits.
const MAX_BATCH: usize = 128;
// Padding to the next power of two must never exceed the largest batch.
const _: () = assert!(MAX_BATCH.is_power_of_two());

/// The number of rows a batch of `n` is written as: the next power of two, the last row
/// repeated (a repeated claim conflicts with itself, a repeated look-up changes nothing). The
/// statement text then takes one of 8 shapes instead of 128, so every pooled connection keeps
/// all of them prepared: no re-preparing, no statement-cache churn, no memory that grows as
/// each connection meets new batch sizes.
fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// One claim request.
pub(crate) struct Claim {
    pub namespace: String,
    pub jti: String,
    pub expires_at: i64,
    pub reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// One revocation look-up: the token's `jti`, and its grant with the token's `iat`.
pub(crate) struct Lookup {
    pub jti: String,
    pub consent_id: Option<String>,
    pub issued_at: i64,
    pub grant_generation: Option<i64>,
    pub reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// Starts the batching tasks for a pool; they end when every sender is dropped.
pub(crate) fn spawn(source: &DbSource) -> (mpsc::Sender<Claim>, mpsc::Sender<Lookup>) {
    let (claim_tx, claim_rx) = mpsc::channel(4096);
    let (lookup_tx, lookup_rx) = mpsc::channel(4096);
    tokio::spawn(claim_loop(source.clone(), claim_rx));
    tokio::spawn(lookup_loop(source.clone(), lookup_rx));
    (claim_tx, lookup_tx)
}

async fn gather<T>(rx: &mut mpsc::Receiver<T>, first: T) -> Vec<T> {
    // Let every request that is ready to run reach its claim first: SQLite statements run
    // inline (no worker thread to queue behind), so without this a loaded server would
    // commit one claim at a time. Idle, it costs one trip through the run queue.
    tokio::task::yield_now().await;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    batch
}

async fn claim_loop(source: DbSource, mut rx: mpsc::Receiver<Claim>) {
    while let Some(first) = rx.recv().await {
        let pool = source.get();
        let batch = gather(&mut rx, first).await;
        let rows = padded_len(batch.len());
        let mut sql = String::from("INSERT INTO used_jtis (namespace, jti, expires_at) VALUES ");
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3));
        }
        sql.push_str(" ON CONFLICT (namespace, jti) DO NOTHING RETURNING namespace, jti");
        let mut query = crate::db::query(sqlx::AssertSqlSafe(sql));
        for c in batch
            .iter()
            .chain(batch.last().into_iter().cycle().take(rows - batch.len()))
        {
            query = query
                .bind(c.namespace.clone())
                .bind(c.jti.clone())
                .bind(c.expires_at);
        }
        match query.fetch_all(&pool).await {
            Ok(rows) => {
                let mut inserted: HashSet<(String, String)> = rows
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r.try_get::<String, _>(0).ok()?,
                            r.try_get::<String, _>(1).ok()?,
                        ))
                    })
                    .collect();
                for c in batch {
                    // The first request for a key takes the insert; a duplicate in the same
                    // batch finds it already taken, exactly as if it came later.
                    let won = inserted.remove(&(c.namespace, c.jti));
                    let _ = c.reply.send(Ok(won));
                }
            }
            // One claim, or the database is away: retrying row by row would only multiply
            // the wait; every claim of the batch fails now.
            Err(e) if batch.len() == 1 || is_connection_error(&e) => {
                for c in batch {
                    let _ = c.reply.send(Err(batch_error(&e)));
                }
                if is_connection_error(&e) {
                    // Claims that queued while this batch waited for a connection fail now
                    // too: queued behind a second wait they would take twice the bound.
                    while let Ok(c) = rx.try_recv() {
                        let _ = c.reply.send(Err(batch_error(&e)));
                    }
                }
            }
            Err(e) => {
                // One bad row must not fail the other clients' claims: retry each on its own.
                tracing::warn!(error = %e, size = batch.len(), "batched jti claim failed; claiming one by one");
                for c in batch {
                    let result = claim_one(&pool, &c).await;
                    let _ = c.reply.send(result);
                }
            }
        }
    }
}

/// One claim on its own statement (the fallback of a failed batch).
async fn claim_one(pool: &Db, c: &Claim) -> Result<bool, StoreError> {
    crate::db::query(
        "INSERT INTO used_jtis (namespace, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace, jti) DO NOTHING",
    )
    .bind(&c.namespace)
    .bind(&c.jti)
    .bind(c.expires_at)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
    .map_err(|e| batch_error(&e))
}

/// What a batched statement's failure tells each waiting caller.
fn batch_error(e: &sqlx::Error) -> StoreError {
    if is_connection_error(e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Batch(e.to_string())
    }
}

/// The look-up of `rows` tokens: revoked `jti`s (kind 0) and revoked grants with their
/// watermarks (kind 1), in one round trip. Binds: the `jti`s, then the consent ids.
fn lookup_sql(rows: usize) -> String {
    let params = |from: usize| {
        (from..from + rows)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "SELECT CAST(0 AS BIGINT), jti, CAST(0 AS BIGINT), CAST(NULL AS BIGINT) \
         FROM revoked_tokens WHERE jti IN ({}) \
         UNION ALL \
         SELECT CAST(1 AS BIGINT), consent_id, issued_until, generation_until \
         FROM revoked_grants WHERE consent_id IN ({})",
        params(1),
        params(rows + 1)
    )
}

async fn lookup_loop(source: DbSource, mut rx: mpsc::Receiver<Lookup>) {
    while let Some(first) = rx.recv().await {
        let pool = source.get();
        let batch = gather(&mut rx, first).await;
        let rows = padded_len(batch.len());
        let sql = lookup_sql(rows);
        let mut query = crate::db::query(sqlx::AssertSqlSafe(sql));
        let padded = || {
            batch
                .iter()
                .chain(batch.last().into_iter().cycle().take(rows - batch.len()))
        };
        for l in padded() {
            query = query.bind(l.jti.clone());
        }
        for l in padded() {
            // No consent has the empty id: a token without one matches no grant.
            query = query.bind(l.consent_id.clone().unwrap_or_default());
        }
        match query.fetch_all(&pool).await {
            Ok(rows) => {
                let mut revoked_jtis = HashSet::new();
                let mut revoked_grants = HashMap::new();
                let decoded: Result<(), sqlx::Error> = rows.iter().try_for_each(|r| {
                    let key = r.try_get::<String, _>(1)?;
                    if r.try_get::<i64, _>(0)? == 0 {
                        revoked_jtis.insert(key);
                    } else {
                        let watermark = GrantWatermark {
                            issued_until: r.try_get::<i64, _>(2)?,
                            generation_until: r.try_get::<Option<i64>, _>(3)?,
                        };
                        revoked_grants.insert(key, watermark);
                    }
                    Ok(())
                });
                if let Err(e) = decoded {
                    // An answer that cannot be read is no answer: nobody is told "not revoked".
                    for l in batch {
                        let _ = l.reply.send(Err(batch_error(&e)));
                    }
                    continue;
                }
                for l in batch {
                    let by_grant = l
                        .consent_id
                        .as_ref()
                        .and_then(|c| revoked_grants.get(c))
                        .is_some_and(|grant| grant.covers(l.grant_generation, l.issued_at));
                    let hit = by_grant || revoked_jtis.contains(&l.jti);
                    let _ = l.reply.send(Ok(hit));
                }
            }
            Err(e) => {
                for l in batch {
                    let _ = l.reply.send(Err(batch_error(&e)));
                }
                if is_connection_error(&e) {
                    while let Ok(l) = rx.try_recv() {
                        let _ = l.reply.send(Err(batch_error(&e)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_few_statement_shapes() {
        let shapes: HashSet<usize> = (1..=MAX_BATCH).map(padded_len).collect();
        assert_eq!(shapes.len(), 8, "{shapes:?}");
        for n in 1..=MAX_BATCH {
            assert!(padded_len(n) >= n && padded_len(n) <= MAX_BATCH);
        }
    }
}
