//! The client directory's node-local cache over a real store (SQLite): a client changed in
//! the database reaches this node within the cache's lifetime, at once when the change was
//! made through this node, and a client the database does not know is never active.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bulwark_certs::{CertProfile, ExpectedOrganisation};
use bulwark_clients::{ClientDirectory, ClientError};
use bulwark_core::{Client, ClientStatus};
use bulwark_jose::JwksFetcher;
use bulwark_store::testing::TestDb;
use bulwark_store::{
    AuditEvent, ClientStore, Registration, RegistrationStore, RegistrationWrite, SqlStore,
};
use serde_json::{Value, json};

/// An active `private_key_jwt` client `id` with the members of `extra`.
fn client(id: &str, extra: Value) -> Client {
    let mut c = json!({
        "client_id": id,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "accounts",
        "status": "active",
        "client_id_issued_at": 1,
        "updated_at": 1
    });
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(c).unwrap()
}

/// A store holding the active client `tpp-1`, and a directory over it caching for `ttl`.
async fn directory(ttl: Duration) -> (ClientDirectory, Arc<SqlStore>, TestDb) {
    let db = TestDb::sqlite();
    let store = Arc::new(db.migrated_store().await.unwrap());
    store
        .insert_client(&client("tpp-1", json!({"jwks": {"keys": []}})))
        .await
        .unwrap();
    let fetcher =
        Arc::new(JwksFetcher::new(Duration::from_secs(1), Duration::from_secs(30), &[]).unwrap());
    let dir = ClientDirectory::new(store.clone(), store.clone(), ttl, fetcher);
    (dir, store, db)
}

/// CA-1 / DCR-4 (OP-3's bounded staleness): a suspension made on another node is seen here
/// once the cached record is `ttl` old, not later (400 ms, checked at 440 ms: a quarter
/// longer would be 500 ms); within `ttl` the cached record answers (the database is not read
/// per request).
#[tokio::test]
async fn ca_1_a_suspension_elsewhere_reaches_the_directory_within_its_cache_lifetime() {
    let (dir, store, _db) = directory(Duration::from_millis(400)).await;
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
    tokio::time::sleep(Duration::from_millis(440)).await;
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

/// Registers `tpp-reg` dynamically (client row and registration row, as `/register` writes
/// them), for the organisation `organisation` (the SSA's, as JSON).
async fn register(store: &SqlStore, organisation: &str) {
    let client = client("tpp-reg", json!({"jwks": {"keys": []}}));
    let registration = Registration {
        client_id: "tpp-reg".into(),
        token_hash: "h".into(),
        software_id: "soft-1".into(),
        organisation: organisation.into(),
        certificate: None,
        created_at: 1,
        updated_at: 1,
    };
    assert_eq!(
        store
            .insert_registered_client(&client, &registration, None)
            .await
            .unwrap(),
        RegistrationWrite::Written
    );
}

/// CA-1 / DCR-4 for a dynamically registered client, as for a static one: a suspension is
/// seen once the cached record is older than the cache's lifetime (its registration does not
/// keep it active), and so is its deletion (an expired record is never served for a client
/// the database no longer has).
#[tokio::test]
async fn dcr_4_a_registered_clients_suspension_and_deletion_reach_the_directory() {
    let (dir, store, _db) = directory(Duration::from_millis(300)).await;
    register(&store, r#"{"org_id":"0015800001041REAAY"}"#).await;
    assert!(dir.is_active("tpp-reg").await.unwrap());
    store
        .set_client_status("tpp-reg", ClientStatus::Suspended, 2)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(!dir.is_active("tpp-reg").await.unwrap(), "suspended");
    let audit = AuditEvent {
        seq: 0,
        at: 3,
        actor_kind: "TPP".into(),
        actor_id: "tpp-reg".into(),
        action: "client deleted (DCR)".into(),
        subject: Some("tpp-reg".into()),
        reason: None,
        request_id: None,
    };
    assert!(
        store
            .delete_registered_client("tpp-reg", 3, &audit)
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(dir.get("tpp-reg").await.unwrap().is_none(), "deleted");
}

/// CERT-8: a registered client's certificates are held to its software statement's
/// organisation, read with the cached client (not to its metadata, which names none).
#[tokio::test]
async fn cert_8_a_registered_clients_organisation_is_its_statements() {
    let (dir, store, _db) = directory(Duration::from_secs(60)).await;
    register(&store, r#"{"org_id":"0015800001041REAAY"}"#).await;
    assert_eq!(
        dir.expected_organisation("tpp-reg", CertProfile::Eidas)
            .await
            .unwrap(),
        Some(ExpectedOrganisation::OrgId("0015800001041REAAY".into()))
    );
    assert_eq!(
        dir.expected_organisation("tpp-1", CertProfile::Eidas)
            .await
            .unwrap(),
        None,
        "a static client without organization_identifier names none"
    );
}

/// TK-5: a client that registered ID-token encryption with a `jwks_uri` that cannot be
/// reached is refused as "unavailable" before anything is decided (the PSU's decision and the
/// code stay untouched), never given no key (which would read as the client's fault).
#[tokio::test]
async fn tk_5_an_unreachable_encryption_key_set_is_unavailable() {
    let (dir, store, _db) = directory(Duration::from_secs(60)).await;
    let jwe = client(
        "tpp-jwe",
        json!({"jwks_uri": "https://127.0.0.1:9/jwks", "id_token_encrypted_response_alg": "ECDH-ES"}),
    );
    store.insert_client(&jwe).await.unwrap();
    let rc = dir.get("tpp-jwe").await.unwrap().unwrap();
    assert!(matches!(
        dir.id_token_encryption_keys(&rc).await,
        Err(ClientError::Unavailable(_))
    ));
}
