//! AZ-6 / CO-5: the login throttle over a real database, as every node sees it: a burst of
//! parallel guesses (on PostgreSQL each on its own connection, as nodes behind a load balancer
//! would be) gets only the free attempts through; a good login takes back only its own count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use bulwark_authz::LoginThrottle;
use bulwark_store::SqlStore;
use bulwark_store::testing::TestDb;

async fn open(db: &TestDb) -> SqlStore {
    db.migrated_store().await.expect("store")
}

/// Two throttles over one database are two nodes.
async fn parallel_attempts_pass_only_the_free_ones(nodes: [SqlStore; 2]) {
    let [a, b] = nodes.map(|s| Arc::new(LoginThrottle::new(3, Arc::new(s))));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let t = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            t.begin(&["user:a", "addr:10.0.0.9"], 100)
                .await
                .unwrap()
                .is_ok()
        });
    }
    let admitted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(
        admitted, 3,
        "only the free attempts pass, whichever node they reach"
    );
    let wait = b
        .begin(&["user:b", "addr:10.0.0.9"], 100)
        .await
        .unwrap()
        .unwrap_err();
    assert!(wait > 0, "the address is blocked on the other node too");
    // A good login from a fresh address: taken back, so it leaves nothing behind.
    a.begin(&["user:c", "addr:10.0.0.10"], 100)
        .await
        .unwrap()
        .unwrap();
    a.succeeded("user:c", "addr:10.0.0.10").await.unwrap();
    for _ in 0..2 {
        b.begin(&["user:c", "addr:10.0.0.10"], 101)
            .await
            .unwrap()
            .unwrap();
    }
    assert!(
        a.begin(&["user:c", "addr:10.0.0.10"], 101)
            .await
            .unwrap()
            .is_ok(),
        "the good login's count was taken back: this is the third failure, not the fourth"
    );
    // The user is blocked on its own key too: from a fresh address, it waits.
    let wait = a
        .begin(&["user:a", "addr:10.0.0.12"], 100)
        .await
        .unwrap()
        .unwrap_err();
    assert!(wait > 0, "the user waits from any address");
    // The wait ends.
    assert!(
        a.begin(&["user:a", "addr:10.0.0.11"], 100 + 900)
            .await
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn az_6_parallel_guesses_pass_only_the_free_attempts() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    parallel_attempts_pass_only_the_free_ones([store.clone(), store]).await;
}

#[tokio::test]
async fn az_6_parallel_guesses_on_two_nodes_pass_only_the_free_attempts_on_postgres() {
    let Some(db) = TestDb::postgres().await.expect("PostgreSQL") else {
        return;
    };
    let nodes = [open(&db).await, open(&db).await];
    parallel_attempts_pass_only_the_free_ones(nodes).await;
}
