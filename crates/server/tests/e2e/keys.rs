//! DS-2 signing-key rotation on two nodes sharing one database (PostgreSQL when available,
//! else one SQLite file): the next key is published before it signs, both nodes switch at its
//! activation, the previous key stays published until its last token has expired, and a
//! compromised key is withdrawn at once.

use std::sync::Arc;
use std::time::Duration;

use bulwark_jose::Alg;
use bulwark_server::signing::{self, RotationPlan};

use crate::support::{Harness, PkjClient, TestPki, introspect, jwt_parts};

async fn two_nodes(name: &str) -> (Harness, Harness, Option<bulwark_store::testing::TestDb>) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let pki = Arc::new(TestPki::new(name));
    let pg = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL");
    let url = pg.as_ref().map(|db| db.url.clone());
    let fast_reload = |c: &mut bulwark_server::Config| c.keys.reload_secs = 1;
    let a = Harness::start_shared(dir.clone(), pki.clone(), url.clone(), fast_reload).await;
    let b = Harness::start_shared(dir, pki, url, fast_reload).await;
    (a, b, pg)
}

async fn token(h: &Harness, c: &PkjClient) -> String {
    let resp = c.token(h, &c.assertion(h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    resp.2["access_token"].as_str().unwrap().to_string()
}

fn kid(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_string()
}

/// Polls `check` on the node until it holds; the reloader runs every second.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..50 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test]
async fn ds_2_rotation_publishes_first_then_both_nodes_switch_and_the_old_key_outlives_its_tokens()
{
    let (a, b, _pg) = two_nodes("Rotation QTSP").await;
    let c = PkjClient::register(&a, "tpp-keys", "accounts").await;
    let before = token(&a, &c).await;
    let old = kid(&before);
    assert_eq!(
        kid(&token(&b, &c).await),
        old,
        "both nodes sign with the same key"
    );

    let rotated = signing::rotate(
        &a.store,
        a.clock_now(),
        Alg::Ps256,
        RotationPlan {
            publish_ahead_secs: 100,
            longest_token_lifetime_secs: 600,
            immediately: false,
            reload_secs: 1,
        },
    )
    .await
    .unwrap();
    let next = rotated.next.kid.clone();
    assert_eq!(rotated.previous_retire_at, a.clock_now() + 100 + 600 + 60);
    for node in [&a, &b] {
        eventually("the next key is published", || async {
            node.published_kids().await.contains(&next)
        })
        .await;
        assert_eq!(
            kid(&token(node, &c).await),
            old,
            "the next key does not sign yet"
        );
    }

    // Its activation: both nodes sign with it; the old key is still published and its tokens
    // stay valid on both nodes.
    a.clock.advance(100);
    b.clock.advance(100);
    for node in [&a, &b] {
        eventually("the next key signs", || async {
            kid(&token(node, &c).await) == next
        })
        .await;
        let kids = node.published_kids().await;
        assert!(kids.contains(&old) && kids.contains(&next), "{kids:?}");
        assert_eq!(introspect(node, &c, &before).await["active"], true);
    }
    let after = token(&a, &c).await;

    // The old key's last token has expired: the key is unpublished; the new one goes on.
    a.clock.advance(660);
    b.clock.advance(660);
    for node in [&a, &b] {
        eventually("the old key is retired", || async {
            !node.published_kids().await.contains(&old)
        })
        .await;
        assert_eq!(kid(&token(node, &c).await), next);
    }
    assert_eq!(
        introspect(&b, &c, &after).await["active"],
        false,
        "expired by now"
    );
    let all = bulwark_store::KeyStore::all_signing_keys(&a.store)
        .await
        .unwrap();
    let now = a.clock_now();
    let state = |kid: &str| {
        let k = all.iter().find(|k| k.kid == kid).unwrap();
        signing::state_at(k, &all, now)
    };
    assert_eq!((state(&old), state(&next)), ("retired", "signing"));
}

#[tokio::test]
async fn ds_2_a_compromised_key_is_withdrawn_at_once_and_its_tokens_stop_verifying() {
    let (a, b, _pg) = two_nodes("Compromise QTSP").await;
    let c = PkjClient::register(&a, "tpp-compromise", "accounts").await;
    let before = token(&a, &c).await;
    let old = kid(&before);
    // Verified (and remembered) on both nodes while the key was good.
    assert_eq!(introspect(&a, &c, &before).await["active"], true);
    assert_eq!(introspect(&b, &c, &before).await["active"], true);

    let rotated = b.rotate_at_once().await;
    // The nodes' test clocks stand still and were set a moment apart: let "at once" pass on
    // both, as wall clocks would.
    a.clock.advance(2);
    b.clock.advance(2);
    for node in [&a, &b] {
        eventually("the compromised key is gone", || async {
            !node.published_kids().await.contains(&old)
        })
        .await;
        assert_eq!(
            introspect(node, &c, &before).await["active"],
            false,
            "a token of the withdrawn key is not active, even one verified before"
        );
        assert_eq!(kid(&token(node, &c).await), rotated.next.kid);
    }
}
