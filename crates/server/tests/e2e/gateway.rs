//! GW-1: the resource-request gateway end to end: the real authorization server, a real
//! gateway on its own TLS listener in front of the demo bank and an echo upstream (both real
//! HTTP servers on loopback), and a TPP that went through the whole PSU journey. Each policy
//! rule is refused and allowed.

use std::sync::Arc;

use axum::http::HeaderMap;
use bulwark_certs::PspRole;
use bulwark_gateway::{Gateway, GatewayConfig};
use serde_json::{Value, json};

use crate::support::consents::{AISP, as_tpp, tpp};
use crate::support::gateway::{Call, get, journey};
use crate::support::journey::{FlowTpp, fapi2_code};
use crate::support::{Harness, ISSUER, both_backends, http_client};

/// A plain-HTTP server on loopback answering every request with what it received.
async fn echo_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(
        |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: String| async move {
            let h: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or("?"))))
                .collect();
            axum::Json(json!({"method": method.as_str(), "uri": uri.to_string(), "headers": h, "body": body}))
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The demo bank on loopback over the harness's database.
async fn demo_bank(h: &Harness) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = bulwark_server::demo_bank::router(Arc::new(h.store.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A gateway in front of the demo bank and the echo upstream; returns its base URL.
async fn gateway(h: &Harness) -> String {
    gateway_with(h, |_| {}).await
}

/// As [`gateway`], with the configuration (JSON) adjusted by `tweak`.
async fn gateway_with(h: &Harness, tweak: impl FnOnce(&mut Value)) -> String {
    let bank = demo_bank(h).await;
    let echo = echo_upstream().await;
    let pki = h.data_dir().join("dev-pki");
    let mut config = json!({
        "listen": "127.0.0.1:0",
        "tls": {"cert": pki.join("server.pem"), "key": pki.join("server-key.pem")},
        "issuer": ISSUER,
        "jwks_uri": h.url("/jwks"),
        "jwks_ca": [h.dev_ca],
        "database_url": h.db_url,
        "client_cache_secs": 0,
        "trust": {"anchors": [h.pki.ca_pem_path]},
        "revocation": {"enabled": false},
        "routes": [
            {"method": "GET", "path": "/open-banking/v3.1/aisp/accounts", "upstream": bank, "api": "accounts"},
            {"method": "GET", "path": "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
             "upstream": bank, "api": "balances", "account_param": "AccountId"},
            {"method": "GET", "path": "/open-banking/v3.1/aisp/accounts/{AccountId}/transactions",
             "upstream": bank, "api": "transactions", "account_param": "AccountId"},
            {"method": "GET", "path": "/echo/accounts", "upstream": echo, "api": "accounts"},
            {"method": "POST", "path": "/open-banking/v3.1/pisp/domestic-payments", "upstream": echo,
             "api": "domestic-payments", "payment_submission": true},
            {"method": "GET", "path": "/echo/app", "upstream": echo, "api": "accounts", "token": "application"}
        ]
    });
    tweak(&mut config);
    let config: GatewayConfig = serde_json::from_value(config).unwrap();
    let g = Gateway::build(config, Arc::new(h.clock.clone()))
        .await
        .unwrap();
    let port = g.addr().port();
    tokio::spawn(g.run_until(std::future::pending()));
    format!("https://localhost:{port}")
}

fn reason(c: &Call) -> String {
    c.body["Errors"][0]["Message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// True for a UUID as the gateway generates them (`8-4-4-4-12` hex digits, version 4).
fn is_uuid_v4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
        && s.as_bytes()[14] == b'4'
}

both_backends!(
    /// A PSU-consented token reaches the demo bank through the gateway: the accounts the
    /// consent covers and their balances; an API the consent does not grant (transactions)
    /// and an account outside the consent are refused before the bank sees the request.
    gw_1_a_psu_token_reaches_the_bank_for_the_consented_accounts,
    gw_1_a_psu_token_reaches_the_bank_for_the_consented_accounts_on_postgres => bank_case
);

async fn bank_case(h: Harness) {
    let base = gateway(&h).await;
    let (t, token, accounts, _) = journey(&h).await;
    let id = &t.c.identity;
    let list = get(
        &h,
        &base,
        id,
        Some(&token),
        "/open-banking/v3.1/aisp/accounts",
        &[],
    )
    .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let listed: Vec<&str> = list.body["Data"]["Account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AccountId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [accounts[0].as_str()], "only the consented account");
    assert!(list.headers.contains_key("x-fapi-interaction-id"));
    let path = format!("/open-banking/v3.1/aisp/accounts/{}/balances", accounts[0]);
    let balances = get(&h, &base, id, Some(&token), &path, &[]).await;
    assert_eq!(balances.status, 200, "{:?}", balances.body);
    assert!(balances.body["Data"]["Balance"][0]["Amount"]["Amount"].is_string());
    // The consent grants ReadAccountsDetail and ReadBalances, not transactions.
    let path = format!(
        "/open-banking/v3.1/aisp/accounts/{}/transactions",
        accounts[0]
    );
    let no_permission = get(&h, &base, id, Some(&token), &path, &[]).await;
    assert_eq!(no_permission.status, 403, "{:?}", no_permission.body);
    // The PSU's other account was not selected.
    let path = format!("/open-banking/v3.1/aisp/accounts/{}/balances", accounts[1]);
    let refused = get(&h, &base, id, Some(&token), &path, &[]).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(
        refused.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.ConsentMismatch"
    );
    // An unknown path is 404 and never proxied.
    let none = get(
        &h,
        &base,
        id,
        Some(&token),
        "/open-banking/v3.1/aisp/parties",
        &[],
    )
    .await;
    assert_eq!(none.status, 404);
    // A path an URL parser would rewrite upstream (to reach the unselected account) matches no
    // route.
    let tricky = format!(
        "/open-banking/v3.1/aisp/accounts/{}%2F..%2F{}/balances",
        accounts[0], accounts[1]
    );
    assert_eq!(
        get(&h, &base, id, Some(&token), &tricky, &[]).await.status,
        404
    );
}

#[tokio::test]
async fn gw_1_every_token_and_certificate_rule_is_enforced() {
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let (t, token, _, subject) = journey(&h).await;
    let id = &t.c.identity;
    let path = "/echo/accounts";

    // No token, a forged one: 401 with WWW-Authenticate and an OB body; RFC 6750 3.1: no
    // error code when no token was sent, invalid_token when a bad one was.
    let none = get(&h, &base, id, None, path, &[]).await;
    assert_eq!(none.status, 401);
    let challenge = none.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error"), "{challenge}");
    assert!(none.body["Errors"][0]["ErrorCode"].is_string());
    let forged = get(&h, &base, id, Some("not.a.jwt"), path, &[]).await;
    assert_eq!(forged.status, 401);
    assert!(
        forged.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""),
        "{:?}",
        forged.headers
    );

    // Another certificate of the same organisation (RFC 8705 3).
    let other = h.pki.qwac(
        "tpp-gw",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let stolen = get(&h, &base, &other, Some(&token), path, &[]).await;
    assert_eq!(stolen.status, 401, "{:?}", stolen.body);

    // An application token on a PSU path, a PSU token on an application path.
    let app = get(&h, &base, id, Some(&t.app_token), path, &[]).await;
    assert_eq!(app.status, 403, "{:?}", app.body);
    assert!(
        reason(&app).contains("kind") || reason(&app).contains("token"),
        "{:?}",
        app.body
    );
    assert_eq!(
        get(&h, &base, id, Some(&token), "/echo/app", &[])
            .await
            .status,
        403
    );
    assert_eq!(
        get(&h, &base, id, Some(&t.app_token), "/echo/app", &[])
            .await
            .status,
        200
    );

    // Missing scope: an accounts token on the payments route.
    let pay = http_client(&h.dev_ca, Some(id))
        .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status().as_u16(), 403);
    let challenge = pay.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(pay.text().await.unwrap().contains("scope payments"));

    // A QWAC without the API's PSD2 role (PISP only, on an accounts route).
    let (pisp, pisp_token) = tpp(&h, "tpp-pisp-only", &[PspRole::PaymentInitiation]).await;
    let role = get(
        &h,
        &base,
        &pisp.identity,
        Some(&pisp_token),
        "/echo/app",
        &[],
    )
    .await;
    assert_eq!(role.status, 403, "{:?}", role.body);
    assert!(reason(&role).contains("PSP_AI"), "{:?}", role.body);

    // Header smuggling: nothing the caller sends under the gateway's names reaches the bank.
    let echoed = get(
        &h,
        &base,
        id,
        Some(&token),
        path,
        &[
            ("x-bulwark-psu", "someone-else"),
            ("x-bulwark-accounts", "every-account"),
            ("x-bulwark-client-id", "another-tpp"),
            ("client-cert", ":AAAA:"),
            ("connection", "keep-alive, x-hop-only"),
            ("x-hop-only", "1"),
            ("x-end-to-end", "kept"),
            ("x-forwarded-for", "10.9.9.9"),
            ("forwarded", "for=10.9.9.9"),
            ("x-bulwark-cert-thumbprint", "not-my-certificate"),
        ],
    )
    .await;
    assert_eq!(echoed.status, 200, "{:?}", echoed.body);
    let sent = &echoed.body["headers"];
    assert_eq!(sent["x-bulwark-psu"], subject.as_str());
    assert_eq!(sent["x-bulwark-client-id"], "tpp-gw");
    assert_ne!(sent["x-bulwark-accounts"], "every-account");
    assert!(sent.get("client-cert").is_none());
    assert!(
        sent.get("x-hop-only").is_none(),
        "named by Connection: hop-by-hop"
    );
    assert_eq!(sent["x-end-to-end"], "kept");
    assert!(sent.get("x-forwarded-for").is_none() && sent.get("forwarded").is_none());
    assert_eq!(
        sent["x-bulwark-cert-thumbprint"],
        bulwark_certs::x5t_s256(&id.chain[0]).as_str()
    );
    // No x-fapi-interaction-id from the caller: the gateway generates one (a UUID), gives it
    // to the upstream and answers with it.
    let generated = sent["x-fapi-interaction-id"].as_str().unwrap();
    assert!(is_uuid_v4(generated), "{generated}");
    assert_eq!(
        echoed.headers["x-fapi-interaction-id"].to_str().unwrap(),
        generated
    );

    // On an application-token route the gateway sets no consent, PSU or account headers, so
    // nothing overwrites what a caller sends under those names: they must still not reach
    // the upstream, nor any other x-bulwark-* name. The caller's interaction id is passed on
    // unchanged.
    let smuggled = [
        ("x-bulwark-consent-id", "consent-of-someone-else"),
        ("x-bulwark-cert-thumbprint", "not-my-certificate"),
        ("x-bulwark-foo", "smuggled-foo"),
        ("x-bulwark-psu", "someone-else"),
        ("x-bulwark-accounts", "every-account"),
        ("x-bulwark-client-id", "another-tpp"),
    ];
    let mut extra = smuggled.to_vec();
    extra.push(("x-fapi-interaction-id", "tpp-chosen-interaction-1"));
    let app_echo = get(&h, &base, id, Some(&t.app_token), "/echo/app", &extra).await;
    assert_eq!(app_echo.status, 200, "{:?}", app_echo.body);
    let sent = &app_echo.body["headers"];
    for name in [
        "x-bulwark-consent-id",
        "x-bulwark-psu",
        "x-bulwark-accounts",
        "x-bulwark-foo",
    ] {
        assert!(
            sent.get(name).is_none(),
            "{name} reached the upstream: {sent}"
        );
    }
    assert_eq!(sent["x-bulwark-client-id"], "tpp-gw");
    assert_eq!(
        sent["x-bulwark-cert-thumbprint"],
        bulwark_certs::x5t_s256(&id.chain[0]).as_str()
    );
    for (name, value) in sent.as_object().unwrap() {
        assert!(
            !smuggled.iter().any(|(_, v)| value == v),
            "the caller's value reached the upstream under {name}: {value}"
        );
    }
    assert_eq!(sent["x-fapi-interaction-id"], "tpp-chosen-interaction-1");
    assert_eq!(
        app_echo.headers["x-fapi-interaction-id"].to_str().unwrap(),
        "tpp-chosen-interaction-1"
    );

    // The token revoked a moment ago.
    let r = h
        .post(
            Some(id),
            "/revoke",
            &[
                ("token", token.as_str()),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", &t.c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(r.0, 200, "{:?}", r.2);
    // A "not revoked" answer is trusted for revocation_staleness_ms (1 s by default): past
    // it, the revoked token is refused.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = get(&h, &base, id, Some(&token), path, &[]).await;
    assert_eq!(after.status, 401, "{:?}", after.body);
}

#[tokio::test]
async fn gw_1_consent_revoked_or_token_expired_is_refused_at_once() {
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let (t, token, _, _) = journey(&h).await;
    let id = &t.c.identity;
    assert_eq!(
        get(&h, &base, id, Some(&token), "/echo/accounts", &[])
            .await
            .status,
        200
    );
    // The TPP deletes the consent: the very next request is refused (consent status is read
    // from the server's database on every request).
    let consent_id = crate::support::jwt_parts(&token).1["consent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = as_tpp(&h, &t.c, &t.app_token)
        .delete(&format!("{AISP}/{consent_id}"))
        .await;
    assert_eq!(deleted.status, 204);
    let refused = get(&h, &base, id, Some(&token), "/echo/accounts", &[]).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(
        refused.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.InvalidConsentStatus"
    );
    // An expired token (the gateway shares the server's clock here).
    let (t2, token2, _, _) = {
        let t2 = FlowTpp::register(&h, "tpp-gw2", None).await;
        let (code, _, _) = fapi2_code(&h, &t2, "gwpsu2").await;
        let tokens = t2.exchange(&h, &code).await;
        let tok = tokens.2["access_token"].as_str().unwrap().to_string();
        (t2, tok, (), ())
    };
    assert_eq!(
        get(
            &h,
            &base,
            &t2.c.identity,
            Some(&token2),
            "/echo/accounts",
            &[]
        )
        .await
        .status,
        200
    );
    h.clock.advance(3600);
    let expired = get(
        &h,
        &base,
        &t2.c.identity,
        Some(&token2),
        "/echo/accounts",
        &[],
    )
    .await;
    assert_eq!(expired.status, 401, "{:?}", expired.body);
}

/// The URL-encoded PEM of a certificate, as nginx's `$ssl_client_escaped_cert`.
fn escaped_pem(der: &[u8]) -> String {
    use base64::Engine;
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    pem.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn gw_1_payment_submissions_must_match_their_consent() {
    use crate::support::journey::{Browser, response_params};
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let t = FlowTpp::register(&h, "tpp-gw-pay", None).await;
    let consent_id = t.payment_consent(&h, "10.50").await;
    let (user, password, accounts, _) = crate::support::journey::psu(&h, "gwpayer").await;
    let mut params = t.fapi2_params(&consent_id);
    for p in params.iter_mut() {
        if p.0 == "scope" {
            p.1 = "openid payments".into();
        }
    }
    let pushed = t.push(&h, &params).await;
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[
            ("client_id", "tpp-gw-pay"),
            ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
        ])
        .await;
    b.login(&ia, &user, &password).await;
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    let code = response_params(&done.location())["code"].clone();
    let tokens = t.exchange(&h, &code).await;
    let token = tokens.2["access_token"].as_str().unwrap().to_string();
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
    let differing = post(submit("1000.00")).await.unwrap();
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
    // A consent pays once: the same submission again is refused, the consent is Consumed.
    let again = post(submit("10.50")).await.unwrap();
    assert_eq!(again.status().as_u16(), 403);
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
async fn gw_1_a_token_for_another_audience_is_refused() {
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let (c, _) = tpp(&h, "tpp-aud", &[PspRole::AccountInformation]).await;
    let mut meta = bulwark_store::ClientStore::get_client(&h.store, "tpp-aud")
        .await
        .unwrap()
        .unwrap()
        .metadata;
    meta.resources = vec!["https://payments.other.example".into()];
    bulwark_store::ClientStore::update_client_metadata(&h.store, "tpp-aud", &meta, h.clock_now())
        .await
        .unwrap();
    let resp = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://payments.other.example"),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let token = resp.2["access_token"].as_str().unwrap();
    let refused = get(&h, &base, &c.identity, Some(token), "/echo/app", &[]).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    let (c2, token2) = tpp(&h, "tpp-aud-ok", &[PspRole::AccountInformation]).await;
    assert_eq!(
        get(&h, &base, &c2.identity, Some(&token2), "/echo/app", &[])
            .await
            .status,
        200
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

/// The echo upstream over TLS with the development certificate (a CA of its own, not a
/// public one), HTTP/2 offered by ALPN; it answers with the protocol version it saw.
async fn tls_echo_upstream(h: &Harness) -> String {
    let pki = h.data_dir().join("dev-pki");
    let chain = bulwark_web::tls::load_chain(&pki.join("server.pem")).unwrap();
    let key = bulwark_web::tls::load_key(&pki.join("server-key.pem")).unwrap();
    let tls = Arc::new(bulwark_web::tls::server_config(chain, key, Vec::new()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        axum::Json(json!({"version": format!("{:?}", req.version()), "path": req.uri().path()}))
    });
    tokio::spawn(bulwark_web::listener::serve_with(
        listener,
        tls,
        app,
        std::future::pending(),
        std::time::Duration::from_secs(1),
        bulwark_web::ConnectionLimits::default(),
    ));
    format!("https://localhost:{port}")
}

#[tokio::test]
async fn gw_1_https_upstream_with_its_own_ca_over_http2_and_refusals_are_counted() {
    let h = Harness::start(|_| {}).await;
    let upstream = tls_echo_upstream(&h).await;
    let ca = h.dev_ca.clone();
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin_addr = admin.local_addr().unwrap();
    drop(admin);
    let base = gateway_with(&h, move |c| {
        c["admin_listen"] = json!(admin_addr.to_string());
        c["upstream_ca"] = json!([ca]);
        c["routes"].as_array_mut().unwrap().push(
            json!({"method": "GET", "path": "/tls/app", "upstream": upstream,
                         "api": "accounts", "token": "application"}),
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
    let metrics = reqwest::get(format!("http://{admin_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
