//! The gateway's view of access tokens: the authorization server's signature checked with its
//! published JWK Set (cached; an unknown `kid` refetches, so a key rotation is picked up
//! without a restart; a verified token is remembered until it expires), and revocation read
//! from the server's database, a "not revoked" answer trusted for `revocation_staleness_ms`
//! (default 1 s: the documented bound on how late a revocation reaches the gateway).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_core::Clock;
use bulwark_jose::JwksFetcher;
use bulwark_jose::verify::Compact;
use bulwark_resource::{AccessTokens, LookupError, TokenCheckError};
use bulwark_store::ReplayStore;
use bulwark_token::AccessTokenClaims;
use bulwark_token::access_token::{InvalidToken, verify};

/// Entries kept in each cache before it is emptied.
const MAX_CACHED: usize = 100_000;

/// How long a verified signature is trusted without checking it again.
const VERIFIED_FOR: Duration = Duration::from_secs(60);

/// Access tokens checked against the server's JWKS and database.
pub struct JwksTokens {
    fetcher: Arc<JwksFetcher>,
    jwks_uri: String,
    issuer: String,
    revocations: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
    /// Verified tokens by the SHA-256 of their text, with when they were verified: the
    /// signature is checked again after [`VERIFIED_FOR`], so a key withdrawn from the JWK Set
    /// stops its tokens within that time.
    verified: Mutex<HashMap<[u8; 32], (AccessTokenClaims, Instant)>>,
    /// `jti`s found not revoked, until when that answer is trusted.
    not_revoked: Mutex<HashMap<String, Instant>>,
    staleness: Duration,
}

fn sha256(text: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl JwksTokens {
    /// Over the fetcher, the server's JWKS URL and issuer, and its revocation list.
    pub fn new(
        fetcher: Arc<JwksFetcher>,
        jwks_uri: String,
        issuer: String,
        revocations: Arc<dyn ReplayStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            fetcher,
            jwks_uri,
            issuer,
            revocations,
            clock,
            verified: Mutex::new(HashMap::new()),
            not_revoked: Mutex::new(HashMap::new()),
            staleness: Duration::from_millis(1000),
        }
    }

    /// How long a "not revoked" answer is trusted (0: the database is asked every time).
    pub fn with_revocation_staleness(mut self, staleness: Duration) -> Self {
        self.staleness = staleness;
        self
    }
}

#[async_trait::async_trait]
impl AccessTokens for JwksTokens {
    async fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenCheckError> {
        let key = sha256(token);
        let now = self.clock.unix();
        if let Ok(cache) = self.verified.lock()
            && let Some((claims, at)) = cache.get(&key)
            && at.elapsed() < VERIFIED_FOR
        {
            return if claims.exp <= now {
                Err(TokenCheckError::Invalid(InvalidToken::Expired))
            } else {
                Ok(claims.clone())
            };
        }
        let kid = Compact::parse(token)
            .map_err(|e| TokenCheckError::Invalid(InvalidToken::Forged(e.to_string())))?
            .kid()
            .map(str::to_owned);
        let keys = self
            .fetcher
            .get(&self.jwks_uri, kid.as_deref())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, uri = %self.jwks_uri, "the server's JWK Set is unavailable");
                TokenCheckError::Unavailable(format!("the server's signing keys could not be fetched: {e}"))
            })?;
        let claims = verify(&keys, &self.issuer, token, now).map_err(TokenCheckError::Invalid)?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key, (claims.clone(), Instant::now()));
        }
        Ok(claims)
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, LookupError> {
        if !self.staleness.is_zero()
            && let Ok(cache) = self.not_revoked.lock()
            && cache.get(jti).is_some_and(|until| Instant::now() < *until)
        {
            return Ok(false);
        }
        let revoked = self.revocations.is_token_revoked(jti).await.map_err(|e| {
            if e.is_unavailable() {
                LookupError::Unavailable(e.to_string())
            } else {
                LookupError::Internal(e.to_string())
            }
        })?;
        if !revoked
            && !self.staleness.is_zero()
            && let Ok(mut cache) = self.not_revoked.lock()
        {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(jti.to_string(), Instant::now() + self.staleness);
        }
        Ok(revoked)
    }
}

/// Access tokens checked by the server's introspection endpoint (RFC 7662), the gateway
/// authenticating with its client certificate (`tls_client_auth`). An inactive answer covers
/// forged, expired and revoked tokens alike.
pub struct IntrospectedTokens {
    http: reqwest::Client,
    url: String,
    client_id: String,
    issuer: String,
}

impl IntrospectedTokens {
    /// A client of `url` presenting `identity_pem` (certificate chain and key), trusting
    /// `extra_roots` (DER) besides the system's.
    pub fn new(
        url: String,
        client_id: String,
        issuer: String,
        identity_pem: &[u8],
        extra_roots: &[Vec<u8>],
    ) -> Result<Self, String> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .identity(
                reqwest::Identity::from_pem(identity_pem)
                    .map_err(|e| format!("introspection identity: {e}"))?,
            );
        for der in extra_roots {
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_der(der)
                    .map_err(|e| format!("introspection CA: {e}"))?,
            );
        }
        Ok(Self {
            http: builder
                .build()
                .map_err(|e| format!("introspection client: {e}"))?,
            url,
            client_id,
            issuer,
        })
    }
}

#[async_trait::async_trait]
impl AccessTokens for IntrospectedTokens {
    async fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenCheckError> {
        let unavailable = |e: String| {
            tracing::error!(error = %e, url = %self.url, "token introspection failed");
            TokenCheckError::Unavailable(format!("token introspection failed: {e}"))
        };
        let failed = |e: String| {
            tracing::error!(error = %e, url = %self.url, "token introspection answer unusable");
            TokenCheckError::Failed(format!("token introspection answer unusable: {e}"))
        };
        let resp = self
            .http
            .post(&self.url)
            .form(&[("token", token), ("client_id", self.client_id.as_str())])
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        // The server down or overloaded is retryable; a refusal of the gateway's own client
        // (4xx) is a configuration fault that a retry does not mend.
        if resp.status().is_server_error() {
            return Err(unavailable(format!("status {}", resp.status())));
        }
        if !resp.status().is_success() {
            return Err(failed(format!("status {}", resp.status())));
        }
        let answer: serde_json::Value = resp.json().await.map_err(|e| failed(e.to_string()))?;
        if answer["active"] != serde_json::Value::Bool(true) {
            return Err(TokenCheckError::Invalid(InvalidToken::Forged(
                "inactive".into(),
            )));
        }
        let claims: AccessTokenClaims =
            serde_json::from_value(answer).map_err(|e| failed(e.to_string()))?;
        if claims.iss != self.issuer {
            return Err(TokenCheckError::Invalid(InvalidToken::ForeignIssuer));
        }
        Ok(claims)
    }

    async fn is_revoked(&self, _jti: &str) -> Result<bool, LookupError> {
        // An active introspection answer already says the token is not revoked.
        Ok(false)
    }
}
