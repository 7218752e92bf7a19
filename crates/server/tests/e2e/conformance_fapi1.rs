//! OIDF FAPI 1.0 Advanced Final plan, part 1: discovery, the hybrid happy flow and the request
//! object modules, one test each, named after the module, in the variant the suite runs for UK Open Banking (the `openbanking_intent_id` claim); the helpers are in
//! `support::conformance`, the modules that do not apply are listed in `docs/conformance.md`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::conformance::{
    Conf, fapi1_code, fapi1_exchange, fapi1_pushed, is_error_page, push_refused,
};
use crate::support::journey::{Browser, CHALLENGE, FlowTpp, REDIRECT, response_params};
use crate::support::{BEARER, ISSUER, assert_oauth_error, jwt_parts, valid_id_token};

#[tokio::test]
async fn fapi1_advanced_final_discovery_end_point_verification() {
    let c = Conf::fapi1().await;
    let doc: Value = c.h.get_json("/.well-known/openid-configuration").await;
    assert!(
        doc["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("code id_token"))
    );
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert_eq!(
        doc["request_object_signing_alg_values_supported"],
        json!(["PS256", "ES256"])
    );
    assert!(
        doc["response_modes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("jwt"))
    );
    assert!(
        doc["subject_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("pairwise"))
    );
    // The UK OB checks (FAPIOBCheckDiscEndpoint*, CheckDiscEndpointClaimsParameterSupported)
    // and, for the pushed variant, PAR and S256 (CheckDiscEndpointPARSupported,
    // EnsureServerConfigurationSupportsCodeChallengeMethodS256).
    assert_eq!(doc["claims_parameter_supported"], true);
    let has = |member: &str, value: &str| {
        doc[member]
            .as_array()
            .is_some_and(|a| a.contains(&json!(value)))
    };
    for (member, value) in [
        ("claims_supported", "acr"),
        ("claims_supported", "openbanking_intent_id"),
        ("grant_types_supported", "authorization_code"),
        ("grant_types_supported", "client_credentials"),
        ("scopes_supported", "openid"),
        ("scopes_supported", "accounts"),
        ("code_challenge_methods_supported", "S256"),
    ] {
        assert!(
            has(member, value),
            "{member} lacks {value}: {}",
            doc[member]
        );
    }
    assert!(
        doc["pushed_authorization_request_endpoint"]
            .as_str()
            .is_some_and(|u| u.starts_with(ISSUER))
    );
}

/// The hybrid happy flow, for two clients: the front-channel ID token is a detached signature
/// of the code and state, the token endpoint's ID token is the same PSU's, bound to the
/// access token, the consent and the request; the second client's registered redirect URI
/// has a query of its own that the response keeps before the fragment.
#[tokio::test]
async fn fapi1_advanced_final() {
    let c = Conf::fapi1().await;
    let r = c.by_value_flow(&c.object(json!({}))).await;
    assert_eq!(r["state"], "conf-state");
    // ValidateIssIfPresentInAuthorizationResponse: Bulwark always sends it (RFC 9207).
    assert_eq!(
        r["iss"], ISSUER,
        "ValidateIssIfPresentInAuthorizationResponse"
    );
    // The front-channel ID token is validated as the suite does (ValidateIdToken, signature,
    // iss, aud, iat, exp): it lives `authorization.response_lifetime_secs` (300).
    let id = valid_id_token(&c.h, &r["id_token"], "conf-tpp", 300);
    assert_eq!(id["c_hash"], bulwark_token::half_hash(&r["code"]).as_str());
    assert_eq!(
        id["s_hash"],
        bulwark_token::half_hash("conf-state").as_str()
    );
    assert_eq!(id["nonce"], "conf-nonce");
    assert_eq!(id["acr"], "urn:openbanking:psd2:sca");
    assert_eq!(id["openbanking_intent_id"], c.consent_id.as_str());
    let tokens = fapi1_exchange(&c, &c.t, &r["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert_eq!(tokens.1["cache-control"], "no-store");
    assert_eq!(tokens.2["token_type"], "Bearer");
    let access = tokens.2["access_token"].as_str().unwrap();
    let id_token = tokens.2["id_token"]
        .as_str()
        .expect("ExtractIdTokenFromTokenResponse");
    let (idh, _) = jwt_parts(id_token);
    assert!(idh["kid"].is_string());
    // The token endpoint's lives `tokens.id_token_lifetime_secs` (600), with the front
    // channel's login time.
    let tid = valid_id_token(&c.h, id_token, "conf-tpp", 600);
    assert_eq!(tid["auth_time"], id["auth_time"]);
    assert_eq!(
        tid["sub"], id["sub"],
        "VerifyIdTokenSubConsistentHybridFlow"
    );
    assert_eq!(tid["aud"], "conf-tpp");
    assert_eq!(tid["nonce"], "conf-nonce");
    assert_eq!(tid["acr"], "urn:openbanking:psd2:sca");
    assert_eq!(tid["openbanking_intent_id"], c.consent_id.as_str());
    assert_eq!(tid["at_hash"], bulwark_token::half_hash(access).as_str());

    let redirect = format!("{REDIRECT}?dummy1=lorem&dummy2=ipsum");
    let other = FlowTpp::register_with(&c.h, "conf-other", None, &redirect).await;
    let consent = other.consent(&c.h).await;
    let object = other.fapi1_object(
        &c.h,
        &consent,
        json!({"redirect_uri": redirect, "state": "other-state", "nonce": "other-nonce"}),
    );
    let mut b = Browser::new(&c.h);
    let ia = b
        .start(&[
            ("request", object.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("scope", "openid accounts"),
            ("response_type", "code id_token"),
            ("client_id", "conf-other"),
        ])
        .await;
    assert_eq!(b.login(&ia, &c.user, &c.password).await.status, 303);
    let done = b.decide(&ia, "authorise", &[&c.accounts[0]]).await;
    let location = done.location();
    assert!(
        location.starts_with(&format!("{redirect}#")),
        "CheckMatchingCallbackParameters: {location}"
    );
    let r2 = response_params(&location);
    assert_eq!(r2["state"], "other-state");
    let tokens2 = other
        .token(
            &c.h,
            &[
                ("grant_type", "authorization_code"),
                ("code", &r2["code"]),
                ("redirect_uri", &redirect),
            ],
        )
        .await;
    assert_eq!(tokens2.0, 200, "{:?}", tokens2.2);
}

#[tokio::test]
async fn fapi1_advanced_final_user_rejects_authentication() {
    let c = Conf::fapi1().await;
    let q = [
        ("client_id", "conf-tpp"),
        ("response_type", "code id_token"),
        ("scope", "openid accounts"),
    ];
    let object = c.object(json!({}));
    let mut query = q.to_vec();
    query.push(("request", &object));
    let mut b = Browser::new(&c.h);
    let ia = b.start(&query).await;
    b.login(&ia, &c.user, &c.password).await;
    let done = b.decide(&ia, "deny", &[]).await;
    assert!(done.location().starts_with(&format!("{REDIRECT}#")));
    let r = response_params(&done.location());
    assert_eq!(r["error"], "access_denied");
    assert_eq!(
        r["state"], "conf-state",
        "CheckStateInAuthorizationResponse"
    );
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_multiple_aud_succeeds() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(&c.object(json!({"aud": [ISSUER, "https://other.example"]})))
        .await;
    assert!(r.contains_key("code"));
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_authorization_request_without_state_success() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(&c.object(json!({"state": Value::Null})))
        .await;
    assert!(jwt_parts(&r["id_token"]).1.get("s_hash").is_none());
    assert!(!r.contains_key("state"));
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_valid_pkce_succeeds() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(
            &c.object(json!({"code_challenge": CHALLENGE, "code_challenge_method": "S256"})),
        )
        .await;
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_other_scope_order_succeeds() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(&c.object(json!({"scope": "accounts openid"})))
        .await;
    assert!(r.contains_key("code"));
}

#[tokio::test]
async fn fapi1_advanced_final_access_token_type_header_case_sensitivity() {
    let c = Conf::fapi1().await;
    let r = c.by_value_flow(&c.object(json!({}))).await;
    let tokens =
        c.t.token(
            &c.h,
            &[
                ("grant_type", "authorization_code"),
                ("code", &r["code"]),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    let access = tokens.2["access_token"].as_str().unwrap();
    let resp = crate::support::http_client(&c.h.dev_ca, Some(&c.t.c.identity))
        .get(c.h.url("/userinfo"))
        .header("authorization", format!("bEaReR {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_different_nonce_inside_and_outside_request_object() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({}));
    let r = c.by_value_flow_with(&object, &[("nonce", "outside")]).await;
    assert_eq!(jwt_parts(&r["id_token"]).1["nonce"], "conf-nonce");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_long_nonce() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(&c.object(json!({"nonce": "n".repeat(384)})))
        .await;
    assert!(r.contains_key("code"));
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_64_char_nonce_success() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(&c.object(json!({"nonce": "n".repeat(64)})))
        .await;
    assert_eq!(jwt_parts(&r["id_token"]).1["nonce"], "n".repeat(64));
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_long_state() {
    let c = Conf::fapi1().await;
    let r = c
        .by_value_flow(&c.object(json!({"state": long_state()})))
        .await;
    assert_eq!(r["state"], long_state());
}

/// The suite's long state: 1000 characters ending in the unreserved punctuation.
fn long_state() -> String {
    format!("{}-._~", "s".repeat(996))
}

/// A request object refused: by value, an error page (the redirect URI is not trusted yet)
/// and nothing stored; pushed, PAR answers 400 with `$code` (EnsurePARInvalidRequestObjectError
/// or EnsurePARInvalidRequestOrInvalidRequestObjectError) and stores nothing. `$query` are the
/// /authorize query parameters the module sends beside the object.
macro_rules! fapi1_refused_object {
    ($($name:ident => $extra:expr, $query:expr, $code:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let c = Conf::fapi1().await;
                let extra: Value = ($extra)(&c);
                let query: &[(&str, &str)] = $query;
                is_error_page(&c.by_value_with(&c.object(extra.clone()), query).await);
                push_refused(&c, &fapi1_pushed(&c, extra), $code).await;
            }
        )*
    };
}

fapi1_refused_object! {
    fapi1_advanced_final_ensure_request_object_without_exp_fails => |_: &Conf| json!({"exp": Value::Null}), &[], "invalid_request_object";
    fapi1_advanced_final_ensure_request_object_without_nbf_fails => |_: &Conf| json!({"nbf": Value::Null}), &[], "invalid_request_object";
    fapi1_advanced_final_ensure_request_object_without_scope_fails => |_: &Conf| json!({"scope": Value::Null}), &[], "invalid_request";
    fapi1_advanced_final_ensure_request_object_without_nonce_fails => |_: &Conf| json!({"nonce": Value::Null}), &[("nonce", "outside")], "invalid_request";
    fapi1_advanced_final_ensure_request_object_without_redirect_uri_fails => |_: &Conf| json!({"redirect_uri": Value::Null}), &[], "invalid_request";
    fapi1_advanced_final_ensure_redirect_uri_in_authorization_request => |_: &Conf| json!({"redirect_uri": Value::Null}), &[("redirect_uri", "")], "invalid_request";
    fapi1_advanced_final_ensure_expired_request_object_fails => |c: &Conf| json!({"nbf": c.h.clock_now() - 600, "exp": c.h.clock_now() - 60}), &[], "invalid_request_object";
    fapi1_advanced_final_ensure_request_object_with_bad_aud_fails => |_: &Conf| json!({"aud": "https://other.example"}), &[], "invalid_request_object";
    fapi1_advanced_final_ensure_request_object_with_exp_over_60_fails => |c: &Conf| json!({"exp": c.h.clock_now() + 3700}), &[], "invalid_request_object";
    fapi1_advanced_final_ensure_request_object_with_nbf_over_60_fails => |c: &Conf| json!({"nbf": c.h.clock_now() - 3700, "exp": c.h.clock_now() + 60}), &[], "invalid_request_object";
    fapi1_advanced_final_ensure_response_type_code_fails => |_: &Conf| json!({"response_type": "code"}), &[("response_type", "code")], "invalid_request";
    fapi1_advanced_final_ensure_registered_redirect_uri => |_: &Conf| json!({"redirect_uri": UNREGISTERED}), &[("redirect_uri", UNREGISTERED)], "invalid_request";
    fapi1_advanced_final_ensure_response_mode_query => |_: &Conf| json!({"response_mode": "query"}), &[], "invalid_request";
}

/// A redirect URI the client never registered (the registered one with a path appended, as
/// the module's `CreateBadRedirectUriByAppending` makes it).
const UNREGISTERED: &str = "https://tpp.example/cb/elsewhere";

/// A request object whose signature `change` spoils, refused both ways: by value an error
/// page, pushed (the same change to an object that carries PKCE) 400 `invalid_request_object`
/// with nothing stored.
async fn signature_refused_both_ways(c: &Conf, change: impl Fn(&str) -> String) {
    is_error_page(&c.by_value(&change(&c.object(json!({})))).await);
    let pushed = fapi1_pushed(c, json!({})).remove(0).1;
    push_refused(
        c,
        &vec![("request".into(), change(&pushed))],
        "invalid_request_object",
    )
    .await;
}

/// The object's claims, to sign them again another way.
fn payload_of(object: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(object.split('.').nth(1).unwrap())
        .unwrap()
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails() {
    // Validly signed RS256 with a key the client registered: refused for the algorithm.
    let c = Conf::fapi1().await;
    signature_refused_both_ways(&c, |object| {
        crate::support::conformance::rs256_signed("oauth-authz-req+jwt", &payload_of(object))
    })
    .await;
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none() {
    let c = Conf::fapi1().await;
    signature_refused_both_ways(&c, |object| {
        let payload = object.split('.').nth(1).unwrap();
        format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#)
        )
    })
    .await;
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails() {
    let c = Conf::fapi1().await;
    signature_refused_both_ways(&c, |object| {
        let (input, sig) = object.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        bytes[0] ^= 1;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes))
    })
    .await;
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_matching_key_in_authorization_request() {
    // Signed by a key the client never registered.
    let c = Conf::fapi1().await;
    let stranger = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Ps256).unwrap();
    signature_refused_both_ways(&c, |object| {
        stranger
            .sign_compact("oauth-authz-req+jwt", &payload_of(object))
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn fapi1_advanced_final_state_only_outside_request_object_not_used() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({"state": Value::Null}));
    let r = c.by_value_flow_with(&object, &[("state", "outside")]).await;
    assert!(!r.contains_key("state"));
    assert!(
        jwt_parts(&r["id_token"]).1.get("s_hash").is_none(),
        "VerifyNoSHash"
    );
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_authorization_request_without_request_object_fails() {
    let c = Conf::fapi1().await;
    let claims = FlowTpp::claims(&c.consent_id).to_string();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", "conf-tpp"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("redirect_uri", REDIRECT),
            ("nonce", "n"),
            ("claims", &claims),
        ])
        .finish();
    is_error_page(&Browser::new(&c.h).get(&format!("/authorize?{q}")).await);
}

/// The module names client 2 (`client_id` and the assertion's `iss`/`sub`) but signs the
/// assertion with client 1's key and sends it over client 1's certificate.
#[tokio::test]
async fn fapi1_advanced_final_ensure_client_id_in_token_endpoint() {
    let c = Conf::fapi1().await;
    FlowTpp::register(&c.h, "conf-other", None).await;
    let code = fapi1_code(&c).await;
    let r = c
        .token_naming_the_other_client(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert_eq!(
        fapi1_exchange(&c, &c.t, &code).await.0,
        200,
        "the code was not consumed"
    );
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_mtls_holder_of_key_required() {
    let c = Conf::fapi1().await;
    let code = fapi1_code(&c).await;
    let assertion = c.t.c.assertion(&c.h);
    let r =
        c.h.post(
            None,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_assertion_type", BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_oauth_error(&r, 401, "invalid_client");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_authorization_code_is_bound_to_client() {
    let c = Conf::fapi1().await;
    let other = FlowTpp::register(&c.h, "conf-other", None).await;
    let code = fapi1_code(&c).await;
    assert_oauth_error(
        &fapi1_exchange(&c, &other, &code).await,
        400,
        "invalid_grant",
    );
    assert_eq!(fapi1_exchange(&c, &c.t, &code).await.0, 200);
}

#[tokio::test]
async fn fapi1_advanced_final_attempt_reuse_authorisation_code_after_one_second() {
    let c = Conf::fapi1().await;
    let code = fapi1_code(&c).await;
    let first = fapi1_exchange(&c, &c.t, &code).await;
    assert_eq!(first.0, 200);
    c.h.clock.advance(1);
    assert_oauth_error(&fapi1_exchange(&c, &c.t, &code).await, 400, "invalid_grant");
    let info =
        crate::support::introspect(&c.h, &c.t.c, first.2["access_token"].as_str().unwrap()).await;
    assert_eq!(info["active"], false, "the first token is revoked");
}
