//! CA-1..4, TK-1, TK-4, TK-6, TK-7, TK-8 end to end over real TLS with client certificates
//! made in the test, including the FAPI conformance modules about client assertions and
//! holder-of-key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bulwark_core::{Client, ClientStatus, FixedClock, Profile};
use bulwark_jose::{Alg, SigningKey};
use bulwark_server::{Application, Config};
use bulwark_store::{ClientStore, SqlStore};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::pki::{StaticHttp, TestPki};
use crate::support::{Identity, http_client, install_crypto, test_config};

const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ISSUER: &str = "https://localhost:8443";

/// A running server with a test PKI trusted for client certificates.
pub struct Harness {
    pub addr: std::net::SocketAddr,
    pub state: bulwark_server::state::AppState,
    pub store: SqlStore,
    pub clock: FixedClock,
    pub pki: Arc<TestPki>,
    pub dev_ca: std::path::PathBuf,
    _dir: Arc<tempfile::TempDir>,
    _stop: oneshot::Sender<()>,
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Harness {
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_shared(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(TestPki::new("Test QTSP Root")),
            None,
            tweak,
        )
        .await
    }

    /// A server on a given data directory / database, so two instances can share them.
    pub async fn start_shared(
        dir: Arc<tempfile::TempDir>,
        pki: Arc<TestPki>,
        db_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        install_crypto();
        let (dev, _) = bulwark_server::dev_pki::DevPki::ensure(dir.path()).unwrap();
        let mut config = test_config(dir.path(), db_url);
        config.trust.anchors = vec![pki.ca_pem_path.clone()];
        config.revocation.enabled = false;
        config.tokens.client_cache_secs = 0;
        config.http.outbound_ca = vec![dev.ca_cert.clone()];
        tweak(&mut config);
        let clock = FixedClock::at(now());
        let app = Application::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let addr = app.addr();
        let store = app.store().clone();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            state,
            store,
            clock,
            pki,
            dev_ca: dev.ca_cert,
            _dir: dir,
            _stop: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub async fn register(&self, client_id: &str, metadata: Value) {
        let client = Client {
            client_id: client_id.into(),
            metadata: serde_json::from_value(metadata).unwrap(),
            status: ClientStatus::Active,
            client_id_issued_at: now(),
            updated_at: now(),
        };
        self.store.insert_client(&client).await.unwrap();
    }

    /// POSTs a form; returns status, headers and JSON body (Null when empty).
    pub async fn post(
        &self,
        id: Option<&Identity>,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = http_client(&self.dev_ca, id)
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, body)
    }
}

/// A private_key_jwt client: its key, certificate and metadata.
pub struct PkjClient {
    pub id: String,
    pub key: SigningKey,
    pub identity: Identity,
}

impl PkjClient {
    pub async fn register(h: &Harness, id: &str, scope: &str) -> Self {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let (identity, _) = h.pki.client("TPP Ltd", id, None);
        h.register(
            id,
            json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "grant_types": ["client_credentials"],
                "scope": scope,
                "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}
            }),
        )
        .await;
        Self {
            id: id.into(),
            key,
            identity,
        }
    }

    pub fn claims(&self, h: &Harness) -> serde_json::Map<String, Value> {
        let now = h.clock_now();
        json!({
            "iss": self.id, "sub": self.id, "aud": ISSUER,
            "iat": now, "exp": now + 60, "jti": bulwark_core::random::token(12)
        })
        .as_object()
        .unwrap()
        .clone()
    }

    pub fn sign(&self, claims: &serde_json::Map<String, Value>) -> String {
        self.key
            .sign_compact("JWT", &serde_json::to_vec(claims).unwrap())
            .unwrap()
    }

    pub fn assertion(&self, h: &Harness) -> String {
        self.sign(&self.claims(h))
    }

    pub async fn token(
        &self,
        h: &Harness,
        assertion: &str,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        h.post(
            Some(&self.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", assertion),
            ],
        )
        .await
    }
}

impl Harness {
    pub fn clock_now(&self) -> i64 {
        use bulwark_core::Clock;
        self.clock.unix()
    }
}

pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

pub fn assert_oauth_error(
    resp: &(u16, reqwest::header::HeaderMap, Value),
    status: u16,
    code: &str,
) {
    assert_eq!(resp.0, status, "{:?}", resp.2);
    assert_eq!(resp.2["error"], code, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
}

#[tokio::test]
async fn tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt() {
    tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_case(Harness::start(|_| {}).await)
        .await;
}

#[tokio::test]
async fn tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_on_postgres() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let h = Harness::start_shared(
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(TestPki::new("PG QTSP")),
        Some(db.url.clone()),
        |_| {},
    )
    .await;
    tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_case(h).await;
    drop(db);
}

async fn tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_case(h: Harness) {
    let c = PkjClient::register(&h, "tpp-1", "accounts payments openid").await;
    let resp = c.token(&h, &c.assertion(&h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
    assert_eq!(resp.2["token_type"], "Bearer");
    assert_eq!(
        resp.2["scope"], "accounts payments",
        "openid is not for client_credentials"
    );
    assert_eq!(resp.2["expires_in"], 600);
    let token = resp.2["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "PS256");
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.identity.chain[0])
    );
    assert_eq!(claims["client_id"], "tpp-1");
    assert_eq!(claims["sub"], "tpp-1");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], ISSUER);
    assert_eq!(claims["token_kind"], "application");
    assert!(claims.get("consent_id").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    // The signature verifies against the published JWKS.
    let jwks: Value = http_client(&h.dev_ca, None)
        .get(h.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set = bulwark_jose::PublicKeySet::from_jwks(&jwks).unwrap();
    set.verify(&bulwark_jose::Compact::parse(token).unwrap())
        .unwrap();

    // Narrowing: a requested scope the client may not have is dropped; none left is invalid_scope.
    let narrowed = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts fundsconfirmations"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(narrowed.2["scope"], "accounts");
    let none = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "fundsconfirmations"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&none, 400, "invalid_scope");
}

#[tokio::test]
async fn tk_4_es256_access_tokens_and_rfc8707_resource() {
    let h = Harness::start(|c| {
        c.tokens.access_token_alg = "ES256".into();
        c.tokens.default_audience = Some("https://api.bank.example".into());
    })
    .await;
    let c = PkjClient::register(&h, "tpp-res", "accounts").await;
    let mut meta = h
        .store
        .get_client("tpp-res")
        .await
        .unwrap()
        .unwrap()
        .metadata;
    meta.resources = vec!["https://payments.bank.example".into()];
    h.store
        .update_client_metadata("tpp-res", &meta, now())
        .await
        .unwrap();
    let resp = c.token(&h, &c.assertion(&h)).await;
    let (header, claims) = jwt_parts(resp.2["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["aud"], "https://api.bank.example");
    let with = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://payments.bank.example"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(
        jwt_parts(with.2["access_token"].as_str().unwrap()).1["aud"],
        "https://payments.bank.example"
    );
    let other = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://other.example"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&other, 400, "invalid_target");
}

/// The conformance suite's client-assertion modules, table-driven: each bad assertion is
/// `invalid_client` and leaves its jti unconsumed.
#[tokio::test]
async fn ca_1_client_assertion_conformance_modules() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-ca1", "accounts").await;
    let other = PkjClient::register(&h, "tpp-other", "accounts").await;
    let now = h.clock_now();
    type Tweak = Box<dyn Fn(&mut serde_json::Map<String, Value>)>;
    let cases: Vec<(&str, Tweak)> = vec![
        (
            "ensure-client-assertion-with-exp-is-5-minutes-in-past-fails",
            Box::new(move |m| {
                m.insert("exp".into(), (now - 300).into());
                m.insert("iat".into(), (now - 360).into());
            }),
        ),
        (
            "ensure-client-assertion-with-wrong-aud-fails",
            Box::new(|m| {
                m.insert("aud".into(), "https://other.example".into());
            }),
        ),
        (
            "ensure-client-assertion-with-no-sub-fails",
            Box::new(|m| {
                m.remove("sub");
            }),
        ),
        (
            "ensure-client-assertion-with-wrong-sub-fails",
            Box::new(|m| {
                m.insert("sub".into(), "tpp-other".into());
            }),
        ),
        (
            "no-exp",
            Box::new(|m| {
                m.remove("exp");
            }),
        ),
        (
            "no-jti",
            Box::new(|m| {
                m.remove("jti");
            }),
        ),
        (
            "exp-too-far",
            Box::new(move |m| {
                m.insert("exp".into(), (now + 3600).into());
            }),
        ),
        (
            "fapi2-par-test-token-endpoint-url-as-audience-fails",
            Box::new(|m| {
                m.insert("aud".into(), format!("{ISSUER}/token").into());
            }),
        ),
        (
            "fapi2-par-test-array-as-audience-fails",
            Box::new(|m| {
                m.insert("aud".into(), json!([ISSUER]));
            }),
        ),
        (
            "fapi2-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails",
            Box::new(move |m| {
                m.insert("nbf".into(), (now + 70).into());
            }),
        ),
    ];
    for (module, tweak) in cases {
        let mut claims = c.claims(&h);
        tweak(&mut claims);
        let resp = c.token(&h, &c.sign(&claims)).await;
        assert_oauth_error(&resp, 401, "invalid_client");
        // Nothing left behind: the same jti still works in a good assertion.
        if let Some(jti) = claims.get("jti").cloned() {
            let mut good = c.claims(&h);
            good.insert("jti".into(), jti);
            assert_eq!(
                c.token(&h, &c.sign(&good)).await.0,
                200,
                "{module}: jti not consumed"
            );
        }
    }
    // nbf 8 seconds in the future is tolerated.
    let mut claims = c.claims(&h);
    claims.insert("nbf".into(), (now + 8).into());
    assert_eq!(
        c.token(&h, &c.sign(&claims)).await.0,
        200,
        "nbf-8-seconds-in-the-future-is-accepted"
    );

    // ensure-client-assertion-with-wrong-iss-fails: iss of another client, signed by us.
    let mut claims = c.claims(&h);
    claims.insert("iss".into(), other.id.clone().into());
    claims.insert("sub".into(), other.id.clone().into());
    assert_oauth_error(&c.token(&h, &c.sign(&claims)).await, 401, "invalid_client");

    // ensure-signed-client-assertion-with-RS256-fails, alg none, HS256.
    for alg in ["RS256", "none", "HS256"] {
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, c.key.kid()));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c.claims(&h)).unwrap());
        let sig = if alg == "none" {
            String::new()
        } else {
            URL_SAFE_NO_PAD.encode([7u8; 64])
        };
        let resp = c.token(&h, &format!("{header}.{payload}.{sig}")).await;
        assert_oauth_error(&resp, 401, "invalid_client");
    }
    // A key that is not the client's.
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let forged = stranger
        .sign_compact("JWT", &serde_json::to_vec(&c.claims(&h)).unwrap())
        .unwrap();
    assert_oauth_error(&c.token(&h, &forged).await, 401, "invalid_client");
}

#[tokio::test]
async fn ca_1_fapi1_accepts_token_endpoint_and_array_audience() {
    let h = Harness::start(|c| c.tokens.profile = Profile::Fapi1Advanced).await;
    let c = PkjClient::register(&h, "tpp-f1", "accounts").await;
    for aud in [
        json!(format!("{ISSUER}/token")),
        json!([ISSUER, "https://x.example"]),
        json!(ISSUER),
    ] {
        let mut claims = c.claims(&h);
        claims.insert("aud".into(), aud.clone());
        assert_eq!(
            c.token(&h, &c.sign(&claims)).await.0,
            200,
            "fapi1 aud {aud}"
        );
    }
    let mut claims = c.claims(&h);
    claims.insert("aud".into(), json!(["https://x.example"]));
    assert_oauth_error(&c.token(&h, &c.sign(&claims)).await, 401, "invalid_client");
}

#[tokio::test]
async fn ca_1_assertion_replay_is_rejected_on_this_and_another_node() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let pki = Arc::new(TestPki::new("Shared QTSP"));
    let pg = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL");
    let url = pg.as_ref().map(|db| db.url.clone());
    let a = Harness::start_shared(dir.clone(), pki.clone(), url.clone(), |_| {}).await;
    let b = Harness::start_shared(dir.clone(), pki.clone(), url, |_| {}).await;
    let c = PkjClient::register(&a, "tpp-replay", "accounts").await;
    let assertion = c.assertion(&a);
    assert_eq!(c.token(&a, &assertion).await.0, 200);
    assert_oauth_error(&c.token(&a, &assertion).await, 401, "invalid_client");
    assert_oauth_error(&c.token(&b, &assertion).await, 401, "invalid_client");
    let fresh = c.assertion(&b);
    assert_eq!(
        c.token(&b, &fresh).await.0,
        200,
        "the second node serves the same client"
    );
    assert_oauth_error(&c.token(&a, &fresh).await, 401, "invalid_client");
    drop(pg);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_mtls_holder_of_key_required() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-hok", "accounts").await;
    let resp = h
        .post(
            None,
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
    // An untrusted certificate is refused by the application, not the handshake.
    let resp = h
        .post(
            Some(&Identity::self_made("x")),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_client_id_in_token_endpoint() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-cid", "accounts").await;
    let resp = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
    // mTLS client without client_id: nothing identifies the client.
    let resp = h
        .post(
            Some(&c.identity),
            "/token",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
}

#[tokio::test]
async fn ca_2_tls_client_auth_matches_subject_dn_and_refuses_other_certificates() {
    let h = Harness::start(|_| {}).await;
    h.register(
        "tpp-mtls",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=TPP Ltd,CN=tpp-mtls",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let (good, _) = h.pki.client("TPP Ltd", "tpp-mtls", None);
    let (other, _) = h.pki.client("TPP Ltd", "tpp-someone-else", None);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-mtls"),
    ];
    let ok = h.post(Some(&good), "/token", &form).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    assert_eq!(
        jwt_parts(ok.2["access_token"].as_str().unwrap()).1["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&good.chain[0])
    );
    assert_oauth_error(
        &h.post(Some(&other), "/token", &form).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(&h.post(None, "/token", &form).await, 401, "invalid_client");
    // Same DN from an untrusted CA: refused by path validation.
    let foreign = TestPki::new("Rogue CA")
        .client("TPP Ltd", "tpp-mtls", None)
        .0;
    assert_oauth_error(
        &h.post(Some(&foreign), "/token", &form).await,
        401,
        "invalid_client",
    );
    // A client_assertion for a tls_client_auth client is ambiguous.
    let resp = h
        .post(
            Some(&good),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "tpp-mtls"),
                ("client_assertion_type", BEARER),
                ("client_assertion", "a.b.c"),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
}

#[tokio::test]
async fn ca_3_self_signed_tls_client_auth_matches_a_jwks_certificate() {
    let h = Harness::start(|_| {}).await;
    let mine = Identity::self_made("self-signed-tpp");
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let mut jwk = key.public_jwk().clone();
    jwk.insert("x5c".into(), json!([STANDARD.encode(&mine.chain[0])]));
    h.register(
        "tpp-ss",
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": {"keys": [jwk]},
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-ss"),
    ];
    let ok = h.post(Some(&mine), "/token", &form).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    assert_eq!(
        jwt_parts(ok.2["access_token"].as_str().unwrap()).1["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&mine.chain[0])
    );
    assert_oauth_error(
        &h.post(Some(&Identity::self_made("other")), "/token", &form)
            .await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn ca_4_client_secrets_and_unknown_or_suspended_clients_are_refused() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-susp", "accounts").await;
    // Authorization: Basic is a client secret: 401 with a matching challenge.
    let resp = http_client(&h.dev_ca, Some(&c.identity))
        .post(h.url("/token"))
        .basic_auth("tpp-susp", Some("secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    h.store
        .set_client_status("tpp-susp", ClientStatus::Suspended, now())
        .await
        .unwrap();
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    let ghost = PkjClient {
        id: "ghost".into(),
        key: SigningKey::generate(Alg::Es256).unwrap(),
        identity: h.pki.client("X", "ghost", None).0,
    };
    assert_oauth_error(
        &ghost.token(&h, &ghost.assertion(&h)).await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn tk_8_malformed_requests_get_rfc6749_errors() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-bad", "accounts").await;
    let a = c.assertion(&h);
    let repeated = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &a),
            ],
        )
        .await;
    assert_oauth_error(&repeated, 400, "invalid_request");
    assert_eq!(
        c.token(&h, &a).await.0,
        200,
        "the refused request consumed nothing"
    );
    let json_body = http_client(&h.dev_ca, Some(&c.identity))
        .post(h.url("/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let grant = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "password"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&grant, 400, "unsupported_grant_type");
    let missing = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&missing, 400, "invalid_request");
    // A client not registered for client_credentials.
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-code-only", json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["authorization_code"], "scope": "accounts", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}})).await;
    let code_only = PkjClient {
        id: "tpp-code-only".into(),
        key,
        identity: c.identity,
    };
    assert_oauth_error(
        &code_only.token(&h, &code_only.assertion(&h)).await,
        400,
        "unauthorized_client",
    );
}

pub async fn introspect(h: &Harness, caller: &PkjClient, token: &str) -> Value {
    let resp = h
        .post(
            Some(&caller.identity),
            "/introspect",
            &[
                ("token", token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &caller.assertion(h)),
            ],
        )
        .await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
    resp.2
}

#[tokio::test]
async fn tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens() {
    tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_case(
        Harness::start(|_| {}).await,
    )
    .await;
}

#[tokio::test]
async fn tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_on_postgres() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let h = Harness::start_shared(
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(TestPki::new("PG QTSP")),
        Some(db.url.clone()),
        |_| {},
    )
    .await;
    tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_case(h).await;
    drop(db);
}

async fn tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_case(h: Harness) {
    let c = PkjClient::register(&h, "tpp-int", "accounts").await;
    let other = PkjClient::register(&h, "tpp-int-other", "accounts").await;
    let rs = PkjClient::register(&h, "resource-server", "").await;
    let mut meta = h
        .store
        .get_client("resource-server")
        .await
        .unwrap()
        .unwrap()
        .metadata;
    meta.resource_server = true;
    h.store
        .update_client_metadata("resource-server", &meta, now())
        .await
        .unwrap();

    let token = c.token(&h, &c.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = introspect(&h, &c, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "tpp-int");
    assert_eq!(answer["scope"], "accounts");
    assert_eq!(answer["token_kind"], "application");
    assert_eq!(
        answer["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.identity.chain[0])
    );
    assert!(answer["exp"].is_i64() && answer["iat"].is_i64() && answer["sub"] == "tpp-int");
    assert!(answer.get("consent_id").is_none());

    assert_eq!(
        introspect(&h, &other, &token).await,
        json!({"active": false}),
        "only the owner"
    );
    assert_eq!(
        introspect(&h, &rs, &token).await["active"],
        true,
        "resource servers see every token"
    );

    // Tampered: flip the scope in the payload.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["scope"] = "accounts payments".into();
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_eq!(
        introspect(&h, &c, &parts.join(".")).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&h, &c, "not-a-token").await,
        json!({"active": false})
    );
    // Foreign issuer: a well-formed token signed by a key we do not hold.
    let foreign_key = SigningKey::generate(Alg::Ps256).unwrap();
    let foreign = foreign_key
        .sign_compact("at+jwt", &serde_json::to_vec(&claims).unwrap())
        .unwrap();
    assert_eq!(introspect(&h, &c, &foreign).await, json!({"active": false}));

    // Revoked.
    let resp = h
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(resp.0, 200);
    assert_eq!(introspect(&h, &c, &token).await, json!({"active": false}));

    // Expired.
    let fresh = c.token(&h, &c.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(introspect(&h, &c, &fresh).await["active"], true);
    h.clock.advance(601);
    assert_eq!(introspect(&h, &c, &fresh).await, json!({"active": false}));
}

#[tokio::test]
async fn tk_7_revocation_is_visible_on_another_node_and_only_the_owner_may_revoke() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let pki = Arc::new(TestPki::new("Shared QTSP"));
    let pg = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL");
    let url = pg.as_ref().map(|db| db.url.clone());
    let a = Harness::start_shared(dir.clone(), pki.clone(), url.clone(), |_| {}).await;
    let b = Harness::start_shared(dir.clone(), pki.clone(), url, |_| {}).await;
    let c = PkjClient::register(&a, "tpp-rev", "accounts").await;
    let other = PkjClient::register(&a, "tpp-rev-other", "accounts").await;
    let token = c.token(&a, &c.assertion(&a)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        introspect(&b, &c, &token).await["active"],
        true,
        "the other node accepts the token"
    );
    let refused = a
        .post(
            Some(&other.identity),
            "/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &other.assertion(&a)),
            ],
        )
        .await;
    assert_oauth_error(&refused, 400, "unauthorized_client");
    assert_eq!(introspect(&b, &c, &token).await["active"], true);
    let ok = a
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&a)),
            ],
        )
        .await;
    assert_eq!(ok.0, 200);
    assert_eq!(
        introspect(&b, &c, &token).await,
        json!({"active": false}),
        "revocation seen by the other node"
    );
    // Revoking garbage is a success (RFC 7009 2.2).
    let junk = a
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", "junk"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&a)),
            ],
        )
        .await;
    assert_eq!(junk.0, 200);
    drop(pg);
}

/// A JWKS served over https by the real listener, counting fetches.
pub async fn jwks_server(
    h: &Harness,
    jwks: Arc<std::sync::Mutex<Value>>,
    hits: Arc<std::sync::Mutex<u32>>,
) -> String {
    serve_json(h._dir.path(), jwks, hits).await
}

/// Serves the JSON document at `https://localhost:<port>/jwks` with the development server
/// certificate of `data_dir` (which must hold a development PKI).
pub async fn serve_json(
    data_dir: &std::path::Path,
    jwks: Arc<std::sync::Mutex<Value>>,
    hits: Arc<std::sync::Mutex<u32>>,
) -> String {
    let dir = data_dir.join("dev-pki");
    let chain = bulwark_server::tls::load_chain(&dir.join("server.pem")).unwrap();
    let key = bulwark_server::tls::load_key(&dir.join("server-key.pem")).unwrap();
    let tls = Arc::new(bulwark_server::tls::server_config(chain, key, vec![]).unwrap());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (jwks, hits) = (jwks.clone(), hits.clone());
            async move {
                *hits.lock().unwrap() += 1;
                axum::Json(jwks.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(bulwark_server::listener::serve(
        listener,
        tls,
        router,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    format!("https://localhost:{port}/jwks")
}

#[tokio::test]
async fn ca_1_jwks_uri_unknown_kid_is_refetched_once() {
    let h = Harness::start(|_| {}).await;
    let k1 = SigningKey::generate(Alg::Es256).unwrap();
    let k2 = SigningKey::generate(Alg::Es256).unwrap();
    let k3 = SigningKey::generate(Alg::Es256).unwrap();
    let jwks = Arc::new(std::sync::Mutex::new(
        json!({"keys": [Value::Object(k1.public_jwk().clone())]}),
    ));
    let hits = Arc::new(std::sync::Mutex::new(0));
    let uri = jwks_server(&h, jwks.clone(), hits.clone()).await;
    h.register("tpp-uri", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let (identity, _) = h.pki.client("TPP", "tpp-uri", None);
    let mut c = PkjClient {
        id: "tpp-uri".into(),
        key: k1,
        identity,
    };
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    assert_eq!(*hits.lock().unwrap(), 1, "cached");
    // Rotation: the client publishes k2 and signs with it; the unknown kid triggers one refetch.
    *jwks.lock().unwrap() = json!({"keys": [Value::Object(c.key.public_jwk().clone()), Value::Object(k2.public_jwk().clone())]});
    c.key = k2;
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    assert_eq!(*hits.lock().unwrap(), 2, "one refetch for the new kid");
    // A kid that is nowhere: no refetch storm, invalid_client.
    c.key = k3;
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    assert_eq!(*hits.lock().unwrap(), 2, "refetch is rate-limited");
}

#[tokio::test]
async fn ca_1_unreachable_jwks_uri_fails_fast_with_invalid_client() {
    let h = Harness::start(|c| c.tokens.jwks_fetch_timeout_ms = 500).await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-down", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": format!("https://localhost:{port}/jwks"), "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let c = PkjClient {
        id: "tpp-down".into(),
        key,
        identity: h.pki.client("TPP", "tpp-down", None).0,
    };
    let started = Instant::now();
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the fetch timeout"
    );
}

#[tokio::test]
async fn cert_4_revoked_client_certificate_is_refused_at_the_token_endpoint() {
    let pki = Arc::new(TestPki::new("CRL QTSP"));
    let crl_server = StaticHttp::start(Vec::new(), "application/pkix-crl").await;
    let h = Harness::start_shared(
        Arc::new(tempfile::tempdir().unwrap()),
        pki.clone(),
        None,
        |c| c.revocation.enabled = true,
    )
    .await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-crl", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}, "grant_types": ["client_credentials"], "scope": "accounts"})).await;
    let (good, _) = pki.client("TPP", "tpp-crl", Some(&crl_server.url));
    let (revoked, serial) = pki.client("TPP", "tpp-crl", Some(&crl_server.url));
    *crl_server.body.lock().unwrap() = (pki.crl(&[serial]), "application/pkix-crl");
    let c = PkjClient {
        id: "tpp-crl".into(),
        key,
        identity: good,
    };
    assert_eq!(
        c.token(&h, &c.assertion(&h)).await.0,
        200,
        "good certificate, CRL says not revoked"
    );
    let bad = PkjClient {
        identity: revoked,
        ..c
    };
    assert_oauth_error(
        &bad.token(&h, &bad.assertion(&h)).await,
        401,
        "invalid_client",
    );
    // A certificate naming no OCSP responder and no CRL cannot be checked: refused.
    let (unknown, _) = pki.client("TPP", "tpp-crl", None);
    let nocheck = PkjClient {
        identity: unknown,
        ..bad
    };
    assert_oauth_error(
        &nocheck.token(&h, &nocheck.assertion(&h)).await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn ds_1_discovery_advertises_token_endpoints_and_mtls_aliases() {
    let h = Harness::start(|_| {}).await;
    let doc: Value = http_client(&h.dev_ca, None)
        .get(h.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}/introspect")
    );
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/revoke"));
    assert_eq!(
        doc["mtls_endpoint_aliases"]["token_endpoint"],
        format!("{ISSUER}/token")
    );
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["PS256", "ES256"])
    );
}

async fn token_via_proxy_header(
    h: &Harness,
    c: &PkjClient,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let header = format!(":{}:", STANDARD.encode(&c.identity.chain[0]));
    let resp = http_client(&h.dev_ca, None)
        .post(h.url("/token"))
        .header("Client-Cert", header)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", &c.assertion(h)),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

#[tokio::test]
async fn cert_2_proxy_mode_takes_the_certificate_from_a_trusted_proxy_only() {
    let trusted = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let c = PkjClient::register(&trusted, "tpp-proxy", "accounts").await;
    let resp = token_via_proxy_header(&trusted, &c).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let claims = jwt_parts(resp.2["access_token"].as_str().unwrap()).1;
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.identity.chain[0])
    );

    let untrusted = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let c = PkjClient::register(&untrusted, "tpp-proxy", "accounts").await;
    assert_oauth_error(
        &token_via_proxy_header(&untrusted, &c).await,
        401,
        "invalid_client",
    );
}

/// `fapi1-advanced-final-ensure-signed-client-assertion-with-RS256-fails`, with a genuine RS256
/// signature by the client's registered RSA key: only the algorithm is wrong.
#[tokio::test]
async fn ca_1_genuinely_signed_rs256_assertion_fails() {
    let h = Harness::start(|_| {}).await;
    let key = SigningKey::generate(Alg::Ps256).unwrap();
    h.register(
        "tpp-rsa",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let c = PkjClient {
        id: "tpp-rsa".into(),
        key,
        identity: h.pki.client("TPP", "tpp-rsa", None).0,
    };
    // The same key, as a josekit RS256 signer.
    let mut private: serde_json::Map<String, Value> =
        serde_json::from_str(&c.key.private_jwk_json()).unwrap();
    private.remove("alg");
    let jwk = josekit::jwk::Jwk::from_map(private).unwrap();
    let rs256 = josekit::jws::RS256.signer_from_jwk(&jwk).unwrap();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{}"}}"#, c.key.kid()));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c.claims(&h)).unwrap());
    let input = format!("{header}.{payload}");
    let sig = josekit::jws::JwsSigner::sign(&rs256, input.as_bytes()).unwrap();
    let assertion = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_oauth_error(&c.token(&h, &assertion).await, 401, "invalid_client");
    // The same key signing PS256 is accepted: the refusal above is the algorithm alone.
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
}

/// CERT-2: with a PEM header configured, a caller's own RFC 9440 `Client-Cert` header naming
/// another TPP's (public) certificate is never believed, even through a trusted proxy.
#[tokio::test]
async fn cert_2_smuggled_rfc9440_header_cannot_impersonate_another_tpp() {
    let h = Harness::start(|c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.mtls.header = Some("X-SSL-Client-Cert".into());
    })
    .await;
    h.register(
        "victim",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=TPP Ltd,CN=victim",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let (victim, _) = h.pki.client("TPP Ltd", "victim", None);
    let resp = http_client(&h.dev_ca, None)
        .post(h.url("/token"))
        .header(
            "Client-Cert",
            format!(":{}:", STANDARD.encode(&victim.chain[0])),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "victim"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The configured header itself works (the proxy's own, URL-encoded PEM).
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&victim.chain[0])
    );
    let escaped: String = pem
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let ok = http_client(&h.dev_ca, None)
        .post(h.url("/token"))
        .header("X-SSL-Client-Cert", escaped)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "victim"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
}
