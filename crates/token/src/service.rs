//! The token service: the token endpoint's grants (TK-1), introspection (TK-6, RFC 7662) and
//! revocation (TK-7, RFC 7009), each behind client authentication.

use std::sync::Arc;

use async_trait::async_trait;
use bulwark_clients::{AuthInput, ClientAuthenticator, ClientDirectory};
use bulwark_core::{AuthMethod, Clock, Rng};
use bulwark_jose::{Alg, KeySet, PublicKeySet};
use bulwark_store::ReplayStore;
use serde::Serialize;

use crate::access_token::{self, AccessTokenClaims};
use crate::grant::{TokenRequest, client_credentials};
use crate::introspection::Introspection;
use crate::{TokenError, TokenSettings};

/// Answers whether a consent still stands (CO-2), for introspection of consent-bound tokens.
#[async_trait]
pub trait ConsentCheck: Send + Sync {
    /// True while the consent is Authorised and unexpired at `now`.
    async fn is_authorised(&self, consent_id: &str, now: i64) -> Result<bool, String>;
}

/// RFC 6749 5.1 successful token response.
#[derive(Clone, Debug, Serialize)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer` (the certificate binding is in `cnf`).
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Granted scopes.
    pub scope: String,
}

/// Everything the token endpoints need.
pub struct TokenService {
    issuer: String,
    settings: TokenSettings,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    keys: KeySet,
    public: PublicKeySet,
    at_alg: Alg,
    auth: Arc<ClientAuthenticator>,
    directory: Arc<ClientDirectory>,
    replay: Arc<dyn ReplayStore>,
    consents: Option<Arc<dyn ConsentCheck>>,
    /// Tokens whose signature and issuer were verified, by SHA-256 of the token: a resource
    /// server introspects the same token many times, and the signature is the costly part.
    /// Expiry is checked on every use, revocation and consent are always asked fresh.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], AccessTokenClaims>>,
}

/// Bound of the verified-token cache (entries are small; the map is cleared when full).
const VERIFIED_CACHE_MAX: usize = 20_000;

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The parts a [`TokenService`] is built from.
pub struct TokenServiceParts {
    /// Issuer identifier.
    pub issuer: String,
    /// Settings.
    pub settings: TokenSettings,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Randomness (token ids).
    pub rng: Arc<dyn Rng>,
    /// The server's signing keys.
    pub keys: KeySet,
    /// Client lookup.
    pub directory: Arc<ClientDirectory>,
    /// Client authentication.
    pub authenticator: Arc<ClientAuthenticator>,
    /// Replay and revocation records.
    pub replay: Arc<dyn ReplayStore>,
    /// Consent status, once consents exist.
    pub consents: Option<Arc<dyn ConsentCheck>>,
}

impl TokenService {
    /// Builds the service; fails when no key exists for the configured access token algorithm.
    pub fn new(parts: TokenServiceParts) -> Result<Self, String> {
        let at_alg = Alg::parse(&parts.settings.access_token_alg).ok_or_else(|| {
            format!(
                "tokens.access_token_alg {:?} must be PS256 or ES256",
                parts.settings.access_token_alg
            )
        })?;
        parts.keys.signing_key(at_alg).map_err(|e| e.to_string())?;
        Ok(Self {
            public: parts.keys.public_set(),
            issuer: parts.issuer,
            settings: parts.settings,
            clock: parts.clock,
            rng: parts.rng,
            keys: parts.keys,
            at_alg,
            auth: parts.authenticator,
            directory: parts.directory,
            replay: parts.replay,
            consents: parts.consents,
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The client directory (to invalidate cached clients after changes).
    pub fn directory(&self) -> &ClientDirectory {
        &self.directory
    }

    /// The client authenticator, shared with other endpoints (PAR, DCR).
    pub fn authenticator(&self) -> &ClientAuthenticator {
        &self.auth
    }

    /// The settings in force.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Verifies an access token this server issued (resource-side checks, gateway, consent APIs).
    pub fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims, access_token::InvalidToken> {
        self.verified(token, self.clock.unix())
    }

    /// Verifies one of our access tokens (signature, type, issuer, expiry at `now`), with the
    /// signature check cached per token.
    fn verified(
        &self,
        token: &str,
        now: i64,
    ) -> Result<AccessTokenClaims, access_token::InvalidToken> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Ok(cache) = self.verified.lock()
            && let Some(claims) = cache.get(&key)
        {
            if claims.exp <= now {
                return Err(access_token::InvalidToken::Expired);
            }
            return Ok(claims.clone());
        }
        let claims = access_token::verify(&self.public, &self.issuer, token, now)?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, claims.clone());
        }
        Ok(claims)
    }

    /// True if the token's jti was revoked.
    pub async fn is_revoked(&self, jti: &str) -> Result<bool, TokenError> {
        Ok(self.replay.is_token_revoked(jti).await?)
    }

    /// `POST /token`: the request is parsed before the client is authenticated, so a
    /// malformed or unsupported request burns no assertion `jti`.
    pub async fn token(&self, input: &AuthInput<'_>) -> Result<TokenResponse, TokenError> {
        let request = TokenRequest::parse(input.form)?;
        let now = self.clock.unix_time();
        let client = self.auth.authenticate(input, now).await?;
        let claims = match &request {
            TokenRequest::ClientCredentials(req) => client_credentials::claims(
                req,
                &client,
                client_credentials::Issue {
                    issuer: &self.issuer,
                    default_audience: self
                        .settings
                        .default_audience
                        .as_deref()
                        .unwrap_or(&self.issuer),
                    lifetime_secs: self.settings.access_token_lifetime_secs,
                    now: now.secs(),
                    jti: self.rng.token(16),
                },
            )?,
        };
        let key = self
            .keys
            .signing_key(self.at_alg)
            .map_err(|e| TokenError::Internal(e.to_string()))?;
        let access_token = access_token::sign(key, &claims).map_err(TokenError::Internal)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_lifetime_secs,
            scope: claims.scope,
        })
    }

    /// `POST /introspect` (RFC 7662): `{"active": false}` for anything not currently valid, with
    /// no further detail.
    pub async fn introspect(&self, input: &AuthInput<'_>) -> Result<Introspection, TokenError> {
        let at = self.clock.unix_time();
        let caller = self.auth.authenticate(input, at).await?;
        let token = input.form.require("token")?;
        let now = at.secs();
        let inactive = Introspection::INACTIVE;
        let Ok(claims) = self.verified(token, now) else {
            return Ok(inactive);
        };
        let meta = &caller.client.client.metadata;
        if !meta.resource_server && claims.client_id != caller.client.client.client_id {
            return Ok(inactive);
        }
        if self.replay.is_token_revoked(&claims.jti).await? {
            return Ok(inactive);
        }
        // DCR-4 / RFC 7592 2.3: tokens of a deleted (or suspended) client are no longer active.
        if !self.directory.is_active(&claims.client_id).await? {
            return Ok(inactive);
        }
        if let Some(consent_id) = &claims.consent_id {
            let stands = match &self.consents {
                Some(check) => check
                    .is_authorised(consent_id, now)
                    .await
                    .map_err(TokenError::Internal)?,
                None => false,
            };
            if !stands {
                return Ok(inactive);
            }
        }
        Ok(Introspection::active(claims))
    }

    /// `POST /revoke` (RFC 7009): invalid or expired tokens are answered with success, a token
    /// of another client is refused.
    pub async fn revoke(&self, input: &AuthInput<'_>) -> Result<(), TokenError> {
        let at = self.clock.unix_time();
        let caller = self.auth.authenticate(input, at).await?;
        let token = input.form.require("token")?;
        let now = at.secs();
        let Ok(claims) = self.verified(token, now) else {
            return Ok(());
        };
        if claims.client_id != caller.client.client.client_id {
            return Err(TokenError::NotTokenOwner);
        }
        self.replay
            .revoke_token(&claims.jti, &claims.client_id, claims.exp, now)
            .await?;
        tracing::info!(target: "bulwark::security", client_id = %claims.client_id, jti = %claims.jti, "access token revoked");
        Ok(())
    }

    /// The authentication methods clients may use, for discovery.
    pub fn auth_methods() -> [AuthMethod; 3] {
        AuthMethod::ALL
    }
}
