//! CA-1 with a client `jwks_uri`: the client's keys fetched over https and cached, one
//! rate-limited refetch for an unknown `kid` (key rotation), and an unreachable `jwks_uri`
//! failing fast with `invalid_client`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_jose::{Alg, SigningKey};
use serde_json::{Value, json};

use crate::support::{Harness, PkjClient, assert_oauth_error, jwks_server};

#[tokio::test]
async fn ca_1_jwks_uri_unknown_kid_is_refetched_once() {
    let h = Harness::start(|_| {}).await;
    let k1 = SigningKey::generate(Alg::Es256).unwrap();
    let k2 = SigningKey::generate(Alg::Es256).unwrap();
    let k3 = SigningKey::generate(Alg::Es256).unwrap();
    let jwks = Arc::new(std::sync::Mutex::new(
        json!({"keys": [Value::Object(k1.public_jwk().clone())]}),
    ));
    let hits = Arc::new(std::sync::Mutex::new(0));
    let uri = jwks_server(&h, jwks.clone(), hits.clone()).await;
    h.register("tpp-uri", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let (identity, _) = h.pki.client("TPP", "tpp-uri", None);
    let mut c = PkjClient {
        id: "tpp-uri".into(),
        key: k1,
        identity,
    };
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    assert_eq!(*hits.lock().unwrap(), 1, "cached");
    // Rotation: the client publishes k2 and signs with it; the unknown kid triggers one refetch.
    *jwks.lock().unwrap() = json!({"keys": [Value::Object(c.key.public_jwk().clone()), Value::Object(k2.public_jwk().clone())]});
    c.key = k2;
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    assert_eq!(*hits.lock().unwrap(), 2, "one refetch for the new kid");
    // A kid that is nowhere: no refetch storm, invalid_client.
    c.key = k3;
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    assert_eq!(*hits.lock().unwrap(), 2, "refetch is rate-limited");
}

#[tokio::test]
async fn ca_1_unreachable_jwks_uri_fails_fast_with_invalid_client() {
    let h = Harness::start(|c| c.tokens.jwks_fetch_timeout_ms = 500).await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-down", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": format!("https://localhost:{port}/jwks"), "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let c = PkjClient {
        id: "tpp-down".into(),
        key,
        identity: h.pki.client("TPP", "tpp-down", None).0,
    };
    let started = Instant::now();
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the fetch timeout"
    );
}

/// hardening_jwks_tarpit: a client whose key host never answers does not stall key-based
/// authentication of other clients (no lock is held across another URI's fetch); its failure
/// is cached, so a stream of requests naming it costs no new fetch within the backoff; and a
/// client whose host goes down keeps authenticating with its last good key set.
#[tokio::test]
async fn hardening_jwks_tarpit_does_not_stall_other_clients() {
    let h = Harness::start(|c| {
        c.tokens.jwks_fetch_timeout_ms = 3000;
        c.tokens.jwks_cache_secs = 2;
    })
    .await;
    let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tarpit.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::Mutex::new(0u32));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = tarpit.accept().await {
            *count.lock().unwrap() += 1;
            held.push(s);
        }
    });
    let slow_key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-tarpit", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": format!("https://localhost:{port}/jwks"), "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let slow = PkjClient {
        id: "tpp-tarpit".into(),
        key: slow_key,
        identity: h.pki.client("TPP", "tpp-tarpit", None).0,
    };
    let good_key = SigningKey::generate(Alg::Es256).unwrap();
    let jwks = Arc::new(std::sync::Mutex::new(
        json!({"keys": [Value::Object(good_key.public_jwk().clone())]}),
    ));
    let hits = Arc::new(std::sync::Mutex::new(0));
    let uri = jwks_server(&h, jwks.clone(), hits.clone()).await;
    h.register("tpp-fast", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let fast = PkjClient {
        id: "tpp-fast".into(),
        key: good_key,
        identity: h.pki.client("TPP", "tpp-fast", None).0,
    };
    assert_eq!(fast.token(&h, &fast.assertion(&h)).await.0, 200);

    let stalled = {
        let assertion = slow.assertion(&h);
        let h2 = h.url("/token");
        let client = crate::support::http_client(&h.dev_ca, Some(&slow.identity));
        tokio::spawn(async move {
            client
                .post(h2)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", crate::support::BEARER),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fast client's key set has expired from no cache here: a new kid forces a fetch of its
    // own URI while the tarpit fetch is in flight.
    let started = Instant::now();
    assert_eq!(fast.token(&h, &fast.assertion(&h)).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "another client's authentication is not held up by the tarpit ({:?})",
        started.elapsed()
    );
    assert_eq!(stalled.await.unwrap().unwrap(), 401);
    // Negative caching: the next attempts within the backoff do not connect to the tarpit again.
    let connections = *accepted.lock().unwrap();
    assert!(connections >= 1, "the tarpit was fetched from");
    for _ in 0..3 {
        assert_oauth_error(
            &slow.token(&h, &slow.assertion(&h)).await,
            401,
            "invalid_client",
        );
    }
    assert_eq!(
        *accepted.lock().unwrap(),
        connections,
        "no refetch within the backoff"
    );
    // The fast client's host starts serving garbage: once its cache entry is stale the refetch
    // fails, and its last good key set keeps it working.
    *jwks.lock().unwrap() = json!({"no": "keys"});
    let before = *hits.lock().unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(fast.token(&h, &fast.assertion(&h)).await.0, 200);
    assert_eq!(
        *hits.lock().unwrap(),
        before + 1,
        "the stale entry was refetched"
    );
}

/// CA-1 / CA-3: a client's last good key set is used while its `jwks_uri` fails, but only for
/// `tokens.jwks_max_stale_secs` past its lifetime: a key the client withdrew while its host
/// fails (or is made to fail) stops authenticating then.
#[tokio::test]
async fn hardening_a_failing_jwks_uri_is_served_stale_only_for_a_while() {
    let h = Harness::start(|c| {
        c.tokens.jwks_cache_secs = 1;
        c.tokens.jwks_max_stale_secs = 2;
    })
    .await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jwks = Arc::new(std::sync::Mutex::new(
        json!({"keys": [Value::Object(key.public_jwk().clone())]}),
    ));
    let hits = Arc::new(std::sync::Mutex::new(0));
    let uri = jwks_server(&h, jwks.clone(), hits.clone()).await;
    h.register("tpp-stale", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let c = PkjClient {
        id: "tpp-stale".into(),
        key,
        identity: h.pki.client("TPP", "tpp-stale", None).0,
    };
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    // The host starts failing: past the lifetime, the last good set still serves.
    *jwks.lock().unwrap() = json!({"no": "keys"});
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    // Past lifetime + max stale (1 + 2 s, and the failure backoff): refused.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
}

/// CA-3 with a `jwks_uri`: a self-signed certificate the client rotated in at its `jwks_uri`
/// is accepted at once (one rate-limited refetch when no cached key holds it, as for an
/// unknown `kid`), not after the cache runs out; the certificate rotated out is refused.
#[tokio::test]
async fn ca_3_a_rotated_self_signed_certificate_is_found_by_one_refetch() {
    let h = Harness::start(|_| {}).await;
    let jwk_of = crate::support::Identity::self_signed_jwk;
    let old = crate::support::Identity::self_made("self-signed-old");
    let new = crate::support::Identity::self_made("self-signed-new");
    let jwks = Arc::new(Mutex::new(json!({"keys": [jwk_of(&old)]})));
    let hits = Arc::new(Mutex::new(0));
    let uri = jwks_server(&h, jwks.clone(), hits.clone()).await;
    h.register(
        "tpp-ss-uri",
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks_uri": uri,
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-ss-uri"),
    ];
    assert_eq!(h.post(Some(&old), "/token", &form).await.0, 200);
    *jwks.lock().unwrap() = json!({"keys": [jwk_of(&new)]});
    let rotated = h.post(Some(&new), "/token", &form).await;
    assert_eq!(rotated.0, 200, "{:?}", rotated.2);
    assert_eq!(*hits.lock().unwrap(), 2, "one refetch");
    assert_oauth_error(
        &h.post(Some(&old), "/token", &form).await,
        401,
        "invalid_client",
    );
}

/// CA-1 with a `jwks_uri` and assertions without a `kid`: a key the client rotated in is found
/// by one refetch when no cached key verifies the assertion.
#[tokio::test]
async fn ca_1_a_kidless_assertion_of_a_rotated_key_is_verified_after_one_refetch() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = Harness::start(|_| {}).await;
    let k1 = SigningKey::generate(Alg::Es256).unwrap();
    let k2 = SigningKey::generate(Alg::Es256).unwrap();
    let jwks = Arc::new(Mutex::new(
        json!({"keys": [Value::Object(k1.public_jwk().clone())]}),
    ));
    let hits = Arc::new(Mutex::new(0));
    let uri = jwks_server(&h, jwks.clone(), hits.clone()).await;
    h.register("tpp-nokid", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let (identity, _) = h.pki.client("TPP", "tpp-nokid", None);
    let c = PkjClient {
        id: "tpp-nokid".into(),
        key: k1,
        identity,
    };
    let kidless = |key: &SigningKey| {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c.claims(&h)).unwrap());
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(key.sign_raw(input.as_bytes()).unwrap());
        format!("{input}.{sig}")
    };
    assert_eq!(c.token(&h, &kidless(&c.key)).await.0, 200);
    *jwks.lock().unwrap() = json!({"keys": [Value::Object(k2.public_jwk().clone())]});
    let rotated = c.token(&h, &kidless(&k2)).await;
    assert_eq!(rotated.0, 200, "{:?}", rotated.2);
    assert_eq!(*hits.lock().unwrap(), 2, "one refetch");
}
