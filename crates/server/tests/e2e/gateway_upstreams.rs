//! GW-1 with other upstreams and deployments: payment submissions checked against their
//! consent, the gateway behind a TLS-terminating proxy, an https upstream with its own CA over
//! HTTP/2, introspection instead of local checks, and an unreachable authorization server.

use bulwark_certs::PspRole;
use serde_json::{Value, json};

use crate::support::consents::tpp;
use crate::support::gateway::{
    admin_metrics, escaped_pem, free_admin_addr, funds_code, funds_journey, gateway, gateway_with,
    get, journey, never_forwarded, payment_journey, tls_echo_upstream,
};
use crate::support::{Harness, Identity, http_client};

/// GW-1 / CO-4 / OB Confirmation of Funds: a CBPII's PSU-authorised funds-confirmation token
/// reaches the bank through the gateway for its own consent only: a request naming another
/// consent in `Data.ConsentId` is 400 ConsentMismatch and never reaches the bank; an
/// application token is refused (403); the consent's status is read on every request; a token
/// bound to a QWAC without the CBPII role (PSP_IC) is refused (403).
#[tokio::test]
async fn gw_1_a_funds_confirmation_names_the_tokens_consent() {
    let h = Harness::start(|_| {}).await;
    let base = gateway_with(&h, |c| {
        let echo = c["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == "/echo/accounts")
            .unwrap()["upstream"]
            .clone();
        c["routes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"method": "POST",
            "path": "/open-banking/v3.1/cbpii/funds-confirmations", "upstream": echo,
            "api": "funds-confirmations"}));
    })
    .await;
    let (t, token, consent_id) = funds_journey(&h, "tpp-gw-cbpii", "gwfunds").await;
    let claims = crate::support::jwt_parts(&token).1;
    assert_eq!(claims["consent_id"], consent_id.as_str());
    let ask = |id: &Identity, token: String, consent: String| {
        let body = json!({"Data": {"ConsentId": consent, "Reference": "Purchase01",
            "InstructedAmount": {"Amount": "20.00", "Currency": "GBP"}}});
        let client = http_client(&h.dev_ca, Some(id));
        let url = format!("{base}/open-banking/v3.1/cbpii/funds-confirmations");
        async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, text) = never_forwarded(
        &base,
        ask(&t.c.identity, token.clone(), "fcc-another-consent".into()),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("UK.OBIE.Resource.ConsentMismatch"), "{text}");
    assert!(text.contains("Data.ConsentId"), "{text}");
    // A malformed request is the TPP's mistake, not a refusal of its consent: 400, as the
    // server's own APIs answer it.
    let malformed = http_client(&h.dev_ca, Some(&t.c.identity))
        .post(format!(
            "{base}/open-banking/v3.1/cbpii/funds-confirmations"
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"Data": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    let text = malformed.text().await.unwrap();
    assert!(text.contains("UK.OBIE.Field.Missing"), "{text}");
    let (status, text) = ask(&t.c.identity, token.clone(), consent_id.clone()).await;
    assert_eq!(status, 200, "{text}");
    let echoed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        echoed["headers"]["x-bulwark-consent-id"],
        consent_id.as_str()
    );
    assert_eq!(echoed["headers"]["x-bulwark-permissions"], "");
    let (status, text) = never_forwarded(
        &base,
        ask(&t.c.identity, t.app_token.clone(), consent_id.clone()),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    // CERT-7 at the gateway: funds confirmation needs the CBPII role (PSP_IC) of the
    // certificate the token is bound to. A CBPII whose renewed QWAC (same organisation) no
    // longer holds it exchanges its code with that QWAC: the token is bound to it, and the
    // gateway refuses it before the bank sees the request.
    let (mut renewed, code, renewed_consent) =
        funds_code(&h, "tpp-gw-cbpii-renewed", "gwfunds2").await;
    renewed.c.identity = h.pki.qwac(
        "tpp-gw-cbpii-renewed",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let tokens = renewed.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let renewed_token = tokens.2["access_token"].as_str().unwrap().to_string();
    let (status, text) = never_forwarded(
        &base,
        ask(&renewed.c.identity, renewed_token, renewed_consent),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("PSP_IC"), "{text}");
    // The consent's status is read on every request: withdrawn by the CBPII, it is refused.
    let deleted = crate::support::consents::as_tpp(&h, &t.c, &t.app_token)
        .delete(&format!("{}/{consent_id}", crate::support::consents::CBPII))
        .await;
    assert_eq!(deleted.status, 204);
    let (status, text) = ask(&t.c.identity, token.clone(), consent_id.clone()).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("UK.OBIE.Resource.InvalidConsentStatus"),
        "{text}"
    );
}

#[tokio::test]
async fn gw_1_payment_submissions_must_match_their_consent() {
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-pay", "gwpayer", "10.50").await;
    let consent = crate::support::consents::pay_body("10.50");
    let submit = |amount: &str| {
        let mut init = consent["Data"]["Initiation"].clone();
        init["InstructedAmount"]["Amount"] = json!(amount);
        json!({"Data": {"ConsentId": consent_id, "Initiation": init}, "Risk": consent["Risk"]})
    };
    let post = |body: Value| {
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let differing = never_forwarded(&base, post(submit("1000.00")))
        .await
        .unwrap();
    assert_eq!(differing.status().as_u16(), 400);
    let text = differing.text().await.unwrap();
    assert!(text.contains("UK.OBIE.Resource.ConsentMismatch"), "{text}");
    let ok = post(submit("10.50")).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let echoed: Value = ok.json().await.unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(
        echoed["headers"]["x-bulwark-consent-id"],
        consent_id.as_str()
    );
    assert!(
        echoed["body"].as_str().unwrap().contains("10.50"),
        "the body is passed on"
    );
    // A consent pays once: the same submission again is refused, the consent is Consumed
    // (400 InvalidConsentStatus, as the server's own payment APIs answer).
    let again = never_forwarded(&base, post(submit("10.50"))).await.unwrap();
    assert_eq!(again.status().as_u16(), 400);
    let text = again.text().await.unwrap();
    assert!(
        text.contains("UK.OBIE.Resource.InvalidConsentStatus"),
        "{text}"
    );
    assert_eq!(
        bulwark_store::ConsentStore::get_consent(&h.store, &consent_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "Consumed"
    );
}

#[tokio::test]
async fn gw_1_behind_a_proxy_the_server_mtls_rules_apply() {
    let h = Harness::start(|_| {}).await;
    let base = gateway_with(&h, |c| {
        c["mtls"] = json!({"mode": "proxy", "trusted_proxies": ["127.0.0.1/32"], "header": "X-SSL-Client-Cert"});
    })
    .await;
    let (c, token) = tpp(&h, "tpp-proxied", &[PspRole::AccountInformation]).await;
    let header = escaped_pem(&c.identity.chain[0]);
    let call = |headers: Vec<(&'static str, String)>| {
        let mut req = http_client(&h.dev_ca, None)
            .get(format!("{base}/echo/app"))
            .bearer_auth(&token);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let ok = call(vec![("X-SSL-Client-Cert", header.clone())])
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let echoed: Value = ok.json().await.unwrap();
    assert!(
        echoed["headers"].get("x-ssl-client-cert").is_none(),
        "not passed upstream"
    );
    let twice = call(vec![
        ("X-SSL-Client-Cert", header.clone()),
        ("X-SSL-Client-Cert", header.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(
        twice.status().as_u16(),
        401,
        "duplicate certificate headers"
    );
    let none = call(vec![]).await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
}

#[tokio::test]
async fn gw_1_https_upstream_with_its_own_ca_over_http2_and_refusals_are_counted() {
    let h = Harness::start(|_| {}).await;
    let upstream = tls_echo_upstream(&h).await;
    let ca = h.dev_ca.clone();
    let admin_addr = free_admin_addr();
    let base = gateway_with(&h, move |c| {
        c["admin_listen"] = json!(admin_addr.to_string());
        c["upstream_ca"] = json!([ca]);
        c["routes"].as_array_mut().unwrap().push(
            json!({"method": "GET", "path": "/tls/app", "upstream": upstream,
                         "api": "products", "token": "application"}),
        );
    })
    .await;
    let (c, token) = tpp(&h, "tpp-tls", &[PspRole::AccountInformation]).await;
    let ok = get(&h, &base, &c.identity, Some(&token), "/tls/app", &[]).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["version"], "HTTP/2.0");
    assert_eq!(ok.body["path"], "/tls/app");
    // Refusals are counted per route and reason.
    let refused = get(&h, &base, &c.identity, None, "/tls/app", &[]).await;
    assert_eq!(refused.status, 401);
    // Metrics are on the admin listener only, never on the TPP-facing one.
    let public = get(&h, &base, &c.identity, None, "/metrics", &[]).await;
    assert_eq!(public.status, 404);
    let metrics = admin_metrics(admin_addr).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_refusals_total")
                && l.contains("route=\"GET /tls/app\"")
                && l.contains("reason=\"no_token\"")),
        "{metrics}"
    );
    // Requests are counted under the route they matched (method and pattern), `unmatched`
    // only when none did.
    assert!(
        metrics.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("route=\"GET /tls/app\"")
            && l.contains("status=\"200\"")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("route=\"unmatched\"")
            && l.contains("status=\"404\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn gw_1_the_gateway_can_introspect_instead_of_checking_locally() {
    use base64::Engine;
    let h = Harness::start(|_| {}).await;
    // The gateway is a resource-server client of the authorization server (tls_client_auth).
    h.register(
        "gateway",
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_subject_dn": "O=Bank Ltd,CN=gateway",
               "grant_types": ["client_credentials"], "resource_server": true}),
    )
    .await;
    let (identity, _) = h.pki.client("Bank Ltd", "gateway", None);
    let pem = |label: &str, der: &[u8]| {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("gateway.pem");
    let key = dir.path().join("gateway-key.pem");
    std::fs::write(&cert, pem("CERTIFICATE", &identity.chain[0])).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", identity.key.secret_der())).unwrap();
    let url = h.url("/introspect");
    let base = gateway_with(&h, move |c| {
        c.as_object_mut().unwrap().remove("jwks_uri");
        c["introspection"] = json!({"url": url, "client_id": "gateway", "cert": cert, "key": key});
    })
    .await;
    let (t, token, _, subject) = journey(&h).await;
    let ok = get(
        &h,
        &base,
        &t.c.identity,
        Some(&token),
        "/echo/accounts",
        &[],
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["headers"]["x-bulwark-psu"], subject.as_str());
    // Revoked at the server: the next introspection says inactive.
    let r = h
        .post(
            Some(&t.c.identity),
            "/revoke",
            &[
                ("token", token.as_str()),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", &t.c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(r.0, 200);
    let after = get(
        &h,
        &base,
        &t.c.identity,
        Some(&token),
        "/echo/accounts",
        &[],
    )
    .await;
    assert_eq!(after.status, 401, "{:?}", after.body);
    drop(dir);
}

#[tokio::test]
async fn gw_1_an_unreachable_server_is_not_an_invalid_token() {
    // The JWK Set cannot be fetched: the TPP's token may be fine, so the answer is 503 with
    // Retry-After, not 401 invalid_token (which would make the TPP throw the token away).
    let h = Harness::start(|_| {}).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let base = gateway_with(&h, move |c| {
        c["jwks_uri"] = json!(format!("https://localhost:{port}/jwks"));
    })
    .await;
    let (c, token) = tpp(&h, "tpp-outage", &[PspRole::AccountInformation]).await;
    let answer = get(&h, &base, &c.identity, Some(&token), "/echo/app", &[]).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert!(answer.headers.get("www-authenticate").is_none());
    assert_eq!(
        answer.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"2"[..]),
        "the TPP is told to retry"
    );
}

/// GW-1, hardening: a body is read only from a caller that could be admitted. Without a
/// client certificate, or without a bearer token, a request announcing a body it never sends
/// is refused (401) at once instead of holding its connection and a buffer; a body over
/// 1 MiB is 413 (`UK.OBIE.Field.Invalid`), and the bank sees none of them.
#[tokio::test]
async fn gw_1_bodies_are_read_only_from_callers_that_could_be_admitted() {
    let h = Harness::start(|_| {}).await;
    let base = gateway_with(&h, |_| {}).await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let t = crate::support::journey::FlowTpp::register(&h, "tpp-gw-body", None).await;
    let pay = "/open-banking/v3.1/pisp/domestic-payments";
    for (identity, authorization) in [
        (None, "authorization: Bearer some-token\r\n"),
        (Some(&t.c.identity), ""),
    ] {
        let head = format!(
            "POST {pay} HTTP/1.1\r\nhost: localhost\r\n{authorization}\
             content-type: application/json\r\ncontent-length: 10\r\n\r\n"
        );
        let answer = never_forwarded(
            &base,
            crate::support::http::raw_http1(
                &h.dev_ca,
                port,
                identity,
                head.as_bytes(),
                std::time::Duration::from_secs(3),
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let big = never_forwarded(
        &base,
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}{pay}"))
            .bearer_auth(&t.app_token)
            .header("content-type", "application/json")
            .body(vec![b' '; 1024 * 1024 + 1])
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    let said: Value = big.json().await.unwrap();
    assert_eq!(said["Errors"][0]["ErrorCode"], "UK.OBIE.Field.Invalid");
}
