//! Test databases for the store suite and the end-to-end tests: a fresh SQLite file or a fresh
//! PostgreSQL database per test, removed when the handle drops.
//!
//! PostgreSQL is found through `DATABASE_URL` (a `postgres://` URL whose database is used as
//! the administrative connection) or the local server at 127.0.0.1:5432. Without one, tests
//! print that they skipped and why; under `CI=true` a missing server is a failure.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::{Connection, Executor};

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to connect the store to.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDb { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh SQLite database file in the system temporary directory.
    pub fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!(
            "bulwark-test-{}.db",
            bulwark_core::random::token(9)
        ));
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            cleanup: Cleanup::SqliteFile(path),
        }
    }

    /// A fresh PostgreSQL database, or `None` (after printing why) when no server is reachable
    /// outside CI. Under `CI=true` an unreachable server is an error.
    pub async fn postgres() -> Result<Option<Self>, String> {
        sqlx::any::install_default_drivers();
        let admin_url = postgres_admin_url();
        let admin = tokio::time::timeout(
            Duration::from_secs(3),
            sqlx::AnyConnection::connect(&admin_url),
        )
        .await;
        let mut admin = match admin {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return skip(format!("PostgreSQL at {admin_url} is not reachable: {e}")),
            Err(_) => {
                return skip(format!(
                    "PostgreSQL at {admin_url} did not answer within 3 s"
                ));
            }
        };
        let name = format!(
            "bulwark_test_{}",
            bulwark_core::random::uuid_v4().replace('-', "")
        );
        admin
            .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name}"
            ))))
            .await
            .map_err(|e| format!("creating test database {name}: {e}"))?;
        let _ = admin.close().await;
        Ok(Some(Self {
            url: replace_database(&admin_url, &name),
            cleanup: Cleanup::PostgresDb { admin_url, name },
        }))
    }
}

impl TestDb {
    /// The store over this database, connected with the default settings and migrated: the
    /// opening of every test that needs a fresh store.
    pub async fn migrated_store(&self) -> Result<crate::SqlStore, crate::StoreError> {
        let store = crate::SqlStore::connect(&self.url, &crate::ConnectSettings::default()).await?;
        store.migrate().await?;
        Ok(store)
    }
}

fn skip(reason: String) -> Result<Option<TestDb>, String> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        Err(format!("{reason} (CI=true: PostgreSQL is required)"))
    } else {
        eprintln!("skipped PostgreSQL: {reason}");
        Ok(None)
    }
}

/// The administrative URL: `DATABASE_URL` when it names PostgreSQL, else the local server.
pub fn postgres_admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::PostgresDb { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside or outside a runtime; a separate thread with its own runtime
                // works in both, and also after a test panicked.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                            let _ = admin
                                .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_keeping_query() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h", "t1"),
            "postgres://u@h/t1"
        );
    }
}
