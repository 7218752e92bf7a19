//! The token service: the token endpoint's grants (TK-1), introspection (TK-6, RFC 7662) and
//! revocation (TK-7, RFC 7009), each behind client authentication.

use std::sync::Arc;

use async_trait::async_trait;
use bulwark_clients::{
    AuthInput, AuthenticatedClient, ClientAuthenticator, ClientDirectory, PendingJti,
};
use bulwark_core::{AuthMethod, Clock, Rng};
use bulwark_jose::{Alg, KeySet};
use bulwark_store::{
    AuthorizationStore, CodeRecord, GrantRevocation, JtiClaim, Redeemed, Redemption, RefreshRecord,
    ReplayStore,
};
use serde::Serialize;

use crate::access_token::{self, AccessTokenClaims, Confirmation, TokenKind};
use crate::grant::authorization_code::{self, CodeGrant};
use crate::grant::{TokenRequest, client_credentials, refresh_token};
use crate::id_token::{IdTokenClaims, half_hash, sign_id_token};
use crate::introspection::Introspection;
use crate::secret_hash;
use crate::verified_cache::VerifiedTokens;
use crate::{TokenError, TokenSettings};

/// Answers whether a consent still stands (CO-2), for introspection of consent-bound tokens.
#[async_trait]
pub trait ConsentCheck: Send + Sync {
    /// True while the consent is Authorised and unexpired at `now`; an error when it could
    /// not be read ([`TokenError::Unavailable`] for a database outage).
    async fn is_authorised(&self, consent_id: &str, now: i64) -> Result<bool, TokenError>;
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
    /// TK-3 refresh token (code grant, or rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// TK-5 ID token (when `openid` was granted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Everything the token endpoints need.
pub struct TokenService {
    issuer: String,
    settings: TokenSettings,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    keys: KeySet,
    at_alg: Alg,
    auth: Arc<ClientAuthenticator>,
    directory: Arc<ClientDirectory>,
    replay: Arc<dyn ReplayStore>,
    consents: Option<Arc<dyn ConsentCheck>>,
    authorizations: Option<Arc<dyn AuthorizationStore>>,
    /// Tokens whose signature and issuer were verified, stamped with the key ring's
    /// generation: a resource server introspects the same token many times, and the
    /// signature is the costly part. Expiry is checked on every use, revocation and consent
    /// are always asked fresh.
    verified: VerifiedTokens<u64>,
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
    /// Codes and refresh tokens (the authorization_code and refresh_token grants).
    pub authorizations: Option<Arc<dyn AuthorizationStore>>,
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
        parts
            .keys
            .current()
            .signing_key(at_alg)
            .map_err(|e| e.to_string())?;
        Ok(Self {
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
            authorizations: parts.authorizations,
            verified: VerifiedTokens::new(VERIFIED_CACHE_MAX),
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
        let ring = self.keys.current();
        // A hit counts only under the key ring it was verified with: after a rotation or a
        // withdrawn key (DS-2), every token is verified again once.
        if let Some(claims) = self
            .verified
            .get(token, now, |generation| *generation == ring.generation())?
        {
            return Ok(claims);
        }
        let claims = access_token::verify(ring.public_set(), &self.issuer, token, now)?;
        self.verified
            .insert(token, claims.clone(), ring.generation());
        Ok(claims)
    }

    /// True if the token was revoked: by its `jti`, or with its grant (RFC 7009 2.1).
    pub async fn is_revoked(&self, claims: &AccessTokenClaims) -> Result<bool, TokenError> {
        Ok(self
            .replay
            .is_token_revoked(&claims.revocation_key())
            .await?)
    }

    /// Revokes the grant behind `consent_id` up to grant generation `generation_until`
    /// (RFC 7009 2.1, RFC 6749 4.1.2): the consent's codes of those generations not yet
    /// exchanged are discarded (else one exchanged after would issue a refresh token no sweep
    /// revoked), then its refresh tokens of those generations are revoked, including one a
    /// redemption racing with this wrote, then every access token issued under them, whose
    /// `jti`s are not all known (a refresh writes nothing). A later generation (a
    /// re-authentication the PSU decided after the bank's revocation read the consent's, or
    /// after the revoked refresh token's or reused code's own) is not reached, however close
    /// in time it follows.
    ///
    /// Access tokens issued before generations existed carry none: for them the record keeps
    /// an `iat` watermark, reaching the clock skew past now for a node whose clock is behind.
    /// The record is kept as long as a token of the grant could live under either lifetime
    /// setting, so a token minted under an earlier, longer access-token lifetime stays covered
    /// too.
    async fn revoke_grant(
        &self,
        consent_id: &str,
        client_id: &str,
        generation_until: i64,
    ) -> Result<(), TokenError> {
        let store = self.authorizations()?;
        // A redemption holding a code's row (PostgreSQL) makes the discard wait, then skip the
        // code it used; the refresh token that redemption wrote is revoked by the sweep after.
        store
            .discard_unused_codes_of_consent(
                consent_id,
                generation_until,
                self.clock.unix_time().secs(),
            )
            .await?;
        store
            .revoke_refresh_tokens_of_consent(
                consent_id,
                generation_until,
                self.clock.unix_time().secs(),
            )
            .await?;
        let skew = self.settings.clock_skew_secs.max(0);
        let issued_until = self.clock.unix_time().secs().saturating_add(skew);
        let retention = self
            .settings
            .access_token_lifetime_secs
            .max(self.settings.refresh_token_lifetime_secs);
        let expires_at = issued_until.saturating_add(retention).saturating_add(skew);
        self.replay
            .revoke_grant(&GrantRevocation {
                consent_id,
                client_id,
                generation_until,
                issued_until,
                expires_at,
            })
            .await?;
        Ok(())
    }

    /// The bank ends a TPP's access under a consent that lives on (OB "Access Revocation",
    /// the staff console): every grant generation the consent has opened so far ends, as a
    /// revoked refresh token ends its own (its unexchanged codes, its refresh tokens, every
    /// access token issued under them). A re-authentication of the same consent decided after
    /// the generation was read opens the next one, whose tokens are valid. Returns the
    /// generation ended, for the record the caller writes of it.
    pub async fn end_access(&self, consent_id: &str, client_id: &str) -> Result<i64, TokenError> {
        let generation = self.authorizations()?.grant_generation(consent_id).await?;
        self.revoke_grant(consent_id, client_id, generation).await?;
        Ok(generation)
    }

    /// `POST /token`: the request is parsed before the client is authenticated, so a
    /// malformed or unsupported request burns no assertion `jti`.
    pub async fn token(&self, input: &AuthInput<'_>) -> Result<TokenResponse, TokenError> {
        let request = TokenRequest::parse(input.form)?;
        let now = self.clock.unix_time();
        // The code exchange claims the assertion's jti in its own transaction (one write);
        // the other grants claim it here.
        let (client, pending) = match &request {
            TokenRequest::AuthorizationCode(_) => {
                self.auth.authenticate_deferred(input, now).await?
            }
            TokenRequest::ClientCredentials(_) | TokenRequest::RefreshToken(_) => {
                (self.auth.authenticate(input, now).await?, None)
            }
        };
        let meta = &client.client.client.metadata;
        if !meta.grant_types.iter().any(|g| g == request.grant_type()) {
            // The assertion authenticated this request: refused for its grant, it is spent
            // all the same (OIDC Core 9: used once), as on every refusal after authentication.
            self.auth
                .claim(&client, pending, input.endpoint_url)
                .await?;
            return Err(TokenError::GrantNotAllowed(request.grant_type().into()));
        }
        match &request {
            TokenRequest::ClientCredentials(req) => {
                let claims = client_credentials::claims(
                    req,
                    &client,
                    client_credentials::Issue {
                        issuer: &self.issuer,
                        default_audience: self.default_audience(),
                        lifetime_secs: self.settings.access_token_lifetime_secs,
                        now: now.secs(),
                        jti: self.rng.token(16),
                    },
                )?;
                self.respond(claims, None, None)
            }
            TokenRequest::AuthorizationCode(req) => {
                self.exchange_code(req, &client, (pending, input.endpoint_url), now.secs())
                    .await
            }
            TokenRequest::RefreshToken(req) => self.refresh(req, &client, now.secs()).await,
        }
    }

    /// Everything a code exchange decides before the code is spent: the grant checked
    /// against the request (TK-2), the tokens made. An error here changes nothing in the
    /// store. Whether the consent still stands (Authorised, not past its ExpirationDateTime)
    /// is judged by the statement that spends the code (`redeem_code`, holding the consent
    /// while it does), after the tokens are made: a read here as well would cost a database
    /// read on every exchange to spare the rare refused one its signatures.
    async fn prepare_exchange(
        &self,
        req: &authorization_code::AuthorizationCodeRequest,
        client: &AuthenticatedClient,
        code: &CodeRecord,
        now: i64,
    ) -> Result<(Option<RefreshRecord>, String, i64, TokenResponse), TokenError> {
        let grant: CodeGrant = serde_json::from_str(&code.grant_data)
            .map_err(|e| TokenError::Internal(format!("stored code grant: {e}")))?;
        let client_id = client.client.client.client_id.as_str();
        authorization_code::check(req, code, &grant, client_id, now)?;
        let claims = self.user_claims(
            client,
            &grant,
            code.grant_generation,
            grant.scope.clone(),
            now,
        )?;
        // Before the code is spent: a key that cannot be had leaves the code usable.
        let enc_keys = self.id_token_keys(client, &grant).await?;
        // RFC 7591 2 / RFC 6749 5.1: a refresh token only for a client registered for the
        // refresh_token grant; one it may not use would be a long-lived secret stored for
        // nothing, and usable the day its registration gains the grant, without the PSU.
        let may_refresh = client
            .client
            .client
            .metadata
            .grant_types
            .iter()
            .any(|g| g == "refresh_token");
        let refresh_token = may_refresh.then(|| self.rng.token(32));
        let refresh = refresh_token.as_ref().map(|token| RefreshRecord {
            token_hash: secret_hash(token),
            client_id: client_id.to_string(),
            consent_id: grant.consent_id.clone(),
            grant_data: code.grant_data.clone(),
            issued_at: now,
            expires_at: now.saturating_add(self.settings.refresh_token_lifetime_secs),
            revoked_at: None,
            grant_generation: code.grant_generation,
        });
        let (issued_jti, issued_exp) = (claims.jti.clone(), claims.exp);
        // The response is made before the code is spent: one that cannot be made (a key, an
        // encryption) leaves the code usable rather than spent with nothing issued.
        let response = self.respond_user(
            claims,
            &grant,
            client,
            refresh_token,
            enc_keys.as_ref(),
            now,
        )?;
        Ok((refresh, issued_jti, issued_exp, response))
    }

    fn default_audience(&self) -> &str {
        self.settings
            .default_audience
            .as_deref()
            .unwrap_or(&self.issuer)
    }

    fn authorizations(&self) -> Result<&dyn AuthorizationStore, TokenError> {
        self.authorizations
            .as_deref()
            .ok_or_else(|| TokenError::Internal("no authorization store configured".into()))
    }

    async fn consent_stands(&self, consent_id: &str, now: i64) -> Result<bool, TokenError> {
        match &self.consents {
            Some(check) => check.is_authorised(consent_id, now).await,
            None => Ok(false),
        }
    }

    /// A user token's claims: the PSU's subject, the consent and its grant generation, the
    /// presented certificate.
    fn user_claims(
        &self,
        client: &AuthenticatedClient,
        grant: &CodeGrant,
        generation: i64,
        scope: String,
        now: i64,
    ) -> Result<AccessTokenClaims, TokenError> {
        let cert = client.cert.as_ref().ok_or_else(|| {
            TokenError::ClientAuth(
                "a client certificate is required to bind the access token".into(),
            )
        })?;
        let client_id = client.client.client.client_id.clone();
        Ok(AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: grant.sub.clone(),
            aud: self.default_audience().to_string(),
            exp: now.saturating_add(self.settings.access_token_lifetime_secs),
            iat: now,
            jti: self.rng.token(16),
            client_id,
            scope,
            cnf: Confirmation {
                x5t_s256: cert.x5t_s256.clone(),
            },
            token_kind: TokenKind::User,
            consent_id: Some(grant.consent_id.clone()),
            openbanking_intent_id: Some(grant.consent_id.clone()),
            grant_generation: Some(generation),
        })
    }

    /// TK-2: one read, then one transaction (code claimed, refresh token stored).
    async fn exchange_code(
        &self,
        req: &authorization_code::AuthorizationCodeRequest,
        client: &AuthenticatedClient,
        (pending, endpoint_url): (Option<PendingJti>, &str),
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let store = self.authorizations()?;
        let code_hash = secret_hash(&req.code);
        let Some(code) = store.get_code(&code_hash).await? else {
            self.auth.claim(client, pending, endpoint_url).await?;
            return Err(TokenError::Grant("unknown authorization code".into()));
        };
        if code.used_at.is_some() {
            // RFC 6749 4.1.2: a second use revokes what the code issued, but only for a genuine
            // request of the code's own client. A replayed token request (assertion and code
            // recorded together) is a replay and revokes nothing; another client holding the
            // code cannot make us revoke the rightful client's tokens.
            self.auth.claim(client, pending, endpoint_url).await?;
            if code.client_id != client.client.client.client_id {
                tracing::warn!(target: "bulwark::security", client_id = %client.client.client.client_id, "a used authorization code of another client was presented");
                return Err(TokenError::Grant("unknown authorization code".into()));
            }
            self.revoke_issued_from(&code).await?;
            return Err(TokenError::Grant(
                "the authorization code was already used; tokens issued from it are revoked".into(),
            ));
        }
        let client_id = client.client.client.client_id.as_str();
        let (refresh, issued_jti, issued_exp, response) =
            match self.prepare_exchange(req, client, &code, now).await {
                Ok(prepared) => prepared,
                // The assertion authenticated this exchange: refused for its grant, its form
                // or its missing certificate (the access token is bound to one, RFC 8705 3),
                // it is spent all the same (OIDC Core 9: used once), so it can neither probe
                // the code again nor be sent again with a certificate. An outage refuses
                // nothing: the client may retry with it.
                Err(
                    refused @ (TokenError::Grant(_)
                    | TokenError::BadRequest(_)
                    | TokenError::ClientAuth(_)),
                ) => {
                    self.auth.claim(client, pending, endpoint_url).await?;
                    return Err(refused);
                }
                Err(other) => return Err(other),
            };
        let outcome = store
            .redeem_code(&Redemption {
                code_hash,
                now,
                issued_jti,
                issued_exp,
                refresh,
                assertion: pending.clone().map(|p| JtiClaim {
                    namespace: p.namespace,
                    jti: p.jti,
                    expires_at: p.expires_at,
                }),
            })
            .await?;
        if outcome == Redeemed::AssertionReplayed {
            tracing::warn!(target: "bulwark::security", client_id, "client_assertion jti replayed at the code exchange");
            return Err(TokenError::ClientAuth(
                "client_assertion jti was already used (replay)".into(),
            ));
        }
        // Refused below: the redemption's rollback took the assertion's claim with it, and the
        // assertion authenticated this exchange all the same (OIDC Core 9: used once), so it
        // is claimed on its own, as on every other refusal after authentication.
        if outcome == Redeemed::ConsentGone {
            self.auth.claim(client, pending, endpoint_url).await?;
            return Err(TokenError::Grant(
                "the consent is no longer authorised".into(),
            ));
        }
        if outcome == Redeemed::CodeTaken {
            self.auth.claim(client, pending, endpoint_url).await?;
            // Another exchange of the same code won the race: this is a reuse.
            if let Some(code) = store.get_code(&code.code_hash).await? {
                self.revoke_issued_from(&code).await?;
            }
            return Err(TokenError::Grant(
                "the authorization code was already used".into(),
            ));
        }
        Ok(response)
    }

    /// TK-5: the client's `jwks_uri` keys when an ID token is issued and encrypted to a key
    /// registered by reference.
    async fn id_token_keys(
        &self,
        client: &AuthenticatedClient,
        grant: &CodeGrant,
    ) -> Result<Option<bulwark_jose::PublicKeySet>, TokenError> {
        if !grant.is_openid() {
            return Ok(None);
        }
        Ok(self
            .directory
            .id_token_encryption_keys(&client.client)
            .await?)
    }

    /// RFC 6749 4.1.2 and 10.5 / TK-2: a second use revokes everything the first use issued
    /// (the code opened its grant generation): the access token it issued, the refresh tokens
    /// of its generation (the first use's and any it was rotated into), the access tokens those
    /// refreshed, and what earlier generations of the consent issued.
    async fn revoke_issued_from(&self, code: &bulwark_store::CodeRecord) -> Result<(), TokenError> {
        tracing::warn!(target: "bulwark::security", client_id = %code.client_id, consent_id = %code.consent_id, "authorization code reused; revoking what it issued");
        // The code's generation covers the first exchange's access token and refresh tokens,
        // and what those refreshed.
        self.revoke_grant(&code.consent_id, &code.client_id, code.grant_generation)
            .await
    }

    /// TK-3: reads only (the refresh token and the consent) unless rotation is on.
    async fn refresh(
        &self,
        req: &refresh_token::RefreshTokenRequest,
        client: &AuthenticatedClient,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let store = self.authorizations()?;
        let hash = secret_hash(&req.refresh_token);
        let Some(stored) = store.get_refresh_token(&hash).await? else {
            return Err(TokenError::Grant("unknown refresh token".into()));
        };
        let client_id = client.client.client.client_id.as_str();
        let (grant, scope) = refresh_token::check(req, &stored, client_id, now)?;
        if !self.consent_stands(&stored.consent_id, now).await? {
            store.revoke_refresh_token(&hash, now).await?;
            return Err(TokenError::Grant(
                "the consent is no longer authorised".into(),
            ));
        }
        let claims = self.user_claims(client, &grant, stored.grant_generation, scope, now)?;
        let enc_keys = self.id_token_keys(client, &grant).await?;
        let Some(token) = self
            .settings
            .rotate_refresh_tokens
            .then(|| self.rng.token(32))
        else {
            return self.respond_user(claims, &grant, client, None, enc_keys.as_ref(), now);
        };
        let record = RefreshRecord {
            token_hash: secret_hash(&token),
            issued_at: now,
            revoked_at: None,
            ..stored
        };
        // Made before the rotation: a response that cannot be made keeps the old token.
        let response =
            self.respond_user(claims, &grant, client, Some(token), enc_keys.as_ref(), now)?;
        if !store.rotate_refresh_token(&hash, &record, now).await? {
            return Err(TokenError::Grant(
                "the refresh token was already used".into(),
            ));
        }
        Ok(response)
    }

    fn respond_user(
        &self,
        claims: AccessTokenClaims,
        grant: &CodeGrant,
        client: &AuthenticatedClient,
        refresh_token: Option<String>,
        enc_keys: Option<&bulwark_jose::PublicKeySet>,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let access_token = self.sign_access(&claims)?;
        let id_token = if grant.is_openid() {
            let meta = &client.client.client.metadata;
            let alg = meta
                .id_token_signed_response_alg
                .as_deref()
                .and_then(Alg::parse)
                .unwrap_or(self.at_alg);
            let ring = self.keys.current();
            let key = ring
                .signing_key(alg)
                .map_err(|e| TokenError::Internal(e.to_string()))?;
            let id = IdTokenClaims {
                iss: self.issuer.clone(),
                sub: grant.sub.clone(),
                aud: claims.client_id.clone(),
                exp: now.saturating_add(self.settings.id_token_lifetime_secs),
                iat: now,
                auth_time: grant.auth_time,
                nonce: grant.nonce.clone(),
                acr: grant.acr.clone(),
                c_hash: None,
                s_hash: None,
                at_hash: Some(half_hash(&access_token)),
                openbanking_intent_id: grant.consent_id.clone(),
            };
            let signed = sign_id_token(key, &id).map_err(TokenError::Internal)?;
            // A client that asked for encrypted ID tokens and has no usable key for it (none
            // published, or a broken one) is told so: the fault is its registration's, not the
            // server's. Nothing is spent: the grant is written after this.
            let sealed = crate::id_token::for_client(meta, signed, enc_keys).map_err(|e| {
                tracing::warn!(target: "bulwark::security", client_id = %claims.client_id, error = %e, "ID token not encrypted: the client's key is unusable");
                TokenError::BadRequest(format!(
                    "the ID token cannot be encrypted to the client's registered key: {e}"
                ))
            })?;
            Some(sealed)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_lifetime_secs,
            scope: claims.scope,
            refresh_token,
            id_token,
        })
    }

    fn sign_access(&self, claims: &AccessTokenClaims) -> Result<String, TokenError> {
        let ring = self.keys.current();
        let key = ring
            .signing_key(self.at_alg)
            .map_err(|e| TokenError::Internal(e.to_string()))?;
        access_token::sign(key, claims).map_err(TokenError::Internal)
    }

    fn respond(
        &self,
        claims: AccessTokenClaims,
        refresh_token: Option<String>,
        id_token: Option<String>,
    ) -> Result<TokenResponse, TokenError> {
        let access_token = self.sign_access(&claims)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_lifetime_secs,
            scope: claims.scope,
            refresh_token,
            id_token,
        })
    }

    /// The signing keys (ID tokens and JARM responses are signed by `authz` with the same).
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The algorithm access tokens (and, by default, ID tokens) are signed with.
    pub fn default_alg(&self) -> Alg {
        self.at_alg
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
        if self.is_revoked(&claims).await? {
            return Ok(inactive);
        }
        // DCR-4 / RFC 7592 2.3: tokens of a deleted (or suspended) client are no longer active.
        if !self.directory.is_active(&claims.client_id).await? {
            return Ok(inactive);
        }
        if let Some(consent_id) = &claims.consent_id {
            let stands = match &self.consents {
                Some(check) => check.is_authorised(consent_id, now).await?,
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
            return self.revoke_refresh(token, &caller).await;
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

    /// RFC 7009 2.1: a refresh token of the caller is revoked, and with it its grant: the
    /// access tokens issued under it ("SHOULD also invalidate all access tokens based on the
    /// same authorization grant"); an unknown one is success.
    async fn revoke_refresh(
        &self,
        token: &str,
        caller: &AuthenticatedClient,
    ) -> Result<(), TokenError> {
        let Some(store) = self.authorizations.as_deref() else {
            return Ok(());
        };
        let hash = secret_hash(token);
        let Some(stored) = store.get_refresh_token(&hash).await? else {
            return Ok(());
        };
        if stored.client_id != caller.client.client.client_id {
            return Err(TokenError::NotTokenOwner);
        }
        // The grant's revocation takes this refresh token with the consent's others of its
        // generation and earlier ones.
        self.revoke_grant(
            &stored.consent_id,
            &stored.client_id,
            stored.grant_generation,
        )
        .await?;
        tracing::info!(target: "bulwark::security", client_id = %stored.client_id, consent_id = %stored.consent_id, "refresh token revoked, and the access tokens of its grant");
        Ok(())
    }

    /// The authentication methods clients may use, for discovery.
    pub fn auth_methods() -> [AuthMethod; 3] {
        AuthMethod::ALL
    }
}
