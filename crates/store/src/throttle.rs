//! AZ-6 / CO-5: failed-login counters that every node shares, one row per key (`user:NAME`,
//! `addr:IP`, `staff-user:NAME`, ...). With the counters in each node's memory, N nodes behind a
//! load balancer would give a guesser N times the attempts; here they slow down as one. The
//! rules (how many failures are free, how the delay grows) are the caller's: the store applies
//! them atomically.

use async_trait::async_trait;

use crate::{SqlStore, StoreError};

/// One key's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures counted (an attempt counts before its password is checked).
    pub failures: u32,
    /// When the last one was counted (Unix seconds).
    pub last_failure: i64,
    /// Attempts are refused until then (Unix seconds).
    pub blocked_until: i64,
}

/// What a throttle step makes of the counters it read (in the order of its keys): the new
/// counters, or `None` to leave everything as it was.
pub type ThrottleStep<'a> =
    &'a (dyn Fn(&[LoginFailures]) -> Option<Vec<LoginFailures>> + Send + Sync);

/// The shared login counters.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Reads the counters of `keys` (absent: zero) and writes what `step` makes of them, in one
    /// transaction that holds the rows (PostgreSQL: row locks taken by an upsert per key, in
    /// one key order; SQLite: one writer), so two nodes' attempts on one key are counted one after the
    /// other, never both against the same old count. Each row is kept until `keep_secs`
    /// after its last failure, or its block, whichever is later. True when `step` wrote.
    async fn step_login_failures(
        &self,
        keys: &[&str],
        keep_secs: i64,
        step: ThrottleStep<'_>,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn step_login_failures(
        &self,
        keys: &[&str],
        keep_secs: i64,
        step: ThrottleStep<'_>,
    ) -> Result<bool, StoreError> {
        let mut ordered: Vec<&str> = keys.to_vec();
        ordered.sort_unstable();
        ordered.dedup();
        let mut tx = self.db().begin().await?;
        // Each key's row, created if absent and locked in one statement (PostgreSQL: the
        // conflict's update takes the row lock; SQLite: one writer), in one order, so two
        // attempts naming the same keys cannot deadlock, and a purge between a create and a
        // read cannot leave a key without its row.
        let mut read = Vec::with_capacity(ordered.len());
        for key in &ordered {
            let row = crate::db::query(
                "INSERT INTO login_failures (key, failures, last_failure, blocked_until, expires_at) \
                 VALUES ($1, 0, 0, 0, 0) ON CONFLICT (key) DO UPDATE SET key = excluded.key \
                 RETURNING failures, last_failure, blocked_until",
            )
            .bind(*key)
            .fetch_one(&mut tx)
            .await?;
            let failures: i64 = row.try_get("failures")?;
            read.push((
                *key,
                LoginFailures {
                    failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    last_failure: row.try_get("last_failure")?,
                    blocked_until: row.try_get("blocked_until")?,
                },
            ));
        }
        let current: Vec<LoginFailures> = keys
            .iter()
            .map(|k| {
                read.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, r)| *r)
                    .unwrap_or_default()
            })
            .collect();
        let Some(next) = step(&current) else {
            tx.rollback().await?;
            return Ok(false);
        };
        for (key, r) in keys.iter().zip(next) {
            crate::db::query(
                "UPDATE login_failures SET failures = $1, last_failure = $2, blocked_until = $3, \
                 expires_at = $4 WHERE key = $5",
            )
            .bind(i64::from(r.failures))
            .bind(r.last_failure)
            .bind(r.blocked_until)
            .bind(
                r.blocked_until
                    .max(r.last_failure.saturating_add(keep_secs)),
            )
            .bind(*key)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
