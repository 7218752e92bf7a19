//! Who may use the consent APIs (CO-1, CERT-7, CERT-8): the access token must be present,
//! valid, unrevoked, of an active client and bound to the presented certificate; the QWAC must
//! carry the PSD2 role of the consent kind and belong to the client's organisation. Every
//! refusal stores nothing.

use bulwark_certs::PspRole;
use bulwark_jose::{Alg, SigningKey};
use bulwark_store::{ClientStore, ConsentQuery, ConsentStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::consents::{
    AISP, CBPII, PISP, aac_body, as_tpp, call, cof_body, pay_body, stored, tpp,
};
use crate::support::journey::{FlowTpp, fapi2_code};
use crate::support::{Harness, PkjClient, assert_oauth_error, now};

/// CERT-7: refused (403, `UK.OBIE.Header.Invalid` at the certificate) with a message saying
/// `why`.
fn assert_certificate_refused(resp: &crate::support::consents::Answer, why: &str) {
    assert_eq!(resp.status, 403, "{:?}", resp.body);
    assert_eq!(
        resp.body["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid",
        "{:?}",
        resp.body
    );
    assert!(
        resp.body["Message"]
            .as_str()
            .unwrap_or_default()
            .contains(why),
        "{:?}",
        resp.body
    );
}

/// CERT-7: refused for the certificate's PSD2 roles, naming the missing one.
fn assert_role_refused(resp: &crate::support::consents::Answer, role: &str) {
    assert_certificate_refused(resp, &format!("lacks PSD2 role {role}"));
}

#[tokio::test]
async fn cert_7_role_mismatches_are_refused_and_store_nothing() {
    let h = Harness::start(|_| {}).await;
    let (pisp, pisp_token) = tpp(&h, "pisp-only", &[PspRole::PaymentInitiation]).await;
    let (aisp, aisp_token) = tpp(&h, "aisp-only", &[PspRole::AccountInformation]).await;
    let ais = as_tpp(&h, &pisp, &pisp_token)
        .post(AISP, &aac_body(), &[])
        .await;
    assert_role_refused(&ais, "PSP_AI");
    let pay = as_tpp(&h, &aisp, &aisp_token)
        .post(PISP, &pay_body("1.00"), &[("x-idempotency-key", "k")])
        .await;
    assert_role_refused(&pay, "PSP_PI");
    // Who the caller is comes before what it sent: unsigned, the same request is refused for
    // the role, not for its missing signature.
    let unsigned = call(
        &h,
        Some(&aisp.identity),
        reqwest::Method::POST,
        PISP,
        Some(&aisp_token),
        Some(&pay_body("1.00")),
        &[("x-idempotency-key", "k2")],
    )
    .await;
    assert_role_refused(&unsigned, "PSP_PI");
    let cof = as_tpp(&h, &aisp, &aisp_token)
        .post(CBPII, &cof_body(), &[])
        .await;
    assert_role_refused(&cof, "PSP_IC");
    assert_eq!(stored(&h).await, 0);

    // A plain (non-QWAC) certificate: no PSD2 identity at all.
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("plain-tpp", json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"], "scope": "accounts", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}})).await;
    let plain = PkjClient {
        id: "plain-tpp".into(),
        key,
        identity: h.pki.client("TPP", "plain-tpp", None).0,
    };
    let token = plain.token(&h, &plain.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = as_tpp(&h, &plain, &token)
        .post(AISP, &aac_body(), &[])
        .await;
    assert_certificate_refused(&refused, "not an acceptable QWAC");
    assert_eq!(stored(&h).await, 0);
}

#[tokio::test]
async fn co_1_token_must_be_present_valid_and_bound_to_the_presented_certificate() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-bind", &[PspRole::AccountInformation]).await;
    let other_cert = h.pki.qwac(
        "aisp-bind",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let stolen = call(
        &h,
        Some(&other_cert),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(stolen.status, 401, "a token bound to another certificate");
    assert!(
        stolen.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(
        call(
            &h,
            None,
            reqwest::Method::POST,
            AISP,
            Some(&token),
            Some(&aac_body()),
            &[]
        )
        .await
        .status,
        401
    );
    // RFC 6750 3.1: no token at all is a challenge without an error code, at the consent
    // APIs and at userinfo; a bad token names `invalid_token`.
    let none = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        None,
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    let userinfo = crate::support::http_client(&h.dev_ca, Some(&c.identity))
        .get(h.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    assert_eq!(
        userinfo.headers()["www-authenticate"],
        "Bearer realm=\"bulwark\""
    );
    assert_eq!(
        as_tpp(&h, &c, "garbage")
            .post(AISP, &aac_body(), &[])
            .await
            .status,
        401
    );
    // A suspended client can do nothing with the tokens it holds.
    h.store
        .set_client_status("aisp-bind", bulwark_core::ClientStatus::Suspended, now())
        .await
        .unwrap();
    let suspended = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(suspended.status, 401, "suspended client");
    h.store
        .set_client_status("aisp-bind", bulwark_core::ClientStatus::Active, now())
        .await
        .unwrap();
    // Revoked.
    let revoked = h
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", &token),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(revoked.0, 200);
    assert_eq!(
        as_tpp(&h, &c, &token)
            .post(AISP, &aac_body(), &[])
            .await
            .status,
        401
    );
    assert_eq!(stored(&h).await, 0);
}

/// CERT-8: a client registered for one organisation cannot call the consent APIs with another
/// organisation's QWAC, even one with the right roles: no token is bound to that certificate
/// (`invalid_client` at the token endpoint), and a token bound to its own organisation's QWAC
/// is refused at the consent API once the client's registered organisation is another.
#[tokio::test]
async fn cert_8_qwac_of_another_organisation_is_refused_at_the_consent_apis() {
    let h = Harness::start(|_| {}).await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register(
        "aisp-org",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "organization_identifier": "PSDGB-FCA-123456",
               "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let own = h.pki.qwac(
        "aisp-org",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let foreign = h.pki.qwac(
        "aisp-org",
        Some("PSDGB-FCA-999999"),
        None,
        &[PspRole::AccountInformation],
    );
    let other = PkjClient {
        id: "aisp-org".into(),
        key,
        identity: foreign,
    };
    assert_oauth_error(
        &other.token(&h, &other.assertion(&h)).await,
        401,
        "invalid_client",
    );
    let mine = PkjClient {
        identity: own,
        ..other
    };
    let token = mine.token(&h, &mine.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let ok = as_tpp(&h, &mine, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    // The bank re-registers the client under another organisation: its token, bound to the
    // first organisation's QWAC, no longer calls the APIs.
    let mut client = h.store.get_client("aisp-org").await.unwrap().unwrap();
    client
        .metadata
        .extra
        .insert("organization_identifier".into(), json!("PSDGB-FCA-999999"));
    assert!(
        h.store
            .update_client_metadata("aisp-org", &client.metadata, now())
            .await
            .unwrap()
    );
    let refused = as_tpp(&h, &mine, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(stored(&h).await, 1);
}

/// hardening_token_audience (RFC 9068 4): a token the client obtained for another resource
/// (RFC 8707 `resource`) is not accepted by the consent APIs, and nothing is stored.
#[tokio::test]
async fn hardening_token_for_another_resource_is_refused() {
    let h = Harness::start(|_| {}).await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register(
        "multi-api",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "resources": ["https://other-api.example"],
               "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let identity = h.pki.qwac(
        "multi-api",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let c = PkjClient {
        id: "multi-api".into(),
        key,
        identity,
    };
    let resp = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://other-api.example"),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let other = resp.2["access_token"].as_str().unwrap();
    let before = stored(&h).await;
    let a = as_tpp(&h, &c, other).post(AISP, &aac_body(), &[]).await;
    assert_eq!(a.status, 401, "{:?}", a.body);
    assert_eq!(stored(&h).await, before);
    // The same client with a token for this server is served.
    let own = c.token(&h, &c.assertion(&h)).await;
    let own = own.2["access_token"].as_str().unwrap();
    assert_eq!(
        as_tpp(&h, &c, own)
            .post(AISP, &aac_body(), &[])
            .await
            .status,
        201
    );
}

/// CO-1: the consent APIs take an application token (client credentials). A customer's token
/// (from the code flow, bound to the same client and certificate) creates, reads and deletes
/// nothing there: 403 in the OB error structure, no consent stored, none ended.
#[tokio::test]
async fn co_1_a_customers_token_cannot_use_the_consent_apis() {
    let h = Harness::start(|_| {}).await;
    let t = FlowTpp::register(&h, "tpp-user-token", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "psu-user-token").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let user_token = tokens.2["access_token"].as_str().unwrap();
    let waiting = t.consent(&h).await;
    let mine = ConsentQuery {
        client_id: Some("tpp-user-token".into()),
        ..Default::default()
    };
    let before = h.store.count_consents(&mine, 100).await.unwrap();
    let id = Some(&t.c.identity);
    let one = format!("{AISP}/{waiting}");
    for (method, path, body) in [
        (Method::POST, AISP, Some(aac_body())),
        (Method::GET, one.as_str(), None),
        (Method::DELETE, one.as_str(), None),
    ] {
        let extra = [("x-idempotency-key", "user-token")];
        let r = call(
            &h,
            id,
            method.clone(),
            path,
            Some(user_token),
            body.as_ref(),
            &extra,
        )
        .await;
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.body);
        assert!(r.body["Errors"][0]["ErrorCode"].is_string(), "{:?}", r.body);
    }
    assert_eq!(h.store.count_consents(&mine, 100).await.unwrap(), before);
    assert_eq!(
        h.store.get_consent(&waiting).await.unwrap().unwrap().status,
        "AwaitingAuthorisation"
    );
}
