//! The gateway's view of access tokens: the authorization server's signature checked with its
//! published JWK Set (cached; an unknown `kid` refetches, so a key rotation is picked up
//! without a restart), and revocation read from the server's database.

use std::sync::Arc;

use bulwark_core::Clock;
use bulwark_jose::JwksFetcher;
use bulwark_jose::verify::Compact;
use bulwark_resource::AccessTokens;
use bulwark_store::ReplayStore;
use bulwark_token::AccessTokenClaims;
use bulwark_token::access_token::{InvalidToken, verify};

/// Access tokens checked against the server's JWKS and database.
pub struct JwksTokens {
    fetcher: Arc<JwksFetcher>,
    jwks_uri: String,
    issuer: String,
    revocations: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
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
        }
    }
}

#[async_trait::async_trait]
impl AccessTokens for JwksTokens {
    async fn verify(&self, token: &str) -> Result<AccessTokenClaims, InvalidToken> {
        let kid = Compact::parse(token)
            .map_err(|e| InvalidToken::Forged(e.to_string()))?
            .kid()
            .map(str::to_owned);
        let keys = self
            .fetcher
            .get(&self.jwks_uri, kid.as_deref())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, uri = %self.jwks_uri, "the server's JWK Set is unavailable");
                InvalidToken::Forged("the signing keys could not be fetched".into())
            })?;
        verify(&keys, &self.issuer, token, self.clock.unix())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, String> {
        self.revocations
            .is_token_revoked(jti)
            .await
            .map_err(|e| e.to_string())
    }
}
