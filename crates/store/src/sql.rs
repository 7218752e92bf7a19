//! The SQL store: connection with bounded retry, per-backend connection tuning and
//! migrations (sqlx's `Any` pool; SQLite statements then run on `db`'s embedded connection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::StoreError;
use crate::db::{Db, Lite};

/// Where a store's statements run: PostgreSQL through the pool in force, or SQLite on its
/// one embedded connection.
#[derive(Clone, Debug)]
pub(crate) struct DbSource {
    pools: crate::failover::PoolHandle,
    lite: Option<Arc<Lite>>,
}

impl DbSource {
    /// The database for the next statement.
    pub(crate) fn get(&self) -> Db {
        match &self.lite {
            Some(lite) => Db::Lite(lite.clone()),
            None => Db::Any(self.pools.get()),
        }
    }
}

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (or a compatible engine), for production.
    Postgres,
    /// Embedded SQLite, the zero-configuration default.
    Sqlite,
}

impl Backend {
    /// Tells the backend from the URL scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

/// How to connect: pool size and how long to keep retrying an unreachable database at start.
#[derive(Clone, Debug)]
pub struct ConnectSettings {
    /// Maximum pooled connections.
    pub max_connections: u32,
    /// Keep retrying (with backoff) for this long before giving up.
    pub startup_timeout: Duration,
    /// While running, a statement waits at most this long for a connection (the database
    /// restarting or failing over): then it fails as unavailable instead of hanging.
    pub acquire_timeout: Duration,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            startup_timeout: Duration::from_secs(15),
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

/// The store: a connection pool and the backend it talks to.
#[derive(Clone, Debug)]
pub struct SqlStore {
    /// Where statements run: the pool in force (replaced by a failover, see `failover`), or
    /// the embedded SQLite connection.
    source: DbSource,
    backend: Backend,
    pub(crate) claims: tokio::sync::mpsc::Sender<crate::batch::Claim>,
    pub(crate) lookups: tokio::sync::mpsc::Sender<crate::batch::Lookup>,
}

impl SqlStore {
    /// Connects, retrying with exponential backoff (logging why) until `startup_timeout`
    /// passes, so a database that is briefly unavailable at start does not stop the server.
    pub async fn connect(url: &str, settings: &ConnectSettings) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite && sqlite_in_memory(url) {
            // The statements' connection and the migrations' pool would each see a database
            // of their own, and the state (keys, replay claims) must outlive the process.
            return Err(StoreError::UnsupportedUrl(format!(
                "{}: an in-memory SQLite database is not supported; name a file",
                redact(url)
            )));
        }
        let deadline = Instant::now() + settings.startup_timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            match Self::try_connect(url, backend, settings).await {
                Ok(store) => return Ok(store),
                Err(e)
                    if Instant::now() + delay < deadline
                        && crate::error::is_connection_error(&e) =>
                {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn try_connect(
        url: &str,
        backend: Backend,
        settings: &ConnectSettings,
    ) -> Result<Self, sqlx::Error> {
        if backend == Backend::Sqlite && !sqlite_read_only(url) && !sqlite_in_memory(url) {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            create_owner_only(options.get_filename())?;
        }
        let pool = pool_options(backend, settings).connect(url).await?;
        // SQLite: sqlx's pool only applies migrations; statements run inline (see `db`).
        let lite = match backend {
            Backend::Sqlite => {
                let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
                Some(Arc::new(Lite::open(
                    options.get_filename(),
                    sqlite_read_only(url),
                    settings.acquire_timeout,
                )?))
            }
            Backend::Postgres => None,
        };
        Ok(Self::over(pool, url.to_string(), backend, lite))
    }

    fn over(pool: AnyPool, url: String, backend: Backend, lite: Option<Arc<Lite>>) -> Self {
        let source = DbSource {
            pools: crate::failover::PoolHandle::new(pool, url),
            lite,
        };
        let (claims, lookups) = crate::batch::spawn(&source);
        Self {
            source,
            backend,
            claims,
            lookups,
        }
    }

    /// Connects to the first of several PostgreSQL `urls` that takes writes (trying the list
    /// again with backoff until `startup_timeout`), and keeps following the primary: once a
    /// second the current server is asked whether it still takes writes, and when it does
    /// not, new statements move to the first of `urls` that does (failover, OP-2).
    pub async fn connect_failover(
        urls: &[String],
        settings: &ConnectSettings,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let Some(first) = urls.first() else {
            return Err(StoreError::UnsupportedUrl("no database URL".into()));
        };
        for url in urls {
            if Backend::from_url(url)? != Backend::Postgres {
                return Err(StoreError::UnsupportedUrl(format!(
                    "{}: only PostgreSQL servers fail over",
                    redact(url)
                )));
            }
        }
        if urls.len() == 1 {
            return Self::connect(first, settings).await;
        }
        let deadline = Instant::now() + settings.startup_timeout;
        let mut delay = Duration::from_millis(100);
        let probe = Duration::from_secs(1);
        let primary = loop {
            match crate::failover::find_primary(urls, probe).await {
                crate::failover::Primary::One(url) => break url,
                crate::failover::Primary::Several(_) => tracing::error!(
                    "more than one database URL takes writes; fence the old primary"
                ),
                crate::failover::Primary::None => {}
            }
            if Instant::now() + delay >= deadline {
                return Err(StoreError::Unavailable(
                    "not exactly one of the database URLs is a writable primary".into(),
                ));
            }
            tracing::warn!(
                retry_in_ms = delay.as_millis() as u64,
                "no writable primary among the database URLs yet; retrying"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        };
        let store = Self::connect(&primary, settings).await?;
        crate::failover::spawn_watcher(
            store.source.pools.clone(),
            urls.to_vec(),
            pool_options(Backend::Postgres, settings),
            probe,
        );
        Ok(store)
    }

    /// Where statements run now.
    pub(crate) fn db(&self) -> Db {
        self.source.get()
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this backend; re-running is a no-op.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.run(&self.source.pools.get()).await?;
        Ok(())
    }

    /// A cheap round trip, for the readiness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        crate::db::query("SELECT 1").fetch_one(&self.db()).await?;
        Ok(())
    }

    /// Closes every pooled connection (graceful shutdown, tests dropping their database).
    pub async fn close(&self) {
        if let Some(lite) = &self.source.lite {
            lite.close();
        }
        self.source.pools.get().close().await;
    }
}

/// A SQLite URL's query parameters, decoded as sqlx decodes them (so both connections read
/// the same settings).
fn sqlite_params(url: &str) -> Vec<(String, String)> {
    url.split_once('?')
        .map(|(_, query)| {
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a database URL opens the database read-only: a SQLite URL with `mode=ro` or
/// `immutable` (a process given such a URL, e.g. a gateway, cannot write).
pub fn opens_read_only(url: &str) -> bool {
    Backend::from_url(url).is_ok_and(|b| b == Backend::Sqlite) && sqlite_read_only(url)
}

/// Whether a SQLite URL opens the database read-only for sqlx (`mode=ro`, or `immutable`),
/// so the statements' connection honours it as the pool does.
fn sqlite_read_only(url: &str) -> bool {
    sqlite_params(url)
        .iter()
        .any(|(k, v)| (k == "mode" && v == "ro") || (k == "immutable" && (v == "1" || v == "true")))
}

/// Creates a SQLite database file that does not exist yet readable and writable by its owner
/// only (0600), before SQLite creates it with the process's umask (0644 under the usual 022):
/// the file holds the server's private signing keys, password hashes and refresh-token
/// hashes. SQLite gives its `-wal` and `-shm` files the database file's permissions. An
/// existing file is left as it is (its permissions are the operator's).
fn create_owner_only(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A missing directory and the like: SQLite's own open reports it, as before.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a SQLite URL names an in-memory database.
fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:")
        || sqlite_params(url)
            .iter()
            .any(|(k, v)| k == "mode" && v == "memory")
}

/// The pool settings of a backend.
fn pool_options(backend: Backend, settings: &ConnectSettings) -> AnyPoolOptions {
    let options = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(
            settings
                .acquire_timeout
                .clamp(Duration::from_millis(100), Duration::from_secs(30)),
        );
    match backend {
        Backend::Sqlite => options
            // One writer at a time in SQLite: WAL lets readers go on while it writes, and
            // synchronous=NORMAL in WAL mode survives a process kill without loss.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }),
        // sqlx pings every connection as it returns to the pool (unconditionally), and by
        // default pings it again before handing it out: two round trips around each
        // statement made outside a transaction. A connection that came back less than
        // `PING_IDLE_AFTER` ago answered its ping then, so it goes out without a second one;
        // one idle longer (where a restart or a network cut may have ended it unseen) is
        // pinged first, and a dead one is replaced before any statement uses it.
        Backend::Postgres => options
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if needs_ping(meta.idle_for) {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            }),
    }
}

/// How long a pooled PostgreSQL connection may sit idle after its release ping before it is
/// pinged again on its way out.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Whether a pooled connection idle for `idle_for` is pinged before a statement uses it.
fn needs_ping(idle_for: Duration) -> bool {
    idle_for >= PING_IDLE_AFTER
}

/// A URL without its password, safe to log.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn op_2_a_connection_idle_for_a_second_is_pinged_before_use() {
        assert!(!needs_ping(Duration::ZERO));
        assert!(!needs_ping(Duration::from_millis(999)));
        assert!(needs_ping(Duration::from_secs(1)));
        assert!(needs_ping(Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn op_1_an_in_memory_sqlite_url_is_refused_with_a_clear_error() {
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            match SqlStore::connect(url, &ConnectSettings::default()).await {
                Err(StoreError::UnsupportedUrl(m)) => assert!(m.contains("in-memory"), "{m}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    /// A `mode=ro` URL (a process that must only read, such as a gateway) opens the file
    /// read-only for statements too: reads work, a write is refused and changes nothing.
    #[tokio::test]
    async fn op_1_a_read_only_sqlite_url_reads_and_refuses_writes() {
        use crate::{AuditEvent, AuditQuery, AuditStore};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("ro.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let writer = SqlStore::connect(&url, &ConnectSettings::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        writer.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        let event = AuditEvent {
            seq: 0,
            at: 1,
            actor_kind: "System".into(),
            actor_id: "bulwark".into(),
            action: "test".into(),
            subject: None,
            reason: None,
            request_id: None,
        };
        writer
            .append_audit(&event)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let ro = format!("sqlite://{}?mode=ro", file.display());
        let reader = SqlStore::connect(&ro, &ConnectSettings::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let all = AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        };
        let read = reader
            .list_audit(&all)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.len(), 1);
        assert!(
            reader.append_audit(&event).await.is_err(),
            "a read-only store wrote"
        );
        let after = writer
            .list_audit(&all)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.len(), 1, "the refused write left a row");
    }

    /// Read as sqlx reads them: percent-encoded and `immutable` spellings are not missed.
    #[test]
    fn op_1_sqlite_url_modes_are_read_as_sqlx_reads_them() {
        for url in [
            "sqlite://x.db?mode=ro",
            "sqlite://x.db?cache=shared&mode=ro",
            "sqlite://x.db?mode=r%6F",
            "sqlite://x.db?%6Dode=ro",
            "sqlite://x.db?immutable=1",
            "sqlite://x.db?immutable=true",
        ] {
            assert!(sqlite_read_only(url), "{url}");
        }
        for url in [
            "sqlite://x.db",
            "sqlite://x.db?mode=rwc",
            "sqlite://x.db?immutable=0",
            "sqlite://ro.db",
        ] {
            assert!(!sqlite_read_only(url), "{url}");
        }
        assert!(sqlite_in_memory("sqlite://x.db?mode=m%65mory"));
        assert!(!sqlite_in_memory("sqlite://memory.db"));
        // Only SQLite has these modes: the same query on a PostgreSQL URL means nothing.
        assert!(opens_read_only(
            "sqlite:///var/lib/bulwark/bulwark.db?mode=ro"
        ));
        assert!(!opens_read_only("postgres://bulwark@db/bulwark?mode=ro"));
    }

    #[test]
    fn backend_is_told_by_scheme_and_passwords_are_not_echoed() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://u:secret@h/db")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "unsupported database URL \"mysql://u:***@h/db\": use sqlite://... or postgres://..."
            )
        );
    }
}
