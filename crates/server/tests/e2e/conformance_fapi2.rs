//! OIDF FAPI 2.0 Security Profile Final plan, part 1: discovery, the happy flow and the
//! authorization request modules, one test each, named after the module, in the variant the suite runs for UK Open Banking (the `openbanking_intent_id` claim); the helpers are in
//! `support::conformance`, the modules that do not apply are listed in `docs/conformance.md`.

use serde_json::{Map, Value, json};

use crate::support::conformance::{Conf, Params, is_error_page, set, without};
use crate::support::journey::{Browser, FlowTpp, response_params};
use crate::support::{ISSUER, assert_oauth_error, jwt_parts};

#[tokio::test]
async fn fapi2_security_profile_final_discovery_end_point_verification() {
    let c = Conf::fapi2().await;
    let d =
        c.h.post(None, "/.well-known/openid-configuration", &[])
            .await;
    let _ = d;
    let doc: Value = reqwest::Client::builder()
        .tls_backend_preconfigured(crate::support::http::client_tls_config(&c.h.dev_ca, None))
        .build()
        .unwrap()
        .get(c.h.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
}

#[tokio::test]
async fn fapi2_security_profile_final_happy_flow() {
    let c = Conf::fapi2().await;
    let r = c.par_flow(&c.params()).await;
    assert_eq!(r["iss"], ISSUER);
    assert_eq!(r["state"], "af0ifjsldkj");
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert_eq!(tokens.2["token_type"], "Bearer");
    let (_, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["openbanking_intent_id"], c.consent_id.as_str());
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
    claims["userinfo"]["email"] = Value::Null;
    let r = c
        .par_flow(&set(c.params(), "claims", &claims.to_string()))
        .await;
    let tokens = c.exchange(&r["code"]).await;
    let (_, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    assert!(id.get("name").is_none());
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

#[tokio::test]
async fn fapi2_security_profile_final_ensure_different_nonce_inside_and_outside_request_object() {
    let c = Conf::fapi2().await;
    let p = set(
        fapi2_object(&c, json!({"nonce": "inside"})),
        "nonce",
        "outside",
    );
    let r = c.par_flow(&p).await;
    let tokens = c.exchange(&r["code"]).await;
    assert_eq!(
        jwt_parts(tokens.2["id_token"].as_str().unwrap()).1["nonce"],
        "inside"
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_different_state_inside_and_outside_request_object() {
    let c = Conf::fapi2().await;
    let p = set(
        fapi2_object(&c, json!({"state": "inside"})),
        "state",
        "outside",
    );
    assert_eq!(c.par_flow(&p).await["state"], "inside");
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
    let long = "s".repeat(384);
    assert_eq!(
        c.par_flow(&set(c.params(), "state", &long)).await["state"],
        long
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_state_only_outside_request_object_not_used() {
    let c = Conf::fapi2().await;
    let p = set(
        fapi2_object(&c, json!({"state": Value::Null})),
        "state",
        "outside",
    );
    assert!(!c.par_flow(&p).await.contains_key("state"));
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
        "https://tpp.example/unregistered",
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
