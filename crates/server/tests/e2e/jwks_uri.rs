//! CA-1 with a client `jwks_uri`: the client's keys fetched over https and cached, one
//! rate-limited refetch for an unknown `kid` (key rotation), and an unreachable `jwks_uri`
//! failing fast with `invalid_client`.

use std::sync::Arc;
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
