//! CERT-2 and CERT-4 at the token endpoint: in proxy mode the client certificate is taken from
//! a trusted proxy's header only (RFC 9440 `Client-Cert` or a configured PEM header, never a
//! caller's smuggled one), and a revoked or uncheckable client certificate is refused.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bulwark_jose::{Alg, SigningKey};
use serde_json::{Value, json};

use crate::support::{
    BEARER, Harness, PkjClient, StaticHttp, TestPki, assert_oauth_error, http_client, jwt_parts,
};

async fn token_via_proxy_header(
    h: &Harness,
    c: &PkjClient,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let header = format!(":{}:", STANDARD.encode(&c.identity.chain[0]));
    let resp = http_client(&h.dev_ca, None)
        .post(h.url("/token"))
        .header("Client-Cert", header)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", &c.assertion(h)),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

#[tokio::test]
async fn cert_2_proxy_mode_takes_the_certificate_from_a_trusted_proxy_only() {
    let trusted = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let c = PkjClient::register(&trusted, "tpp-proxy", "accounts").await;
    let resp = token_via_proxy_header(&trusted, &c).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let claims = jwt_parts(resp.2["access_token"].as_str().unwrap()).1;
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.identity.chain[0])
    );

    let untrusted = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let c = PkjClient::register(&untrusted, "tpp-proxy", "accounts").await;
    assert_oauth_error(
        &token_via_proxy_header(&untrusted, &c).await,
        401,
        "invalid_client",
    );
}

/// CERT-2: with a PEM header configured, a caller's own RFC 9440 `Client-Cert` header naming
/// another TPP's (public) certificate is never believed, even through a trusted proxy.
#[tokio::test]
async fn cert_2_smuggled_rfc9440_header_cannot_impersonate_another_tpp() {
    let h = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.mtls.header = Some("X-SSL-Client-Cert".into());
    })
    .await;
    h.register(
        "victim",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=TPP Ltd,CN=victim",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let (victim, _) = h.pki.client("TPP Ltd", "victim", None);
    let resp = http_client(&h.dev_ca, None)
        .post(h.url("/token"))
        .header(
            "Client-Cert",
            format!(":{}:", STANDARD.encode(&victim.chain[0])),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "victim"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The configured header itself works (the proxy's own, URL-encoded PEM).
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&victim.chain[0])
    );
    let escaped: String = pem
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let ok = http_client(&h.dev_ca, None)
        .post(h.url("/token"))
        .header("X-SSL-Client-Cert", escaped)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "victim"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
}

#[tokio::test]
async fn cert_4_revoked_client_certificate_is_refused_at_the_token_endpoint() {
    let pki = Arc::new(TestPki::new("CRL QTSP"));
    let crl_server = StaticHttp::start(Vec::new(), "application/pkix-crl").await;
    let h = Harness::start_shared(
        Arc::new(tempfile::tempdir().unwrap()),
        pki.clone(),
        None,
        |c| c.revocation.enabled = true,
    )
    .await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-crl", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let (good, _) = pki.client("TPP", "tpp-crl", Some(&crl_server.url));
    let (revoked, serial) = pki.client("TPP", "tpp-crl", Some(&crl_server.url));
    *crl_server.body.lock().unwrap() = (pki.crl(&[serial]), "application/pkix-crl");
    let c = PkjClient {
        id: "tpp-crl".into(),
        key,
        identity: good,
    };
    assert_eq!(
        c.token(&h, &c.assertion(&h)).await.0,
        200,
        "good certificate, CRL says not revoked"
    );
    let bad = PkjClient {
        identity: revoked,
        ..c
    };
    assert_oauth_error(
        &bad.token(&h, &bad.assertion(&h)).await,
        401,
        "invalid_client",
    );
    // A certificate naming no OCSP responder and no CRL cannot be checked: refused.
    let (unknown, _) = pki.client("TPP", "tpp-crl", None);
    let nocheck = PkjClient {
        identity: unknown,
        ..bad
    };
    assert_oauth_error(
        &nocheck.token(&h, &nocheck.assertion(&h)).await,
        401,
        "invalid_client",
    );
}

/// hardening_repeated_client_cert_header: a proxy that appends instead of replacing forwards
/// the caller's header first; a request with two `Client-Cert` headers is refused, whichever
/// comes first. A `Client-Cert-Chain` split over two lines is read whole.
#[tokio::test]
async fn hardening_repeated_client_cert_header_is_refused() {
    let h = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let victim = PkjClient::register(&h, "victim-2", "accounts").await;
    let attacker = PkjClient::register(&h, "attacker", "accounts").await;
    let send = |first: &PkjClient, second: Option<&PkjClient>| {
        let mut req = http_client(&h.dev_ca, None).post(h.url("/token")).header(
            "Client-Cert",
            format!(":{}:", STANDARD.encode(&first.identity.chain[0])),
        );
        if let Some(s) = second {
            req = req.header(
                "Client-Cert",
                format!(":{}:", STANDARD.encode(&s.identity.chain[0])),
            );
        }
        let assertion = attacker.assertion(&h);
        async move {
            let resp = req
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", BEARER),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            (status, headers, resp.json::<Value>().await.unwrap())
        }
    };
    assert_oauth_error(&send(&victim, Some(&attacker)).await, 401, "invalid_client");
    assert_oauth_error(&send(&attacker, Some(&victim)).await, 401, "invalid_client");
    assert_eq!(send(&attacker, None).await.0, 200);
}
