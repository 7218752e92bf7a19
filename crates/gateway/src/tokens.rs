//! The gateway's view of access tokens: the authorization server's signature checked with its
//! published JWK Set (cached; an unknown `kid` refetches, so a key rotation is picked up
//! without a restart; a verified token is remembered for a minute of the injected clock, then
//! checked against the key set again), and revocation read
//! from the server's database, a "not revoked" answer trusted for `revocation_staleness_ms`
//! (default 1 s: the documented bound on how late a revocation reaches the gateway).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_core::{Clock, OutboundError};
use bulwark_jose::JwksFetcher;
use bulwark_jose::verify::Compact;
use bulwark_resource::{AccessTokens, LookupError, TokenCheckError};
use bulwark_store::ReplayStore;
use bulwark_token::access_token::{InvalidToken, verify};
use bulwark_token::{AccessTokenClaims, VerifiedTokens};

/// Entries kept in each cache before it is emptied.
const MAX_CACHED: usize = 100_000;

/// How long (seconds of the gateway's clock) a verified signature is trusted without checking
/// it again: the bound on how long a key withdrawn from the JWK Set keeps admitting its tokens.
const VERIFIED_FOR_SECS: i64 = 60;

/// Access tokens checked against the server's JWKS and database.
pub struct JwksTokens {
    fetcher: Arc<JwksFetcher>,
    jwks_uri: String,
    issuer: String,
    revocations: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
    /// Verified tokens, stamped with when they were verified (Unix seconds of `clock`): the
    /// signature is checked again after [`VERIFIED_FOR_SECS`], so a key withdrawn from the JWK
    /// Set stops its tokens within that time.
    verified: VerifiedTokens<i64>,
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
            .get(token, now, |at| verification_holds(*at, now))
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
        self.verified.insert(token, claims.clone(), now);
        Ok(claims)
    }

    async fn is_revoked(&self, claims: &AccessTokenClaims) -> Result<bool, LookupError> {
        let jti = claims.jti.as_str();
        if !self.staleness.is_zero()
            && let Ok(cache) = self.not_revoked.lock()
            && cache.get(jti).is_some_and(|until| Instant::now() < *until)
        {
            return Ok(false);
        }
        let revoked = self
            .revocations
            .is_token_revoked(&claims.revocation_key())
            .await
            .map_err(|e| {
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

/// Whether a signature verified at `verified_at` still counts at `now`: for
/// [`VERIFIED_FOR_SECS`], and not at all once the clock reads earlier than the stamp (a clock
/// set back re-verifies rather than trusting a stamp from its future).
fn verification_holds(verified_at: i64, now: i64) -> bool {
    (verified_at..verified_at.saturating_add(VERIFIED_FOR_SECS)).contains(&now)
}

/// RFC 7662 2.2: the token's claims from an introspection answer, when it says `active: true`
/// (anything else, `active` missing included, is an inactive token) and names `issuer` (an
/// introspection endpoint speaking for another issuer vouches for nothing here).
fn claims_of_answer(body: &[u8], issuer: &str) -> Result<AccessTokenClaims, TokenCheckError> {
    let failed =
        |e: String| TokenCheckError::Failed(format!("token introspection answer unusable: {e}"));
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| failed(e.to_string()))?;
    if answer["active"] != serde_json::Value::Bool(true) {
        return Err(TokenCheckError::Invalid(InvalidToken::Forged(
            "inactive".into(),
        )));
    }
    let claims: AccessTokenClaims =
        serde_json::from_value(answer).map_err(|e| failed(e.to_string()))?;
    if claims.iss != issuer {
        return Err(TokenCheckError::Invalid(InvalidToken::ForeignIssuer));
    }
    Ok(claims)
}

/// Bound on one introspection exchange, connect to last byte.
const INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest introspection answer read (bytes): an RFC 7662 answer is a few hundred bytes,
/// so anything near this is not one.
const MAX_INTROSPECTION_ANSWER: usize = 64 * 1024;

/// Access tokens checked by the server's introspection endpoint (RFC 7662), the gateway
/// authenticating with its client certificate (`tls_client_auth`). An inactive answer covers
/// forged, expired and revoked tokens alike. The exchange goes through
/// `bulwark_core::OutboundHttp` (bounded end to end, no redirects, https only, the answer
/// capped while it streams in).
pub struct IntrospectedTokens {
    http: bulwark_core::OutboundHttp,
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
        let http = bulwark_core::OutboundHttp::new(&bulwark_core::OutboundSettings {
            extra_roots: extra_roots.to_vec(),
            identity_pem: Some(identity_pem.to_vec()),
            ..bulwark_core::OutboundSettings::https(INTROSPECTION_TIMEOUT, "bulwark-gateway")
        })
        .map_err(|e| format!("introspection client: {e}"))?;
        Ok(Self {
            http,
            url,
            client_id,
            issuer,
        })
    }

    /// One introspection exchange: the answer's body, or why there is none. The server down,
    /// overloaded or slow is retryable (`Unavailable`); a refusal of the gateway's own client
    /// (4xx, or a redirect, never followed) or an oversized answer is a fault a retry does not
    /// mend (`Failed`).
    async fn ask(&self, token: &str) -> Result<Vec<u8>, TokenCheckError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("client_id", &self.client_id)
            .finish();
        let answer = self
            .http
            .post(
                &self.url,
                ("application/x-www-form-urlencoded", "application/json"),
                form.into_bytes(),
                INTROSPECTION_TIMEOUT,
                MAX_INTROSPECTION_ANSWER,
            )
            .await;
        answer.map_err(|e| {
            let retryable = match &e {
                OutboundError::Timeout(_) | OutboundError::Transport(_) => true,
                OutboundError::Status(status) => *status >= 500,
                OutboundError::Refused(_) | OutboundError::TooLarge(_) => false,
            };
            if retryable {
                tracing::error!(error = %e, url = %self.url, "token introspection failed");
                TokenCheckError::Unavailable(format!("token introspection failed: {e}"))
            } else {
                tracing::error!(error = %e, url = %self.url, "token introspection answer unusable");
                TokenCheckError::Failed(format!("token introspection answer unusable: {e}"))
            }
        })
    }
}

#[async_trait::async_trait]
impl AccessTokens for IntrospectedTokens {
    async fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenCheckError> {
        let body = self.ask(token).await?;
        claims_of_answer(&body, &self.issuer).inspect_err(|e| {
            if let TokenCheckError::Failed(e) = e {
                tracing::error!(error = %e, url = %self.url, "token introspection answer unusable");
            }
        })
    }

    async fn is_revoked(&self, _claims: &AccessTokenClaims) -> Result<bool, LookupError> {
        // An active introspection answer already says the token is not revoked.
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    /// GW-1 / DS-2: a verified signature counts for 60 s of the clock from its verification,
    /// and not when the clock reads earlier than the stamp.
    #[test]
    fn gw_1_a_verified_signature_counts_for_a_minute_of_the_clock() {
        assert!(verification_holds(1_000, 1_000));
        assert!(verification_holds(1_000, 1_059));
        assert!(!verification_holds(1_000, 1_060));
        assert!(!verification_holds(1_000, 999));
        assert!(verification_holds(i64::MAX - 1, i64::MAX - 1));
    }

    /// GW-1 / RFC 7662 2.2: only an answer saying `active: true` for this issuer admits a
    /// token; one without `active`, with `active` other than `true`, or naming another issuer
    /// does not, and an answer that is not JSON is the introspection's fault, not the token's.
    #[test]
    fn gw_1_an_introspection_answer_admits_only_an_active_token_of_this_issuer() {
        const ISSUER: &str = "https://as.bank.example";
        let answer = |members: serde_json::Value| {
            let mut a = json!({"iss": ISSUER, "sub": "client", "aud": ISSUER, "exp": 2000,
                "iat": 1700, "jti": "j1", "client_id": "client", "scope": "accounts",
                "cnf": {"x5t#S256": "x5t"}, "token_kind": bulwark_token::TokenKind::Application});
            a.as_object_mut()
                .unwrap()
                .extend(members.as_object().unwrap().clone());
            serde_json::to_vec(&a).unwrap()
        };
        let claims = claims_of_answer(&answer(json!({"active": true})), ISSUER).unwrap();
        assert_eq!(claims.jti, "j1");
        for inactive in [
            json!({}),
            json!({"active": false}),
            json!({"active": "true"}),
        ] {
            assert!(
                matches!(
                    claims_of_answer(&answer(inactive.clone()), ISSUER),
                    Err(TokenCheckError::Invalid(InvalidToken::Forged(_)))
                ),
                "{inactive}"
            );
        }
        assert!(matches!(
            claims_of_answer(
                &answer(json!({"active": true, "iss": "https://other-issuer.example"})),
                ISSUER
            ),
            Err(TokenCheckError::Invalid(InvalidToken::ForeignIssuer))
        ));
        assert!(matches!(
            claims_of_answer(b"<html>", ISSUER),
            Err(TokenCheckError::Failed(_))
        ));
    }
}
