//! Hardening, hostile input: what an attacker would send to each endpoint (garbled, oversized
//! and wrongly typed bodies, repeated parameters, NUL bytes, deeply nested or duplicate-key
//! JSON, forged JWTs). Each answer is the endpoint's protocol error (`invalid_request` or
//! `invalid_client`, `invalid_client_metadata`, an OB field error with its path; 413 for a
//! body over the limit), never a 5xx or a hang; the server keeps serving, and nothing from the
//! failed requests is in the database.

use bulwark_certs::PspRole;
use bulwark_store::{ClientStore, ConsentQuery, ConsentStore};

use crate::support::consents::{AISP, PISP, tpp};
use crate::support::{Harness, http_client};

/// The largest body an endpoint reads (axum's default limit, 2 MiB).
const LIMIT: usize = 2 * 1024 * 1024;

fn huge(n: usize) -> Vec<u8> {
    vec![b'a'; n]
}

#[tokio::test]
async fn hardening_hostile_input_gets_4xx_and_leaves_nothing() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(
        &h,
        "hostile-tpp",
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    )
    .await;
    let clients_before = h.store.list_clients().await.unwrap().len();
    let client = http_client(&h.dev_ca, Some(&c.identity));
    let form = "application/x-www-form-urlencoded";
    let json = "application/json";
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let nul_form = b"grant_type=client_credentials&client_id=a%00b".to_vec();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (form, Vec::new()),
        (form, b"%%%&&&==".to_vec()),
        (form, b"grant_type=client_credentials&grant_type=authorization_code".to_vec()),
        (form, nul_form),
        (form, huge(3 * 1024 * 1024)),
        (json, br#"{"grant_type":"client_credentials"}"#.to_vec()),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
        (form, b"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.e30.&grant_type=client_credentials".to_vec()),
    ];
    for path in ["/token", "/par", "/introspect", "/revoke"] {
        for (ct, body) in &bodies {
            let resp = client
                .post(h.url(path))
                .header("content-type", *ct)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let answer: serde_json::Value = resp.json().await.unwrap_or_default();
            // RFC 6749 5.2: a malformed request is invalid_request, one whose client cannot
            // be authenticated is invalid_client (401).
            let want = match status {
                400 => "invalid_request",
                401 => "invalid_client",
                _ => "(a 400 or a 401)",
            };
            assert_eq!(
                answer["error"],
                want,
                "{path} {ct} {} bytes: {status} {answer}",
                body.len()
            );
        }
    }
    // Registration: not a JWT, oversized, wrong type, a forged alg none.
    for (ct, body) in [
        ("application/jwt", b"not.a.jwt".to_vec()),
        ("application/jwt", huge(3 * 1024 * 1024)),
        (json, b"{}".to_vec()),
        (
            "application/jwt",
            b"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".to_vec(),
        ),
    ] {
        let resp = client
            .post(h.url("/register"))
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let answer: serde_json::Value = resp.json().await.unwrap_or_default();
        if body.len() > LIMIT {
            assert_eq!(status, 413, "/register {ct}: {answer}");
            assert_eq!(answer["error"], "invalid_client_metadata", "/register {ct}");
        } else {
            assert_eq!(status, 400, "/register {ct}: {answer}");
            assert_eq!(answer["error"], "invalid_client_metadata", "/register {ct}");
        }
    }
    // Consent APIs with a valid token: hostile JSON.
    for path in [AISP, PISP] {
        for body in [
            deep.clone().into_bytes(),
            br#"{"Data":{"Permissions":["ReadBalances"]},"Data":{"Permissions":["ReadBalances"]},"Risk":{}}"#.to_vec(),
            b"{\"Data\":{\"Permissions\":[\"Read\\u0000Balances\"]},\"Risk\":{}}".to_vec(),
            b"\xff\xfe not json".to_vec(),
            huge(3 * 1024 * 1024),
        ] {
            // Payment consents are signed: a signed body reaches the JSON parser.
            let signature = h.seals.lock().unwrap()["hostile-tpp"].sign(&body);
            let resp = client
                .post(h.url(path))
                .bearer_auth(&token)
                .header("content-type", json)
                .header("x-idempotency-key", "hostile-1")
                .header("x-jws-signature", signature)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let answer: serde_json::Value = resp.json().await.unwrap_or_default();
            if body.len() > LIMIT {
                // Over the limit: 413, an OB error like any other.
                assert_eq!(status, 413, "{path}: {answer}");
                assert_eq!(answer["Code"], "413 PayloadTooLarge", "{path}: {answer}");
                assert_eq!(answer["Errors"][0]["ErrorCode"], "UK.OBIE.Field.Invalid");
                continue;
            }
            // The body itself is refused (not the signature): a field error with its path.
            assert_eq!(status, 400, "{path} {} bytes: {answer}", body.len());
            let code = answer["Errors"][0]["ErrorCode"].as_str().unwrap_or_default();
            assert!(
                code == "UK.OBIE.Field.Invalid" || code == "UK.OBIE.Field.Unexpected",
                "{path} {} bytes: {answer}",
                body.len()
            );
            assert!(answer["Errors"][0]["Path"].is_string(), "{path}: {answer}");
        }
    }
    // The authorization endpoint: garbage, repeated parameters, NUL, a huge query.
    let browser = http_client(&h.dev_ca, None);
    for query in [
        "client_id=x&client_id=y".to_string(),
        "client_id=a%00b&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A%00".to_string(),
        format!("client_id={}", "x".repeat(60_000)),
        "request=eyJhbGciOiJub25lIn0.e30.&client_id=hostile-tpp".to_string(),
    ] {
        let resp = browser
            .get(format!("{}?{query}", h.url("/authorize")))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(
            status == 400,
            "/authorize {}: {status}",
            &query[..query.len().min(40)]
        );
    }
    // Still serving; nothing stored.
    let ok = browser.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let consents = h
        .store
        .search_consents(&ConsentQuery {
            limit: 500,
            ..ConsentQuery::default()
        })
        .await
        .unwrap();
    assert!(consents.is_empty(), "{consents:?}");
    assert_eq!(h.store.list_clients().await.unwrap().len(), clients_before);
    assert_eq!(
        bulwark_store::AuthorizationStore::purge_authorization(&h.store, i64::MAX)
            .await
            .unwrap(),
        0
    );
}

/// Forged client assertions: HS256 keyed with the client's public key, a correctly signed
/// assertion with a `crit` header, and one with a 100 kB `kid`: all invalid_client.
#[tokio::test]
async fn hardening_forged_assertions_are_invalid_client() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = Harness::start(|_| {}).await;
    let c = crate::support::PkjClient::register(&h, "forge-target", "accounts").await;
    let claims = serde_json::to_vec(&c.claims(&h)).unwrap();
    let b64 = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
    // HS256 with the public JWK as the shared secret.
    let secret = serde_json::to_vec(c.key.public_jwk()).unwrap();
    let hs_input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&claims)
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
        hs_input.as_bytes(),
    );
    let hs256 = format!("{hs_input}.{}", b64(mac.as_ref()));
    // A genuine signature over a header with a critical extension.
    let crit_header =
        serde_json::json!({"alg": "ES256", "kid": c.key.kid(), "crit": ["b64"], "b64": true});
    let crit_input = format!(
        "{}.{}",
        b64(crit_header.to_string().as_bytes()),
        b64(&claims)
    );
    let crit = format!(
        "{crit_input}.{}",
        b64(&c.key.sign_raw(crit_input.as_bytes()).unwrap())
    );
    // A huge kid.
    let kid_header = serde_json::json!({"alg": "ES256", "kid": "k".repeat(100_000)});
    let kid_input = format!(
        "{}.{}",
        b64(kid_header.to_string().as_bytes()),
        b64(&claims)
    );
    let huge_kid = format!(
        "{kid_input}.{}",
        b64(&c.key.sign_raw(kid_input.as_bytes()).unwrap())
    );
    for assertion in [hs256, crit, huge_kid] {
        crate::support::assert_oauth_error(&c.token(&h, &assertion).await, 401, "invalid_client");
    }
    // The genuine one still works (nothing above burnt its jti).
    assert_eq!(c.token(&h, &c.sign(&c.claims(&h))).await.0, 200);
}

/// A client certificate presented with a chain of 50 intermediates: refused as
/// `invalid_client` promptly (path building is bounded), and the server keeps serving.
#[tokio::test]
async fn hardening_fifty_certificate_chain_is_refused_promptly() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let h = Harness::start(|_| {}).await;
    let mut issuers: Vec<CertifiedIssuer<'static, KeyPair>> = Vec::new();
    for i in 0..50 {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, format!("Intermediate {i}"));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let key = KeyPair::generate().unwrap();
        let next = match issuers.last() {
            Some(prev) => CertifiedIssuer::signed_by(p, key, prev).unwrap(),
            None => CertifiedIssuer::signed_by(p, key, &h.pki.ca).unwrap(),
        };
        issuers.push(next);
    }
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "deep-tpp");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, issuers.last().unwrap()).unwrap();
    let mut chain = vec![leaf_cert.der().clone()];
    chain.extend(issuers.iter().rev().map(|i| i.der().clone()));
    let identity = crate::support::Identity {
        chain,
        key: rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
    };
    h.register(
        "deep-tpp",
        serde_json::json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=deep-tpp",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let started = std::time::Instant::now();
    let resp = h
        .post(
            Some(&identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "deep-tpp"),
            ],
        )
        .await;
    crate::support::assert_oauth_error(&resp, 401, "invalid_client");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let ok = http_client(&h.dev_ca, None)
        .get(h.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

/// A forwarded client certificate whose DER carries trailing bytes is refused (a parser that
/// stopped early could see one certificate where the thumbprint covers another).
#[tokio::test]
async fn hardening_certificate_der_with_trailing_bytes_is_refused() {
    use base64::Engine;
    let h = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let c = crate::support::PkjClient::register(&h, "der-tpp", "accounts").await;
    let send = |der: Vec<u8>| {
        let header = format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        let assertion = c.assertion(&h);
        let client = http_client(&h.dev_ca, None);
        let url = h.url("/token");
        async move {
            let resp = client
                .post(url)
                .header("Client-Cert", header)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", crate::support::BEARER),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    };
    let mut padded = c.identity.chain[0].to_vec();
    padded.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(send(padded).await, 401);
    assert_eq!(send(c.identity.chain[0].to_vec()).await, 200);
}

/// [`crate::support::http::raw_http1`] to the harness's server, without a certificate, with 5 s
/// for an answer to a flood.
async fn raw_http1(h: &Harness, head: &[u8]) -> String {
    let wait = std::time::Duration::from_secs(5);
    crate::support::http::raw_http1(&h.dev_ca, h.addr.port(), None, head, wait).await
}

/// Header floods: thousands of fields, one enormous field, a head just under the limits, and
/// repeated singleton fields, over HTTP/1.1 and HTTP/2. Floods get 431 (or the connection is
/// closed) promptly, repeats get 400 `invalid_request`, the server keeps serving, and nothing
/// is stored.
#[tokio::test]
async fn hardening_header_floods_are_refused_and_the_server_keeps_serving() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "flood-tpp", &[PspRole::AccountInformation]).await;
    let consents_before = h
        .store
        .search_consents(&ConsentQuery {
            limit: 500,
            ..ConsentQuery::default()
        })
        .await
        .unwrap()
        .len();

    // HTTP/1.1: 10 000 fields.
    let mut many = b"POST /token HTTP/1.1\r\nHost: localhost\r\ncontent-length: 0\r\n".to_vec();
    for i in 0..10_000 {
        many.extend_from_slice(format!("x-flood-{i}: a\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let answer = raw_http1(&h, &many).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // One 1 MiB field.
    let mut big = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nx-big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let answer = raw_http1(&h, &big).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // One 80 KiB field: over the 64 KiB head limit (`http.max_header_bytes`), though a larger
    // read buffer would hold it.
    let mut over =
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nconnection: close\r\nx-big: ".to_vec();
    over.extend(std::iter::repeat_n(b'a', 80 * 1024));
    over.extend_from_slice(b"\r\n\r\n");
    let answer = raw_http1(&h, &over).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // 99 small fields and 40 kB in all: within the limits, served.
    let mut within = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nconnection: close\r\n".to_vec();
    for i in 0..97 {
        within.extend_from_slice(format!("x-f{i}: {}\r\n", "b".repeat(400)).as_bytes());
    }
    within.extend_from_slice(b"\r\n");
    let answer = raw_http1(&h, &within).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // HTTP/2 (ALPN h2): a header list over the limit is refused.
    let mut h2_config = crate::support::http::client_tls_config(&h.dev_ca, Some(&c.identity));
    h2_config.alpn_protocols = vec![b"h2".to_vec()];
    let h2 = reqwest::Client::builder()
        .tls_backend_preconfigured(h2_config)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let served = h2.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(served.version(), reqwest::Version::HTTP_2);
    assert_eq!(served.status().as_u16(), 200);
    let client = http_client(&h.dev_ca, Some(&c.identity));
    let mut flood = reqwest::header::HeaderMap::new();
    for i in 0..2_000 {
        flood.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-flood-{i}").as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_static("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        );
    }
    let refused = h2
        .post(h.url(AISP))
        .headers(flood)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}"#)
        .send()
        .await;
    match refused {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 431),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }

    // Repeated singleton fields: two bearer tokens (a proxy that appends), two signatures.
    for (name, value) in [
        ("authorization", format!("Bearer {token}")),
        ("x-idempotency-key", "k-1".to_owned()),
        (
            "x-fapi-interaction-id",
            "93bac548-d2de-4546-b106-880a5018460d".to_owned(),
        ),
    ] {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = reqwest::header::HeaderValue::from_str(&value).unwrap();
        let name = reqwest::header::HeaderName::from_static(name);
        headers.append(name.clone(), value.clone());
        headers.append(name.clone(), value);
        if name != "authorization" {
            headers.insert(
                "authorization",
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        let resp = client
            .post(h.url(AISP))
            .headers(headers)
            .header("content-type", "application/json")
            .body(r#"{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{name}");
        // A bank API answers in the OB error structure, naming the repeated header.
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            body["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid",
            "{name}"
        );
        assert_eq!(body["Errors"][0]["Path"], name.as_str(), "{name}");
    }

    // Still serving, and none of it stored.
    let ok = http_client(&h.dev_ca, None)
        .get(h.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let consents_after = h
        .store
        .search_consents(&ConsentQuery {
            limit: 500,
            ..ConsentQuery::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(consents_before, consents_after);
}
