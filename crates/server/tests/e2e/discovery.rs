//! DS-1 discovery (every advertised endpoint routed; the token, introspection, revocation and
//! registration endpoints with their mTLS aliases), DS-2 JWKS, OP-4 probes and metrics, OP-1 /
//! OP-2 key persistence across restarts.

use bulwark_store::testing::TestDb;
use serde_json::{Value, json};

use crate::support::{Dcr, Harness, ISSUER, TestApp, test_config};

#[tokio::test]
async fn ds_1_discovery_endpoints_come_from_the_route_table_and_are_served() {
    let app = TestApp::spawn().await;
    let client = app.client(None);
    let resp = client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["issuer"], "https://localhost:8443");
    assert_eq!(doc["jwks_uri"], "https://localhost:8443/jwks");
    // Every advertised endpoint exists on this server.
    for (member, value) in doc.as_object().unwrap() {
        if member.ends_with("_uri") || member.ends_with("_endpoint") {
            let path = value
                .as_str()
                .unwrap()
                .strip_prefix("https://localhost:8443")
                .unwrap();
            let status = client.get(app.url(path)).send().await.unwrap().status();
            assert_ne!(status, 404, "{member} -> {path} is routed");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn ds_1_discovery_advertises_token_endpoints_and_mtls_aliases() {
    let h = Harness::start(|_| {}).await;
    let doc: Value = h.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}/introspect")
    );
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/revoke"));
    // RFC 8705 5: every endpoint a client reaches with its certificate has its alias.
    for (member, path) in [
        ("token_endpoint", "/token"),
        ("introspection_endpoint", "/introspect"),
        ("revocation_endpoint", "/revoke"),
        ("pushed_authorization_request_endpoint", "/par"),
        ("userinfo_endpoint", "/userinfo"),
    ] {
        assert_eq!(
            doc["mtls_endpoint_aliases"][member],
            format!("{ISSUER}{path}"),
            "{member}"
        );
    }
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["PS256", "ES256"])
    );
}

#[tokio::test]
async fn ds_1_discovery_advertises_the_registration_endpoint() {
    let d = Dcr::start().await;
    let doc: Value = d.h.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["registration_endpoint"], format!("{ISSUER}/register"));
    assert_eq!(
        doc["mtls_endpoint_aliases"]["registration_endpoint"],
        format!("{ISSUER}/register")
    );
}

#[tokio::test]
async fn ds_2_jwks_publishes_ps256_and_es256_public_keys_with_thumbprint_kids() {
    let app = TestApp::spawn().await;
    let jwks: Value = app
        .client(None)
        .get(app.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "PS256"]);
    for key in keys {
        let obj = key.as_object().unwrap();
        assert_eq!(obj["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                !obj.contains_key(private),
                "public JWK must not carry {private}"
            );
        }
        assert_eq!(
            obj["kid"].as_str().unwrap(),
            bulwark_jose::thumbprint::jwk_thumbprint(obj).unwrap(),
            "kid is the RFC 7638 thumbprint"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn op_4_health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let client = app.client(None);
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{route="/healthz",method="GET",status="200"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_request_duration_seconds_bucket{route="/readyz",method="GET""#),
        "{metrics}"
    );
    // This client's own connection is open while it asks.
    let open: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("http_connections_open "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no http_connections_open gauge: {metrics}"));
    assert!(open >= 1.0, "{metrics}");
    // The database going away makes the server unready, not dead.
    app.store.close().await;
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

async fn kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .client(None)
        .get(app.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn op_1_restart_reuses_dev_pki_and_signing_keys_on_sqlite() {
    let app = TestApp::spawn().await;
    let first = kids(&app).await;
    let ca_before = std::fs::read(app.dev_pki("ca.pem")).unwrap();
    let dir = app.stop().await;
    let config = test_config(dir.path(), None);
    let app = TestApp::spawn_with(dir, config).await;
    assert_eq!(kids(&app).await, first, "same kids after restart");
    assert_eq!(
        std::fs::read(app.dev_pki("ca.pem")).unwrap(),
        ca_before,
        "same development CA"
    );
    app.stop().await;
}

#[tokio::test]
async fn op_2_restart_reuses_signing_keys_on_postgres() {
    let Some(db) = TestDb::postgres().await.expect("PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), Some(db.url.clone()));
    let app = TestApp::spawn_with(dir, config).await;
    let first = kids(&app).await;
    assert_eq!(first.len(), 2);
    assert!(
        !app.data_dir.path().join("bulwark.db").exists(),
        "nothing written to SQLite"
    );
    let dir = app.stop().await;
    let config = test_config(dir.path(), Some(db.url.clone()));
    let app = TestApp::spawn_with(dir, config).await;
    assert_eq!(kids(&app).await, first);
    app.stop().await;
}
