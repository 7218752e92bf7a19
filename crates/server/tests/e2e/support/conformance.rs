//! The OpenID Foundation FAPI conformance runs (`conformance_*.rs`): `Conf`, one server with a
//! TPP, a PSU and a consent awaiting authorisation, and the steps the suite's modules take.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_core::Profile;
use serde_json::{Map, Value, json};

use super::journey::{Browser, FlowTpp, Page, REDIRECT, VERIFIER, psu, response_params};
use super::{BEARER, Harness, ISSUER, Resp};

/// One conformance run: a server, a TPP, a PSU and a consent awaiting authorisation.
pub struct Conf {
    pub h: Harness,
    pub t: FlowTpp,
    pub user: String,
    pub password: String,
    pub accounts: Vec<String>,
    pub consent_id: String,
}

pub type Params = Vec<(String, String)>;

pub fn set(mut p: Params, k: &str, v: &str) -> Params {
    p.retain(|(n, _)| n != k);
    p.push((k.into(), v.into()));
    p
}

pub fn without(mut p: Params, k: &str) -> Params {
    p.retain(|(n, _)| n != k);
    p
}

impl Conf {
    pub async fn new(profile: Profile) -> Self {
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

    pub async fn fapi2() -> Self {
        Self::new(Profile::Fapi2).await
    }

    pub async fn fapi1() -> Self {
        Self::new(Profile::Fapi1Advanced).await
    }

    pub fn params(&self) -> Params {
        self.t.fapi2_params(&self.consent_id)
    }

    pub async fn push(&self, p: &Params) -> Resp {
        self.t.push(&self.h, p).await
    }

    pub async fn push_ok(&self, p: &Params) -> String {
        let r = self.push(p).await;
        assert_eq!(r.0, 201, "{:?}", r.2);
        r.2["request_uri"].as_str().unwrap().to_string()
    }

    /// Browser: `/authorize` with `query`, login, authorise the first account; the redirect's
    /// parameters.
    pub async fn complete(&self, query: &[(&str, &str)]) -> HashMap<String, String> {
        let mut b = Browser::new(&self.h);
        let ia = b.start(query).await;
        assert_eq!(b.login(&ia, &self.user, &self.password).await.status, 303);
        let done = b.decide(&ia, "authorise", &[&self.accounts[0]]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(done.location().starts_with(REDIRECT));
        response_params(&done.location())
    }

    pub async fn par_flow(&self, p: &Params) -> HashMap<String, String> {
        let uri = self.push_ok(p).await;
        self.complete(&[("client_id", "conf-tpp"), ("request_uri", &uri)])
            .await
    }

    pub async fn exchange(&self, code: &str) -> Resp {
        self.t.exchange(&self.h, code).await
    }

    /// A FAPI 1.0 Advanced hybrid request object with `extra` claims (null removes one).
    pub fn object(&self, extra: Value) -> String {
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
    pub async fn by_value(&self, object: &str) -> Page {
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

    pub async fn by_value_flow(&self, object: &str) -> HashMap<String, String> {
        self.complete(&[
            ("client_id", "conf-tpp"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("request", object),
        ])
        .await
    }

    /// A client assertion from `claims` changed by `edit` (null removes a claim).
    pub fn assertion(&self, edit: Value) -> String {
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
    pub async fn post_with(&self, path: &str, form: &[(&str, &str)], assertion: &str) -> Resp {
        let mut f = form.to_vec();
        f.push(("client_assertion_type", BEARER));
        f.push(("client_assertion", assertion));
        self.h.post(Some(&self.t.c.identity), path, &f).await
    }

    /// PAR with the given client assertion.
    pub async fn push_with(&self, assertion: &str) -> Resp {
        let p = self.params();
        let form: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_with("/par", &form, assertion).await
    }

    /// A code from the plain FAPI 2.0 flow.
    pub async fn code(&self) -> String {
        self.par_flow(&self.params()).await["code"].clone()
    }

    /// A code exchange with the given assertion.
    pub async fn exchange_with(&self, code: &str, assertion: &str) -> Resp {
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

pub fn is_error_page(p: &Page) {
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.headers.get("location").is_none(), "no redirect");
}

pub fn rs256_assertion(claims: &Map<String, Value>) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]))
}

/// A FAPI 1.0 hybrid code (by value, no PKCE).
pub async fn fapi1_code(c: &Conf) -> String {
    c.by_value_flow(&c.object(json!({}))).await["code"].clone()
}

pub async fn fapi1_exchange(c: &Conf, t: &FlowTpp, code: &str) -> Resp {
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

pub async fn fapi1_exchange_with(c: &Conf, code: &str, assertion: &str) -> Resp {
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
