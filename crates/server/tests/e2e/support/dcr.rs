//! `Dcr`: a `Harness` trusting a test software directory (its keys as a JWKS file or served over
//! https), a TPP software with its keys served over https, and the TPP's QWAC; SSAs and
//! TPP-signed registration requests (OB DCR v3.3 shape) and the RFC 7591 / 7592 calls.

use std::sync::{Arc, Mutex};

use bulwark_certs::PspRole;
use bulwark_dcr::DirectorySettings;
use bulwark_jose::{Alg, SigningKey};
use bulwark_server::Config;
use bulwark_store::ClientStore;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    Harness, ISSUER, Identity, PkjClient, Resp, TestPki, assert_oauth_error, http_client,
    install_crypto, jwks_server, serve_json,
};

pub const DIRECTORY: &str = "Test Software Directory";
pub const ORG_IDENTIFIER: &str = "PSDGB-FCA-123456";
pub const SOFTWARE_ID: &str = "sw-tpp-1";

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
        install_crypto();
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
