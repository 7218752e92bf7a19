//! PostgreSQL failover without a proxy (OP-2): the store is given the URLs of every server
//! that may be primary, in order of preference. At start it connects to the first that takes
//! writes; while running, a watcher asks the current server once a second whether it still
//! does (`pg_is_in_recovery()`), and when it does not answer or has become a standby, tries the
//! list again and moves every new statement to the primary it finds. In-flight statements on
//! the old server fail as unavailable (503) and succeed when retried.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Row};

/// The pool every statement uses; replaced by a failover.
#[derive(Clone, Debug)]
pub(crate) struct PoolHandle {
    current: Arc<RwLock<(AnyPool, String)>>,
}

impl PoolHandle {
    pub(crate) fn new(pool: AnyPool, url: String) -> Self {
        Self {
            current: Arc::new(RwLock::new((pool, url))),
        }
    }

    /// The pool in force now.
    pub(crate) fn get(&self) -> AnyPool {
        match self.current.read() {
            Ok(slot) => slot.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    fn url(&self) -> String {
        match self.current.read() {
            Ok(slot) => slot.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Puts `pool` in force and returns the one it replaces.
    fn replace(&self, pool: AnyPool, url: String) -> AnyPool {
        let mut slot = match self.current.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *slot, (pool, url)).0
    }
}

/// True when the server at `url` answers within `timeout` and takes writes.
pub(crate) async fn is_writable_primary(url: &str, timeout: Duration) -> bool {
    let probe = async {
        let mut conn = sqlx::AnyConnection::connect(url).await.ok()?;
        let row = sqlx::query("SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS standby")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let standby: i32 = row.try_get("standby").ok()?;
        let _ = conn.close().await;
        Some(standby == 0)
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(true)))
}

/// Which of the configured servers take writes now.
pub(crate) enum Primary {
    /// None answers as a primary.
    None,
    /// Exactly one does.
    One(String),
    /// Several do: an old primary came back without being fenced. Following either would
    /// split replay claims and revocations between two databases, so nobody moves.
    Several(Vec<String>),
}

/// Asks every one of `urls` (all of them, so two writable servers are noticed).
pub(crate) async fn find_primary(urls: &[String], timeout: Duration) -> Primary {
    let mut writable = Vec::new();
    for url in urls {
        if is_writable_primary(url, timeout).await {
            writable.push(url.clone());
        }
    }
    match writable.len() {
        0 => Primary::None,
        1 => Primary::One(writable.remove(0)),
        _ => Primary::Several(writable),
    }
}

/// Watches the current server and fails over to the first writable one of `urls`.
pub(crate) fn spawn_watcher(
    handle: PoolHandle,
    urls: Vec<String>,
    options: AnyPoolOptions,
    interval: Duration,
) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            // The store was dropped (every other holder of the handle is gone).
            if Arc::strong_count(&handle.current) == 1 {
                return;
            }
            let current = handle.url();
            if is_writable_primary(&current, interval).await {
                continue;
            }
            let primary = match find_primary(&urls, interval).await {
                Primary::One(url) => url,
                Primary::None => {
                    tracing::warn!(target: "bulwark::security", current = %crate::sql::redact(&current), "no writable PostgreSQL server among the configured ones; still trying");
                    continue;
                }
                Primary::Several(urls) => {
                    let urls: Vec<String> = urls.iter().map(|u| crate::sql::redact(u)).collect();
                    tracing::error!(target: "bulwark::security", writable = ?urls, "more than one PostgreSQL server takes writes: not failing over; fence the old primary");
                    continue;
                }
            };
            if primary == current {
                continue;
            }
            let pool = options.clone().connect_lazy(&primary);
            match pool {
                Ok(pool) => {
                    let old = handle.replace(pool, primary.clone());
                    tracing::warn!(target: "bulwark::security", from = %crate::sql::redact(&current), to = %crate::sql::redact(&primary), "database failover: statements now go to the new primary");
                    tokio::spawn(async move { old.close().await });
                }
                Err(e) => tracing::error!(error = %e, "failover pool could not be built"),
            }
        }
    });
}
