//! The OpenID Foundation FAPI conformance runs (`conformance_*.rs`): `Conf`, one server with a
//! TPP, a PSU and a consent awaiting authorisation, and the steps the suite's modules take.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_core::Profile;
use serde_json::{Map, Value, json};

use super::journey::{Browser, FlowTpp, Page, REDIRECT, VERIFIER, psu, response_params};
use super::{BEARER, Harness, ISSUER, Resp, assert_oauth_error, jwt_parts};

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

/// An RSA key registered beside the client's ES256 key (as the suite's RSA client key is),
/// so the RS256 modules can send a genuinely valid RS256 signature: refused for its
/// algorithm, not for a bad signature. Made once per test process.
fn rsa_key() -> &'static (josekit::jwk::Jwk, Value) {
    static KEY: std::sync::OnceLock<(josekit::jwk::Jwk, Value)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut private = josekit::jwk::Jwk::generate_rsa_key(2048).unwrap();
        private.set_key_id("conf-rsa");
        private.set_key_use("sig");
        let public = private.to_public_key().unwrap();
        let public: Value = serde_json::from_str(&public.to_string()).unwrap();
        (private, public)
    })
}

/// A compact JWS over `payload` signed RS256 with the client's registered RSA key.
pub fn rs256_signed(typ: &str, payload: &[u8]) -> String {
    use josekit::jws::JwsSigner;
    let signer = josekit::jws::RS256.signer_from_jwk(&rsa_key().0).unwrap();
    let header = json!({"alg": "RS256", "typ": typ, "kid": "conf-rsa"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

impl Conf {
    pub async fn new(profile: Profile) -> Self {
        let h = Harness::start(move |c| c.tokens.profile = profile).await;
        let t = FlowTpp::register_full(
            &h,
            "conf-tpp",
            None,
            REDIRECT,
            json!({}),
            vec![rsa_key().1.clone()],
        )
        .await;
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

    /// The query of a request by value as the suite sends it: the object plus the required
    /// duplicates (`response_type`, `client_id`, `scope`, `redirect_uri`), then `overrides`
    /// replacing or adding query parameters (an empty value removes the parameter).
    fn by_value_query(object: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = [
            ("client_id", "conf-tpp"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("redirect_uri", REDIRECT),
            ("request", object),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        for (k, v) in overrides {
            q.retain(|(n, _)| n != k);
            if !v.is_empty() {
                q.push(((*k).to_string(), (*v).to_string()));
            }
        }
        q
    }

    /// `GET /authorize` with a request object by value (FAPI 1.0), redirects not followed.
    pub async fn by_value(&self, object: &str) -> Page {
        self.by_value_with(object, &[]).await
    }

    /// As [`Conf::by_value`], with query parameters replaced or added.
    pub async fn by_value_with(&self, object: &str, overrides: &[(&str, &str)]) -> Page {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(Self::by_value_query(object, overrides))
            .finish();
        Browser::new(&self.h).get(&format!("/authorize?{q}")).await
    }

    pub async fn by_value_flow(&self, object: &str) -> HashMap<String, String> {
        self.by_value_flow_with(object, &[]).await
    }

    /// As [`Conf::by_value_flow`], with query parameters replaced or added.
    pub async fn by_value_flow_with(
        &self,
        object: &str,
        overrides: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let q = Self::by_value_query(object, overrides);
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.complete(&q).await
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

    /// `POST /token` as the `*-ensure-client-id-in-token-endpoint` modules send it: client 2
    /// (`conf-other`) named in `client_id` and in the assertion's `iss`/`sub`, the assertion
    /// signed with client 1's key, over client 1's certificate; `form` the grant's parameters.
    pub async fn token_naming_the_other_client(&self, form: &[(&str, &str)]) -> Resp {
        let mut claims = self.t.c.claims(&self.h);
        claims.insert("iss".into(), json!("conf-other"));
        claims.insert("sub".into(), json!("conf-other"));
        let assertion = self.t.c.sign(&claims);
        let mut form = form.to_vec();
        form.push(("client_id", "conf-other"));
        self.post_with("/token", &form, &assertion).await
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

/// A client assertion over `claims`, validly signed RS256 with the client's registered RSA
/// key (ChangeClientJwksAlgToRS256).
pub fn rs256_assertion(claims: &Map<String, Value>) -> String {
    rs256_signed("JWT", &serde_json::to_vec(claims).unwrap())
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

/// What the FAPI conformance `*-refresh-token` modules check of a refresh token issued to
/// `c`'s client: the refresh (with `scope`, AddScopeToTokenEndpointRequest) answers 200
/// `no-store` Bearer, certificate-bound, an ID token like the first (CompareIdTokenClaims);
/// without client authentication, or without the certificate, it is refused; another
/// client's refresh token is `invalid_grant`. None of the refusals uses the token up.
pub async fn refresh_token_module(c: &Conf, rt: &str, first_id: &Value) {
    c.h.clock.advance(1);
    let refreshed =
        c.t.token(
            &c.h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid accounts"),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    assert_eq!(refreshed.1["cache-control"], "no-store");
    assert_eq!(refreshed.2["token_type"], "Bearer");
    let (_, at) = jwt_parts(refreshed.2["access_token"].as_str().unwrap());
    assert_eq!(
        at["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.t.c.identity.chain[0]).as_str()
    );
    let (_, id) = jwt_parts(
        refreshed.2["id_token"]
            .as_str()
            .expect("an ID token (openid)"),
    );
    for claim in ["iss", "sub", "aud", "auth_time", "openbanking_intent_id"] {
        assert_eq!(id[claim], first_id[claim], "{claim}");
    }
    assert_ne!(id["iat"], first_id["iat"]);

    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let mut unauthenticated = refresh.to_vec();
    unauthenticated.push(("client_id", "conf-tpp"));
    let r =
        c.h.post(Some(&c.t.c.identity), "/token", &unauthenticated)
            .await;
    assert_oauth_error(&r, 401, "invalid_client");
    let mut no_cert = refresh.to_vec();
    let assertion = c.t.c.assertion(&c.h);
    no_cert.push(("client_assertion_type", BEARER));
    no_cert.push(("client_assertion", &assertion));
    assert_oauth_error(
        &c.h.post(None, "/token", &no_cert).await,
        401,
        "invalid_client",
    );

    // Another client (FAPI 2.0, whatever the server default) with a refresh token of its own.
    let other = FlowTpp::register(&c.h, "conf-refresh-other", Some("fapi2")).await;
    let (code, _, _) = super::journey::fapi2_code(&c.h, &other, "other-psu").await;
    let others = other.exchange(&c.h, &code).await;
    assert_eq!(others.0, 200, "{:?}", others.2);
    let other_rt = others.2["refresh_token"].as_str().unwrap();
    assert_oauth_error(
        &c.t.token(
            &c.h,
            &[("grant_type", "refresh_token"), ("refresh_token", other_rt)],
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_eq!(c.t.token(&c.h, &refresh).await.0, 200, "still usable");
    assert_eq!(
        other
            .token(
                &c.h,
                &[("grant_type", "refresh_token"), ("refresh_token", other_rt)]
            )
            .await
            .0,
        200
    );
}

/// A pushed FAPI 1.0 request refused: PAR answers 400 with `code` and stores nothing.
pub async fn push_refused(c: &Conf, p: &Params, code: &str) {
    assert_oauth_error(&c.push(p).await, 400, code);
    assert_eq!(
        bulwark_store::AuthorizationStore::purge_authorization(&c.h.store, i64::MAX)
            .await
            .unwrap(),
        0,
        "nothing stored"
    );
}

/// FAPI 1.0 pushed: the object as the only PAR parameter (plus client authentication).
pub fn fapi1_pushed(c: &Conf, extra: Value) -> Params {
    let mut extra = extra;
    if let Value::Object(m) = &mut extra {
        m.entry("code_challenge")
            .or_insert(json!(super::journey::CHALLENGE));
        m.entry("code_challenge_method").or_insert(json!("S256"));
    }
    vec![("request".into(), c.object(extra))]
}
