//! OIDF FAPI 2.0 Security Profile Final plan, part 2: the token endpoint, client assertion and
//! PAR modules, one test each, named after the module, in the variant the suite runs for UK Open Banking (the `openbanking_intent_id` claim); the helpers are in
//! `support::conformance`, the modules that do not apply are listed in `docs/conformance.md`.

use serde_json::{Value, json};

use crate::support::conformance::{Conf, is_error_page, rs256_assertion, set, without};
use crate::support::journey::{Browser, FlowTpp, REDIRECT, VERIFIER, response_params};
use crate::support::{BEARER, ISSUER, assert_oauth_error, jwt_parts};

/// The module names client 2 (`client_id` and the assertion's `iss`/`sub`) but signs the
/// assertion with client 1's key and sends it over client 1's certificate.
#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_id_in_token_endpoint() {
    let c = Conf::fapi2().await;
    FlowTpp::register(&c.h, "conf-other", None).await;
    let code = c.code().await;
    let r = c
        .token_naming_the_other_client(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_holder_of_key_required() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let assertion = c.t.c.assertion(&c.h);
    let no_cert =
        c.h.post(
            None,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_assertion_type", BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_oauth_error(&no_cert, 401, "invalid_client");
    // OIDC Core 9: the assertion authenticated the refused exchange and is spent with it; sent
    // again with the certificate it is a replay.
    assert_oauth_error(
        &c.exchange_with(&code, &assertion).await,
        401,
        "invalid_client",
    );
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_code_is_bound_to_client() {
    let c = Conf::fapi2().await;
    let other = FlowTpp::register(&c.h, "conf-other", None).await;
    let code = c.code().await;
    assert_oauth_error(&other.exchange(&c.h, &code).await, 400, "invalid_grant");
    assert_eq!(c.exchange(&code).await.0, 200);
}

#[tokio::test]
async fn fapi2_security_profile_final_attempt_reuse_authorization_code_after_one_second() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let first = c.exchange(&code).await;
    assert_eq!(first.0, 200);
    c.h.clock.advance(1);
    assert_oauth_error(&c.exchange(&code).await, 400, "invalid_grant");
    let info =
        crate::support::introspect(&c.h, &c.t.c, first.2["access_token"].as_str().unwrap()).await;
    assert_eq!(info["active"], false, "the first token is revoked");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_token_endpoint_fails_with_expired_auth_code() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    c.h.clock.advance(61);
    assert_oauth_error(&c.exchange(&code).await, 400, "invalid_grant");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_signed_client_assertion_with_rs256_fails() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let bad = rs256_assertion(&c.t.c.claims(&c.h));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_in_token_endpoint() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let r =
        c.h.post(
            Some(&c.t.c.identity),
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", "conf-tpp"),
            ],
        )
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails()
{
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let now = c.h.clock_now();
    let bad = c.assertion(json!({"iat": now - 360, "exp": now - 300}));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_with_wrong_aud_fails() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let bad = c.assertion(json!({"aud": "https://other.example"}));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_with_no_sub_fails() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let bad = c.assertion(json!({"sub": Value::Null}));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_refresh_token() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let tokens = c.exchange(&code).await;
    let rt = tokens.2["refresh_token"].as_str().unwrap();
    let (_, first_id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    crate::support::conformance::refresh_token_module(&c, rt, &first_id).await;
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_server_handles_non_matching_intent_id() {
    // Client 2 pushes client 1's consent: the push is accepted (201), the authorization is
    // refused back to client 2 with its state and iss, and the consent stays client 1's to
    // authorise.
    let c = Conf::fapi2().await;
    let other = FlowTpp::register(&c.h, "conf-other", None).await;
    let pushed = other.push(&c.h, &other.fapi2_params(&c.consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let page = Browser::new(&c.h)
        .get(&format!(
            "/authorize?client_id=conf-other&request_uri={}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let r = response_params(&page.location());
    assert_eq!(r["error"], "invalid_request");
    assert_eq!(r["state"], "af0ifjsldkj");
    assert_eq!(r["iss"], ISSUER);
    let done = c.par_flow(&c.params()).await;
    assert_eq!(c.exchange(&done["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi2_security_profile_final_test_essential_acr_sca_claim() {
    // OpenBankingUkAddScaAcrClaimToAuthorizationEndpointRequest: the singular `value` form.
    // (A login that cannot reach SCA is `access_denied`: authorize_acr.rs.)
    let c = Conf::fapi2().await;
    let mut claims = FlowTpp::claims(&c.consent_id);
    claims["id_token"]["acr"] = json!({"value": "urn:openbanking:psd2:sca", "essential": true});
    let r = c
        .par_flow(&set(c.params(), "claims", &claims.to_string()))
        .await;
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(
        jwt_parts(tokens.2["id_token"].as_str().unwrap()).1["acr"],
        "urn:openbanking:psd2:sca"
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds()
 {
    let c = Conf::fapi2().await;
    let uri = c.push_ok(&c.params()).await;
    Browser::new(&c.h)
        .start(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    let r = c
        .complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    assert!(r.contains_key("code"));
}

#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_reuse_request_uri() {
    let c = Conf::fapi2().await;
    let uri = c.push_ok(&c.params()).await;
    c.complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    let again = Browser::new(&c.h)
        .get(&format!(
            "/authorize?client_id=conf-tpp&request_uri={}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .await;
    is_error_page(&again);
}

#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_to_use_expired_request_uri() {
    let c = Conf::fapi2().await;
    let uri = c.push_ok(&c.params()).await;
    c.h.clock.advance(61);
    let page = Browser::new(&c.h)
        .get(&format!(
            "/authorize?client_id=conf-tpp&request_uri={}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .await;
    is_error_page(&page);
}

#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_jwt_client_assertions_nbf_8_seconds_in_the_future_is_accepted()
 {
    let c = Conf::fapi2().await;
    let now = c.h.clock_now();
    let ok = c.assertion(json!({"iat": now + 8, "nbf": now + 8}));
    assert_eq!(c.push_with(&ok).await.0, 201);
}

#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_jwt_client_assertions_nbf_over_60_seconds_in_the_future_fails()
 {
    let c = Conf::fapi2().await;
    // AddIatNbfExpOver60SecondsInTheFutureToClientAssertionClaims: consistent otherwise.
    let now = c.h.clock_now();
    let bad = c.assertion(json!({"iat": now + 62, "nbf": now + 62, "exp": now + 122}));
    assert_oauth_error(&c.push_with(&bad).await, 401, "invalid_client");
}

#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_to_use_request_uri_for_different_client() {
    let c = Conf::fapi2().await;
    FlowTpp::register(&c.h, "conf-other", None).await;
    let uri = c.push_ok(&c.params()).await;
    let page = Browser::new(&c.h)
        .get(&format!(
            "/authorize?client_id=conf-other&request_uri={}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .await;
    is_error_page(&page);
    // It still works for its own client.
    assert!(
        c.complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
            .await
            .contains_key("code")
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_par_authorization_request_containing_request_uri_form_param()
{
    let c = Conf::fapi2().await;
    let p = set(
        c.params(),
        "request_uri",
        "urn:ietf:params:oauth:request_uri:abc",
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi2_security_profile_final_par_attempt_invalid_http_method() {
    let c = Conf::fapi2().await;
    // The module sends PUT (CallPAREndpointWithPutInsteadOfPost); GET is refused the same way.
    let http = crate::support::http_client(&c.h.dev_ca, Some(&c.t.c.identity));
    for method in [reqwest::Method::PUT, reqwest::Method::GET] {
        let resp = http
            .request(method.clone(), c.h.url("/par"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method}");
    }
}

#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_pkce_required() {
    let c = Conf::fapi2().await;
    let p = without(
        without(c.params(), "code_challenge"),
        "code_challenge_method",
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_pkce_code_verifier_required() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let r =
        c.t.token(
            &c.h,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_oauth_error(&r, 400, "invalid_grant");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_incorrect_pkce_code_verifier_rejected() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let wrong = "x".repeat(43);
    let r =
        c.t.token(
            &c.h,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &wrong),
            ],
        )
        .await;
    assert_oauth_error(&r, 400, "invalid_grant");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}

#[tokio::test]
async fn fapi2_security_profile_final_par_plain_pkce_rejected() {
    let c = Conf::fapi2().await;
    let p = set(
        set(c.params(), "code_challenge_method", "plain"),
        "code_challenge",
        VERIFIER,
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

/// A happy flow in which `/authorize` gets only `client_id` and `request_uri`.
#[tokio::test]
async fn fapi2_security_profile_final_par_without_duplicate_parameters() {
    let c = Conf::fapi2().await;
    let uri = c.push_ok(&c.params()).await;
    let r = c
        .complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    assert_eq!(r["iss"], ISSUER);
    assert_eq!(r["state"], "af0ifjsldkj");
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

/// RFC 9126 2.1 / RFC 6749 3.1: a parameter sent twice in the push is refused.
#[tokio::test]
async fn az_1_a_push_with_a_duplicated_parameter_is_refused() {
    let c = Conf::fapi2().await;
    let mut p = c.params();
    p.push(("scope".into(), "openid payments".into()));
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi2_security_profile_final_par_test_array_as_audience_fails() {
    let c = Conf::fapi2().await;
    let bad = c.assertion(json!({"aud": [ISSUER]}));
    assert_oauth_error(&c.push_with(&bad).await, 401, "invalid_client");
}

#[tokio::test]
async fn fapi2_security_profile_final_par_test_par_endpoint_url_as_audience_fails() {
    let c = Conf::fapi2().await;
    let bad = c.assertion(json!({"aud": format!("{ISSUER}/par")}));
    assert_oauth_error(&c.push_with(&bad).await, 401, "invalid_client");
}

#[tokio::test]
async fn fapi2_security_profile_final_par_test_token_endpoint_url_as_audience_fails() {
    let c = Conf::fapi2().await;
    let bad = c.assertion(json!({"aud": format!("{ISSUER}/token")}));
    assert_oauth_error(&c.push_with(&bad).await, 401, "invalid_client");
}

/// The plan's "without OpenID Connect" variant (`FAPIOpenIDConnect=plain_oauth`) of the happy
/// flow in the UK Open Banking profile: scope without `openid`, no `nonce`, the consent named in
/// `claims.id_token` as AddAccountRequestIdToAuthorizationEndpointRequest sends it. The code
/// exchange answers without an ID token; the access token carries the consent and the
/// certificate; a refresh answers without an ID token too.
#[tokio::test]
async fn fapi2_security_profile_final_happy_flow_plain_oauth() {
    let c = Conf::fapi2().await;
    let claims = json!({"id_token": {
        "openbanking_intent_id": {"value": c.consent_id, "essential": true},
        "acr": {"essential": true, "values": ["urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"]},
    }});
    let p = set(
        set(without(c.params(), "nonce"), "scope", "accounts"),
        "claims",
        &claims.to_string(),
    );
    let r = c.par_flow(&p).await;
    assert_eq!(r["iss"], ISSUER);
    assert_eq!(r["state"], "af0ifjsldkj");
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert!(tokens.2.get("id_token").is_none(), "{:?}", tokens.2);
    assert_eq!(tokens.2["scope"], "accounts");
    let (_, at) = jwt_parts(tokens.2["access_token"].as_str().unwrap());
    assert_eq!(at["consent_id"], c.consent_id.as_str());
    assert_eq!(
        at["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.t.c.identity.chain[0]).as_str()
    );
    let refreshed =
        c.t.token(
            &c.h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.2["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    assert!(refreshed.2.get("id_token").is_none(), "{:?}", refreshed.2);
}

/// The plan's DPoP variant does not apply (`docs/conformance.md`): discovery offers no DPoP,
/// and a DPoP proof does not stand in for the certificate the token would be bound to.
#[tokio::test]
async fn fapi2_security_profile_final_dpop_is_not_offered_and_replaces_no_certificate() {
    let c = Conf::fapi2().await;
    let doc: Value = c.h.get_json("/.well-known/openid-configuration").await;
    assert!(doc.get("dpop_signing_alg_values_supported").is_none());
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    let code = c.code().await;
    // A well-formed proof (RFC 9449 4.2) signed by the client's own key.
    let proof =
        c.t.c
            .key
            .sign_compact(
                "dpop+jwt",
                &serde_json::to_vec(&json!({
                    "jti": "dpop-1", "htm": "POST", "htu": c.h.url("/token"),
                    "iat": c.h.clock_now(),
                }))
                .unwrap(),
            )
            .unwrap();
    let assertion = c.t.c.assertion(&c.h);
    let resp = crate::support::http_client(&c.h.dev_ca, None)
        .post(c.h.url("/token"))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_assertion_type", BEARER),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(c.exchange(&code).await.0, 200, "the code was not consumed");
}
