//! The token service: the token endpoint's grants (TK-1), introspection (TK-6, RFC 7662) and
//! revocation (TK-7, RFC 7009), each behind client authentication.

use std::sync::Arc;

use async_trait::async_trait;
use bulwark_core::{AuthMethod, ClientStatus, Clock};
use bulwark_jose::{Alg, KeySet, PublicKeySet};
use bulwark_store::ReplayStore;
use serde::Serialize;
use serde_json::{Value, json};

use crate::access_token::{self, AccessTokenClaims, Confirmation, TokenKind};
use crate::client_auth::{AuthInput, AuthenticatedClient, ClientAuthenticator};
use crate::registry::ClientRegistry;
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
    keys: KeySet,
    public: PublicKeySet,
    at_alg: Alg,
    auth: ClientAuthenticator,
    registry: Arc<ClientRegistry>,
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
    /// The server's signing keys.
    pub keys: KeySet,
    /// Client lookup.
    pub registry: Arc<ClientRegistry>,
    /// Replay and revocation records.
    pub replay: Arc<dyn ReplayStore>,
    /// Certificate validation.
    pub validator: bulwark_certs::CertValidator,
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
        let auth = ClientAuthenticator::new(
            parts.issuer.clone(),
            parts.settings.clone(),
            parts.registry.clone(),
            parts.replay.clone(),
            parts.validator,
        );
        Ok(Self {
            public: parts.keys.public_set(),
            issuer: parts.issuer,
            settings: parts.settings,
            clock: parts.clock,
            keys: parts.keys,
            at_alg,
            auth,
            registry: parts.registry,
            replay: parts.replay,
            consents: parts.consents,
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The client registry (to invalidate cached clients after changes).
    pub fn registry(&self) -> &ClientRegistry {
        &self.registry
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

    /// True while the client exists and is active (cached for `client_cache_secs`): a token of
    /// a deleted or suspended client is not honoured.
    pub async fn client_is_active(&self, client_id: &str) -> Result<bool, TokenError> {
        Ok(self
            .registry
            .get(client_id)
            .await?
            .is_some_and(|rc| rc.client.status == ClientStatus::Active))
    }

    /// `POST /token`.
    pub async fn token(&self, input: &AuthInput<'_>) -> Result<TokenResponse, TokenError> {
        let grant = input.form.require("grant_type")?.to_string();
        match grant.as_str() {
            "client_credentials" => {}
            "authorization_code" | "refresh_token" => {
                return Err(TokenError::UnsupportedGrant(grant));
            }
            _ => return Err(TokenError::UnsupportedGrant(grant)),
        }
        let now = self.clock.unix();
        let client = self.auth.authenticate(input, now).await?;
        self.client_credentials(input, &client, now)
    }

    /// TK-1 client_credentials: an application token for the client's allowed scopes.
    fn client_credentials(
        &self,
        input: &AuthInput<'_>,
        client: &AuthenticatedClient,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let meta = &client.client.client.metadata;
        if !meta.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(TokenError::GrantNotAllowed("client_credentials".into()));
        }
        // FAPI 1 Adv 5.2.2-5 / FAPI 2 SP 5.3.2.1: access tokens are always sender-constrained.
        let cert = client.cert.as_ref().ok_or_else(|| {
            TokenError::ClientAuth(
                "a client certificate is required to bind the access token".into(),
            )
        })?;
        let allowed: Vec<&str> = meta.scopes().filter(|s| *s != "openid").collect();
        let granted: Vec<&str> = match input.form.get("scope") {
            None => allowed.clone(),
            Some(requested) => requested
                .split_ascii_whitespace()
                .filter(|s| allowed.contains(s))
                .collect(),
        };
        if granted.is_empty() {
            return Err(TokenError::Scope(
                "none of the requested scopes is allowed for this client".into(),
            ));
        }
        let aud = match input.form.get("resource") {
            Some(resource) => {
                if !is_absolute_uri(resource) {
                    return Err(TokenError::Resource(
                        "resource must be an absolute URI without a fragment".into(),
                    ));
                }
                if !meta.resources.iter().any(|r| r == resource) {
                    return Err(TokenError::Resource(
                        "the client may not request tokens for this resource".into(),
                    ));
                }
                resource.to_string()
            }
            None => self
                .settings
                .default_audience
                .clone()
                .unwrap_or_else(|| self.issuer.clone()),
        };
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: client.client.client.client_id.clone(),
            aud,
            exp: now + self.settings.access_token_lifetime_secs,
            iat: now,
            jti: bulwark_core::random::token(16),
            client_id: client.client.client.client_id.clone(),
            scope: granted.join(" "),
            cnf: Confirmation {
                x5t_s256: cert.x5t_s256.clone(),
            },
            token_kind: TokenKind::Application,
            consent_id: None,
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
    pub async fn introspect(&self, input: &AuthInput<'_>) -> Result<Value, TokenError> {
        let now = self.clock.unix();
        let caller = self.auth.authenticate(input, now).await?;
        let token = input.form.require("token")?;
        let inactive = json!({ "active": false });
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
        if !self.client_is_active(&claims.client_id).await? {
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
        let mut answer = json!({
            "active": true,
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": claims.aud,
            "client_id": claims.client_id,
            "scope": claims.scope,
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
            "token_type": "Bearer",
            "token_kind": claims.token_kind,
            "cnf": claims.cnf,
        });
        if let (Some(consent_id), Some(obj)) = (claims.consent_id, answer.as_object_mut()) {
            obj.insert("consent_id".into(), consent_id.into());
        }
        Ok(answer)
    }

    /// `POST /revoke` (RFC 7009): invalid or expired tokens are answered with success, a token
    /// of another client is refused.
    pub async fn revoke(&self, input: &AuthInput<'_>) -> Result<(), TokenError> {
        let now = self.clock.unix();
        let caller = self.auth.authenticate(input, now).await?;
        let token = input.form.require("token")?;
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

fn is_absolute_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !rest.is_empty()
                && !s.contains('#')
        }
        None => false,
    }
}
