//! OIDF FAPI 1.0 Advanced Final plan, part 2: client assertion and pushed request modules, one
//! test each, named after the module, in the variant the suite runs for UK Open Banking (the `openbanking_intent_id` claim); the helpers are in
//! `support::conformance`, the modules that do not apply are listed in `docs/conformance.md`.

use serde_json::{Value, json};

use crate::support::conformance::{
    Conf, fapi1_code, fapi1_exchange, fapi1_exchange_with, fapi1_pushed, is_error_page,
    rs256_assertion, set,
};
use crate::support::journey::{Browser, FlowTpp, REDIRECT, VERIFIER, response_params};
use crate::support::{ISSUER, Resp, assert_oauth_error, jwt_parts};

macro_rules! fapi1_refused_assertion {
    ($($name:ident => $edit:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let c = Conf::fapi1().await;
                let code = fapi1_code(&c).await;
                let edit: Value = ($edit)(&c);
                let bad = c.assertion(edit);
                assert_oauth_error(&fapi1_exchange_with(&c, &code, &bad).await, 401, "invalid_client");
                assert_eq!(fapi1_exchange(&c, &c.t, &code).await.0, 200, "the code was not consumed");
            }
        )*
    };
}

fapi1_refused_assertion! {
    fapi1_advanced_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails => |c: &Conf| json!({"iat": c.h.clock_now() - 360, "exp": c.h.clock_now() - 300});
    fapi1_advanced_final_ensure_client_assertion_with_wrong_aud_fails => |_: &Conf| json!({"aud": "https://other.example"});
    fapi1_advanced_final_ensure_client_assertion_with_no_sub_fails => |_: &Conf| json!({"sub": Value::Null});
    fapi1_advanced_final_ensure_client_assertion_with_wrong_iss_fails => |_: &Conf| json!({"iss": "someone-else"});
    fapi1_advanced_final_ensure_client_assertion_with_wrong_sub_fails => |_: &Conf| json!({"sub": "someone-else"});
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_signed_client_assertion_with_rs256_fails() {
    let c = Conf::fapi1().await;
    let code = fapi1_code(&c).await;
    let bad = rs256_assertion(&c.t.c.claims(&c.h));
    assert_oauth_error(
        &fapi1_exchange_with(&c, &code, &bad).await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_client_assertion_in_token_endpoint() {
    let c = Conf::fapi1().await;
    let code = fapi1_code(&c).await;
    let r =
        c.h.post(
            Some(&c.t.c.identity),
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", "conf-tpp"),
            ],
        )
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_client_assertion_with_iss_aud_succeeds() {
    let c = Conf::fapi1().await;
    let code = fapi1_code(&c).await;
    let ok = c.assertion(json!({"aud": ISSUER}));
    assert_eq!(fapi1_exchange_with(&c, &code, &ok).await.0, 200);
}

#[tokio::test]
async fn fapi1_advanced_final_refresh_token() {
    let c = Conf::fapi1().await;
    let code = fapi1_code(&c).await;
    let tokens = fapi1_exchange(&c, &c.t, &code).await;
    let rt = tokens.2["refresh_token"].as_str().unwrap();
    let (_, first_id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    crate::support::conformance::refresh_token_module(&c, rt, &first_id).await;
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_server_handles_non_matching_intent_id() {
    // Client 1 names client 2's consent: refused to client 1's redirect URI (fragment) with
    // its state; the consent stays client 2's to authorise.
    let c = Conf::fapi1().await;
    let other = FlowTpp::register(&c.h, "conf-other", None).await;
    let others = other.consent(&c.h).await;
    let page = c
        .by_value(&c.object(json!({"claims": FlowTpp::claims(&others)})))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location().starts_with(&format!("{REDIRECT}#")));
    let r = response_params(&page.location());
    assert_eq!(r["error"], "invalid_request");
    assert_eq!(
        r["state"], "conf-state",
        "CheckStateInAuthorizationResponse"
    );
    let stored = bulwark_store::ConsentStore::get_consent(&c.h.store, &others)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
}

#[tokio::test]
async fn fapi1_advanced_final_test_essential_acr_sca_claim() {
    // OpenBankingUkAddScaAcrClaimToAuthorizationEndpointRequest: the singular `value` form.
    let c = Conf::fapi1().await;
    let mut claims = FlowTpp::claims(&c.consent_id);
    claims["id_token"]["acr"] = json!({"value": "urn:openbanking:psd2:sca", "essential": true});
    let r = c.by_value_flow(&c.object(json!({"claims": claims}))).await;
    assert_eq!(
        jwt_parts(&r["id_token"]).1["acr"],
        "urn:openbanking:psd2:sca"
    );
}

#[tokio::test]
async fn fapi1_advanced_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds() {
    let c = Conf::fapi1().await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    Browser::new(&c.h)
        .start(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    assert!(
        c.complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
            .await
            .contains_key("code")
    );
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_reuse_request_uri() {
    let c = Conf::fapi1().await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    c.complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", "conf-tpp"), ("request_uri", uri.as_str())])
        .finish();
    is_error_page(&Browser::new(&c.h).get(&format!("/authorize?{q}")).await);
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_to_use_expired_request_uri() {
    let c = Conf::fapi1().await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    c.h.clock.advance(61);
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", "conf-tpp"), ("request_uri", uri.as_str())])
        .finish();
    is_error_page(&Browser::new(&c.h).get(&format!("/authorize?{q}")).await);
}

async fn fapi1_push_with(c: &Conf, assertion: &str) -> Resp {
    let p = fapi1_pushed(c, json!({}));
    c.post_with("/par", &[("request", &p[0].1)], assertion)
        .await
}

#[tokio::test]
async fn fapi1_advanced_final_par_test_pushed_authorization_url_as_audience_for_client_jwt_assertion()
 {
    let c = Conf::fapi1().await;
    let ok = c.assertion(json!({"aud": format!("{ISSUER}/par")}));
    assert_eq!(fapi1_push_with(&c, &ok).await.0, 201);
}

#[tokio::test]
async fn fapi1_advanced_final_par_token_endpoint_url_as_audience_for_client_jwt_assertion() {
    let c = Conf::fapi1().await;
    let ok = c.assertion(json!({"aud": format!("{ISSUER}/token")}));
    assert_eq!(fapi1_push_with(&c, &ok).await.0, 201);
}

#[tokio::test]
async fn fapi1_advanced_final_test_array_as_audience_for_client_jwt_assertion() {
    // AddArrayContainingIssuerAndAnotherValueAsAudToClientAuthenticationAssertionClaims, at
    // the PAR and at the token endpoint.
    let c = Conf::fapi1().await;
    let aud = json!([ISSUER, format!("{ISSUER}/token")]);
    let ok = c.assertion(json!({"aud": aud}));
    assert_eq!(fapi1_push_with(&c, &ok).await.0, 201);
    let code = fapi1_code(&c).await;
    let ok = c.assertion(json!({"aud": aud}));
    assert_eq!(fapi1_exchange_with(&c, &code, &ok).await.0, 200);
}

macro_rules! fapi1_par_refused_assertion {
    ($($name:ident => $edit:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let c = Conf::fapi1().await;
                let bad = c.assertion($edit);
                assert_oauth_error(&fapi1_push_with(&c, &bad).await, 401, "invalid_client");
            }
        )*
    };
}

fapi1_par_refused_assertion! {
    fapi1_advanced_final_par_ensure_client_assertion_with_wrong_aud_fails => json!({"aud": "https://other.example"});
    fapi1_advanced_final_par_ensure_client_assertion_with_wrong_iss_fails => json!({"iss": "someone-else"});
    fapi1_advanced_final_par_ensure_client_assertion_with_wrong_sub_fails => json!({"sub": "someone-else"});
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_to_use_request_uri_for_different_client() {
    let c = Conf::fapi1().await;
    FlowTpp::register(&c.h, "conf-other", None).await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", "conf-other"), ("request_uri", uri.as_str())])
        .finish();
    is_error_page(&Browser::new(&c.h).get(&format!("/authorize?{q}")).await);
}

#[tokio::test]
async fn fapi1_advanced_final_par_authorization_request_containing_request_uri_form_param() {
    let c = Conf::fapi1().await;
    let p = set(
        fapi1_pushed(&c, json!({})),
        "request_uri",
        "urn:ietf:params:oauth:request_uri:x",
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi1_advanced_final_par_authorization_request_containing_request_uri() {
    // A request_uri inside the request object.
    let c = Conf::fapi1().await;
    let p = fapi1_pushed(
        &c,
        json!({"request_uri": "urn:ietf:params:oauth:request_uri:x"}),
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request_object");
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_invalid_http_method() {
    let c = Conf::fapi1().await;
    let resp = crate::support::http_client(&c.h.dev_ca, Some(&c.t.c.identity))
        .put(c.h.url("/par"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn fapi1_advanced_final_par_ensure_pkce_required() {
    let c = Conf::fapi1().await;
    let p = vec![("request".into(), c.object(json!({})))];
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_pkce_code_verifier_required() {
    let c = Conf::fapi1().await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    let r = c
        .complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    assert_oauth_error(
        &fapi1_exchange(&c, &c.t, &r["code"]).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn fapi1_advanced_final_incorrect_pkce_code_verifier_rejected() {
    let c = Conf::fapi1().await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    let r = c
        .complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    let wrong = "w".repeat(43);
    let resp =
        c.t.token(
            &c.h,
            &[
                ("grant_type", "authorization_code"),
                ("code", &r["code"]),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &wrong),
            ],
        )
        .await;
    assert_oauth_error(&resp, 400, "invalid_grant");
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi1_advanced_final_par_plain_pkce_rejected() {
    let c = Conf::fapi1().await;
    let p = fapi1_pushed(
        &c,
        json!({"code_challenge": VERIFIER, "code_challenge_method": "plain"}),
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_invalid_redirect_uri() {
    let c = Conf::fapi1().await;
    let p = fapi1_pushed(&c, json!({"redirect_uri": "https://attacker.example/cb"}));
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

/// A happy flow in which `/authorize` gets only `client_id` and `request_uri`.
#[tokio::test]
async fn fapi1_advanced_final_par_without_duplicate_parameters() {
    let c = Conf::fapi1().await;
    let uri = c.push_ok(&fapi1_pushed(&c, json!({}))).await;
    let r = c
        .complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    assert_eq!(r["state"], "conf-state");
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

/// RFC 9126 2.1: a `request` sent twice in the push is refused.
#[tokio::test]
async fn az_2_a_push_with_the_request_object_twice_is_refused() {
    let c = Conf::fapi1().await;
    let mut p = fapi1_pushed(&c, json!({}));
    p.push(p[0].clone());
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi1_advanced_final_par_pushed_authorization_url_as_audience_in_request_object() {
    // The request object's audience is the issuer (FAPI 1.0 Adv 5.2.2-15), not an endpoint.
    let c = Conf::fapi1().await;
    let p = fapi1_pushed(&c, json!({"aud": format!("{ISSUER}/par")}));
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request_object");
}
