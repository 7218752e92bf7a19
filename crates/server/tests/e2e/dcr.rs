//! DCR-1..DCR-5 (RFC 7591, RFC 7592, OB DCR v3.3) end to end: a directory key and its JWKS file
//! made in the test, SSAs and TPP-signed registration requests, the software's keys served over
//! https by a real listener, QWACs with qcStatements from the test QTSP, over real mTLS. The
//! conformance-suite DCR modules are named `dcr_*`; the negative cases live in `dcr_errors.rs`.

use std::sync::{Arc, Mutex};

use bulwark_certs::PspRole;
use bulwark_dcr::DirectorySettings;
use bulwark_jose::{Alg, SigningKey};
use bulwark_server::Config;
use bulwark_store::{ClientStore, RegistrationStore};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::pki::TestPki;
use crate::support::{Identity, http_client};
use crate::token::{
    Harness, PkjClient, assert_oauth_error, introspect, jwks_server, jwt_parts, now, serve_json,
};

pub const ISSUER: &str = "https://localhost:8443";
pub const DIRECTORY: &str = "Test Software Directory";
pub const ORG_IDENTIFIER: &str = "PSDGB-FCA-123456";
pub const SOFTWARE_ID: &str = "sw-tpp-1";

pub type Resp = (u16, reqwest::header::HeaderMap, Value);

/// A server trusting a test directory, a TPP software with its keys served over https, and the
/// TPP's QWAC (AISP + PISP, organizationIdentifier PSDGB-FCA-123456).
pub struct Dcr {
    pub h: Harness,
    pub directory: SigningKey,
    pub software: SigningKey,
    pub software_jwks_endpoint: String,
    pub qwac: Identity,
    _keys: tempfile::TempDir,
}

impl Dcr {
    pub async fn start() -> Self {
        Self::start_with(None, |_| {}).await
    }

    pub async fn start_with(db_url: Option<String>, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_full(db_url, false, tweak).await
    }

    /// With `directory_by_uri` the directory's JWK Set is served over https and configured as
    /// `jwks_uri`; otherwise it is a `jwks_file`.
    pub async fn start_full(
        db_url: Option<String>,
        directory_by_uri: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        crate::support::install_crypto();
        let directory = SigningKey::generate(Alg::Es256).unwrap();
        let directory_jwks = json!({"keys": [Value::Object(directory.public_jwk().clone())]});
        let keys = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(tempfile::tempdir().unwrap());
        let (jwks_file, jwks_uri) = if directory_by_uri {
            bulwark_server::dev_pki::DevPki::ensure(data_dir.path()).unwrap();
            let uri = serve_json(
                data_dir.path(),
                Arc::new(Mutex::new(directory_jwks)),
                Arc::new(Mutex::new(0)),
            )
            .await;
            (None, Some(uri))
        } else {
            let file = keys.path().join("directory.jwks.json");
            std::fs::write(&file, directory_jwks.to_string()).unwrap();
            (Some(file), None)
        };
        let h = Harness::start_shared(
            data_dir,
            Arc::new(TestPki::new("Test QTSP Root")),
            db_url,
            |c| {
                c.dcr.directories = vec![DirectorySettings {
                    name: "test".into(),
                    issuer: DIRECTORY.into(),
                    jwks_file,
                    jwks_uri,
                }];
                tweak(c);
            },
        )
        .await;
        let software = SigningKey::generate(Alg::Es256).unwrap();
        let software_jwks_endpoint = jwks_server(
            &h,
            Arc::new(Mutex::new(
                json!({"keys": [Value::Object(software.public_jwk().clone())]}),
            )),
            Arc::new(Mutex::new(0)),
        )
        .await;
        let qwac = h.pki.qwac(
            "tpp.example",
            Some(ORG_IDENTIFIER),
            None,
            &[PspRole::AccountInformation, PspRole::PaymentInitiation],
        );
        Self {
            h,
            directory,
            software,
            software_jwks_endpoint,
            qwac,
            _keys: keys,
        }
    }

    /// The claims of a valid SSA (OB directory shape).
    pub fn ssa_claims(&self) -> Map<String, Value> {
        json!({
            "iss": DIRECTORY,
            "iat": self.h.clock_now(),
            "jti": bulwark_core::random::token(12),
            "software_id": SOFTWARE_ID,
            "software_client_name": "TPP App",
            "software_roles": ["AISP", "PISP"],
            "software_redirect_uris": ["https://tpp.example/cb", "https://tpp.example/cb2"],
            "software_jwks_endpoint": self.software_jwks_endpoint,
            "org_id": "0015800001041RHAAY",
            "organisation_competent_authority_claims": {
                "authority_id": "GB-FCA", "registration_id": "123456", "status": "Active"
            }
        })
        .as_object()
        .unwrap()
        .clone()
    }

    pub fn sign_ssa(&self, claims: &Map<String, Value>) -> String {
        self.directory
            .sign_compact("JWT", &serde_json::to_vec(claims).unwrap())
            .unwrap()
    }

    pub fn ssa(&self) -> String {
        self.sign_ssa(&self.ssa_claims())
    }

    /// The claims of a valid registration request carrying `ssa`.
    pub fn request_claims(&self, ssa: &str) -> Map<String, Value> {
        let now = self.h.clock_now();
        json!({
            "iss": SOFTWARE_ID,
            "aud": ISSUER,
            "iat": now,
            "exp": now + 300,
            "jti": bulwark_core::random::token(12),
            "software_statement": ssa,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "grant_types": ["authorization_code", "client_credentials"],
            "response_types": ["code"],
            "redirect_uris": ["https://tpp.example/cb"],
            "scope": "openid accounts payments",
            "id_token_signed_response_alg": "PS256",
            "request_object_signing_alg": "PS256",
            "application_type": "web"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    pub fn sign_request(&self, claims: &Map<String, Value>) -> String {
        self.software
            .sign_compact("JWT", &serde_json::to_vec(claims).unwrap())
            .unwrap()
    }

    /// A valid, freshly signed registration request.
    pub fn request(&self) -> String {
        self.sign_request(&self.request_claims(&self.ssa()))
    }

    /// A request whose claims were changed by `f`.
    pub fn request_with(&self, f: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut claims = self.request_claims(&self.ssa());
        f(&mut claims);
        self.sign_request(&claims)
    }

    /// `POST /register` with `application/jwt`.
    pub async fn register(&self, id: Option<&Identity>, body: &str) -> Resp {
        self.send(Method::POST, "/register", id, None, Some(body))
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        id: Option<&Identity>,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut req = http_client(&self.h.dev_ca, id).request(method, self.h.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/jwt")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
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

    /// Registers the default client; returns the 201 body.
    pub async fn registered(&self) -> Value {
        let resp = self.register(Some(&self.qwac), &self.request()).await;
        assert_eq!(resp.0, 201, "{:?}", resp.2);
        resp.2
    }

    pub async fn client_count(&self) -> usize {
        self.h.store.list_clients().await.unwrap().len()
    }

    /// RFC 7591 error with status, code and `Cache-Control: no-store`, and no client stored.
    pub async fn assert_refused(&self, resp: &Resp, code: &str) {
        assert_oauth_error(resp, 400, code);
        assert!(
            resp.2["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{:?}",
            resp.2
        );
        assert_eq!(
            self.client_count().await,
            0,
            "a refused request stores no client"
        );
    }

    /// A private_key_jwt client for the registered client_id, with the QWAC.
    pub fn as_client(&self, client_id: &str) -> PkjClient {
        PkjClient {
            id: client_id.into(),
            key: self.software.clone(),
            identity: Identity {
                chain: self.qwac.chain.clone(),
                key: self.qwac.key.clone_key(),
            },
        }
    }
}

async fn happy_flow(d: &Dcr) {
    let ssa = d.ssa();
    let resp = d
        .register(Some(&d.qwac), &d.sign_request(&d.request_claims(&ssa)))
        .await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
    let body = &resp.2;
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(
        body["registration_client_uri"],
        format!("{ISSUER}/register/{client_id}")
    );
    assert!(body["registration_access_token"].as_str().unwrap().len() >= 43);
    assert_eq!(body["client_id_issued_at"], d.h.clock_now());
    assert_eq!(body["software_id"], SOFTWARE_ID);
    assert_eq!(body["jwks_uri"], d.software_jwks_endpoint.as_str());
    assert_eq!(body["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(body["scope"], "openid accounts payments");
    assert_eq!(body["client_name"], "TPP App");
    assert_eq!(
        body["software_statement"],
        ssa.as_str(),
        "RFC 7591 3.2.1: the SSA is returned unmodified"
    );

    // Stored: active, and the registration access token only as a hash.
    let stored = d.h.store.get_client(client_id).await.unwrap().unwrap();
    assert_eq!(stored.status, bulwark_core::ClientStatus::Active);
    let reg =
        d.h.store
            .get_registration(client_id)
            .await
            .unwrap()
            .unwrap();
    assert_ne!(
        reg.token_hash,
        body["registration_access_token"].as_str().unwrap()
    );

    // Immediately usable: client_credentials, bound to the QWAC.
    let c = d.as_client(client_id);
    let token = c.token(&d.h, &c.assertion(&d.h)).await;
    assert_eq!(token.0, 200, "{:?}", token.2);
    let (_, claims) = jwt_parts(token.2["access_token"].as_str().unwrap());
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&d.qwac.chain[0])
    );
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["scope"], "accounts payments");
}

#[tokio::test]
async fn dcr_happy_flow() {
    let d = Dcr::start().await;
    happy_flow(&d).await;
}

#[tokio::test]
async fn dcr_happy_flow_on_postgresql() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let d = Dcr::start_with(Some(db.url.clone()), |_| {}).await;
    happy_flow(&d).await;
}

#[tokio::test]
async fn dcr_3_directory_issued_certificate_matches_org_id_in_ou() {
    let d = Dcr::start().await;
    let cert = d.h.pki.qwac(
        "tpp.example",
        None,
        Some("0015800001041RHAAY"),
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let mut ssa = d.ssa_claims();
    ssa.remove("organisation_competent_authority_claims");
    let body = d.sign_request(&d.request_claims(&d.sign_ssa(&ssa)));
    let resp = d.register(Some(&cert), &body).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
}

#[tokio::test]
async fn ds_1_discovery_advertises_the_registration_endpoint() {
    let d = Dcr::start().await;
    let doc: Value = http_client(&d.h.dev_ca, None)
        .get(d.h.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["registration_endpoint"], format!("{ISSUER}/register"));
    assert_eq!(
        doc["mtls_endpoint_aliases"]["registration_endpoint"],
        format!("{ISSUER}/register")
    );
}

#[tokio::test]
async fn dcr_update_client_config() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");

    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 200, "{:?}", read.2);
    assert_eq!(read.1["cache-control"], "no-store");
    assert_eq!(read.2["client_id"], client_id);
    assert_eq!(read.2["registration_access_token"], rat);
    assert_eq!(read.2["scope"], "openid accounts payments");

    // PUT: a full signed re-registration; client_id and token stay.
    let body = d.request_with(|c| {
        c.insert("scope".into(), json!("openid accounts"));
        c.insert("redirect_uris".into(), json!(["https://tpp.example/cb2"]));
        c.insert("client_id".into(), json!(client_id));
    });
    let put = d
        .send(Method::PUT, &path, Some(&d.qwac), Some(rat), Some(&body))
        .await;
    assert_eq!(put.0, 200, "{:?}", put.2);
    assert_eq!(put.2["client_id"], client_id);
    assert_eq!(put.2["scope"], "openid accounts");
    assert_eq!(put.2["client_id_issued_at"], reg["client_id_issued_at"]);
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));
    // The change is in force at the token endpoint at once.
    let c = d.as_client(client_id);
    let token = c.token(&d.h, &c.assertion(&d.h)).await;
    assert_eq!(token.2["scope"], "accounts", "{:?}", token.2);

    // An update breaking a rule changes nothing.
    let bad = d.request_with(|c| {
        c.insert("redirect_uris".into(), json!(["https://evil.example/cb"]));
    });
    let resp = d
        .send(Method::PUT, &path, Some(&d.qwac), Some(rat), Some(&bad))
        .await;
    assert_oauth_error(&resp, 400, "invalid_redirect_uri");
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));
    // Another software's statement may not take the client over.
    let mut ssa = d.ssa_claims();
    ssa.insert("software_id".into(), json!("sw-other"));
    let mut claims = d.request_claims(&d.sign_ssa(&ssa));
    claims.insert("iss".into(), json!("sw-other"));
    let resp = d
        .send(
            Method::PUT,
            &path,
            Some(&d.qwac),
            Some(rat),
            Some(&d.sign_request(&claims)),
        )
        .await;
    assert_oauth_error(&resp, 400, "invalid_client_metadata");
}

#[tokio::test]
async fn dcr_client_delete() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    let c = d.as_client(client_id);
    let access_token = c.token(&d.h, &c.assertion(&d.h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rs = PkjClient::register(&d.h, "resource-server", "").await;
    let mut meta =
        d.h.store
            .get_client("resource-server")
            .await
            .unwrap()
            .unwrap()
            .metadata;
    meta.resource_server = true;
    d.h.store
        .update_client_metadata("resource-server", &meta, now())
        .await
        .unwrap();
    assert_eq!(introspect(&d.h, &rs, &access_token).await["active"], true);

    let del = d
        .send(Method::DELETE, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(del.0, 204, "{:?}", del.2);
    assert!(d.h.store.get_client(client_id).await.unwrap().is_none());
    assert!(
        d.h.store
            .get_registration(client_id)
            .await
            .unwrap()
            .is_none()
    );

    // The registration access token, the client and its tokens are gone.
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 401);
    assert_eq!(read.2["error"], "invalid_token");
    let again = d
        .send(Method::DELETE, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(again.0, 401);
    assert_oauth_error(
        &c.token(&d.h, &c.assertion(&d.h)).await,
        401,
        "invalid_client",
    );
    assert_eq!(
        introspect(&d.h, &rs, &access_token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn dcr_invalid_registration_access_token() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    let expect_401 = |resp: Resp| {
        assert_eq!(resp.0, 401, "{:?}", resp.2);
        assert_eq!(resp.2["error"], "invalid_token");
        assert_eq!(resp.1["cache-control"], "no-store");
        assert!(
            resp.1["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{:?}",
            resp.1
        );
    };
    for method in [Method::GET, Method::DELETE] {
        expect_401(
            d.send(method.clone(), &path, Some(&d.qwac), Some("wrong"), None)
                .await,
        );
        expect_401(
            d.send(method.clone(), &path, Some(&d.qwac), None, None)
                .await,
        );
        // The right token for another client id.
        expect_401(
            d.send(
                method.clone(),
                "/register/someone-else",
                Some(&d.qwac),
                Some(rat),
                None,
            )
            .await,
        );
        // The right token without the organisation's certificate, or with another one's.
        expect_401(d.send(method.clone(), &path, None, Some(rat), None).await);
        let other = d.h.pki.qwac(
            "other.example",
            Some("PSDGB-FCA-999999"),
            None,
            &[PspRole::AccountInformation],
        );
        expect_401(
            d.send(method.clone(), &path, Some(&other), Some(rat), None)
                .await,
        );
    }
    expect_401(
        d.send(
            Method::PUT,
            &path,
            Some(&d.qwac),
            Some("wrong"),
            Some(&d.request()),
        )
        .await,
    );
    // Nothing was deleted or changed.
    assert_eq!(d.client_count().await, 1);
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 200);
}
