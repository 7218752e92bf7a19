//! The client directory's node-local cache over a real store (SQLite): a client changed in
//! the database reaches this node within the cache's lifetime, at once when the change was
//! made through this node, and a client the database does not know is never active.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bulwark_clients::ClientDirectory;
use bulwark_core::{Client, ClientStatus};
use bulwark_jose::JwksFetcher;
use bulwark_store::testing::TestDb;
use bulwark_store::{ClientStore, SqlStore};
use serde_json::json;

/// A store holding the active client `tpp-1`, and a directory over it caching for `ttl`.
async fn directory(ttl: Duration) -> (ClientDirectory, Arc<SqlStore>, TestDb) {
    let db = TestDb::sqlite();
    let store = Arc::new(db.migrated_store().await.unwrap());
    let client: Client = serde_json::from_value(json!({
        "client_id": "tpp-1",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": []},
        "scope": "accounts",
        "status": "active",
        "client_id_issued_at": 1,
        "updated_at": 1
    }))
    .unwrap();
    store.insert_client(&client).await.unwrap();
    let fetcher =
        Arc::new(JwksFetcher::new(Duration::from_secs(1), Duration::from_secs(30), &[]).unwrap());
    let dir = ClientDirectory::new(store.clone(), store.clone(), ttl, fetcher);
    (dir, store, db)
}

/// CA-1 / DCR-4 (OP-3's bounded staleness): a suspension made on another node is seen here
/// once the cached record is `ttl` old, not later; within `ttl` the cached record answers
/// (the database is not read per request).
#[tokio::test]
async fn ca_1_a_suspension_elsewhere_reaches_the_directory_within_its_cache_lifetime() {
    let (dir, store, _db) = directory(Duration::from_millis(300)).await;
    assert!(dir.is_active("tpp-1").await.unwrap());
    assert!(
        store
            .set_client_status("tpp-1", ClientStatus::Suspended, 2)
            .await
            .unwrap()
    );
    assert!(
        dir.is_active("tpp-1").await.unwrap(),
        "answered from the cache within its lifetime"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        !dir.is_active("tpp-1").await.unwrap(),
        "the cached record is read again once it is older than the cache's lifetime"
    );
}

/// DCR-4: a change made through this node (its registration management, the operator's
/// command) invalidates the cached record of that client at once.
#[tokio::test]
async fn dcr_4_a_change_made_through_this_node_is_seen_at_once() {
    let (dir, store, _db) = directory(Duration::from_secs(3600)).await;
    assert!(dir.is_active("tpp-1").await.unwrap());
    assert!(
        store
            .set_client_status("tpp-1", ClientStatus::Suspended, 2)
            .await
            .unwrap()
    );
    dir.invalidate("tpp-1");
    assert!(!dir.is_active("tpp-1").await.unwrap());
}

/// A token or a request of a client the database does not know (deleted, or never
/// registered) is not honoured: such a client is not active.
#[tokio::test]
async fn ca_1_an_unknown_client_is_not_active() {
    let (dir, _store, _db) = directory(Duration::from_secs(5)).await;
    assert!(!dir.is_active("tpp-deleted").await.unwrap());
    assert!(dir.get("tpp-deleted").await.unwrap().is_none());
}
