//! OIDF FAPI 2.0 Security Profile Final plan, part 1: discovery, the happy flow and the
//! authorization request modules, one test each, named after the module, in the variant the suite runs for UK Open Banking (the `openbanking_intent_id` claim); the helpers are in
//! `support::conformance`, the modules that do not apply are listed in `docs/conformance.md`.

use serde_json::{Map, Value, json};

use crate::support::conformance::{Conf, Params, is_error_page, set, without};
use crate::support::journey::{Browser, FlowTpp, REDIRECT, response_params};
use crate::support::{ISSUER, assert_oauth_error, jwt_parts};

#[tokio::test]
async fn fapi2_security_profile_final_discovery_end_point_verification() {
    let c = Conf::fapi2().await;
    let doc: Value = c.h.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], ISSUER);
    for member in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "pushed_authorization_request_endpoint",
        "userinfo_endpoint",
        "introspection_endpoint",
    ] {
        assert!(
            doc[member].as_str().unwrap().starts_with(ISSUER),
            "{member}"
        );
    }
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    assert!(
        doc["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("code"))
    );
    assert!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("authorization_code"))
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("refresh_token"))
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["PS256", "ES256"])
    );
    assert!(doc["mtls_endpoint_aliases"]["pushed_authorization_request_endpoint"].is_string());
    assert!(
        doc["acr_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:openbanking:psd2:sca"))
    );
    assert_eq!(doc["claims_parameter_supported"], true);
    // The UK OB checks of the module (FAPIOBCheckDiscEndpoint*): grant types, claims, scopes.
    let has = |member: &str, value: &str| {
        doc[member]
            .as_array()
            .is_some_and(|a| a.contains(&json!(value)))
    };
    for (member, value) in [
        ("grant_types_supported", "client_credentials"),
        ("claims_supported", "acr"),
        ("claims_supported", "openbanking_intent_id"),
        ("claims_supported", "sub"),
        ("scopes_supported", "openid"),
        ("scopes_supported", "accounts"),
        ("subject_types_supported", "pairwise"),
    ] {
        assert!(
            has(member, value),
            "{member} lacks {value}: {}",
            doc[member]
        );
    }
}

/// The module runs two clients: the first sends every parameter again beside `request_uri`
/// (the suite's required duplicates), the second in reverse order and with a registered
/// redirect URI that has a query of its own, which the response must keep. Each client's
/// access token works with its own certificate only.
#[tokio::test]
async fn fapi2_security_profile_final_happy_flow() {
    let c = Conf::fapi2().await;
    let pushed = c.push(&c.params()).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    assert_eq!(pushed.2["expires_in"], 60);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let r = c
        .complete(&[
            ("client_id", "conf-tpp"),
            ("redirect_uri", REDIRECT),
            ("request_uri", uri),
            ("response_type", "code"),
            ("scope", "openid accounts"),
        ])
        .await;
    assert_eq!(r["iss"], ISSUER);
    assert_eq!(r["state"], "af0ifjsldkj");
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert_eq!(tokens.1["cache-control"], "no-store");
    assert_eq!(tokens.2["token_type"], "Bearer");
    assert!(tokens.2["expires_in"].as_i64().is_some_and(|s| s > 0));
    let access = tokens.2["access_token"].as_str().unwrap();
    let (idh, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    assert!(idh["kid"].is_string(), "EnsureIdTokenContainsKid");
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["aud"], "conf-tpp");
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["acr"], "urn:openbanking:psd2:sca");
    assert_eq!(id["at_hash"], bulwark_token::half_hash(access).as_str());
    assert!(id["exp"].as_i64().unwrap() > id["iat"].as_i64().unwrap());
    assert_eq!(id["openbanking_intent_id"], c.consent_id.as_str());

    let other = FlowTpp::register_with(
        &c.h,
        "conf-other",
        None,
        &format!("{REDIRECT}?dummy1=lorem&dummy2=ipsum"),
    )
    .await;
    let consent = other.consent(&c.h).await;
    let pushed = other.push(&c.h, &other.fapi2_params(&consent)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let r2 = c
        .complete(&[
            ("scope", "openid accounts"),
            ("response_type", "code"),
            ("request_uri", uri),
            ("redirect_uri", &other.redirect),
            ("client_id", "conf-other"),
        ])
        .await;
    assert_eq!(r2["dummy1"], "lorem", "CheckMatchingCallbackParameters");
    assert_eq!(r2["dummy2"], "ipsum");
    assert_eq!(r2["iss"], ISSUER);
    let tokens2 = other.exchange(&c.h, &r2["code"]).await;
    assert_eq!(tokens2.0, 200, "{:?}", tokens2.2);
    let access2 = tokens2.2["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&c, &other.c.identity, access2).await, 200);
    assert_eq!(
        userinfo_status(&c, &c.t.c.identity, access2).await,
        401,
        "client 2's token with client 1's certificate"
    );
}

/// `GET /userinfo` with `token` over `identity`'s certificate; the status.
async fn userinfo_status(c: &Conf, identity: &crate::support::Identity, token: &str) -> u16 {
    crate::support::consents::call(
        &c.h,
        Some(identity),
        reqwest::Method::GET,
        "/userinfo",
        Some(token),
        None,
        &[],
    )
    .await
    .status
}

#[tokio::test]
async fn fapi2_security_profile_final_user_rejects_authentication() {
    let c = Conf::fapi2().await;
    let uri = c.push_ok(&c.params()).await;
    let mut b = Browser::new(&c.h);
    let ia = b
        .start(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
        .await;
    b.login(&ia, &c.user, &c.password).await;
    let done = b.decide(&ia, "deny", &[]).await;
    let r = response_params(&done.location());
    assert_eq!(r["error"], "access_denied");
    assert_eq!(r["iss"], ISSUER);
    assert!(!r.contains_key("code"), "{r:?}");
    let consent = bulwark_store::ConsentStore::get_consent(&c.h.store, &c.consent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consent.status, "Rejected");
    assert!(consent.selected_accounts.is_empty());
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_without_state_success() {
    let c = Conf::fapi2().await;
    let r = c.par_flow(&without(c.params(), "state")).await;
    assert!(!r.contains_key("state"));
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_without_nonce_success() {
    let c = Conf::fapi2().await;
    let r = c.par_flow(&without(c.params(), "nonce")).await;
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(tokens.0, 200);
    assert!(
        jwt_parts(tokens.2["id_token"].as_str().unwrap())
            .1
            .get("nonce")
            .is_none()
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_with_64_char_nonce_success() {
    let c = Conf::fapi2().await;
    let nonce = "n".repeat(64);
    let r = c.par_flow(&set(c.params(), "nonce", &nonce)).await;
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(
        jwt_parts(tokens.2["id_token"].as_str().unwrap()).1["nonce"],
        nonce.as_str()
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_other_scope_order_succeeds() {
    let c = Conf::fapi2().await;
    let r = c
        .par_flow(&set(c.params(), "scope", "accounts openid"))
        .await;
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi2_security_profile_final_test_claims_parameter_identity_claims() {
    // Identity claims Bulwark does not hold are requested beside the intent: the flow succeeds
    // and no invented value comes back.
    let c = Conf::fapi2().await;
    let mut claims = FlowTpp::claims(&c.consent_id);
    claims["id_token"]["name"] = json!({"essential": false});
    claims["id_token"]["sub"] = Value::Null;
    claims["userinfo"]["email"] = Value::Null;
    claims["userinfo"]["sub"] = Value::Null;
    claims["random_member"] = json!({"x": 1});
    let r = c
        .par_flow(&set(c.params(), "claims", &claims.to_string()))
        .await;
    let tokens = c.exchange(&r["code"]).await;
    let (_, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    assert!(id.get("name").is_none());
    // VerifyUserInfoAndIdTokenInTokenEndpointSameSub, EnsureContentTypeJson.
    let info = crate::support::http_client(&c.h.dev_ca, Some(&c.t.c.identity))
        .get(c.h.url("/userinfo"))
        .bearer_auth(tokens.2["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status().as_u16(), 200);
    assert!(
        info.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert!(info.get("email").is_none());
}

#[tokio::test]
async fn fapi2_security_profile_final_access_token_type_header_case_sensitivity() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let access = c.exchange(&code).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let resp = crate::support::http_client(&c.h.dev_ca, Some(&c.t.c.identity))
            .get(c.h.url("/userinfo"))
            .header("authorization", format!("{scheme} {access}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{scheme}");
    }
}

/// A FAPI 2.0 pushed request object over `params`, with overrides.
fn fapi2_object(c: &Conf, extra: Value) -> Params {
    let mut claims = Map::new();
    for (k, v) in c.params() {
        claims.insert(k, Value::String(v));
    }
    claims.insert("claims".into(), FlowTpp::claims(&c.consent_id));
    if let Value::Object(more) = extra {
        for (k, v) in more {
            if v.is_null() {
                claims.remove(&k);
            } else {
                claims.insert(k, v);
            }
        }
    }
    vec![
        ("client_id".into(), "conf-tpp".into()),
        ("request".into(), c.t.request_object(&c.h, claims)),
    ]
}

/// The flow of a pushed request object changed by `inside`, with `name` = `outside` beside the
/// object at the push and on the `/authorize` query as the modules send it; the redirect.
async fn with_outside_value(
    c: &Conf,
    inside: Value,
    name: &str,
    outside: &str,
) -> std::collections::HashMap<String, String> {
    let uri = c
        .push_ok(&set(fapi2_object(c, inside), name, outside))
        .await;
    c.complete(&[
        ("client_id", "conf-tpp"),
        ("request_uri", &uri),
        (name, outside),
    ])
    .await
}

/// The plan's unsigned variant (`FAPI2AuthRequestMethod=unsigned`, the one the Security
/// Profile plan runs these modules in): plain parameters pushed for a fresh consent with `name`
/// set to `inside` (or left out), then `/authorize` with `request_uri` and `name` = `outside`;
/// the redirect.
async fn unsigned_with_outside_value(
    c: &Conf,
    name: &str,
    inside: Option<&str>,
    outside: &str,
) -> std::collections::HashMap<String, String> {
    let consent = c.t.consent(&c.h).await;
    let pushed = match inside {
        Some(value) => set(c.t.fapi2_params(&consent), name, value),
        None => without(c.t.fapi2_params(&consent), name),
    };
    let uri = c.push_ok(&pushed).await;
    c.complete(&[
        ("client_id", "conf-tpp"),
        ("request_uri", &uri),
        (name, outside),
    ])
    .await
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_different_nonce_inside_and_outside_request_object() {
    let c = Conf::fapi2().await;
    let signed = with_outside_value(&c, json!({"nonce": "inside"}), "nonce", "outside").await;
    let unsigned = unsigned_with_outside_value(&c, "nonce", Some("inside"), "outside").await;
    for r in [signed, unsigned] {
        let tokens = c.exchange(&r["code"]).await;
        assert_eq!(
            jwt_parts(tokens.2["id_token"].as_str().unwrap()).1["nonce"],
            "inside"
        );
    }
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_different_state_inside_and_outside_request_object() {
    let c = Conf::fapi2().await;
    let r = with_outside_value(&c, json!({"state": "inside"}), "state", "outside").await;
    assert_eq!(r["state"], "inside");
    let r = unsigned_with_outside_value(&c, "state", Some("inside"), "outside").await;
    assert_eq!(r["state"], "inside");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_with_long_nonce() {
    let c = Conf::fapi2().await;
    let long = "n".repeat(384);
    let r = c.par_flow(&set(c.params(), "nonce", &long)).await;
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_authorization_request_with_long_state() {
    let c = Conf::fapi2().await;
    let long = format!("{}-._~", "s".repeat(996));
    assert_eq!(
        c.par_flow(&set(c.params(), "state", &long)).await["state"],
        long
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_state_only_outside_request_object_not_used() {
    let c = Conf::fapi2().await;
    let r = with_outside_value(&c, json!({"state": Value::Null}), "state", "outside").await;
    assert!(!r.contains_key("state"), "{r:?}");
    let r = unsigned_with_outside_value(&c, "state", None, "outside").await;
    assert!(!r.contains_key("state"), "{r:?}");
    assert_eq!(c.exchange(&r["code"]).await.0, 200);
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_request_object_without_redirect_uri_fails() {
    let c = Conf::fapi2().await;
    let p = fapi2_object(&c, json!({"redirect_uri": Value::Null}));
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_registered_redirect_uri() {
    let c = Conf::fapi2().await;
    let p = set(
        c.params(),
        "redirect_uri",
        &format!("{REDIRECT}/unregistered"),
    );
    assert_oauth_error(&c.push(&p).await, 400, "invalid_request");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_unsigned_authorization_request_without_using_par_fails()
 {
    let c = Conf::fapi2().await;
    let q: Vec<(String, String)> = c.params();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q)
        .finish();
    is_error_page(&Browser::new(&c.h).get(&format!("/authorize?{q}")).await);
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_redirect_uri_in_authorization_request() {
    let c = Conf::fapi2().await;
    assert_oauth_error(
        &c.push(&without(c.params(), "redirect_uri")).await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_response_type_code_idtoken_fails() {
    let c = Conf::fapi2().await;
    let p = set(c.params(), "response_type", "code id_token");
    assert_oauth_error(&c.push(&p).await, 400, "unsupported_response_type");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_response_type_token_fails() {
    let c = Conf::fapi2().await;
    let p = set(c.params(), "response_type", "token");
    assert_oauth_error(&c.push(&p).await, 400, "unsupported_response_type");
}
