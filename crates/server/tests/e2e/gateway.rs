//! GW-1: the resource-request gateway end to end: the real authorization server, a real
//! gateway on its own TLS listener in front of the demo bank and an echo upstream (both real
//! HTTP servers on loopback), and a TPP that went through the whole PSU journey. Each policy
//! rule is refused and allowed.

use bulwark_certs::PspRole;
use serde_json::json;

use crate::support::consents::{AISP, as_tpp, tpp};
use crate::support::gateway::{
    assert_invalid_token_challenge, gateway, get, is_uuid_v4, journey, never_forwarded, reason,
};
use crate::support::journey::{FlowTpp, authorise_once, fapi2_code, psu};
use crate::support::{Harness, both_backends, http_client};

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
    let no_permission = never_forwarded(&base, get(&h, &base, id, Some(&token), &path, &[])).await;
    assert_eq!(no_permission.status, 403, "{:?}", no_permission.body);
    // The PSU's other account was not selected.
    let path = format!("/open-banking/v3.1/aisp/accounts/{}/balances", accounts[1]);
    let refused = never_forwarded(&base, get(&h, &base, id, Some(&token), &path, &[])).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(
        refused.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.ConsentMismatch"
    );
    // An unknown path is 404 and never proxied.
    let none = never_forwarded(
        &base,
        get(
            &h,
            &base,
            id,
            Some(&token),
            "/open-banking/v3.1/aisp/parties",
            &[],
        ),
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
    let none = never_forwarded(&base, get(&h, &base, id, None, path, &[])).await;
    assert_eq!(none.status, 401);
    let challenge = none.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error"), "{challenge}");
    assert!(none.body["Errors"][0]["ErrorCode"].is_string());
    let forged = never_forwarded(&base, get(&h, &base, id, Some("not.a.jwt"), path, &[])).await;
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
    let stolen = never_forwarded(&base, get(&h, &base, &other, Some(&token), path, &[])).await;
    assert_eq!(stolen.status, 401, "{:?}", stolen.body);
    assert_eq!(
        reason(&stolen),
        "the access token is bound to another certificate",
        "{:?}",
        stolen.body
    );
    assert_invalid_token_challenge(&stolen);

    // An application token on a PSU path, a PSU token on an application path.
    let app = never_forwarded(&base, get(&h, &base, id, Some(&t.app_token), path, &[])).await;
    assert_eq!(app.status, 403, "{:?}", app.body);
    assert_eq!(
        reason(&app),
        "this API needs a token authorised by the customer",
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
    let role = never_forwarded(
        &base,
        get(
            &h,
            &base,
            &pisp.identity,
            Some(&pisp_token),
            "/echo/app",
            &[],
        ),
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
            // The same names as a CGI/WSGI upstream reads them (`_` is `-` there).
            ("x-bulwark_accounts", "every-account-underscored"),
            ("x_bulwark_psu", "someone-else-underscored"),
            // URL, method and certificate claims some upstream frameworks believe.
            (
                "x-original-url",
                "/open-banking/v3.1/aisp/accounts/acc-2/balances",
            ),
            ("x-rewrite-url", "/elsewhere"),
            ("x-http-method-override", "DELETE"),
            ("x-forwarded-client-cert", "Hash=another-tpp"),
            ("x-forwarded-prefix", "/elsewhere"),
            ("x_forwarded_for", "10.9.9.9"),
        ],
    )
    .await;
    assert_eq!(echoed.status, 200, "{:?}", echoed.body);
    let sent = &echoed.body["headers"];
    for name in [
        "x-bulwark_accounts",
        "x_bulwark_psu",
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "x-forwarded-client-cert",
        "x-forwarded-prefix",
        "x_forwarded_for",
    ] {
        assert!(
            sent.get(name).is_none(),
            "{name} reached the upstream: {sent}"
        );
    }
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
    let after = never_forwarded(&base, get(&h, &base, id, Some(&token), path, &[])).await;
    assert_eq!(after.status, 401, "{:?}", after.body);
    // And it stays refused: a "revoked" answer is never remembered as "not revoked".
    let again = never_forwarded(&base, get(&h, &base, id, Some(&token), path, &[])).await;
    assert_eq!(again.status, 401, "{:?}", again.body);
    for refused in [&after, &again] {
        assert_eq!(
            reason(refused),
            "the access token was revoked",
            "{:?}",
            refused.body
        );
        assert_invalid_token_challenge(refused);
    }
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
    let refused = never_forwarded(
        &base,
        get(&h, &base, id, Some(&token), "/echo/accounts", &[]),
    )
    .await;
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
    // Nothing but the time changed since the 200: the token's lifetime is what refuses it
    // (RFC 6750 3.1: invalid_token; the text does not say which check failed).
    let expired = never_forwarded(
        &base,
        get(
            &h,
            &base,
            &t2.c.identity,
            Some(&token2),
            "/echo/accounts",
            &[],
        ),
    )
    .await;
    assert_eq!(expired.status, 401, "{:?}", expired.body);
    assert_eq!(
        reason(&expired),
        "the access token is invalid or expired",
        "{:?}",
        expired.body
    );
    assert_invalid_token_challenge(&expired);
}

/// RFC 7009 2.1 at the gateway: revoking a refresh token refuses every access token of its
/// grant, the code exchange's and a refresh's (whose `jti` was never written anywhere),
/// within the documented staleness.
#[tokio::test]
async fn gw_1_revoking_the_refresh_token_refuses_the_access_tokens_of_its_grant() {
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let t = FlowTpp::register(&h, "tpp-gw-rt", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "gwpsu-rt").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let refresh_token = tokens.2["refresh_token"].as_str().unwrap().to_string();
    let refreshed = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.as_str()),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let access_tokens = [
        tokens.2["access_token"].as_str().unwrap().to_string(),
        refreshed.2["access_token"].as_str().unwrap().to_string(),
    ];
    let id = &t.c.identity;
    for token in &access_tokens {
        let ok = get(&h, &base, id, Some(token), "/echo/accounts", &[]).await;
        assert_eq!(ok.status, 200, "{:?}", ok.body);
    }
    let r = h
        .post(
            Some(id),
            "/revoke",
            &[
                ("token", refresh_token.as_str()),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", &t.c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(r.0, 200, "{:?}", r.2);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for token in &access_tokens {
        let refused = never_forwarded(
            &base,
            get(&h, &base, id, Some(token), "/echo/accounts", &[]),
        )
        .await;
        assert_eq!(refused.status, 401, "{:?}", refused.body);
        assert_eq!(
            reason(&refused),
            "the access token was revoked",
            "{:?}",
            refused.body
        );
        assert_invalid_token_challenge(&refused);
    }
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
    let refused = never_forwarded(
        &base,
        get(&h, &base, &c.identity, Some(token), "/echo/app", &[]),
    )
    .await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(
        reason(&refused),
        "the access token was issued for another resource (aud)",
        "{:?}",
        refused.body
    );
    assert_invalid_token_challenge(&refused);
    let (c2, token2) = tpp(&h, "tpp-aud-ok", &[PspRole::AccountInformation]).await;
    assert_eq!(
        get(&h, &base, &c2.identity, Some(&token2), "/echo/app", &[])
            .await
            .status,
        200
    );
}

/// GW-1 / OB v3.1.10 permission table ("Permissions codes will be used to limit the data that
/// is returned"): the bank learns what the consent grants (`x-bulwark-permissions`, the
/// transaction window), whatever the caller sent under those names, and the demo bank answers
/// with no more: a Basic consent sees no account identification and no transaction
/// information, a Credits-only consent no debits, and nothing booked outside the window.
#[tokio::test]
async fn gw_1_the_bank_answers_with_what_the_consent_grants() {
    let h = Harness::start(|_| {}).await;
    let base = gateway(&h).await;
    let t = FlowTpp::register(&h, "tpp-gw-basic", None).await;
    let consent_id = t
        .consent_with(
            &h,
            &json!({"Data": {
                "Permissions": ["ReadAccountsBasic", "ReadTransactionsBasic", "ReadTransactionsCredits"],
                "ExpirationDateTime": crate::support::consents::iso(86_400),
                "TransactionFromDateTime": "2026-01-01T01:00:00+01:00",
                "TransactionToDateTime": "2026-11-29T00:00:00+00:00"
            }, "Risk": {}}),
        )
        .await;
    let (user, password, accounts, _) = psu(&h, "gw-basic").await;
    let (status, params) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[0])).await;
    assert_eq!(status, 303);
    let tokens = t.exchange(&h, &params["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let token = tokens.2["access_token"].as_str().unwrap();
    let id = &t.c.identity;

    let echoed = get(
        &h,
        &base,
        id,
        Some(token),
        "/echo/accounts",
        &[(
            "x-bulwark-permissions",
            "ReadAccountsDetail,ReadTransactionsDebits",
        )],
    )
    .await;
    assert_eq!(echoed.status, 200, "{:?}", echoed.body);
    let sent = &echoed.body["headers"];
    let mut granted: Vec<&str> = sent["x-bulwark-permissions"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            "ReadAccountsBasic",
            "ReadTransactionsBasic",
            "ReadTransactionsCredits"
        ]
    );
    assert_eq!(sent["x-bulwark-transaction-from"], "2026-01-01T00:00:00Z");
    assert_eq!(sent["x-bulwark-transaction-to"], "2026-11-29T00:00:00Z");

    let list = get(
        &h,
        &base,
        id,
        Some(token),
        "/open-banking/v3.1/aisp/accounts",
        &[],
    )
    .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let account = &list.body["Data"]["Account"][0];
    assert_eq!(account["AccountId"], accounts[0].as_str());
    assert!(account.get("Account").is_none(), "Basic: {account}");
    let path = format!(
        "/open-banking/v3.1/aisp/accounts/{}/transactions",
        accounts[0]
    );
    let listed = get(&h, &base, id, Some(token), &path, &[]).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let rows = listed.body["Data"]["Transaction"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "credits inside the window only: {rows:?}");
    assert_eq!(rows[0]["CreditDebitIndicator"], "Credit");
    assert!(rows[0].get("TransactionInformation").is_none(), "Basic");

    // The usual Detail consent sees the identification; it has no transaction window, and
    // none a caller sends reaches the bank.
    let (t2, token2, _, _) = journey(&h).await;
    let echoed = get(
        &h,
        &base,
        &t2.c.identity,
        Some(&token2),
        "/echo/accounts",
        &[
            ("x-bulwark-transaction-from", "1970-01-01T00:00:00Z"),
            ("x-bulwark-transaction-to", "9999-12-31T00:00:00Z"),
        ],
    )
    .await;
    assert_eq!(echoed.status, 200, "{:?}", echoed.body);
    assert!(
        echoed.body["headers"]
            .get("x-bulwark-transaction-from")
            .is_none()
    );
    assert!(
        echoed.body["headers"]
            .get("x-bulwark-transaction-to")
            .is_none()
    );
    let list = get(
        &h,
        &base,
        &t2.c.identity,
        Some(&token2),
        "/open-banking/v3.1/aisp/accounts",
        &[],
    )
    .await;
    assert!(
        list.body["Data"]["Account"][0]["Account"][0]["Identification"].is_string(),
        "{:?}",
        list.body
    );
}
