//! The OpenID Foundation FAPI conformance modules (../shared/CONFORMANCE.md) that apply to
//! Bulwark, one test each, named after the module (`fapi2_...` for the FAPI 2.0 Security
//! Profile plan, `fapi1_...` for FAPI 1.0 Advanced Final), in the variant the suite runs for
//! UK Open Banking: private_key_jwt client authentication, mTLS sender constraint, the
//! `openbanking_intent_id` claim. What each checks is in the module's name; the file header of
//! `docs/conformance.md` lists the modules that do not apply and why. On SQLite (the
//! both-backend cases of the same behaviour are in `authorize.rs`).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_core::Profile;
use serde_json::{Map, Value, json};

use crate::support::journey::{
    Browser, CHALLENGE, FlowTpp, Page, REDIRECT, VERIFIER, psu, response_params,
};
use crate::support::{BEARER, Harness, ISSUER, Resp, assert_oauth_error, jwt_parts};

/// One conformance run: a server, a TPP, a PSU and a consent awaiting authorisation.
struct Conf {
    h: Harness,
    t: FlowTpp,
    user: String,
    password: String,
    accounts: Vec<String>,
    consent_id: String,
}

type Params = Vec<(String, String)>;

fn set(mut p: Params, k: &str, v: &str) -> Params {
    p.retain(|(n, _)| n != k);
    p.push((k.into(), v.into()));
    p
}

fn without(mut p: Params, k: &str) -> Params {
    p.retain(|(n, _)| n != k);
    p
}

impl Conf {
    async fn new(profile: Profile) -> Self {
        let h = Harness::start(move |c| c.tokens.profile = profile).await;
        let t = FlowTpp::register(&h, "conf-tpp", None).await;
        let (user, password, accounts, _) = psu(&h, "conf-psu").await;
        let consent_id = t.consent(&h).await;
        Self {
            h,
            t,
            user,
            password,
            accounts,
            consent_id,
        }
    }

    async fn fapi2() -> Self {
        Self::new(Profile::Fapi2).await
    }

    async fn fapi1() -> Self {
        Self::new(Profile::Fapi1Advanced).await
    }

    fn params(&self) -> Params {
        self.t.fapi2_params(&self.consent_id)
    }

    async fn push(&self, p: &Params) -> Resp {
        self.t.push(&self.h, p).await
    }

    async fn push_ok(&self, p: &Params) -> String {
        let r = self.push(p).await;
        assert_eq!(r.0, 201, "{:?}", r.2);
        r.2["request_uri"].as_str().unwrap().to_string()
    }

    /// Browser: `/authorize` with `query`, login, authorise the first account; the redirect's
    /// parameters.
    async fn complete(&self, query: &[(&str, &str)]) -> HashMap<String, String> {
        let mut b = Browser::new(&self.h);
        let ia = b.start(query).await;
        assert_eq!(b.login(&ia, &self.user, &self.password).await.status, 303);
        let done = b.decide(&ia, "authorise", &[&self.accounts[0]]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(done.location().starts_with(REDIRECT));
        response_params(&done.location())
    }

    async fn par_flow(&self, p: &Params) -> HashMap<String, String> {
        let uri = self.push_ok(p).await;
        self.complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
            .await
    }

    async fn exchange(&self, code: &str) -> Resp {
        self.t.exchange(&self.h, code).await
    }

    /// A FAPI 1.0 Advanced hybrid request object with `extra` claims (null removes one).
    fn object(&self, extra: Value) -> String {
        let mut claims: Map<String, Value> = json!({
            "client_id": "conf-tpp", "response_type": "code id_token", "redirect_uri": REDIRECT,
            "scope": "openid accounts", "state": "conf-state", "nonce": "conf-nonce",
            "claims": FlowTpp::claims(&self.consent_id),
        })
        .as_object()
        .unwrap()
        .clone();
        let now = self.h.clock_now();
        for (k, v) in [
            ("iss", json!("conf-tpp")),
            ("aud", json!(ISSUER)),
            ("nbf", json!(now)),
            ("exp", json!(now + 300)),
        ] {
            claims.insert(k.into(), v);
        }
        if let Value::Object(more) = extra {
            for (k, v) in more {
                if v.is_null() {
                    claims.remove(&k);
                } else {
                    claims.insert(k, v);
                }
            }
        }
        self.t
            .c
            .key
            .sign_compact("oauth-authz-req+jwt", &serde_json::to_vec(&claims).unwrap())
            .unwrap()
    }

    /// `GET /authorize` with a request object by value (FAPI 1.0), redirects not followed.
    async fn by_value(&self, object: &str) -> Page {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", "conf-tpp"),
                ("response_type", "code id_token"),
                ("scope", "openid accounts"),
                ("request", object),
            ])
            .finish();
        Browser::new(&self.h).get(&format!("/authorize?{q}")).await
    }

    async fn by_value_flow(&self, object: &str) -> HashMap<String, String> {
        self.complete(&[
            ("client_id", "conf-tpp"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("request", object),
        ])
        .await
    }

    /// A client assertion from `claims` changed by `edit` (null removes a claim).
    fn assertion(&self, edit: Value) -> String {
        let mut claims = self.t.c.claims(&self.h);
        if let Value::Object(more) = edit {
            for (k, v) in more {
                if v.is_null() {
                    claims.remove(&k);
                } else {
                    claims.insert(k, v);
                }
            }
        }
        self.t.c.sign(&claims)
    }

    /// `POST path` with `form` and the given assertion, over mTLS.
    async fn post_with(&self, path: &str, form: &[(&str, &str)], assertion: &str) -> Resp {
        let mut f = form.to_vec();
        f.push(("client_assertion_type", BEARER));
        f.push(("client_assertion", assertion));
        self.h.post(Some(&self.t.c.identity), path, &f).await
    }

    /// PAR with the given client assertion.
    async fn push_with(&self, assertion: &str) -> Resp {
        let p = self.params();
        let form: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_with("/par", &form, assertion).await
    }

    /// A code from the plain FAPI 2.0 flow.
    async fn code(&self) -> String {
        self.par_flow(&self.params()).await["code"].clone()
    }

    /// A code exchange with the given assertion.
    async fn exchange_with(&self, code: &str, assertion: &str) -> Resp {
        self.post_with(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            assertion,
        )
        .await
    }
}

fn is_error_page(p: &Page) {
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.headers.get("location").is_none(), "no redirect");
}

fn rs256_assertion(claims: &Map<String, Value>) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]))
}

// ---------------------------------------------------------------- FAPI 2.0 Security Profile

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

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_id_in_token_endpoint() {
    let c = Conf::fapi2().await;
    let other = FlowTpp::register(&c.h, "conf-other", None).await;
    let code = c.code().await;
    assert_oauth_error(&other.exchange(&c.h, &code).await, 400, "invalid_grant");
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
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails()
{
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let now = c.h.clock_now();
    let bad = c.assertion(json!({"iat": now - 360, "exp": now - 300}));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_with_wrong_aud_fails() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let bad = c.assertion(json!({"aud": "https://other.example"}));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_client_assertion_with_no_sub_fails() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let bad = c.assertion(json!({"sub": Value::Null}));
    assert_oauth_error(&c.exchange_with(&code, &bad).await, 401, "invalid_client");
}

#[tokio::test]
async fn fapi2_security_profile_final_refresh_token() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let tokens = c.exchange(&code).await;
    let rt = tokens.2["refresh_token"].as_str().unwrap();
    let refreshed =
        c.t.token(
            &c.h,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let (_, at) = jwt_parts(refreshed.2["access_token"].as_str().unwrap());
    assert_eq!(
        at["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.t.c.identity.chain[0]).as_str()
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_ensure_server_handles_non_matching_intent_id() {
    let c = Conf::fapi2().await;
    let claims = FlowTpp::claims("aac-does-not-exist");
    let uri = c
        .push_ok(&set(c.params(), "claims", &claims.to_string()))
        .await;
    let page = Browser::new(&c.h)
        .get(&format!(
            "/authorize?client_id=conf-tpp&request_uri={}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        response_params(&page.location())["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn fapi2_security_profile_final_test_essential_acr_sca_claim() {
    let c = Conf::fapi2().await;
    let code = c.code().await;
    let tokens = c.exchange(&code).await;
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
    let ok = c.assertion(json!({"nbf": c.h.clock_now() + 8}));
    assert_eq!(c.push_with(&ok).await.0, 201);
}

#[tokio::test]
async fn fapi2_security_profile_final_par_ensure_jwt_client_assertions_nbf_over_60_seconds_in_the_future_fails()
 {
    let c = Conf::fapi2().await;
    let bad = c.assertion(json!({"nbf": c.h.clock_now() + 70}));
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
    let resp = crate::support::http_client(&c.h.dev_ca, Some(&c.t.c.identity))
        .get(c.h.url("/par"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
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

#[tokio::test]
async fn fapi2_security_profile_final_par_without_duplicate_parameters() {
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

// ---------------------------------------------------------------- FAPI 1.0 Advanced Final

#[tokio::test]
async fn fapi1_advanced_final_discovery_end_point_verification() {
    let c = Conf::fapi1().await;
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
}

#[tokio::test]
async fn fapi1_advanced_final() {
    let c = Conf::fapi1().await;
    let r = c.by_value_flow(&c.object(json!({}))).await;
    let (_, id) = jwt_parts(&r["id_token"]);
    assert_eq!(id["c_hash"], bulwark_token::half_hash(&r["code"]).as_str());
    assert_eq!(
        id["s_hash"],
        bulwark_token::half_hash("conf-state").as_str()
    );
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
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
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
    assert_eq!(response_params(&done.location())["error"], "access_denied");
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
async fn fapi1_advanced_final_ensure_response_mode_query() {
    let c = Conf::fapi1().await;
    is_error_page(
        &c.by_value(&c.object(json!({"response_mode": "query"})))
            .await,
    );
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_different_nonce_inside_and_outside_request_object() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({}));
    let r = c
        .complete(&[
            ("client_id", "conf-tpp"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("nonce", "outside"),
            ("request", &object),
        ])
        .await;
    assert_eq!(jwt_parts(&r["id_token"]).1["nonce"], "conf-nonce");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_registered_redirect_uri() {
    let c = Conf::fapi1().await;
    is_error_page(
        &c.by_value(&c.object(json!({"redirect_uri": "https://tpp.example/elsewhere"})))
            .await,
    );
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
        .by_value_flow(&c.object(json!({"state": "s".repeat(384)})))
        .await;
    assert_eq!(r["state"], "s".repeat(384));
}

macro_rules! fapi1_refused_object {
    ($($name:ident => $extra:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let c = Conf::fapi1().await;
                let extra: Value = ($extra)(&c);
                is_error_page(&c.by_value(&c.object(extra)).await);
                assert_eq!(bulwark_store::AuthorizationStore::purge_authorization(&c.h.store, i64::MAX).await.unwrap(), 0);
            }
        )*
    };
}

fapi1_refused_object! {
    fapi1_advanced_final_ensure_request_object_without_exp_fails => |_: &Conf| json!({"exp": Value::Null});
    fapi1_advanced_final_ensure_request_object_without_nbf_fails => |_: &Conf| json!({"nbf": Value::Null});
    fapi1_advanced_final_ensure_request_object_without_scope_fails => |_: &Conf| json!({"scope": Value::Null});
    fapi1_advanced_final_ensure_request_object_without_nonce_fails => |_: &Conf| json!({"nonce": Value::Null});
    fapi1_advanced_final_ensure_request_object_without_redirect_uri_fails => |_: &Conf| json!({"redirect_uri": Value::Null});
    fapi1_advanced_final_ensure_redirect_uri_in_authorization_request => |_: &Conf| json!({"redirect_uri": Value::Null});
    fapi1_advanced_final_ensure_expired_request_object_fails => |c: &Conf| json!({"nbf": c.h.clock_now() - 600, "exp": c.h.clock_now() - 60});
    fapi1_advanced_final_ensure_request_object_with_bad_aud_fails => |_: &Conf| json!({"aud": "https://other.example"});
    fapi1_advanced_final_ensure_request_object_with_exp_over_60_fails => |c: &Conf| json!({"exp": c.h.clock_now() + 3700});
    fapi1_advanced_final_ensure_request_object_with_nbf_over_60_fails => |c: &Conf| json!({"nbf": c.h.clock_now() - 3700, "exp": c.h.clock_now() + 60});
    fapi1_advanced_final_ensure_response_type_code_fails => |_: &Conf| json!({"response_type": "code"});
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({}));
    let (_, rest) = object.split_once('.').unwrap();
    let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#));
    is_error_page(&c.by_value(&forged).await);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({}));
    let payload = object.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#)
    );
    is_error_page(&c.by_value(&none).await);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({}));
    let (input, sig) = object.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 1;
    is_error_page(
        &c.by_value(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes)))
            .await,
    );
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_matching_key_in_authorization_request() {
    // Signed by a key the client never registered.
    let c = Conf::fapi1().await;
    let stranger = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Ps256).unwrap();
    let object = c.object(json!({}));
    let payload = URL_SAFE_NO_PAD
        .decode(object.split('.').nth(1).unwrap())
        .unwrap();
    let forged = stranger
        .sign_compact("oauth-authz-req+jwt", &payload)
        .unwrap();
    is_error_page(&c.by_value(&forged).await);
}

#[tokio::test]
async fn fapi1_advanced_final_state_only_outside_request_object_not_used() {
    let c = Conf::fapi1().await;
    let object = c.object(json!({"state": Value::Null}));
    let r = c
        .complete(&[
            ("client_id", "conf-tpp"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("state", "outside"),
            ("request", &object),
        ])
        .await;
    assert!(!r.contains_key("state"));
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

/// A FAPI 1.0 hybrid code (by value, no PKCE).
async fn fapi1_code(c: &Conf) -> String {
    c.by_value_flow(&c.object(json!({}))).await["code"].clone()
}

async fn fapi1_exchange(c: &Conf, t: &FlowTpp, code: &str) -> Resp {
    t.token(
        &c.h,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_client_id_in_token_endpoint() {
    let c = Conf::fapi1().await;
    let other = FlowTpp::register(&c.h, "conf-other", None).await;
    let code = fapi1_code(&c).await;
    assert_oauth_error(
        &fapi1_exchange(&c, &other, &code).await,
        400,
        "invalid_grant",
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
    assert_eq!(fapi1_exchange(&c, &c.t, &code).await.0, 200);
    c.h.clock.advance(1);
    assert_oauth_error(&fapi1_exchange(&c, &c.t, &code).await, 400, "invalid_grant");
}

async fn fapi1_exchange_with(c: &Conf, code: &str, assertion: &str) -> Resp {
    c.post_with(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
        assertion,
    )
    .await
}

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
    let r =
        c.t.token(
            &c.h,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(r.0, 200, "{:?}", r.2);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_server_handles_non_matching_intent_id() {
    let c = Conf::fapi1().await;
    let page = c
        .by_value(&c.object(json!({"claims": FlowTpp::claims("aac-unknown")})))
        .await;
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with(&format!("{REDIRECT}#")));
    assert_eq!(
        response_params(&page.location())["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn fapi1_advanced_final_test_essential_acr_sca_claim() {
    let c = Conf::fapi1().await;
    let r = c.by_value_flow(&c.object(json!({}))).await;
    assert_eq!(
        jwt_parts(&r["id_token"]).1["acr"],
        "urn:openbanking:psd2:sca"
    );
}

/// FAPI 1.0 pushed: the object as the only PAR parameter (plus client authentication).
fn fapi1_pushed(c: &Conf, extra: Value) -> Params {
    let mut extra = extra;
    if let Value::Object(m) = &mut extra {
        m.entry("code_challenge").or_insert(json!(CHALLENGE));
        m.entry("code_challenge_method").or_insert(json!("S256"));
    }
    vec![("request".into(), c.object(extra))]
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
    let c = Conf::fapi1().await;
    let ok = c.assertion(json!({"aud": [ISSUER]}));
    assert_eq!(fapi1_push_with(&c, &ok).await.0, 201);
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

#[tokio::test]
async fn fapi1_advanced_final_par_without_duplicate_parameters() {
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
