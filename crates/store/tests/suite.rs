//! The store suite: every case runs against SQLite and PostgreSQL, each in a fresh database
//! that is dropped afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bulwark_core::{AuthMethod, Client, ClientMetadata, ClientStatus};
use bulwark_store::testing::TestDb;
use bulwark_store::{
    AuditEvent, AuditQuery, AuditStore, AuthorizationStore, Backend, CLIENT_DELETED,
    ClientDeletion, ClientStore, CodeRecord, ConnectSettings, ConsentAuditRecord, ConsentCursor,
    ConsentQuery, ConsentRecord, ConsentStore, ConsentTransition, FapiCustomer, GrantRevocation,
    Interaction, IssuedToken, JtiClaim, KeyStore, OperatorRecord, PsuAccountRecord, PsuRecord,
    PsuSession, PsuStore, PushedRequest, Redeemed, Redemption, RefreshRecord, Registration,
    RegistrationStore, RegistrationWrite, ReplayStore, SqlStore, StaffRecord, StaffSessionRecord,
    StaffStore, StoreError, StoredKey, SubmittedPayment,
};

/// Declares one test per backend for an `async fn(SqlStore)` case.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = bulwark_store::testing::TestDb::sqlite();
                    let store = super::open(&db).await;
                    super::$case(store.clone()).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = bulwark_store::testing::TestDb::postgres().await.expect("PostgreSQL") else {
                        return;
                    };
                    let store = super::open(&db).await;
                    super::$case(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

both_backends!(
    op_2_migrations_are_idempotent,
    az_1_purge_keeps_a_pushed_request_an_open_interaction_needs,
    clients_insert_get_list,
    clients_duplicate_id_is_a_conflict_and_changes_nothing,
    clients_update_suspend_delete,
    signing_keys_persist_and_retire,
    az_8_the_first_shared_secret_stored_is_the_one_every_node_reads,
    ds_2_rotation_schedules_the_previous_keys,
    ds_2_a_rotation_in_the_same_second_as_the_key_it_replaces_sorts_after_it,
    ca_1_jti_is_claimed_once_per_namespace,
    tk_7_revoked_tokens_are_recorded_until_expiry,
    tk_7_a_revoked_grant_revokes_its_tokens_issued_until_then,
    co_5_a_revoked_grant_reaches_the_generations_it_names_whatever_their_iat,
    co_5_a_change_for_a_grant_generation_waits_for_no_later_one,
    co_5_each_code_opens_the_consents_next_grant_generation,
    co_1_consent_insert_get_and_idempotency_key_lookup,
    co_5_staff_users_sessions_and_the_audit_trail,
    co_1_consent_idempotency_key_is_unique_per_client_and_kind,
    co_2_transition_is_conditional_and_audited_in_one_transaction,
    co_2_racing_transitions_only_one_wins,
    co_5_search_filters_and_pages_newest_first,
    dcr_4_op_6_registration_is_written_and_deleted_with_its_client_and_audit_row,
    dcr_4_deleting_a_registration_ends_its_consents_and_grants,
    dcr_4_registration_of_a_taken_client_id_writes_nothing,
    dcr_4_no_new_registration_while_a_client_of_the_software_is_suspended,
    az_1_request_uri_completes_once_and_not_after_expiry,
    az_5_decision_code_and_consent_are_one_transaction,
    tk_2_code_is_redeemed_once_with_its_refresh_token,
    tk_2_a_code_of_a_consent_revoked_since_is_not_redeemed,
    tk_2_a_code_is_not_redeemed_from_its_expiry_on,
    tk_2_a_used_code_outlives_its_expiry_while_its_access_token_lives,
    tk_3_refresh_tokens_rotate_and_die_with_their_consent,
    gw_1_a_payment_is_recorded_once_for_its_client,
    gw_1_an_operators_payment_record_is_all_or_nothing,
    az_6_psus_accounts_and_sessions,
    hardening_one_bad_jti_does_not_fail_the_batch,
    az_1_push_claims_the_assertion_in_the_same_transaction,
    hardening_search_filters_on_the_effective_status,
    az_6_login_failures_are_counted_one_after_the_other,
    az_1_a_cancelled_interaction_spends_its_request_uri_and_nothing_else,
    az_1_racing_interactions_of_one_request_uri_finish_once,
    co_5_a_code_without_a_decision_opens_the_next_generation_or_nothing,
    ca_1_racing_redemptions_with_one_assertion_spend_one_code,
    tk_2_a_code_of_a_consent_past_its_expiration_is_not_redeemed,
);

/// AZ-6: the shared login counters are read and written in one transaction that holds the
/// rows: 16 concurrent steps on the same keys (on PostgreSQL each on its own connection, as
/// 16 nodes would be) lose no count; a step that declines writes nothing; the rows are
/// purged once their time is over.
async fn az_6_login_failures_are_counted_one_after_the_other(store: SqlStore) {
    use bulwark_store::{LoginFailures, ThrottleStore};
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let step = |now: &[LoginFailures]| {
                Some(
                    now.iter()
                        .map(|r| LoginFailures {
                            failures: r.failures + 1,
                            last_failure: 100,
                            blocked_until: 0,
                        })
                        .collect(),
                )
            };
            store
                .step_login_failures(&["user:a", "addr:10.0.0.9"], 900, &step)
                .await
                .unwrap()
        });
    }
    assert!(tasks.join_all().await.into_iter().all(|wrote| wrote));
    let seen = std::sync::Mutex::new(Vec::new());
    let read = |now: &[LoginFailures]| {
        seen.lock().unwrap().extend_from_slice(now);
        None
    };
    // Keys in any order get their own counters back, in the order asked.
    let wrote = store
        .step_login_failures(&["addr:10.0.0.9", "user:a", "user:new"], 900, &read)
        .await
        .unwrap();
    assert!(!wrote);
    let counts: Vec<u32> = seen.lock().unwrap().iter().map(|r| r.failures).collect();
    assert_eq!(counts, [16, 16, 0], "no count lost, an unknown key is zero");
    // The declined step left no row for the new key; the others go once past their time.
    assert_eq!(store.purge_authorization(100 + 900).await.unwrap(), 0);
    assert_eq!(store.purge_authorization(100 + 901).await.unwrap(), 2);
}

async fn open(db: &TestDb) -> SqlStore {
    db.migrated_store().await.expect("store")
}

fn client(id: &str, at: i64) -> Client {
    let metadata: ClientMetadata = serde_json::from_value(serde_json::json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "scope": "accounts payments",
        "redirect_uris": ["https://tpp.example/cb"],
        "jwks": {"keys": []},
        "software_id": "sw-1",
        "vendor_extension": {"nested": true}
    }))
    .unwrap();
    Client {
        client_id: id.into(),
        metadata,
        status: ClientStatus::Active,
        client_id_issued_at: at,
        updated_at: at,
    }
}

async fn op_2_migrations_are_idempotent(store: SqlStore) {
    store.migrate().await.expect("second migrate is a no-op");
    store.ping().await.expect("ping");
}

async fn clients_insert_get_list(store: SqlStore) {
    store.insert_client(&client("b", 20)).await.unwrap();
    store.insert_client(&client("a", 10)).await.unwrap();
    let got = store.get_client("b").await.unwrap().expect("stored");
    assert_eq!(got, client("b", 20));
    assert_eq!(
        got.metadata.token_endpoint_auth_method,
        AuthMethod::PrivateKeyJwt
    );
    assert_eq!(got.metadata.extra["vendor_extension"]["nested"], true);
    assert!(store.get_client("missing").await.unwrap().is_none());
    let ids: Vec<_> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

async fn clients_duplicate_id_is_a_conflict_and_changes_nothing(store: SqlStore) {
    store.insert_client(&client("dup", 1)).await.unwrap();
    let mut other = client("dup", 2);
    other.metadata.scope = Some("accounts".into());
    let err = store.insert_client(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.get_client("dup").await.unwrap().unwrap(),
        client("dup", 1)
    );
}

async fn clients_update_suspend_delete(store: SqlStore) {
    store.insert_client(&client("c", 1)).await.unwrap();
    let mut m = client("c", 1).metadata;
    m.scope = Some("accounts".into());
    assert!(store.update_client_metadata("c", &m, 5).await.unwrap());
    assert!(!store.update_client_metadata("nope", &m, 5).await.unwrap());
    assert!(
        store
            .set_client_status("c", ClientStatus::Suspended, 6)
            .await
            .unwrap()
    );
    let got = store.get_client("c").await.unwrap().unwrap();
    assert_eq!(got.metadata.scope.as_deref(), Some("accounts"));
    assert_eq!(got.status, ClientStatus::Suspended);
    assert_eq!(got.updated_at, 6);
    assert_eq!(got.client_id_issued_at, 1);
}

async fn signing_keys_persist_and_retire(store: SqlStore) {
    let key = |kid: &str, at| StoredKey {
        kid: kid.into(),
        alg: "ES256".into(),
        private_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at: at,
        activates_at: at,
        retired_at: None,
    };
    store.insert_signing_key(&key("k2", 2)).await.unwrap();
    store.insert_signing_key(&key("k1", 1)).await.unwrap();
    assert!(matches!(
        store.insert_signing_key(&key("k1", 3)).await,
        Err(StoreError::Conflict(_))
    ));
    let published = store.published_signing_keys(5).await.unwrap();
    assert_eq!(published, vec![key("k1", 1), key("k2", 2)]);
    assert!(store.retire_signing_key("k1", 9).await.unwrap());
    assert!(!store.retire_signing_key("k1", 10).await.unwrap());
    // Retiring in the future keeps the key published until then.
    assert_eq!(store.published_signing_keys(8).await.unwrap().len(), 2);
    assert_eq!(
        store.published_signing_keys(9).await.unwrap(),
        vec![key("k2", 2)]
    );
}

/// AZ-8: a shared secret (the pairwise salt) is the first one stored; later candidates,
/// concurrent ones included, read it back instead of replacing it.
async fn az_8_the_first_shared_secret_stored_is_the_one_every_node_reads(store: SqlStore) {
    assert_eq!(
        store
            .shared_secret("pairwise_salt", "first", 1)
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        store
            .shared_secret("pairwise_salt", "second", 2)
            .await
            .unwrap(),
        "first"
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .shared_secret("other", &format!("c{i}"), 3)
                .await
                .unwrap()
        });
    }
    let racing = tasks.join_all().await;
    assert!(racing.iter().all(|v| v == &racing[0]), "{racing:?}");
    assert_eq!(
        store
            .shared_secret("pairwise_salt", "third", 4)
            .await
            .unwrap(),
        "first"
    );
}

/// DS-2: a rotation stores the next key and schedules every other key of its algorithm to
/// retire, in one transaction; keys of the other algorithm are untouched, and a key already
/// retiring earlier keeps its earlier date.
/// A rotation made in the same second as the key it replaces (a fresh install rotated at
/// once) still sorts after it, so it is the one that signs once active.
async fn ds_2_a_rotation_in_the_same_second_as_the_key_it_replaces_sorts_after_it(store: SqlStore) {
    let key = |kid: &str, at: i64| StoredKey {
        kid: kid.into(),
        alg: "ES256".into(),
        private_jwk: "{}".into(),
        created_at: at,
        activates_at: at,
        retired_at: None,
    };
    store.insert_signing_key(&key("es-z", 500)).await.unwrap();
    store
        .rotate_signing_key(&key("es-a", 500), 900)
        .await
        .unwrap();
    let keys = store.published_signing_keys(600).await.unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["es-z", "es-a"], "the rotation sorts last");
    assert!(keys[1].created_at > keys[0].created_at);
}

async fn ds_2_rotation_schedules_the_previous_keys(store: SqlStore) {
    let key = |kid: &str, alg: &str, at: i64| StoredKey {
        kid: kid.into(),
        alg: alg.into(),
        private_jwk: "{}".into(),
        created_at: at,
        activates_at: at,
        retired_at: None,
    };
    store
        .insert_signing_key(&key("es-1", "ES256", 1))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("ps-1", "PS256", 1))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("es-0", "ES256", 0))
        .await
        .unwrap();
    assert!(store.retire_signing_key("es-0", 50).await.unwrap());
    let next = StoredKey {
        activates_at: 160,
        ..key("es-2", "ES256", 100)
    };
    store.rotate_signing_key(&next, 1000).await.unwrap();
    let all = store.all_signing_keys().await.unwrap();
    let by_kid = |kid: &str| all.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!(by_kid("es-0").retired_at, Some(50));
    assert_eq!(by_kid("es-1").retired_at, Some(1000));
    assert_eq!(by_kid("ps-1").retired_at, None);
    assert_eq!(by_kid("es-2"), next);
    // Signing order: by creation (the newest rotation wins whatever the activations).
    let kids: Vec<String> = store
        .published_signing_keys(100)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["es-1", "ps-1", "es-2"]);
    let later = StoredKey {
        activates_at: 150,
        ..key("es-3", "ES256", 120)
    };
    store.rotate_signing_key(&later, 900).await.unwrap();
    let kids: Vec<String> = store
        .published_signing_keys(200)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(
        kids,
        ["es-1", "ps-1", "es-2", "es-3"],
        "es-3 was created last"
    );
    // A conflicting kid changes nothing (es-1 keeps the earlier retirement of es-3's rotation).
    assert!(matches!(
        store.rotate_signing_key(&next, 2000).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .all_signing_keys()
            .await
            .unwrap()
            .iter()
            .find(|k| k.kid == "es-1")
            .unwrap()
            .retired_at,
        Some(900)
    );
}

fn consent(id: &str, client: &str, kind: &str, key: Option<&str>, at: i64) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        kind: kind.into(),
        client_id: client.into(),
        status: "AwaitingAuthorisation".into(),
        psu_id: None,
        body: serde_json::json!({"Permissions": ["ReadAccountsBasic"], "n": at}),
        selected_accounts: Vec::new(),
        idempotency_key: key.map(str::to_owned),
        body_hash: key.map(|_| "hash".to_owned()),
        created_at: at,
        status_updated_at: at,
        expires_at: Some(at + 3600),
    }
}

fn created(c: &ConsentRecord) -> ConsentAuditRecord {
    ConsentAuditRecord {
        consent_id: c.id.clone(),
        actor_kind: "TPP".into(),
        actor_id: c.client_id.clone(),
        at: c.created_at,
        from_status: None,
        to_status: c.status.clone(),
        reason: None,
        customer: FapiCustomer::default(),
    }
}

async fn put(store: &SqlStore, c: &ConsentRecord) -> Result<(), StoreError> {
    store.insert_consent(c, &created(c)).await
}

fn transition(id: &str, from: &str, to: &str, at: i64) -> ConsentTransition {
    ConsentTransition {
        consent_id: id.into(),
        from_status: from.into(),
        to_status: to.into(),
        at,
        psu_id: None,
        selected_accounts: None,
        actor_kind: "PSU".into(),
        actor_id: "psu-1".into(),
        reason: None,
        customer: FapiCustomer::default(),
        grant_generation: None,
    }
}

async fn co_1_consent_insert_get_and_idempotency_key_lookup(store: SqlStore) {
    let c = consent("pc-1", "client-a", "domestic-payment", Some("key-1"), 100);
    put(&store, &c).await.unwrap();
    assert_eq!(store.get_consent("pc-1").await.unwrap(), Some(c.clone()));
    assert!(store.get_consent("nope").await.unwrap().is_none());
    let found = store
        .find_consent_by_idempotency_key("client-a", "domestic-payment", "key-1")
        .await
        .unwrap();
    assert_eq!(found, Some(c.clone()));
    for (client, kind, key) in [
        ("client-b", "domestic-payment", "key-1"),
        ("client-a", "account-access", "key-1"),
        ("client-a", "domestic-payment", "key-2"),
    ] {
        assert!(
            store
                .find_consent_by_idempotency_key(client, kind, key)
                .await
                .unwrap()
                .is_none()
        );
    }
    let history = store.consent_history("pc-1").await.unwrap();
    assert_eq!(history, vec![created(&c)]);
    // Consents without an idempotency key never collide with each other.
    put(
        &store,
        &consent("aac-1", "client-a", "account-access", None, 1),
    )
    .await
    .unwrap();
    put(
        &store,
        &consent("aac-2", "client-a", "account-access", None, 2),
    )
    .await
    .unwrap();
}

async fn co_1_consent_idempotency_key_is_unique_per_client_and_kind(store: SqlStore) {
    put(
        &store,
        &consent("pc-1", "client-a", "domestic-payment", Some("k"), 1),
    )
    .await
    .unwrap();
    let err = put(
        &store,
        &consent("pc-2", "client-a", "domestic-payment", Some("k"), 2),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Nothing of the refused insert remains: neither the consent nor its audit row.
    assert!(store.get_consent("pc-2").await.unwrap().is_none());
    assert!(store.consent_history("pc-2").await.unwrap().is_empty());
    let dup_id = put(
        &store,
        &consent("pc-1", "client-b", "domestic-payment", None, 3),
    )
    .await;
    assert!(matches!(dup_id, Err(StoreError::Conflict(_))));
    // The same key is free for another client and for another kind.
    put(
        &store,
        &consent("pc-3", "client-b", "domestic-payment", Some("k"), 3),
    )
    .await
    .unwrap();
    put(
        &store,
        &consent("fc-1", "client-a", "funds-confirmation", Some("k"), 4),
    )
    .await
    .unwrap();
}

async fn co_2_transition_is_conditional_and_audited_in_one_transaction(store: SqlStore) {
    let c = consent("aac-1", "client-a", "account-access", None, 10);
    put(&store, &c).await.unwrap();
    let mut authorise = transition("aac-1", "AwaitingAuthorisation", "Authorised", 20);
    authorise.psu_id = Some("psu-1".into());
    authorise.selected_accounts = Some(vec!["acc-1".into(), "acc-2".into()]);
    assert!(store.transition_consent(&authorise).await.unwrap());
    // A second attempt from the old status does not apply and writes no audit row.
    assert!(!store.transition_consent(&authorise).await.unwrap());
    assert!(
        !store
            .transition_consent(&transition(
                "missing",
                "AwaitingAuthorisation",
                "Authorised",
                20
            ))
            .await
            .unwrap()
    );
    let mut revoke = transition("aac-1", "Authorised", "Revoked", 30);
    revoke.actor_kind = "Staff".into();
    revoke.actor_id = "staff-1".into();
    revoke.reason = Some("fraud suspected".into());
    let customer = FapiCustomer {
        auth_date: Some("Sun, 10 Sep 2017 19:43:31 GMT".into()),
        ip_address: Some("2001:db8::7".into()),
    };
    revoke.customer = customer.clone();
    assert!(store.transition_consent(&revoke).await.unwrap());
    let got = store.get_consent("aac-1").await.unwrap().unwrap();
    assert_eq!(got.status, "Revoked");
    assert_eq!(got.status_updated_at, 30);
    assert_eq!(got.psu_id.as_deref(), Some("psu-1"));
    assert_eq!(got.selected_accounts, ["acc-1", "acc-2"]);
    assert_eq!(got.created_at, 10);
    let history = store.consent_history("aac-1").await.unwrap();
    // ob_17: the customer headers of the request behind a change are kept with its row.
    assert_eq!(history[0].customer, FapiCustomer::default());
    assert_eq!(history.last().unwrap().customer, customer);
    let steps: Vec<_> = history
        .iter()
        .map(|a| {
            (
                a.from_status.as_deref(),
                a.to_status.as_str(),
                a.actor_kind.as_str(),
                a.actor_id.as_str(),
                a.at,
                a.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (None, "AwaitingAuthorisation", "TPP", "client-a", 10, None),
            (
                Some("AwaitingAuthorisation"),
                "Authorised",
                "PSU",
                "psu-1",
                20,
                None
            ),
            (
                Some("Authorised"),
                "Revoked",
                "Staff",
                "staff-1",
                30,
                Some("fraud suspected")
            ),
        ]
    );
}

async fn co_2_racing_transitions_only_one_wins(store: SqlStore) {
    put(
        &store,
        &consent("aac-1", "client-a", "account-access", None, 10),
    )
    .await
    .unwrap();
    let authorise = transition("aac-1", "AwaitingAuthorisation", "Authorised", 20);
    let reject = transition("aac-1", "AwaitingAuthorisation", "Rejected", 20);
    let (a, b) = tokio::join!(
        store.transition_consent(&authorise),
        store.transition_consent(&reject)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one transition applies: {a} {b}");
    assert_eq!(store.consent_history("aac-1").await.unwrap().len(), 2);
}

async fn co_5_search_filters_and_pages_newest_first(store: SqlStore) {
    for (i, client) in ["client-a", "client-b", "client-a", "client-a"]
        .iter()
        .enumerate()
    {
        let at = 100 + i as i64;
        put(
            &store,
            &consent(&format!("c-{i}"), client, "account-access", None, at),
        )
        .await
        .unwrap();
    }
    let mut t = transition("c-2", "AwaitingAuthorisation", "Authorised", 200);
    t.psu_id = Some("psu-9".into());
    assert!(store.transition_consent(&t).await.unwrap());
    let ids = |rows: Vec<ConsentRecord>| rows.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let all = ConsentQuery {
        limit: 50,
        ..ConsentQuery::default()
    };
    assert_eq!(
        ids(store.search_consents(&all).await.unwrap()),
        ["c-3", "c-2", "c-1", "c-0"]
    );
    let q = ConsentQuery {
        client_id: Some("client-a".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.search_consents(&q).await.unwrap()),
        ["c-3", "c-2", "c-0"]
    );
    let q = ConsentQuery {
        status: Some("Authorised".into()),
        psu_id: Some("psu-9".into()),
        ..all.clone()
    };
    assert_eq!(ids(store.search_consents(&q).await.unwrap()), ["c-2"]);
    let q = ConsentQuery {
        created_from: Some(101),
        created_to: Some(103),
        kind: Some("account-access".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.search_consents(&q).await.unwrap()),
        ["c-2", "c-1"]
    );
    // Keyset pages: the next page starts after the last row of the previous one; the count
    // ignores the page.
    let page = |after| ConsentQuery {
        limit: 3,
        after,
        ..ConsentQuery::default()
    };
    let first = store.search_consents(&page(None)).await.unwrap();
    assert_eq!(ids(first.clone()), ["c-3", "c-2", "c-1"]);
    let last = first.last().unwrap();
    let cursor = ConsentCursor {
        at: last.created_at,
        id: last.id.clone(),
    };
    assert_eq!(
        ids(store
            .search_consents(&page(Some(cursor.clone())))
            .await
            .unwrap()),
        ["c-0"]
    );
    assert_eq!(
        store
            .count_consents(&page(Some(cursor.clone())), 100)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store.count_consents(&page(Some(cursor)), 3).await.unwrap(),
        3,
        "capped"
    );
    let one = ConsentQuery {
        consent_id: Some("c-2".into()),
        ..ConsentQuery::default()
    };
    assert_eq!(ids(store.search_consents(&one).await.unwrap()), ["c-2"]);
    assert_eq!(store.count_consents(&one, 100).await.unwrap(), 1);
    let none = ConsentQuery {
        client_id: Some("nobody".into()),
        ..all
    };
    assert!(store.search_consents(&none).await.unwrap().is_empty());
}

#[tokio::test]
async fn op_2_unreachable_database_fails_after_bounded_retry() {
    let settings = ConnectSettings {
        max_connections: 1,
        startup_timeout: std::time::Duration::from_millis(600),
        acquire_timeout: std::time::Duration::from_millis(600),
    };
    let started = std::time::Instant::now();
    // Port 1 on loopback refuses connections.
    let err = SqlStore::connect("postgres://postgres@127.0.0.1:1/none", &settings)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(Backend::from_url("sqlite://x").unwrap(), Backend::Sqlite);
}

async fn ca_1_jti_is_claimed_once_per_namespace(store: SqlStore) {
    assert!(store.claim_jti("assertion:c1", "j1", 100).await.unwrap());
    assert!(
        !store.claim_jti("assertion:c1", "j1", 100).await.unwrap(),
        "replay refused"
    );
    assert!(
        store.claim_jti("assertion:c2", "j1", 100).await.unwrap(),
        "other namespace is independent"
    );
    // Concurrent claims of one jti: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.claim_jti("assertion:c3", "race", 100).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(store.purge_expired(101).await.unwrap(), 3);
    assert!(
        store.claim_jti("assertion:c1", "j1", 200).await.unwrap(),
        "usable again only after expiry purge"
    );
}

/// A token issued before grant generations existed (no `grant_generation` claim).
fn issued<'a>(jti: &'a str, consent_id: Option<&'a str>, issued_at: i64) -> IssuedToken<'a> {
    IssuedToken {
        jti,
        consent_id,
        issued_at,
        grant_generation: None,
    }
}

/// A user token of `consent-1` carrying its grant generation.
fn of_generation(jti: &str, generation: i64, issued_at: i64) -> IssuedToken<'_> {
    IssuedToken {
        jti,
        consent_id: Some("consent-1"),
        issued_at,
        grant_generation: Some(generation),
    }
}

/// `consent-1`'s grant revoked up to `generation_until` (and, for tokens without one,
/// `issued_until`), remembered until `expires_at`.
fn revocation(
    generation_until: i64,
    issued_until: i64,
    expires_at: i64,
) -> GrantRevocation<'static> {
    GrantRevocation {
        consent_id: "consent-1",
        client_id: "c1",
        generation_until,
        issued_until,
        expires_at,
    }
}

async fn tk_7_revoked_tokens_are_recorded_until_expiry(store: SqlStore) {
    let t1 = issued("t1", None, 5);
    assert!(!store.is_token_revoked(&t1).await.unwrap());
    store.revoke_token("t1", "c1", 50, 10).await.unwrap();
    store.revoke_token("t1", "c1", 50, 11).await.unwrap();
    assert!(store.is_token_revoked(&t1).await.unwrap());
    assert!(
        store
            .is_token_revoked(&issued("t1", Some("consent-1"), 5))
            .await
            .unwrap(),
        "a revoked jti is revoked whatever its grant"
    );
    assert_eq!(store.purge_expired(40).await.unwrap(), 0);
    assert_eq!(store.purge_expired(60).await.unwrap(), 1);
    assert!(!store.is_token_revoked(&t1).await.unwrap());
}

/// RFC 7009 2.1, for tokens issued before grant generations existed: a revoked grant takes
/// every token of its consent issued up to the moment of revocation, including ones whose
/// `jti` was never written anywhere; not those issued after, nor those of another consent;
/// another revocation only moves its bounds forward.
async fn tk_7_a_revoked_grant_revokes_its_tokens_issued_until_then(store: SqlStore) {
    let before = issued("a1", Some("consent-1"), 90);
    let at = issued("a2", Some("consent-1"), 100);
    let after = issued("a3", Some("consent-1"), 101);
    let other = issued("b1", Some("consent-2"), 90);
    let application = issued("c1", None, 90);
    store.revoke_grant(&revocation(1, 100, 700)).await.unwrap();
    // Concurrent look-ups, batched into one statement, are each answered on their own.
    let tasks: Vec<_> = [before, at, after, other, application]
        .map(|t| {
            let store = store.clone();
            let (jti, consent, iat) = (
                t.jti.to_string(),
                t.consent_id.map(str::to_string),
                t.issued_at,
            );
            tokio::spawn(async move {
                store
                    .is_token_revoked(&issued(&jti, consent.as_deref(), iat))
                    .await
                    .unwrap()
            })
        })
        .into_iter()
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers, [true, true, false, false, false]);
    store.revoke_grant(&revocation(1, 95, 650)).await.unwrap();
    assert!(
        store.is_token_revoked(&at).await.unwrap(),
        "an older revocation does not move the watermark back"
    );
    store.revoke_grant(&revocation(1, 120, 800)).await.unwrap();
    assert!(store.is_token_revoked(&after).await.unwrap());
    // A longer retention with an older watermark extends the one without lowering the other.
    store.revoke_grant(&revocation(1, 110, 900)).await.unwrap();
    assert!(store.is_token_revoked(&after).await.unwrap());
    assert_eq!(store.purge_expired(899).await.unwrap(), 0);
    assert_eq!(store.purge_expired(901).await.unwrap(), 1);
    assert!(!store.is_token_revoked(&before).await.unwrap());
}

/// CO-5, RFC 7009 2.1: a grant's revocation reaches the generations it names whatever a
/// token's `iat` says (a re-authentication in the same second, or on a node whose clock is
/// behind, opens a later generation that it does not reach; a token of a revoked generation
/// minted by a node whose clock is ahead is reached); a token without a generation is judged
/// by its `iat`; another revocation moves the generation forward, never back.
async fn co_5_a_revoked_grant_reaches_the_generations_it_names_whatever_their_iat(store: SqlStore) {
    store.revoke_grant(&revocation(2, 100, 700)).await.unwrap();
    let earlier_late_iat = of_generation("g1", 1, 500);
    let named_late_iat = of_generation("g2", 2, 500);
    let later_same_second = of_generation("g3", 3, 100);
    let later_early_iat = of_generation("g4", 3, 50);
    let legacy_before = issued("l1", Some("consent-1"), 100);
    let legacy_after = issued("l2", Some("consent-1"), 101);
    let other_consent = IssuedToken {
        consent_id: Some("consent-2"),
        ..of_generation("o1", 1, 90)
    };
    let mut answers = Vec::new();
    for t in [
        earlier_late_iat,
        named_late_iat,
        later_same_second,
        later_early_iat,
        legacy_before,
        legacy_after,
        other_consent,
    ] {
        answers.push(store.is_token_revoked(&t).await.unwrap());
    }
    assert_eq!(answers, [true, true, false, false, true, false, false]);
    store.revoke_grant(&revocation(1, 90, 650)).await.unwrap();
    assert!(
        store.is_token_revoked(&named_late_iat).await.unwrap(),
        "an older revocation does not move the generation back"
    );
    assert!(!store.is_token_revoked(&later_same_second).await.unwrap());
    store.revoke_grant(&revocation(3, 100, 700)).await.unwrap();
    assert!(store.is_token_revoked(&later_same_second).await.unwrap());
    assert!(store.is_token_revoked(&later_early_iat).await.unwrap());
    assert!(
        !store
            .is_token_revoked(&of_generation("g5", 4, 100))
            .await
            .unwrap()
    );
}

/// CO-5: each code the PSU's decision stores opens the consent's next grant generation, in
/// the decision's transaction (a decision that writes nothing opens none), above any
/// generation a revocation recorded; a revocation up to a generation discards the unused
/// codes and revokes the refresh tokens of that generation and earlier ones, and leaves a
/// later generation's.
/// CO-5: a change conditioned on a grant generation (the bank's access revocation records
/// the one it ended) applies only while that generation is the consent's latest; after a
/// re-authentication opened the next one it writes nothing, neither the row nor its audit.
async fn co_5_a_change_for_a_grant_generation_waits_for_no_later_one(store: SqlStore) {
    authorised_with_code(&store, "aac-r", "hr1").await;
    let history =
        |store: SqlStore| async move { store.consent_history("aac-r").await.unwrap().len() };
    let rows = history(store.clone()).await;
    let access_revoked = |generation: i64| ConsentTransition {
        actor_kind: "Staff".into(),
        actor_id: "alice".into(),
        grant_generation: Some(generation),
        ..transition("aac-r", "Authorised", "Authorised", 130)
    };
    assert!(!store.transition_consent(&access_revoked(0)).await.unwrap());
    assert!(!store.transition_consent(&access_revoked(2)).await.unwrap());
    assert_eq!(history(store.clone()).await, rows, "nothing written");
    store
        .insert_interaction(&interaction("ia-r2", "aac-r"))
        .await
        .unwrap();
    let reauthorised = transition("aac-r", "Authorised", "Authorised", 131);
    assert!(
        store
            .finish_interaction(
                "ia-r2",
                Some(&reauthorised),
                Some(&code_record("hr2", "aac-r")),
                "sealed"
            )
            .await
            .unwrap()
    );
    let rows = history(store.clone()).await;
    assert!(!store.transition_consent(&access_revoked(1)).await.unwrap());
    assert_eq!(history(store.clone()).await, rows, "nothing written");
    assert!(store.transition_consent(&access_revoked(2)).await.unwrap());
    let last = store.consent_history("aac-r").await.unwrap().pop().unwrap();
    assert_eq!((last.actor_id.as_str(), last.at), ("alice", 130));
}

async fn co_5_each_code_opens_the_consents_next_grant_generation(store: SqlStore) {
    assert_eq!(store.grant_generation("aac-g").await.unwrap(), 0, "unknown");
    authorised_with_code(&store, "aac-g", "hg1").await;
    assert_eq!(
        store
            .get_code("hg1")
            .await
            .unwrap()
            .unwrap()
            .grant_generation,
        1
    );
    assert_eq!(store.grant_generation("aac-g").await.unwrap(), 1);
    let redeem = |code: &str, refresh: &str, generation: i64| Redemption {
        code_hash: code.into(),
        now: 110,
        issued_jti: format!("jti-{code}"),
        issued_exp: 700,
        refresh: Some(RefreshRecord {
            grant_generation: generation,
            ..refresh_record(refresh, "aac-g")
        }),
        assertion: None,
    };
    assert_eq!(
        store.redeem_code(&redeem("hg1", "rg1", 1)).await.unwrap(),
        Redeemed::Won
    );
    // Re-authentication: an Authorised consent authorised again by its PSU.
    let reauthorise = |interaction_id: &'static str, code: &'static str| {
        let store = store.clone();
        async move {
            store
                .insert_interaction(&interaction(interaction_id, "aac-g"))
                .await
                .unwrap();
            let t = transition("aac-g", "Authorised", "Authorised", 120);
            store
                .finish_interaction(
                    interaction_id,
                    Some(&t),
                    Some(&code_record(code, "aac-g")),
                    "sealed",
                )
                .await
                .unwrap()
        }
    };
    assert!(reauthorise("ia-g2", "hg2").await);
    assert_eq!(
        store
            .get_code("hg2")
            .await
            .unwrap()
            .unwrap()
            .grant_generation,
        2
    );
    // A decision that finds the consent moved writes no code and opens no generation.
    let moved = transition("aac-g", "AwaitingAuthorisation", "Authorised", 121);
    store
        .insert_interaction(&interaction("ia-gx", "aac-g"))
        .await
        .unwrap();
    assert!(
        !store
            .finish_interaction(
                "ia-gx",
                Some(&moved),
                Some(&code_record("hgx", "aac-g")),
                "x"
            )
            .await
            .unwrap()
    );
    assert_eq!(store.grant_generation("aac-g").await.unwrap(), 2);
    // The bank's revocation read generation 1; the re-authentication's code and refresh
    // token (generation 2) stay.
    assert_eq!(
        store
            .discard_unused_codes_of_consent("aac-g", 1, 125)
            .await
            .unwrap(),
        0
    );
    assert!(store.get_code("hg2").await.unwrap().is_some());
    assert_eq!(
        store.redeem_code(&redeem("hg2", "rg2", 2)).await.unwrap(),
        Redeemed::Won
    );
    assert_eq!(
        store
            .revoke_refresh_tokens_of_consent("aac-g", 1, 126)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .get_refresh_token("rg1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(126)
    );
    let later = store.get_refresh_token("rg2").await.unwrap().unwrap();
    assert_eq!((later.revoked_at, later.grant_generation), (None, 2));
    // Up to generation 3: an unused code of it goes, every refresh token is revoked.
    assert!(reauthorise("ia-g3", "hg3").await);
    assert_eq!(
        store
            .discard_unused_codes_of_consent("aac-g", 3, 127)
            .await
            .unwrap(),
        1
    );
    assert!(store.get_code("hg3").await.unwrap().is_none());
    assert_eq!(
        store
            .revoke_refresh_tokens_of_consent("aac-g", 3, 127)
            .await
            .unwrap(),
        1
    );
    // A revocation recorded a generation the consent's count has not reached (the consent
    // restored from an older backup): the next code opens one above it.
    store
        .revoke_grant(&GrantRevocation {
            consent_id: "aac-g",
            ..revocation(7, 127, 900)
        })
        .await
        .unwrap();
    assert!(reauthorise("ia-g4", "hg4").await);
    assert_eq!(
        store
            .get_code("hg4")
            .await
            .unwrap()
            .unwrap()
            .grant_generation,
        8
    );
    assert!(reauthorise("ia-g5", "hg5").await);
    assert_eq!(
        store
            .get_code("hg5")
            .await
            .unwrap()
            .unwrap()
            .grant_generation,
        9
    );
}

/// CO-5 across the upgrade: a grant revoked before generations existed (its record has no
/// generation) judges every token of the grant by `iat`, those carrying a generation too;
/// the next revocation gives it one, which then judges the tokens that carry one. (A token
/// of generation 5 was issued by an authorisation after the upgrade, so after that first
/// revocation: the generation 1 revoked since does not reach it.)
async fn co_5_a_grant_revoked_before_generations_judges_by_iat_until_revoked_again(db: &TestDb) {
    use sqlx::{Connection, Executor};
    let store = open(db).await;
    sqlx::any::install_default_drivers();
    let mut raw = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    raw.execute(
        "INSERT INTO revoked_grants (consent_id, client_id, issued_until, expires_at) \
         VALUES ('consent-1', 'c1', 100, 700)",
    )
    .await
    .unwrap();
    raw.close().await.unwrap();
    let mut answers = Vec::new();
    for t in [
        of_generation("g1", 5, 100),
        of_generation("g2", 0, 101),
        issued("l1", Some("consent-1"), 100),
    ] {
        answers.push(store.is_token_revoked(&t).await.unwrap());
    }
    assert_eq!(answers, [true, false, true]);
    store.revoke_grant(&revocation(1, 90, 650)).await.unwrap();
    let mut answers = Vec::new();
    for t in [
        of_generation("g1", 5, 100),
        of_generation("g3", 1, 200),
        issued("l1", Some("consent-1"), 100),
    ] {
        answers.push(store.is_token_revoked(&t).await.unwrap());
    }
    assert_eq!(
        answers,
        [false, true, true],
        "the watermark kept its later bound"
    );
    store.close().await;
}

/// TK-3 / CO-2 on PostgreSQL: the statement that spends a code holds its consent (FOR SHARE).
/// A revocation holding the consent's row when the exchange starts is waited for and then seen:
/// the code is not spent and no refresh token is stored for a consent revoked before the
/// exchange committed (without the lock, the exchange would read the consent as it was and
/// store a refresh token the revocation's sweep never saw).
#[tokio::test]
async fn tk_3_postgres_an_exchange_waits_for_a_revocation_holding_the_consent() {
    use sqlx::Connection;
    let Some(db) = TestDb::postgres().await.expect("PostgreSQL") else {
        return;
    };
    let store = open(&db).await;
    authorised_with_code(&store, "aac-held", "h-held").await;
    let mut bank = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut revocation = bank.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM consents WHERE id = $1 FOR UPDATE")
        .bind("aac-held")
        .execute(&mut *revocation)
        .await
        .unwrap();
    let exchange = {
        let store = store.clone();
        let r = Redemption {
            code_hash: "h-held".into(),
            now: 110,
            issued_jti: "jti-held".into(),
            issued_exp: 700,
            refresh: Some(refresh_record("rt-held", "aac-held")),
            assertion: None,
        };
        tokio::spawn(async move { store.redeem_code(&r).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !exchange.is_finished(),
        "the exchange waits for the transaction holding its consent"
    );
    sqlx::query("UPDATE consents SET status = 'Revoked' WHERE id = $1")
        .bind("aac-held")
        .execute(&mut *revocation)
        .await
        .unwrap();
    revocation.commit().await.unwrap();
    assert_eq!(exchange.await.unwrap(), Redeemed::ConsentGone);
    assert_eq!(
        store.get_code("h-held").await.unwrap().unwrap().used_at,
        None
    );
    assert!(store.get_refresh_token("rt-held").await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn co_5_sqlite_a_grant_revoked_before_generations_judges_by_iat_until_revoked_again() {
    co_5_a_grant_revoked_before_generations_judges_by_iat_until_revoked_again(&TestDb::sqlite())
        .await;
}

#[tokio::test]
async fn co_5_postgres_a_grant_revoked_before_generations_judges_by_iat_until_revoked_again() {
    let Some(db) = TestDb::postgres().await.expect("PostgreSQL") else {
        return;
    };
    co_5_a_grant_revoked_before_generations_judges_by_iat_until_revoked_again(&db).await;
}

fn registration(id: &str, at: i64) -> Registration {
    Registration {
        client_id: id.into(),
        token_hash: "hash-of-token".into(),
        software_id: "sw-1".into(),
        organisation: r#"{"org_id":"org-1"}"#.into(),
        certificate: Some(r#"{"subject":"CN=tpp"}"#.into()),
        created_at: at,
        updated_at: at,
    }
}

/// DCR: the bank suspended a client; a new registration of the same software (a fresh `jti`)
/// writes nothing and leaves its `jti` unspent, until the bank reinstates the client.
async fn dcr_4_no_new_registration_while_a_client_of_the_software_is_suspended(store: SqlStore) {
    let claim = |jti: &str| JtiClaim {
        namespace: "dcr:sw-1".into(),
        jti: jti.into(),
        expires_at: 1_000,
    };
    let first = client("sus-1", 100);
    store
        .insert_registered_client(&first, &registration("sus-1", 100), Some(&claim("j1")))
        .await
        .unwrap();
    assert!(
        store
            .set_client_status("sus-1", ClientStatus::Suspended, 110)
            .await
            .unwrap()
    );
    let again = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .insert_registered_client(
                    &client(id, 120),
                    &registration(id, 120),
                    Some(&claim("j2")),
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(again("sus-2").await, RegistrationWrite::SoftwareSuspended);
    assert!(store.get_client("sus-2").await.unwrap().is_none());
    assert!(store.get_registration("sus-2").await.unwrap().is_none());
    // Another software registers meanwhile.
    let mut other = registration("other-1", 120);
    other.software_id = "sw-2".into();
    assert_eq!(
        store
            .insert_registered_client(&client("other-1", 120), &other, None)
            .await
            .unwrap(),
        RegistrationWrite::Written
    );
    // Reinstated: the same request (its jti was not spent) registers.
    store
        .set_client_status("sus-1", ClientStatus::Active, 130)
        .await
        .unwrap();
    assert_eq!(again("sus-3").await, RegistrationWrite::Written);
}

async fn dcr_4_op_6_registration_is_written_and_deleted_with_its_client_and_audit_row(
    store: SqlStore,
) {
    let c = client("dyn-1", 100);
    let claim = |jti: &str| JtiClaim {
        namespace: "dcr:sw-1".into(),
        jti: jti.into(),
        expires_at: 1_000,
    };
    assert_eq!(
        store
            .insert_registered_client(&c, &registration("dyn-1", 100), Some(&claim("j1")))
            .await
            .unwrap(),
        RegistrationWrite::Written
    );
    // DCR-1: the same request again (its jti) writes nothing, not even another client.
    assert_eq!(
        store
            .insert_registered_client(
                &client("dyn-2", 100),
                &registration("dyn-2", 100),
                Some(&claim("j1"))
            )
            .await
            .unwrap(),
        RegistrationWrite::Replayed
    );
    assert!(store.get_client("dyn-2").await.unwrap().is_none());
    assert_eq!(store.get_client("dyn-1").await.unwrap(), Some(c.clone()));
    let reg = store.get_registration("dyn-1").await.unwrap().unwrap();
    assert_eq!(reg, registration("dyn-1", 100));
    assert!(store.get_registration("nobody").await.unwrap().is_none());

    let mut meta = c.metadata.clone();
    meta.scope = Some("accounts".into());
    assert_eq!(
        store
            .update_registered_client(
                "dyn-1",
                &meta,
                r#"{"org_id":"org-2"}"#,
                None,
                200,
                Some(&claim("j2"))
            )
            .await
            .unwrap(),
        RegistrationWrite::Written
    );
    let mut replayed = meta.clone();
    replayed.scope = Some("payments".into());
    assert_eq!(
        store
            .update_registered_client("dyn-1", &replayed, "{}", None, 300, Some(&claim("j2")))
            .await
            .unwrap(),
        RegistrationWrite::Replayed
    );
    let got = store.get_client("dyn-1").await.unwrap().unwrap();
    assert_eq!(got.metadata.scope.as_deref(), Some("accounts"));
    assert_eq!(got.client_id_issued_at, 100);
    let reg = store.get_registration("dyn-1").await.unwrap().unwrap();
    assert_eq!(reg.organisation, r#"{"org_id":"org-2"}"#);
    assert_eq!(
        reg.certificate.as_deref(),
        Some(r#"{"subject":"CN=tpp"}"#),
        "kept when the update brings none"
    );
    assert_eq!((reg.created_at, reg.updated_at), (100, 200));
    assert_eq!(
        store
            .update_registered_client("nobody", &meta, "{}", None, 200, Some(&claim("j3")))
            .await
            .unwrap(),
        RegistrationWrite::Missing
    );
    // Nothing of a missing one is kept: its jti is still free.
    assert_eq!(
        store
            .update_registered_client(
                "dyn-1",
                &meta,
                r#"{"org_id":"org-2"}"#,
                None,
                200,
                Some(&claim("j3"))
            )
            .await
            .unwrap(),
        RegistrationWrite::Written
    );

    // A static client has no registration: the DCR delete leaves it alone, and the trail
    // without a row.
    store.insert_client(&client("static-1", 100)).await.unwrap();
    assert_eq!(
        store
            .delete_registered_client("static-1", 200, &deletion_row("static-1"))
            .await
            .unwrap(),
        None
    );
    assert!(store.get_client("static-1").await.unwrap().is_some());
    assert!(deletion_rows(&store).await.is_empty());

    if store.backend() == bulwark_store::Backend::Postgres {
        // An audit row the database refuses (PostgreSQL refuses NUL in text) takes the
        // deletion back with it: the client and its registration are still there.
        let mut bad = deletion_row("dyn-1");
        bad.reason = Some("nul\0inside".into());
        assert!(
            store
                .delete_registered_client("dyn-1", 200, &bad)
                .await
                .is_err()
        );
        assert!(store.get_client("dyn-1").await.unwrap().is_some());
        assert!(store.get_registration("dyn-1").await.unwrap().is_some());
        assert!(deletion_rows(&store).await.is_empty());
    }

    assert!(
        store
            .delete_registered_client("dyn-1", 200, &deletion_row("dyn-1"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.get_client("dyn-1").await.unwrap().is_none());
    assert!(store.get_registration("dyn-1").await.unwrap().is_none());
    // OP-6: the deletion's transaction appended its row.
    assert_eq!(
        deletion_rows(&store)
            .await
            .iter()
            .map(|e| (e.actor_id.as_str(), e.subject.as_deref(), e.at))
            .collect::<Vec<_>>(),
        [("dyn-1", Some("dyn-1"), 200)]
    );
    assert_eq!(
        store
            .delete_registered_client("dyn-1", 200, &deletion_row("dyn-1"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(deletion_rows(&store).await.len(), 1);
}

/// The audit row a DCR deletion of `client_id` appends.
fn deletion_row(client_id: &str) -> AuditEvent {
    AuditEvent {
        seq: 0,
        at: 200,
        actor_kind: "TPP".into(),
        actor_id: client_id.into(),
        action: "client deleted (DCR)".into(),
        subject: Some(client_id.into()),
        reason: Some(CLIENT_DELETED.into()),
        request_id: None,
    }
}

/// The trail's deletion rows, oldest first.
async fn deletion_rows(store: &SqlStore) -> Vec<AuditEvent> {
    store
        .list_audit(&AuditQuery {
            action: Some("client deleted (DCR)".into()),
            limit: 10,
            oldest_first: true,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

/// An account-access consent of `client_id` authorised through an interaction, whose code is
/// exchanged for the refresh token `refresh` when given (else left unused).
async fn granted(
    store: &SqlStore,
    client_id: &str,
    consent_id: &str,
    code_hash: &str,
    refresh: Option<&str>,
) {
    put(
        store,
        &consent(consent_id, client_id, "account-access", None, 100),
    )
    .await
    .unwrap();
    let interaction_id = format!("ia-{consent_id}");
    store
        .insert_interaction(&Interaction {
            client_id: client_id.into(),
            ..interaction(&interaction_id, consent_id)
        })
        .await
        .unwrap();
    let t = transition(consent_id, "AwaitingAuthorisation", "Authorised", 101);
    let code = CodeRecord {
        client_id: client_id.into(),
        ..code_record(code_hash, consent_id)
    };
    assert!(
        store
            .finish_interaction(&interaction_id, Some(&t), Some(&code), "sealed")
            .await
            .unwrap()
    );
    if let Some(refresh) = refresh {
        let r = Redemption {
            code_hash: code_hash.into(),
            now: 110,
            issued_jti: format!("jti-{consent_id}"),
            issued_exp: 700,
            refresh: Some(RefreshRecord {
                client_id: client_id.into(),
                ..refresh_record(refresh, consent_id)
            }),
            assertion: None,
        };
        assert_eq!(store.redeem_code(&r).await.unwrap(), Redeemed::Won);
    }
}

/// RFC 7592 2.3: deleting a registration ends, in the same transaction, what its client held:
/// consents awaiting authorisation are Rejected, Authorised (or expired) account-access and
/// funds-confirmation ones Revoked (an Authorised payment consent keeps its status), each with
/// exactly one audit row; refresh tokens are revoked; codes not yet exchanged, pushed requests
/// and interactions go. Another client's rows, and a client without a registration, are
/// untouched.
async fn dcr_4_deleting_a_registration_ends_its_consents_and_grants(store: SqlStore) {
    let claim = JtiClaim {
        namespace: "dcr:sw-1".into(),
        jti: "j1".into(),
        expires_at: 1_000,
    };
    store
        .insert_registered_client(
            &client("client-a", 100),
            &registration("client-a", 100),
            Some(&claim),
        )
        .await
        .unwrap();
    store.insert_client(&client("client-b", 100)).await.unwrap();
    // client-a: an account-access and a payment consent awaiting authorisation (an
    // interaction open on the first), account-access consents authorised with a code
    // exchanged for a refresh token and with one not yet exchanged, one expired on record,
    // Authorised funds-confirmation and payment consents, one it had withdrawn itself, and a
    // pushed request.
    for (id, kind) in [
        ("aac-wait", "account-access"),
        ("pay-wait", "domestic-payment"),
    ] {
        put(&store, &consent(id, "client-a", kind, None, 100))
            .await
            .unwrap();
    }
    store
        .insert_interaction(&interaction("ia-wait", "aac-wait"))
        .await
        .unwrap();
    granted(&store, "client-a", "aac-auth", "code-a", Some("rt-a")).await;
    granted(&store, "client-a", "aac-code", "code-open", None).await;
    granted(&store, "client-a", "aac-exp", "code-exp", Some("rt-exp")).await;
    let t = transition("aac-exp", "Authorised", "Expired", 102);
    assert!(store.transition_consent(&t).await.unwrap());
    for (id, kind) in [
        ("cof-auth", "funds-confirmation"),
        ("pay-auth", "domestic-payment"),
    ] {
        put(&store, &consent(id, "client-a", kind, None, 100))
            .await
            .unwrap();
        let t = transition(id, "AwaitingAuthorisation", "Authorised", 101);
        assert!(store.transition_consent(&t).await.unwrap());
    }
    put(
        &store,
        &consent("aac-gone", "client-a", "account-access", None, 100),
    )
    .await
    .unwrap();
    let t = transition("aac-gone", "AwaitingAuthorisation", "Rejected", 101);
    assert!(store.transition_consent(&t).await.unwrap());
    let pushed = |uri: &str, client_id: &str| PushedRequest {
        request_uri: uri.into(),
        client_id: client_id.into(),
        request: "{}".into(),
        expires_at: 500,
    };
    store
        .insert_pushed_request(&pushed("urn:par:a", "client-a"))
        .await
        .unwrap();
    // client-b: the same kinds of rows, which stay as they are.
    granted(&store, "client-b", "aac-b", "code-b", Some("rt-b")).await;
    granted(&store, "client-b", "aac-b2", "code-b2", None).await;
    put(
        &store,
        &consent("aac-b3", "client-b", "account-access", None, 100),
    )
    .await
    .unwrap();
    store
        .insert_interaction(&Interaction {
            client_id: "client-b".into(),
            ..interaction("ia-b3", "aac-b3")
        })
        .await
        .unwrap();
    store
        .insert_pushed_request(&pushed("urn:par:b", "client-b"))
        .await
        .unwrap();

    // A client without a registration is not deleted here, and nothing of it ends.
    assert_eq!(
        store
            .delete_registered_client("client-b", 150, &deletion_row("client-b"))
            .await
            .unwrap(),
        None
    );

    let ended = store
        .delete_registered_client("client-a", 150, &deletion_row("client-a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ended,
        ClientDeletion {
            consents_rejected: 2,
            consents_revoked: 4,
            refresh_tokens_revoked: 2,
        }
    );
    let stored = |id: &'static str| {
        let store = &store;
        async move { store.get_consent(id).await.unwrap().unwrap() }
    };
    // Each changed consent gained exactly one audit row, the TPP's, from the status it had.
    for (id, from, to) in [
        ("aac-wait", "AwaitingAuthorisation", "Rejected"),
        ("pay-wait", "AwaitingAuthorisation", "Rejected"),
        ("aac-auth", "Authorised", "Revoked"),
        ("aac-code", "Authorised", "Revoked"),
        ("aac-exp", "Expired", "Revoked"),
        ("cof-auth", "Authorised", "Revoked"),
    ] {
        let c = stored(id).await;
        assert_eq!((c.status.as_str(), c.status_updated_at), (to, 150), "{id}");
        let history = store.consent_history(id).await.unwrap();
        let by_deletion: Vec<_> = history.iter().filter(|a| a.at == 150).collect();
        assert_eq!(by_deletion.len(), 1, "{id}: {history:?}");
        let last = history.last().unwrap();
        assert_eq!(
            (
                last.actor_kind.as_str(),
                last.actor_id.as_str(),
                last.at,
                last.from_status.as_deref(),
                last.to_status.as_str(),
                last.reason.as_deref()
            ),
            ("TPP", "client-a", 150, Some(from), to, Some(CLIENT_DELETED)),
            "{id}"
        );
    }
    // The consents that keep their status gained no audit row.
    for (id, want) in [
        ("pay-auth", "Authorised"),
        ("aac-gone", "Rejected"),
        ("aac-b", "Authorised"),
        ("aac-b2", "Authorised"),
        ("aac-b3", "AwaitingAuthorisation"),
    ] {
        let c = stored(id).await;
        assert_eq!(c.status, want, "{id}");
        let history = store.consent_history(id).await.unwrap();
        assert!(history.iter().all(|a| a.at < 150), "{id}: {history:?}");
    }

    let rt = |hash: &'static str| {
        let store = &store;
        async move { store.get_refresh_token(hash).await.unwrap().unwrap() }
    };
    assert_eq!(rt("rt-a").await.revoked_at, Some(150));
    assert_eq!(rt("rt-exp").await.revoked_at, Some(150));
    assert_eq!(rt("rt-b").await.revoked_at, None);
    // The codes not yet exchanged are gone; an exchanged one stays (its reuse detection).
    assert!(store.get_code("code-open").await.unwrap().is_none());
    assert!(store.get_code("code-a").await.unwrap().is_some());
    assert!(
        store
            .get_pushed_request("urn:par:a", 150)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_interaction("ia-wait", 150)
            .await
            .unwrap()
            .is_none()
    );
    // client-b's unexchanged code, pushed request and interaction in progress are untouched.
    assert!(store.get_code("code-b2").await.unwrap().is_some());
    assert!(
        store
            .get_pushed_request("urn:par:b", 150)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.get_interaction("ia-b3", 150).await.unwrap().is_some());

    // Deleting again finds nothing and changes nothing.
    assert_eq!(
        store
            .delete_registered_client("client-a", 160, &deletion_row("client-a"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(stored("aac-auth").await.status_updated_at, 150);
    assert_eq!(rt("rt-a").await.revoked_at, Some(150));
}

async fn dcr_4_registration_of_a_taken_client_id_writes_nothing(store: SqlStore) {
    store.insert_client(&client("taken", 100)).await.unwrap();
    let err = store
        .insert_registered_client(&client("taken", 200), &registration("taken", 200), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(store.get_registration("taken").await.unwrap().is_none());
    assert_eq!(
        store
            .get_client("taken")
            .await
            .unwrap()
            .unwrap()
            .client_id_issued_at,
        100
    );
}

/// OP-2: a database that comes up a moment after the server is waited for, not given up on.
#[tokio::test]
async fn op_2_database_that_comes_up_late_is_waited_for() {
    let Some(db) = TestDb::postgres().await.expect("PostgreSQL") else {
        return;
    };
    // A port that refuses connections now and forwards to PostgreSQL after 700 ms.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    // The proxy forwards to the test database's own server (`user@host[:port]/name`).
    let (head, tail) = db.url.rsplit_once('@').unwrap_or((db.url.as_str(), ""));
    let server = tail
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_string();
    // `[::1]` and `localhost` name no port: PostgreSQL's default.
    let upstream = if server.contains(':') && !server.ends_with(']') {
        server.clone()
    } else {
        format!("{server}:5432")
    };
    // A server named in the query (`?host=`, a socket directory) is not one to proxy.
    if tail.contains("host=") || tail.contains("port=") || server.is_empty() || server.contains('%')
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the late-database test needs a host:port database URL"
        );
        eprintln!(
            "skipped: the late-database proxy needs a host:port database URL, not {server:?}"
        );
        return;
    }
    let url = format!("{head}@127.0.0.1:{port}{}", &tail[server.len()..]);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let settings = ConnectSettings {
        max_connections: 2,
        startup_timeout: std::time::Duration::from_secs(10),
        acquire_timeout: std::time::Duration::from_secs(2),
    };
    let started = std::time::Instant::now();
    let store = SqlStore::connect(&url, &settings)
        .await
        .expect("connects once the database is up");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(600),
        "it did wait"
    );
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
}

async fn az_1_request_uri_completes_once_and_not_after_expiry(store: SqlStore) {
    let r = PushedRequest {
        request_uri: "urn:ietf:params:oauth:request_uri:abc".into(),
        client_id: "client-a".into(),
        request: "{}".into(),
        expires_at: 160,
    };
    store.insert_pushed_request(&r).await.unwrap();
    assert!(matches!(
        store.insert_pushed_request(&r).await,
        Err(StoreError::Conflict(_))
    ));
    // Readable (a reload of /authorize) until an interaction using it finishes, or it expires.
    for _ in 0..2 {
        let got = store.get_pushed_request(&r.request_uri, 100).await.unwrap();
        assert_eq!(got, Some(r.clone()));
    }
    assert_eq!(
        store.get_pushed_request(&r.request_uri, 160).await.unwrap(),
        None
    );
    let c = consent("aac-par", "client-a", "account-access", None, 100);
    put(&store, &c).await.unwrap();
    let mut first = interaction("ia-par-1", "aac-par");
    first.request_uri = Some(r.request_uri.clone());
    let second = Interaction {
        id: "ia-par-2".into(),
        ..first.clone()
    };
    store.insert_interaction(&first).await.unwrap();
    store.insert_interaction(&second).await.unwrap();
    let t = transition("aac-par", "AwaitingAuthorisation", "Authorised", 101);
    assert!(
        store
            .finish_interaction("ia-par-1", Some(&t), None, "sealed")
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_pushed_request(&r.request_uri, 100).await.unwrap(),
        None
    );
    // The other interaction of the same request_uri cannot complete it again.
    let again = transition("aac-par", "Authorised", "Revoked", 102);
    assert!(
        !store
            .finish_interaction("ia-par-2", Some(&again), None, "sealed")
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_consent("aac-par").await.unwrap().unwrap().status,
        "Authorised"
    );
    // Answered without an interaction (an error redirect): spent once, then gone.
    let answered = PushedRequest {
        request_uri: "urn:ietf:params:oauth:request_uri:answered".into(),
        ..r.clone()
    };
    store.insert_pushed_request(&answered).await.unwrap();
    assert!(
        store
            .spend_pushed_request(&answered.request_uri)
            .await
            .unwrap()
    );
    assert!(
        !store
            .spend_pushed_request(&answered.request_uri)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_pushed_request(&answered.request_uri, 100)
            .await
            .unwrap(),
        None
    );
}

/// RFC 9126 4 with a slow PSU: the purge keeps an expired pushed request while an
/// interaction started from it is still open, so that interaction can complete it (once);
/// an expired one nobody uses is purged.
async fn az_1_purge_keeps_a_pushed_request_an_open_interaction_needs(store: SqlStore) {
    let used = PushedRequest {
        request_uri: "urn:ietf:params:oauth:request_uri:slow-psu".into(),
        client_id: "client-a".into(),
        request: "{}".into(),
        expires_at: 160,
    };
    let abandoned = PushedRequest {
        request_uri: "urn:ietf:params:oauth:request_uri:abandoned".into(),
        expires_at: 160,
        ..used.clone()
    };
    store.insert_pushed_request(&used).await.unwrap();
    store.insert_pushed_request(&abandoned).await.unwrap();
    put(
        &store,
        &consent("aac-slow", "client-a", "account-access", None, 100),
    )
    .await
    .unwrap();
    let mut open = interaction("ia-slow", "aac-slow");
    open.request_uri = Some(used.request_uri.clone());
    store.insert_interaction(&open).await.unwrap();
    // Long after the request_uri's lifetime, before the interaction's (1000).
    assert_eq!(store.purge_authorization(500).await.unwrap(), 1);
    let t = transition("aac-slow", "AwaitingAuthorisation", "Authorised", 480);
    assert!(
        store
            .finish_interaction("ia-slow", Some(&t), None, "sealed")
            .await
            .unwrap()
    );
    // The finished interaction (kept until 1000) no longer names it: nothing is left to purge.
    assert_eq!(store.purge_authorization(500).await.unwrap(), 0);
}

fn interaction(id: &str, consent_id: &str) -> Interaction {
    Interaction {
        id: id.into(),
        browser_hash: "bh".into(),
        csrf: "csrf".into(),
        client_id: "client-a".into(),
        consent_id: consent_id.into(),
        request: "{}".into(),
        request_uri: None,
        psu_id: None,
        psu_name: None,
        auth_time: None,
        acr: None,
        expires_at: 1000,
        outcome: None,
    }
}

fn code_record(hash: &str, consent_id: &str) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        client_id: "client-a".into(),
        consent_id: consent_id.into(),
        grant_data: "{}".into(),
        expires_at: 160,
        used_at: None,
        issued_jti: None,
        issued_exp: None,
        refresh_hash: None,
        grant_generation: 0,
    }
}

async fn az_5_decision_code_and_consent_are_one_transaction(store: SqlStore) {
    let c = consent("aac-1", "client-a", "account-access", None, 100);
    put(&store, &c).await.unwrap();
    store
        .insert_interaction(&interaction("ia-1", "aac-1"))
        .await
        .unwrap();
    assert!(store.get_interaction("ia-1", 100).await.unwrap().is_some());
    assert!(store.get_interaction("ia-1", 1000).await.unwrap().is_none());
    assert!(
        store
            .set_interaction_login("ia-1", "psu-1", "Alex", 101, "urn:openbanking:psd2:sca")
            .await
            .unwrap()
    );
    let got = store.get_interaction("ia-1", 101).await.unwrap().unwrap();
    assert_eq!(got.psu_id.as_deref(), Some("psu-1"));

    // The consent moved elsewhere first: nothing is written, the interaction stays.
    let mut wrong = transition("aac-1", "Authorised", "Revoked", 102);
    assert!(
        !store
            .finish_interaction(
                "ia-1",
                Some(&wrong),
                Some(&code_record("h1", "aac-1")),
                "sealed"
            )
            .await
            .unwrap()
    );
    assert!(store.get_code("h1").await.unwrap().is_none());
    assert!(store.get_interaction("ia-1", 102).await.unwrap().is_some());

    let mut ok = transition("aac-1", "AwaitingAuthorisation", "Authorised", 102);
    ok.psu_id = Some("psu-1".into());
    ok.selected_accounts = Some(vec!["acc-1".into()]);
    assert!(
        store
            .finish_interaction(
                "ia-1",
                Some(&ok),
                Some(&code_record("h1", "aac-1")),
                "sealed"
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_consent("aac-1").await.unwrap().unwrap().status,
        "Authorised"
    );
    assert_eq!(
        store.get_code("h1").await.unwrap().unwrap().consent_id,
        "aac-1"
    );
    // Finished: kept until it expires with its sealed outcome only (AZ-4, a form sent again
    // gets the same redirect), and no login can be recorded on it any more.
    let done = store.get_interaction("ia-1", 102).await.unwrap().unwrap();
    assert_eq!(done.outcome.as_deref(), Some("sealed"));
    assert_eq!(done.request, "");
    assert!(
        !store
            .set_interaction_login("ia-1", "psu-2", "Sam", 103, "urn:openbanking:psd2:sca")
            .await
            .unwrap()
    );
    // The same interaction cannot decide twice, nor change its outcome.
    wrong.from_status = "Authorised".into();
    assert!(
        !store
            .finish_interaction("ia-1", Some(&wrong), None, "again")
            .await
            .unwrap()
    );
    assert_eq!(store.consent_history("aac-1").await.unwrap().len(), 2);
    let done = store.get_interaction("ia-1", 104).await.unwrap().unwrap();
    assert_eq!(done.outcome.as_deref(), Some("sealed"));
    assert_eq!(done.psu_id.as_deref(), Some("psu-1"));
}

/// A pushed request of `client-a` with the given `request_uri`.
fn pushed(request_uri: &str) -> PushedRequest {
    PushedRequest {
        request_uri: request_uri.into(),
        client_id: "client-a".into(),
        request: "{}".into(),
        expires_at: 160,
    }
}

/// RFC 9126 4: a customer who cancels before deciding ends the interaction and spends its
/// `request_uri` (the client has its answer), and writes nothing else: the consent keeps its
/// status and history. Once finished, neither it nor another interaction of the same
/// `request_uri` finishes again, and a refused finish changes nothing.
async fn az_1_a_cancelled_interaction_spends_its_request_uri_and_nothing_else(store: SqlStore) {
    let c = consent("aac-cancel", "client-a", "account-access", None, 100);
    put(&store, &c).await.unwrap();
    let r = pushed("urn:ietf:params:oauth:request_uri:cancel");
    store.insert_pushed_request(&r).await.unwrap();
    let mut first = interaction("ia-cancel-1", "aac-cancel");
    first.request_uri = Some(r.request_uri.clone());
    let second = Interaction {
        id: "ia-cancel-2".into(),
        ..first.clone()
    };
    store.insert_interaction(&first).await.unwrap();
    store.insert_interaction(&second).await.unwrap();

    assert!(
        store
            .finish_interaction("ia-cancel-1", None, None, "cancelled")
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_pushed_request(&r.request_uri, 100).await.unwrap(),
        None
    );
    let done = store
        .get_interaction("ia-cancel-1", 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.outcome.as_deref(), Some("cancelled"));
    assert_eq!(done.request, "");
    assert_eq!(store.get_consent("aac-cancel").await.unwrap().unwrap(), c);
    assert_eq!(store.consent_history("aac-cancel").await.unwrap().len(), 1);

    // Finished once: again, or through the other interaction of the spent request_uri, no.
    assert!(
        !store
            .finish_interaction("ia-cancel-1", None, None, "again")
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_interaction("ia-cancel-2", None, None, "again")
            .await
            .unwrap()
    );
    let done = store
        .get_interaction("ia-cancel-1", 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.outcome.as_deref(), Some("cancelled"));
    let refused = store
        .get_interaction("ia-cancel-2", 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused, second);
    // The refused decision through the other interaction left the consent as it was, and a
    // code hash already taken elsewhere is no conflict there: nothing was going to be stored.
    authorised_with_code(&store, "aac-cancel-other", "h-cancel-taken").await;
    let t = transition("aac-cancel", "AwaitingAuthorisation", "Authorised", 101);
    assert!(
        !store
            .finish_interaction(
                "ia-cancel-2",
                Some(&t),
                Some(&code_record("h-cancel-taken", "aac-cancel")),
                "sealed"
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_interaction(
                "ia-cancel-2",
                Some(&t),
                Some(&code_record("h-cancel", "aac-cancel")),
                "sealed"
            )
            .await
            .unwrap()
    );
    assert_eq!(store.get_consent("aac-cancel").await.unwrap().unwrap(), c);
    assert!(store.get_code("h-cancel").await.unwrap().is_none());
    assert_eq!(
        store
            .get_interaction("ia-cancel-2", 100)
            .await
            .unwrap()
            .unwrap(),
        second
    );
}

/// RFC 9126 4 under concurrency: two browsers deciding at once on two interactions of one
/// `request_uri` (on PostgreSQL each on its own connection): one finishes, with its code and
/// its consent decision; the other writes nothing.
async fn az_1_racing_interactions_of_one_request_uri_finish_once(store: SqlStore) {
    for round in 0..8 {
        let consent_id = format!("aac-race-{round}");
        let c = consent(&consent_id, "client-a", "account-access", None, 100);
        put(&store, &c).await.unwrap();
        let r = pushed(&format!("urn:ietf:params:oauth:request_uri:race-{round}"));
        store.insert_pushed_request(&r).await.unwrap();
        let ids = [format!("ia-race-{round}-a"), format!("ia-race-{round}-b")];
        for id in &ids {
            let mut i = interaction(id, &consent_id);
            i.request_uri = Some(r.request_uri.clone());
            store.insert_interaction(&i).await.unwrap();
        }
        let t = transition(&consent_id, "AwaitingAuthorisation", "Authorised", 101);
        let codes = [format!("h-race-{round}-a"), format!("h-race-{round}-b")];
        let finish = |n: usize| {
            let store = store.clone();
            let (id, code, t) = (ids[n].clone(), codes[n].clone(), t.clone());
            let consent_id = consent_id.clone();
            tokio::spawn(async move {
                store
                    .finish_interaction(
                        &id,
                        Some(&t),
                        Some(&code_record(&code, &consent_id)),
                        "sealed",
                    )
                    .await
                    .unwrap()
            })
        };
        let (a, b) = (finish(0), finish(1));
        let finished = [a.await.unwrap(), b.await.unwrap()];
        assert_eq!(finished.iter().filter(|f| **f).count(), 1, "round {round}");
        let winner = usize::from(finished[1]);
        let loser = 1 - winner;
        assert!(store.get_code(&codes[winner]).await.unwrap().is_some());
        assert!(store.get_code(&codes[loser]).await.unwrap().is_none());
        let lost = store
            .get_interaction(&ids[loser], 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lost.outcome, None);
        assert_eq!(store.consent_history(&consent_id).await.unwrap().len(), 2);
        let stored = store.get_consent(&consent_id).await.unwrap().unwrap();
        assert_eq!(stored.status, "Authorised");
        assert_eq!(store.grant_generation(&consent_id).await.unwrap(), 1);

        // Two cancels at once: no consent decides between them, only the request_uri.
        let r = pushed(&format!(
            "urn:ietf:params:oauth:request_uri:cancels-{round}"
        ));
        store.insert_pushed_request(&r).await.unwrap();
        let ids = [
            format!("ia-cancels-{round}-a"),
            format!("ia-cancels-{round}-b"),
        ];
        for id in &ids {
            let mut i = interaction(id, &consent_id);
            i.request_uri = Some(r.request_uri.clone());
            store.insert_interaction(&i).await.unwrap();
        }
        let cancel = |n: usize| {
            let (store, id) = (store.clone(), ids[n].clone());
            tokio::spawn(async move {
                store
                    .finish_interaction(&id, None, None, "cancelled")
                    .await
                    .unwrap()
            })
        };
        let (a, b) = (cancel(0), cancel(1));
        let finished = [a.await.unwrap(), b.await.unwrap()];
        assert_eq!(finished.iter().filter(|f| **f).count(), 1, "round {round}");
        let loser = &ids[usize::from(finished[0])];
        let lost = store.get_interaction(loser, 100).await.unwrap().unwrap();
        assert_eq!(lost.outcome, None);
    }
}

/// CO-5: a code stored with no decision (the consent already Authorised, as a
/// re-authentication finds it) opens the consent's next grant generation and writes no
/// audit row; for a consent that is not there it writes nothing, and the interaction runs on.
async fn co_5_a_code_without_a_decision_opens_the_next_generation_or_nothing(store: SqlStore) {
    authorised_with_code(&store, "aac-again", "h-again-1").await;
    store
        .insert_interaction(&interaction("ia-again-2", "aac-again"))
        .await
        .unwrap();
    assert!(
        store
            .finish_interaction(
                "ia-again-2",
                None,
                Some(&code_record("h-again-2", "aac-again")),
                "sealed"
            )
            .await
            .unwrap()
    );
    let code = store.get_code("h-again-2").await.unwrap().unwrap();
    assert_eq!(code.grant_generation, 2);
    assert_eq!(store.grant_generation("aac-again").await.unwrap(), 2);
    assert_eq!(store.consent_history("aac-again").await.unwrap().len(), 2);

    store
        .insert_interaction(&interaction("ia-nowhere", "aac-nowhere"))
        .await
        .unwrap();
    assert!(
        !store
            .finish_interaction(
                "ia-nowhere",
                None,
                Some(&code_record("h-nowhere", "aac-nowhere")),
                "sealed"
            )
            .await
            .unwrap()
    );
    assert!(store.get_code("h-nowhere").await.unwrap().is_none());
    let running = store
        .get_interaction("ia-nowhere", 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running, interaction("ia-nowhere", "aac-nowhere"));
}

/// CA-1 with TK-2 under concurrency: two code exchanges at once with the same client
/// assertion (`jti`) for two codes: one wins its code; the other is a replay that spends
/// nothing (its code stays unused, no refresh token stored).
async fn ca_1_racing_redemptions_with_one_assertion_spend_one_code(store: SqlStore) {
    for round in 0..8 {
        let codes = [format!("h-ra-{round}-a"), format!("h-ra-{round}-b")];
        let mut consents = Vec::new();
        for (n, code) in codes.iter().enumerate() {
            let consent_id = format!("aac-ra-{round}-{n}");
            authorised_with_code(&store, &consent_id, code).await;
            consents.push(consent_id);
        }
        let redeem = |n: usize| {
            let store = store.clone();
            let r = Redemption {
                code_hash: codes[n].clone(),
                now: 110,
                issued_jti: format!("jti-ra-{round}-{n}"),
                issued_exp: 700,
                refresh: Some(refresh_record(&format!("rt-ra-{round}-{n}"), &consents[n])),
                assertion: Some(JtiClaim {
                    namespace: "assertion:client-a".into(),
                    jti: format!("a-ra-{round}"),
                    expires_at: 500,
                }),
            };
            tokio::spawn(async move { store.redeem_code(&r).await.unwrap() })
        };
        let (a, b) = (redeem(0), redeem(1));
        let outcomes = [a.await.unwrap(), b.await.unwrap()];
        let winner = outcomes
            .iter()
            .position(|o| *o == Redeemed::Won)
            .expect("one exchange wins");
        let loser = 1 - winner;
        assert_eq!(
            outcomes[loser],
            Redeemed::AssertionReplayed,
            "round {round}"
        );
        let lost = store.get_code(&codes[loser]).await.unwrap().unwrap();
        assert_eq!((lost.used_at, lost.issued_jti), (None, None));
        let lost_refresh = format!("rt-ra-{round}-{loser}");
        assert!(
            store
                .get_refresh_token(&lost_refresh)
                .await
                .unwrap()
                .is_none()
        );
        let won = store.get_code(&codes[winner]).await.unwrap().unwrap();
        assert_eq!(won.used_at, Some(110));
    }
}

/// TK-2 / CO-2: the statement that spends a code judges its consent's expiry (to the second):
/// an Authorised consent from its ExpirationDateTime on no longer stands (whether or not the
/// expiry was recorded), so the code is not spent and nothing is written; a second earlier,
/// the same exchange wins. A refresh token hash already stored is a conflict (not a replay)
/// that writes nothing either.
async fn tk_2_a_code_of_a_consent_past_its_expiration_is_not_redeemed(store: SqlStore) {
    let mut c = consent("aac-exp", "client-a", "account-access", None, 100);
    c.expires_at = Some(150);
    authorise_with_code(&store, &c, "h-exp").await;
    let at = |now: i64| Redemption {
        code_hash: "h-exp".into(),
        now,
        issued_jti: format!("jti-exp-{now}"),
        issued_exp: now + 600,
        refresh: Some(refresh_record(&format!("rt-exp-{now}"), "aac-exp")),
        assertion: Some(JtiClaim {
            namespace: "assertion:client-a".into(),
            jti: format!("a-exp-{now}"),
            expires_at: 500,
        }),
    };
    assert_eq!(
        store.redeem_code(&at(150)).await.unwrap(),
        Redeemed::ConsentGone
    );
    let code = store.get_code("h-exp").await.unwrap().unwrap();
    assert_eq!((code.used_at, code.issued_jti), (None, None));
    assert!(
        store
            .get_refresh_token("rt-exp-150")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_jti("assertion:client-a", "a-exp-150", 500)
            .await
            .unwrap(),
        "the refused exchange's assertion is not spent by the store"
    );
    // A refresh token hash already stored is a conflict, not a replay, and writes nothing.
    authorised_with_code(&store, "aac-exp-other", "h-exp-other").await;
    let taken_refresh = Redemption {
        code_hash: "h-exp-other".into(),
        refresh: Some(refresh_record("rt-exp-taken", "aac-exp-other")),
        ..at(110)
    };
    assert_eq!(
        store.redeem_code(&taken_refresh).await.unwrap(),
        Redeemed::Won
    );
    let clash = Redemption {
        refresh: Some(refresh_record("rt-exp-taken", "aac-exp")),
        ..at(149)
    };
    assert!(matches!(
        store.redeem_code(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    let code = store.get_code("h-exp").await.unwrap().unwrap();
    assert_eq!((code.used_at, code.issued_jti), (None, None));
    assert!(
        store
            .claim_jti("assertion:client-a", "a-exp-149", 500)
            .await
            .unwrap(),
        "the conflicting exchange's assertion is not spent"
    );
    let at = |now: i64| Redemption {
        assertion: Some(JtiClaim {
            namespace: "assertion:client-a".into(),
            jti: format!("a-exp-{now}-again"),
            expires_at: 500,
        }),
        ..at(now)
    };
    assert_eq!(store.redeem_code(&at(149)).await.unwrap(), Redeemed::Won);
    assert_eq!(
        store.get_code("h-exp").await.unwrap().unwrap().used_at,
        Some(149)
    );
}

fn refresh_record(hash: &str, consent_id: &str) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        client_id: "client-a".into(),
        consent_id: consent_id.into(),
        grant_data: "{}".into(),
        issued_at: 100,
        expires_at: 10_000,
        revoked_at: None,
        grant_generation: 1,
    }
}

/// An account-access consent of `client-a` authorised through an interaction, with the
/// unused code `code_hash` (`code_record`) its decision stored.
async fn authorised_with_code(store: &SqlStore, consent_id: &str, code_hash: &str) {
    let c = consent(consent_id, "client-a", "account-access", None, 100);
    authorise_with_code(store, &c, code_hash).await;
}

/// Stores `c` (AwaitingAuthorisation) and authorises it through an interaction, with the
/// unused code `code_hash` (`code_record`) its decision stored.
async fn authorise_with_code(store: &SqlStore, c: &ConsentRecord, code_hash: &str) {
    put(store, c).await.unwrap();
    let consent_id = c.id.as_str();
    let interaction_id = format!("ia-{consent_id}");
    store
        .insert_interaction(&interaction(&interaction_id, consent_id))
        .await
        .unwrap();
    let t = transition(consent_id, "AwaitingAuthorisation", "Authorised", 101);
    assert!(
        store
            .finish_interaction(
                &interaction_id,
                Some(&t),
                Some(&code_record(code_hash, consent_id)),
                "sealed"
            )
            .await
            .unwrap()
    );
}

async fn tk_2_code_is_redeemed_once_with_its_refresh_token(store: SqlStore) {
    authorised_with_code(&store, "aac-2", "h2").await;
    let r = Redemption {
        code_hash: "h2".into(),
        now: 110,
        issued_jti: "jti-1".into(),
        issued_exp: 700,
        refresh: Some(refresh_record("rt-1", "aac-2")),
        assertion: Some(JtiClaim {
            namespace: "assertion:client-a".into(),
            jti: "a-1".into(),
            expires_at: 500,
        }),
    };
    // The assertion's jti claimed elsewhere already: nothing is written.
    assert!(
        store
            .claim_jti("assertion:client-a", "a-1", 500)
            .await
            .unwrap()
    );
    assert_eq!(
        store.redeem_code(&r).await.unwrap(),
        Redeemed::AssertionReplayed
    );
    assert!(
        store
            .get_code("h2")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    assert!(store.get_refresh_token("rt-1").await.unwrap().is_none());
    let r = Redemption {
        assertion: Some(JtiClaim {
            namespace: "assertion:client-a".into(),
            jti: "a-2".into(),
            expires_at: 500,
        }),
        ..r
    };
    assert_eq!(store.redeem_code(&r).await.unwrap(), Redeemed::Won);
    let again = Redemption {
        refresh: Some(refresh_record("rt-2", "aac-2")),
        assertion: None,
        ..r.clone()
    };
    assert_eq!(
        store.redeem_code(&again).await.unwrap(),
        Redeemed::CodeTaken
    );
    assert!(store.get_refresh_token("rt-2").await.unwrap().is_none());
    let used = store.get_code("h2").await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(110));
    assert_eq!(used.issued_jti.as_deref(), Some("jti-1"));
    assert_eq!(used.refresh_hash.as_deref(), Some("rt-1"));
    assert!(store.get_refresh_token("rt-1").await.unwrap().is_some());
}

/// TK-2 (RFC 6749 4.1.2, FAPI 2.0 SP 5.3.2.1: a code lives at most 60 s): the redemption's own
/// statement refuses a code from its `expires_at` on, whatever the caller checked before it
/// (a code that expires between the caller's read and the redemption is not spent), and
/// writes nothing: the code stays unspent, no refresh token, the assertion's jti unspent.
async fn tk_2_a_code_is_not_redeemed_from_its_expiry_on(store: SqlStore) {
    authorised_with_code(&store, "aac-x", "hx").await;
    let expires_at = store.get_code("hx").await.unwrap().unwrap().expires_at;
    let at = |now: i64, jti: &str| Redemption {
        code_hash: "hx".into(),
        now,
        issued_jti: format!("jti-{jti}"),
        issued_exp: now + 600,
        refresh: Some(refresh_record(&format!("rt-{jti}"), "aac-x")),
        assertion: Some(JtiClaim {
            namespace: "assertion:client-a".into(),
            jti: jti.into(),
            expires_at: now + 300,
        }),
    };
    assert_eq!(
        store.redeem_code(&at(expires_at, "x-1")).await.unwrap(),
        Redeemed::CodeTaken
    );
    let code = store.get_code("hx").await.unwrap().unwrap();
    assert!(code.used_at.is_none() && code.issued_jti.is_none());
    assert!(store.get_refresh_token("rt-x-1").await.unwrap().is_none());
    assert!(
        store
            .claim_jti("assertion:client-a", "x-1", expires_at + 300)
            .await
            .unwrap(),
        "the refused redemption's assertion jti is not spent"
    );
    // A second earlier, the same code is redeemed.
    assert_eq!(
        store.redeem_code(&at(expires_at - 1, "x-2")).await.unwrap(),
        Redeemed::Won
    );
}

/// TK-2: the consent is read in the redemption's own transaction: revoked since the caller
/// checked it, nothing is written (code unspent, no refresh token, assertion jti unspent).
async fn tk_2_a_code_of_a_consent_revoked_since_is_not_redeemed(store: SqlStore) {
    authorised_with_code(&store, "aac-g", "hg").await;
    let revoked = ConsentTransition {
        actor_kind: "TPP".into(),
        actor_id: "client-a".into(),
        ..transition("aac-g", "Authorised", "Revoked", 105)
    };
    assert!(store.transition_consent(&revoked).await.unwrap());
    let r = Redemption {
        code_hash: "hg".into(),
        now: 110,
        issued_jti: "jti-g".into(),
        issued_exp: 700,
        refresh: Some(refresh_record("rt-g", "aac-g")),
        assertion: Some(JtiClaim {
            namespace: "assertion:client-a".into(),
            jti: "a-g".into(),
            expires_at: 500,
        }),
    };
    assert_eq!(store.redeem_code(&r).await.unwrap(), Redeemed::ConsentGone);
    assert!(
        store
            .get_code("hg")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    assert!(store.get_refresh_token("rt-g").await.unwrap().is_none());
    assert!(
        store
            .claim_jti("assertion:client-a", "a-g", 500)
            .await
            .unwrap(),
        "the assertion's jti is unspent"
    );
}

/// TK-2: the purge keeps a used code until the access token it issued has expired, so a
/// second use in that time is recognised as a reuse; an unused expired code goes at once.
async fn tk_2_a_used_code_outlives_its_expiry_while_its_access_token_lives(store: SqlStore) {
    authorised_with_code(&store, "aac-p", "hp").await;
    let code = code_record("hp", "aac-p");
    let r = Redemption {
        code_hash: "hp".into(),
        now: code.expires_at - 1,
        issued_jti: "jti-p".into(),
        issued_exp: code.expires_at + 600,
        refresh: None,
        assertion: None,
    };
    assert_eq!(store.redeem_code(&r).await.unwrap(), Redeemed::Won);
    store
        .purge_authorization(code.expires_at + 300)
        .await
        .unwrap();
    assert!(
        store.get_code("hp").await.unwrap().is_some(),
        "expired but used, its access token still alive: kept"
    );
    store
        .purge_authorization(code.expires_at + 601)
        .await
        .unwrap();
    assert!(store.get_code("hp").await.unwrap().is_none());

    // A code whose exchange issued a refresh token is kept while that token lives (a reuse
    // then still revokes the grant), and goes once it is revoked.
    authorised_with_code(&store, "aac-pr", "hpr").await;
    let with_refresh = Redemption {
        code_hash: "hpr".into(),
        issued_jti: "jti-pr".into(),
        refresh: Some(refresh_record("rt-pr", "aac-pr")),
        ..r
    };
    assert_eq!(
        store.redeem_code(&with_refresh).await.unwrap(),
        Redeemed::Won
    );
    store
        .purge_authorization(code.expires_at + 601)
        .await
        .unwrap();
    assert!(
        store.get_code("hpr").await.unwrap().is_some(),
        "its access token expired, its refresh token alive: kept"
    );
    store
        .revoke_refresh_token("rt-pr", code.expires_at + 602)
        .await
        .unwrap();
    store
        .purge_authorization(code.expires_at + 603)
        .await
        .unwrap();
    assert!(store.get_code("hpr").await.unwrap().is_none());
}

async fn tk_3_refresh_tokens_rotate_and_die_with_their_consent(store: SqlStore) {
    authorised_with_code(&store, "aac-3", "h3").await;
    let r = Redemption {
        code_hash: "h3".into(),
        now: 110,
        issued_jti: "jti-3".into(),
        issued_exp: 700,
        refresh: Some(refresh_record("rt-a", "aac-3")),
        assertion: None,
    };
    assert_eq!(store.redeem_code(&r).await.unwrap(), Redeemed::Won);
    assert!(
        store
            .rotate_refresh_token("rt-a", &refresh_record("rt-b", "aac-3"), 120)
            .await
            .unwrap()
    );
    let revoked_at = |hash: &'static str| {
        let store = store.clone();
        async move {
            store
                .get_refresh_token(hash)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
        }
    };
    // FAPI 2.0 SP 5.3.2.1: rt-a stays usable until rt-b is used; a retry with it (rt-b lost)
    // retires the unused rt-b instead.
    assert_eq!(revoked_at("rt-a").await, None);
    assert!(
        store
            .rotate_refresh_token("rt-a", &refresh_record("rt-c", "aac-3"), 121)
            .await
            .unwrap()
    );
    assert_eq!(revoked_at("rt-b").await, Some(121));
    assert!(
        !store
            .rotate_refresh_token("rt-b", &refresh_record("rt-x", "aac-3"), 122)
            .await
            .unwrap()
    );
    assert!(store.get_refresh_token("rt-x").await.unwrap().is_none());
    // rt-c's first use retires rt-a; a later rotation of rt-a writes nothing.
    assert!(
        store
            .rotate_refresh_token("rt-c", &refresh_record("rt-d", "aac-3"), 123)
            .await
            .unwrap()
    );
    assert_eq!(revoked_at("rt-a").await, Some(123));
    assert_eq!(revoked_at("rt-c").await, None);
    assert!(
        !store
            .rotate_refresh_token("rt-a", &refresh_record("rt-y", "aac-3"), 124)
            .await
            .unwrap()
    );
    assert!(store.get_refresh_token("rt-y").await.unwrap().is_none());
    // rt-c (until rt-d is used) and rt-d are live; the consent's end takes both.
    assert_eq!(
        store
            .revoke_refresh_tokens_of_consent("aac-3", 1, 130)
            .await
            .unwrap(),
        2
    );
    assert_eq!(revoked_at("rt-d").await, Some(130));
    assert_eq!(revoked_at("rt-c").await, Some(130));
}

async fn az_6_psus_accounts_and_sessions(store: SqlStore) {
    let p = PsuRecord {
        username: "mits".into(),
        subject: "psu-sub-1".into(),
        display_name: "Mits".into(),
        password_hash: "$argon2id$x".into(),
        created_at: 1,
    };
    store.insert_psu(&p).await.unwrap();
    assert!(matches!(
        store.insert_psu(&p).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_psu("mits").await.unwrap(), Some(p.clone()));
    assert_eq!(
        store.get_psu_by_subject("psu-sub-1").await.unwrap(),
        Some(p.clone())
    );
    assert!(store.set_psu_password("mits", "$argon2id$y").await.unwrap());
    assert!(
        !store
            .set_psu_password("nobody", "$argon2id$y")
            .await
            .unwrap()
    );
    let a = PsuAccountRecord {
        subject: "psu-sub-1".into(),
        account_id: "acc-2".into(),
        name: "Savings".into(),
        scheme: "UK.OBIE.SortCodeAccountNumber".into(),
        identification: "11223344556677".into(),
        currency: "GBP".into(),
    };
    store.upsert_psu_account(&a).await.unwrap();
    store
        .upsert_psu_account(&PsuAccountRecord {
            account_id: "acc-1".into(),
            ..a.clone()
        })
        .await
        .unwrap();
    store
        .upsert_psu_account(&PsuAccountRecord {
            name: "Rainy day".into(),
            ..a.clone()
        })
        .await
        .unwrap();
    let accounts = store.psu_accounts("psu-sub-1").await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0].account_id, "acc-1");
    assert_eq!(accounts[1].name, "Rainy day");
    let s = PsuSession {
        session_hash: "sh".into(),
        subject: "psu-sub-1".into(),
        display_name: "Mits".into(),
        auth_time: 100,
        acr: "urn:openbanking:psd2:sca".into(),
        expires_at: 200,
    };
    store.insert_psu_session(&s).await.unwrap();
    assert_eq!(store.get_psu_session("sh", 150).await.unwrap(), Some(s));
    assert_eq!(store.get_psu_session("sh", 200).await.unwrap(), None);
    store.delete_psu_session("sh").await.unwrap();
    assert_eq!(store.get_psu_session("sh", 150).await.unwrap(), None);
    assert!(store.purge_authorization(10_000).await.is_ok());
}

async fn hardening_one_bad_jti_does_not_fail_the_batch(store: SqlStore) {
    // PostgreSQL refuses a NUL byte in text; in a batch it used to fail everyone's claim.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = store.clone();
        let jti = if i == 7 {
            "bad\0jti".to_string()
        } else {
            format!("jti-{i}")
        };
        tasks.push(tokio::spawn(async move {
            (i, s.claim_jti("assertion:c", &jti, 1000).await)
        }));
    }
    for t in tasks {
        let (i, result) = t.await.unwrap();
        if i != 7 {
            assert!(result.unwrap(), "claim {i} succeeds despite the bad one");
        }
    }
}

async fn az_1_push_claims_the_assertion_in_the_same_transaction(store: SqlStore) {
    let r = PushedRequest {
        request_uri: "urn:ietf:params:oauth:request_uri:claimed".into(),
        client_id: "client-a".into(),
        request: "{}".into(),
        expires_at: 500,
    };
    let claim = JtiClaim {
        namespace: "assertion:client-a".into(),
        jti: "par-1".into(),
        expires_at: 500,
    };
    assert!(store.push_with_claim(&r, &claim).await.unwrap());
    let again = PushedRequest {
        request_uri: "urn:ietf:params:oauth:request_uri:replayed".into(),
        ..r.clone()
    };
    assert!(!store.push_with_claim(&again, &claim).await.unwrap());
    assert!(
        store
            .get_pushed_request(&again.request_uri, 100)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .claim_jti("assertion:client-a", "par-1", 500)
            .await
            .unwrap()
    );
    // A request_uri already taken is a conflict, and the push claims nothing with it.
    let fresh = JtiClaim {
        jti: "par-2".into(),
        ..claim.clone()
    };
    assert!(matches!(
        store.push_with_claim(&r, &fresh).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .claim_jti("assertion:client-a", "par-2", 500)
            .await
            .unwrap()
    );
}

async fn hardening_search_filters_on_the_effective_status(store: SqlStore) {
    // Two Authorised consents: one past its expiry (nobody read it since), one not.
    for (id, expires) in [("aac-old", 150), ("aac-live", 10_000)] {
        let mut c = consent(id, "client-a", "account-access", None, 100);
        c.status = "Authorised".into();
        c.expires_at = Some(expires);
        put(&store, &c).await.unwrap();
    }
    let search = |status: &str| ConsentQuery {
        status: Some(status.into()),
        limit: 10,
        effective_at: Some(200),
        ..ConsentQuery::default()
    };
    let ids = |v: Vec<ConsentRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.search_consents(&search("Authorised")).await.unwrap()),
        vec!["aac-live"]
    );
    assert_eq!(
        ids(store.search_consents(&search("Expired")).await.unwrap()),
        vec!["aac-old"]
    );
    // Without a time, the stored status.
    let stored = ConsentQuery {
        effective_at: None,
        ..search("Authorised")
    };
    assert_eq!(store.search_consents(&stored).await.unwrap().len(), 2);
}

async fn co_5_staff_users_sessions_and_the_audit_trail(store: SqlStore) {
    let alice = StaffRecord {
        username: "alice".into(),
        password_hash: "$argon2id$...".into(),
        role: "admin".into(),
        created_at: 10,
    };
    store.insert_staff(&alice).await.unwrap();
    assert!(matches!(
        store.insert_staff(&alice).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_staff("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(store.list_staff().await.unwrap(), [alice]);
    let session = StaffSessionRecord {
        token_hash: "h1".into(),
        username: "alice".into(),
        csrf: "c1".into(),
        created_at: 20,
        last_seen: 20,
    };
    store.insert_staff_session(&session).await.unwrap();
    assert!(store.touch_staff_session("h1", 30).await.unwrap());
    assert_eq!(
        store
            .get_staff_session("h1")
            .await
            .unwrap()
            .unwrap()
            .last_seen,
        30
    );
    store.delete_staff_session("h1").await.unwrap();
    assert!(store.get_staff_session("h1").await.unwrap().is_none());
    assert!(!store.touch_staff_session("h1", 40).await.unwrap());
    // Sessions abandoned without a logout go once past their lifetime or idle limit.
    for (hash, created_at, last_seen) in [("old", 10, 500), ("idle", 300, 310), ("live", 300, 500)]
    {
        store
            .insert_staff_session(&StaffSessionRecord {
                token_hash: hash.into(),
                created_at,
                last_seen,
                ..session.clone()
            })
            .await
            .unwrap();
    }
    assert_eq!(store.purge_staff_sessions(100, 400).await.unwrap(), 2);
    for (hash, kept) in [("old", false), ("idle", false), ("live", true)] {
        assert_eq!(
            store.get_staff_session(hash).await.unwrap().is_some(),
            kept,
            "{hash}"
        );
    }
    store.delete_staff_session("live").await.unwrap();

    let events: Vec<_> = ["staff.login", "consent.revoke", "client.suspend"]
        .iter()
        .enumerate()
        .map(|(i, action)| AuditEvent {
            seq: 0,
            at: 100 + i as i64,
            actor_kind: "Staff".into(),
            actor_id: "alice".into(),
            action: (*action).into(),
            subject: Some(format!("s-{i}")),
            reason: Some("why".into()),
            request_id: None,
        })
        .collect();
    // One on its own, then a batch of two: a batch keeps its order.
    store.append_audit(&events[0]).await.unwrap();
    store.append_audit_batch(&events[1..]).await.unwrap();
    let newest = store
        .list_audit(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = newest.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["client.suspend", "consent.revoke"]);
    let rest = store
        .list_audit(&AuditQuery {
            limit: 2,
            before_seq: Some(newest[1].seq),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].action, "staff.login");
    let export = store
        .list_audit(&AuditQuery {
            since: Some(101),
            oldest_first: true,
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = export.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["consent.revoke", "client.suspend"]);
    let filtered = store
        .list_audit(&AuditQuery {
            action: Some("consent.revoke".into()),
            subject: Some("s-1".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
}

/// GW-1: a payment the bank accepted is recorded for the client and consent it was made
/// under; recording it again is harmless, and no other client or consent can take it over.
async fn gw_1_a_payment_is_recorded_once_for_its_client(store: SqlStore) {
    assert_eq!(store.payment_client("pay-1").await.unwrap(), None);
    assert!(
        store
            .record_payment("pay-1", "client-a", "pdc-1", 100)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_payment("pay-1", "client-a", "pdc-1", 101)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_payment("pay-1", "client-b", "pdc-9", 102)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_payment("pay-1", "client-a", "pdc-2", 103)
            .await
            .unwrap()
    );
    assert_eq!(
        store.payment_client("pay-1").await.unwrap().as_deref(),
        Some("client-a")
    );
    assert_eq!(
        store.payment_record("pay-1").await.unwrap(),
        Some(bulwark_store::SubmittedPayment {
            payment_id: "pay-1".into(),
            client_id: "client-a".into(),
            consent_id: "pdc-1".into(),
            recorded_at: 100,
        }),
        "the first record stands, with its time"
    );
    assert_eq!(store.payment_record("pay-2").await.unwrap(), None);
    // The payments of a consent, first recorded first: a bank that paid twice under one
    // consent shows as two.
    assert_eq!(store.payments_of_consent("pdc-1").await.unwrap(), ["pay-1"]);
    assert!(store.payments_of_consent("pdc-2").await.unwrap().is_empty());
    assert!(
        store
            .record_payment("pay-0", "client-a", "pdc-1", 104)
            .await
            .unwrap()
    );
    assert_eq!(
        store.payments_of_consent("pdc-1").await.unwrap(),
        ["pay-1", "pay-0"]
    );
}

/// GW-1, OP-6: `bulwark payments record` writes the consent's consumption, the payment's
/// record and its audit row together or not at all: a consent that moved meanwhile, or a
/// payment id another consent holds, leaves the consent, the records and the trail as they
/// were.
async fn gw_1_an_operators_payment_record_is_all_or_nothing(store: SqlStore) {
    let mut pdc = consent("pdc-op", "client-a", "domestic-payment", None, 100);
    pdc.status = "Authorised".into();
    put(&store, &pdc).await.unwrap();
    let payment = |id: &str, consent: &str, at: i64| SubmittedPayment {
        payment_id: id.into(),
        client_id: "client-a".into(),
        consent_id: consent.into(),
        recorded_at: at,
    };
    let audit = |subject: &str, at: i64| AuditEvent {
        seq: 0,
        at,
        actor_kind: "System".into(),
        actor_id: "bulwark payments record".into(),
        action: "payment.record".into(),
        subject: Some(subject.into()),
        reason: Some("recorded".into()),
        request_id: None,
    };
    let consume = |at: i64| {
        let mut t = transition("pdc-op", "Authorised", "Consumed", at);
        t.actor_kind = "System".into();
        t.actor_id = "bulwark payments record".into();
        t
    };
    let trail = |store: SqlStore| async move {
        store
            .list_audit(&AuditQuery {
                action: Some("payment.record".into()),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|e| e.subject.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };

    // A consent that is no longer as the operator saw it: nothing is written.
    let stale = transition("pdc-op", "AwaitingAuthorisation", "Consumed", 110);
    assert_eq!(
        store
            .record_payment_by_operator(
                &payment("pay-x", "pdc-op", 110),
                Some(&stale),
                false,
                &audit("pay-x", 110)
            )
            .await
            .unwrap(),
        OperatorRecord::ConsentChanged
    );
    assert_eq!(store.payment_record("pay-x").await.unwrap(), None);
    assert!(trail(store.clone()).await.is_empty());

    // A payment id another consent holds: the consent is not consumed, no row is added.
    store
        .record_payment("pay-taken", "client-b", "pdc-other", 105)
        .await
        .unwrap();
    let elsewhere = store
        .record_payment_by_operator(
            &payment("pay-taken", "pdc-op", 120),
            Some(&consume(120)),
            false,
            &audit("pay-taken", 120),
        )
        .await
        .unwrap();
    assert_eq!(
        elsewhere,
        OperatorRecord::RecordedElsewhere(SubmittedPayment {
            payment_id: "pay-taken".into(),
            client_id: "client-b".into(),
            consent_id: "pdc-other".into(),
            recorded_at: 105,
        })
    );
    let kept = store.get_consent("pdc-op").await.unwrap().unwrap();
    assert_eq!(kept.status, "Authorised", "the consent was not consumed");
    assert_eq!(store.consent_history("pdc-op").await.unwrap().len(), 1);
    assert!(trail(store.clone()).await.is_empty());

    // Recorded: the consent consumed (its own history row), the record and the trail's row.
    let recorded = store
        .record_payment_by_operator(
            &payment("pay-1", "pdc-op", 130),
            Some(&consume(130)),
            false,
            &audit("pay-1", 130),
        )
        .await
        .unwrap();
    assert_eq!(
        recorded,
        OperatorRecord::Recorded(payment("pay-1", "pdc-op", 130))
    );
    let consumed = store.get_consent("pdc-op").await.unwrap().unwrap();
    assert_eq!(
        (consumed.status.as_str(), consumed.status_updated_at),
        ("Consumed", 130)
    );
    let history = store.consent_history("pdc-op").await.unwrap();
    assert_eq!(
        history
            .last()
            .map(|h| (h.to_status.as_str(), h.actor_id.as_str())),
        Some(("Consumed", "bulwark payments record"))
    );
    assert_eq!(
        store.payment_record("pay-1").await.unwrap(),
        Some(payment("pay-1", "pdc-op", 130))
    );
    assert_eq!(trail(store.clone()).await, ["pay-1"]);

    // The same record again (a second operator, a rerun): nothing more is written.
    assert_eq!(
        store
            .record_payment_by_operator(
                &payment("pay-1", "pdc-op", 140),
                None,
                false,
                &audit("pay-1", 140)
            )
            .await
            .unwrap(),
        OperatorRecord::AlreadyRecorded(payment("pay-1", "pdc-op", 130))
    );
    assert_eq!(trail(store.clone()).await, ["pay-1"]);
    // One consent pays once: another payment under it is refused unless a second is allowed
    // (the bank made one), and then recorded with its row.
    assert_eq!(
        store
            .record_payment_by_operator(
                &payment("pay-2", "pdc-op", 150),
                None,
                false,
                &audit("pay-2", 150),
            )
            .await
            .unwrap(),
        OperatorRecord::ConsentHasPayment(vec!["pay-1".into()])
    );
    assert_eq!(store.payment_record("pay-2").await.unwrap(), None);
    assert_eq!(trail(store.clone()).await, ["pay-1"]);
    assert_eq!(
        store
            .record_payment_by_operator(
                &payment("pay-2", "pdc-op", 160),
                None,
                true,
                &audit("pay-2", 160),
            )
            .await
            .unwrap(),
        OperatorRecord::Recorded(payment("pay-2", "pdc-op", 160))
    );
    // Its row says it is a second one, from what the transaction read.
    let second = store
        .list_audit(&AuditQuery {
            subject: Some("pay-2".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        second
            .iter()
            .map(|e| e.reason.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["recorded as a second payment (already: pay-1)"]
    );
    // A payment id another consent holds is that consent's, whatever this consent has.
    assert!(matches!(
        store
            .record_payment_by_operator(
                &payment("pay-taken", "pdc-op", 165),
                None,
                false,
                &audit("pay-taken", 165),
            )
            .await
            .unwrap(),
        OperatorRecord::RecordedElsewhere(_)
    ));
    assert_eq!(
        store.payments_of_consent("pdc-op").await.unwrap(),
        ["pay-1", "pay-2"]
    );

    // A failure after the consumption (PostgreSQL refuses NUL in text: the audit row) takes
    // the consumption and the record back with it.
    if store.backend() == bulwark_store::Backend::Postgres {
        let mut other = consent("pdc-nul", "client-a", "domestic-payment", None, 170);
        other.status = "Authorised".into();
        put(&store, &other).await.unwrap();
        let mut t = consume(170);
        t.consent_id = "pdc-nul".into();
        let mut bad = audit("pay-nul", 170);
        bad.reason = Some("nul\0inside".into());
        assert!(
            store
                .record_payment_by_operator(
                    &payment("pay-nul", "pdc-nul", 170),
                    Some(&t),
                    false,
                    &bad
                )
                .await
                .is_err()
        );
        assert_eq!(
            store.get_consent("pdc-nul").await.unwrap().unwrap().status,
            "Authorised"
        );
        assert_eq!(store.payment_record("pay-nul").await.unwrap(), None);
        assert_eq!(store.consent_history("pdc-nul").await.unwrap().len(), 1);
    }
}
