//! The TPP side: a `private_key_jwt` client with a certificate from the test PKI, its token
//! requests through the load balancer, and a load generator that keeps `concurrency` requests
//! in flight and records every outcome (status, OAuth error, latency, the assertion's jti).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_jose::{Alg, SigningKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use super::{Pki, install_crypto};

/// RFC 7523 `client_assertion_type`.
pub const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A TPP's client.
pub struct TokenClient {
    /// Its client id.
    pub id: String,
    key: SigningKey,
    pub(super) http: reqwest::Client,
    /// The load balancer's base URL (also the issuer).
    pub base: String,
}

fn tls(pki: &Pki, with_cert: bool) -> rustls::ClientConfig {
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki.server_ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    if with_cert {
        let chain = CertificateDer::pem_slice_iter(pki.client_cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    }
}

/// An https client trusting the test server CA, with or without the TPP's certificate.
pub fn http(pki: &Pki, with_cert: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls(pki, with_cert))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// A browser's https client: no client certificate, redirects left to the caller.
pub fn browser_http(pki: &Pki) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls(pki, false))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TokenClient {
    /// A client of the load balancer on `lb_port`.
    pub fn new(pki: &Pki, lb_port: u16, id: &str) -> Self {
        Self {
            id: id.to_string(),
            key: SigningKey::generate(Alg::Es256).unwrap(),
            http: http(pki, true),
            base: format!("https://localhost:{lb_port}"),
        }
    }

    /// Its registration metadata (for `bulwark clients add --metadata`).
    pub fn metadata(&self) -> Value {
        json!({
            "client_id": self.id,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [super::journey::REDIRECT_URI],
            "scope": "openid accounts",
            "tls_client_certificate_bound_access_tokens": true,
            "jwks": {"keys": [Value::Object(self.key.public_jwk().clone())]}
        })
    }

    /// A fresh client assertion: (jti, JWT).
    pub fn assertion(&self) -> (String, String) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let jti = bulwark_core::random::token(16);
        let claims = json!({"iss": self.id, "sub": self.id, "aud": self.base,
                            "iat": now, "exp": now + 60, "jti": jti});
        let jwt = self
            .key
            .sign_compact("JWT", &serde_json::to_vec(&claims).unwrap())
            .unwrap();
        (jti, jwt)
    }

    /// POSTs a client-authenticated form (a fresh assertion) to `path`.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let (_, assertion) = self.assertion();
        self.post_with(path, form, &assertion).await
    }

    /// POSTs a form with the given assertion; (0, error text) on a transport failure.
    pub async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        assertion: &str,
    ) -> (u16, Value) {
        let mut form = form.to_vec();
        form.push(("client_assertion_type", BEARER));
        form.push(("client_assertion", assertion));
        match self
            .http
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, Value::String(format!("{e:?}"))),
        }
    }

    /// GETs a bank API at `path` with a bearer token: (status, `Retry-After`, body).
    pub async fn get_bearer(&self, path: &str, token: &str) -> (u16, Option<String>, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(
                "x-fapi-interaction-id",
                "93bac548-d2de-4546-b106-880a5018460d",
            )
            .send()
            .await
            .unwrap();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = resp.status().as_u16();
        (
            status,
            retry_after,
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// A client_credentials token request with `assertion`.
    pub async fn token_with(&self, assertion: &str) -> (u16, Value) {
        self.post_with("/token", &[("grant_type", "client_credentials")], assertion)
            .await
    }
}

/// One request of a load run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// HTTP status; 0 when the request failed below HTTP.
    pub status: u16,
    /// The OAuth `error`, if any.
    pub error: Option<String>,
    /// When it was sent, from the start of the run.
    pub sent: Duration,
    /// How long it took.
    pub latency: Duration,
    /// The assertion's jti.
    pub jti: String,
}

/// Token requests kept `concurrency` in flight until stopped.
pub struct Load {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    /// When the run started.
    pub started: Instant,
}

impl Load {
    /// Starts the workers.
    pub fn start(client: Arc<TokenClient>, concurrency: usize) -> Self {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let workers = (0..concurrency)
            .map(|_| {
                let (client, outcomes, stop) = (client.clone(), outcomes.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let (jti, assertion) = client.assertion();
                        let sent = started.elapsed();
                        let (status, body) = client.token_with(&assertion).await;
                        let outcome = Outcome {
                            status,
                            error: body["error"].as_str().map(str::to_string).or_else(|| {
                                (status == 0).then(|| body.as_str().unwrap_or("").to_string())
                            }),
                            sent,
                            latency: started.elapsed() - sent,
                            jti,
                        };
                        let failed = status != 200;
                        outcomes.lock().unwrap().push(outcome);
                        if failed {
                            // As a client would: do not hammer a failing service.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            outcomes,
            stop,
            workers,
            started,
        }
    }

    /// How many requests were sent after `after` (from the start of the run) so far.
    pub fn sent_after(&self, after: Duration) -> usize {
        self.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.sent > after)
            .count()
    }

    /// Stops, waits for the requests in flight, returns every outcome.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.await
                .expect("a load worker panicked: its outcomes would be lost");
        }
        let mut all = std::mem::take(&mut *self.outcomes.lock().unwrap());
        all.sort_by_key(|o| o.sent);
        all
    }
}

/// A one-line account of outcomes by (status, error), for assertion messages.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for o in outcomes {
        *counts
            .entry(format!("{} {}", o.status, o.error.as_deref().unwrap_or("")))
            .or_insert(0u64) += 1;
    }
    format!("{counts:?}")
}
