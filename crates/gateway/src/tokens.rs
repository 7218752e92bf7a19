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
use bulwark_token::access_token::{InvalidToken, verify};
use bulwark_token::{AccessTokenClaims, VerifiedTokens};

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
    /// Verified tokens, stamped with when they were verified: the signature is checked again
    /// after [`VERIFIED_FOR`], so a key withdrawn from the JWK Set stops its tokens within
    /// that time.
    verified: VerifiedTokens<Instant>,
    /// `jti`s found not revoked, until when that answer is trusted.
    not_revoked: Mutex<HashMap<String, Instant>>,
    staleness: Duration,
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
            verified: VerifiedTokens::new(MAX_CACHED),
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
        let now = self.clock.unix();
        if let Some(claims) = self
            .verified
            .get(token, now, |at| at.elapsed() < VERIFIED_FOR)
            .map_err(TokenCheckError::Invalid)?
        {
            return Ok(claims);
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
        self.verified.insert(token, claims.clone(), Instant::now());
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

/// Bound on one introspection exchange, connect to last byte.
const INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest introspection answer read (bytes): an RFC 7662 answer is a few hundred bytes,
/// so anything near this is not one.
const MAX_INTROSPECTION_ANSWER: usize = 64 * 1024;

/// Access tokens checked by the server's introspection endpoint (RFC 7662), the gateway
/// authenticating with its client certificate (`tls_client_auth`). An inactive answer covers
/// forged, expired and revoked tokens alike.
///
/// The client follows the rules of `bulwark_core::OutboundHttp` (a bound on connecting and
/// on the whole exchange, no redirects, https only, the answer's size capped while it
/// streams in); it is built here because `OutboundHttp` cannot present a client certificate.
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
            .timeout(INTROSPECTION_TIMEOUT)
            .connect_timeout(INTROSPECTION_TIMEOUT)
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

/// Why an introspection exchange gave no answer to read.
#[derive(Debug)]
enum Exchange {
    /// The server could not be asked or did not answer in time: retryable.
    Unavailable(String),
    /// It answered, unusably: a configuration fault or a broken server.
    Failed(String),
}

/// The body of `resp`, refused once it passes `max` bytes (counted while it streams in, so a
/// server cannot make the gateway buffer more).
async fn capped_body(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, Exchange> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(Exchange::Failed(format!("answer larger than {max} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Exchange::Unavailable(e.to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(Exchange::Failed(format!("answer larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl IntrospectedTokens {
    /// One introspection exchange, bounded end to end by [`INTROSPECTION_TIMEOUT`], the
    /// answer's body capped at [`MAX_INTROSPECTION_ANSWER`].
    async fn ask(&self, token: &str) -> Result<Vec<u8>, Exchange> {
        let exchange = async {
            let resp = self
                .http
                .post(&self.url)
                .form(&[("token", token), ("client_id", self.client_id.as_str())])
                .send()
                .await
                .map_err(|e| Exchange::Unavailable(e.to_string()))?;
            // The server down or overloaded is retryable; a refusal of the gateway's own
            // client (4xx, or a redirect, never followed) is a configuration fault that a
            // retry does not mend.
            if resp.status().is_server_error() {
                return Err(Exchange::Unavailable(format!("status {}", resp.status())));
            }
            if !resp.status().is_success() {
                return Err(Exchange::Failed(format!("status {}", resp.status())));
            }
            capped_body(resp, MAX_INTROSPECTION_ANSWER).await
        };
        tokio::time::timeout(INTROSPECTION_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Exchange::Unavailable(format!(
                    "no answer within {} ms",
                    INTROSPECTION_TIMEOUT.as_millis()
                )))
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
        let body = self.ask(token).await.map_err(|e| match e {
            Exchange::Unavailable(e) => unavailable(e),
            Exchange::Failed(e) => failed(e),
        })?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(axum::http::Response::new(body))
    }

    #[tokio::test]
    async fn gw_1_an_introspection_answer_over_the_cap_is_refused() {
        let big = capped_body(response(vec![b'a'; 2_000]), 1_000).await;
        assert!(
            matches!(big, Err(Exchange::Failed(ref m)) if m.contains("larger")),
            "{big:?}"
        );
        let ok = capped_body(response(br#"{"active":false}"#.to_vec()), 1_000)
            .await
            .unwrap();
        assert_eq!(ok, br#"{"active":false}"#);
    }
}
