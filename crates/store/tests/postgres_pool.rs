//! The PostgreSQL pool's health check (OP-2): a connection that sat idle in the pool long
//! enough for the database to have ended it unseen (a restart, a network cut, an
//! administrator's `pg_terminate_backend`) is pinged and replaced before a statement uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use bulwark_store::testing::{TestDb, postgres_admin_url};
use bulwark_store::{ConnectSettings, ConsentStore, SqlStore};
use sqlx::{Connection, Row};

#[tokio::test]
async fn op_2_a_pooled_connection_the_database_ended_while_idle_is_replaced_before_use() {
    let Some(db) = TestDb::postgres().await.expect("PostgreSQL") else {
        return;
    };
    // One connection, so the statement after the termination can only get the ended one or
    // its replacement.
    let settings = ConnectSettings {
        max_connections: 1,
        ..ConnectSettings::default()
    };
    let store = SqlStore::connect(&db.url, &settings).await.unwrap();
    store.migrate().await.unwrap();
    assert!(
        store
            .get_consent("no-such-consent")
            .await
            .unwrap()
            .is_none()
    );

    let name = db
        .url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_string();
    let mut admin = sqlx::AnyConnection::connect(&postgres_admin_url())
        .await
        .unwrap();
    let ended: i64 = sqlx::query(
        "SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap()
    .try_get("ended")
    .unwrap();
    assert_eq!(ended, 1, "the pool's one connection was ended");
    admin.close().await.unwrap();

    // Idle for longer than a connection goes out unpinged.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        store
            .get_consent("no-such-consent")
            .await
            .unwrap()
            .is_none(),
        "the ended connection is replaced before the statement runs"
    );
    store.close().await;
}
