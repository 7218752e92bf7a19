//! Resource-request enforcement: a call to a protected bank API (today the OB consent APIs,
//! next the gateway's) comes in as a [`ResourceRequest`], and goes out as a typed
//! [`ApiCaller`] or a typed [`Refusal`]. The checks, in order: an RFC 6750 bearer token this
//! server issued, not revoked, of a client that is still active; bound to the certificate of
//! this connection (RFC 8705 3); of the kind the API needs; that certificate a valid QWAC
//! (CERT-5) of the client's organisation (CERT-8) with PSD2 roles (CERT-7 is then the API's
//! own check with the roles), or an `ob-directory` OBWAC naming the client's organisation and
//! software, whose roles are the client's registered ones. [`ResourceGuard::check_signature`] applies the `x-jws-signature`
//! policy (CO-6). Every refusal is logged on `bulwark::security` with its reason.

pub mod refusal;
pub mod signature;

use std::sync::Arc;

use bulwark_certs::{CertProfile, CertValidator, GrantedRoles, MtlsSettings, Purpose, TppIdentity};
use bulwark_clients::ClientDirectory;
use bulwark_core::Clock;
use bulwark_token::access_token::InvalidToken;
use bulwark_token::{AccessTokenClaims, TokenKind, TokenService};
use rustls_pki_types::CertificateDer;

pub use refusal::{Refusal, RefusalStatus};
pub use signature::{SignatureError, SignaturePolicy, UnexpectedSignature};

/// What the guard needs to know about one bank-API request.
#[derive(Clone, Copy, Debug)]
pub struct ResourceRequest<'a> {
    /// The `Authorization` header value, if sent.
    pub authorization: Option<&'a str>,
    /// The presented certificate chain, leaf first (empty if none).
    pub chain: &'a [CertificateDer<'static>],
    /// Set when a trusted proxy forwarded the chain (CERT-2).
    pub forwarded_by: Option<&'a MtlsSettings>,
    /// The token kind the API needs.
    pub kind: TokenKind,
}

/// Who is calling, once every transport and token check passed.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    /// The verified token claims.
    pub claims: AccessTokenClaims,
    /// The eIDAS identity read from the caller's certificate, when it carries one.
    pub tpp: Option<TppIdentity>,
    /// The caller's PSD2 roles: its QWAC's PSD2 statement (`eidas`), or its registration
    /// (`ob-directory` certificates carry none).
    pub roles: GrantedRoles,
    /// The profile the caller's certificate was held to.
    pub profile: CertProfile,
}

/// Where the guard learns about access tokens: the authorization server itself (its keys and
/// revocation list, [`TokenService`]), or the gateway (the server's JWKS and the shared
/// database).
#[async_trait::async_trait]
pub trait AccessTokens: Send + Sync {
    /// Verifies one of the server's access tokens (signature, type, issuer, expiry).
    async fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenCheckError>;
    /// True when the token was revoked: by its `jti`, or with its grant (RFC 7009 2.1).
    async fn is_revoked(&self, claims: &AccessTokenClaims) -> Result<bool, LookupError>;
}

/// Why a lookup the guard depends on could not be answered.
#[derive(Debug)]
pub enum LookupError {
    /// The database is unreachable now; the request may be retried (503).
    Unavailable(String),
    /// A fault (500).
    Internal(String),
}

impl From<LookupError> for Refusal {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::Unavailable(detail) => Self::Unavailable(detail),
            LookupError::Internal(detail) => Self::Internal(detail),
        }
    }
}

#[async_trait::async_trait]
impl AccessTokens for TokenService {
    async fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenCheckError> {
        self.verify_access_token(token)
            .map_err(TokenCheckError::Invalid)
    }

    async fn is_revoked(&self, claims: &AccessTokenClaims) -> Result<bool, LookupError> {
        TokenService::is_revoked(self, claims)
            .await
            .map_err(|e| match e {
                bulwark_token::TokenError::Unavailable(detail) => LookupError::Unavailable(detail),
                other => LookupError::Internal(other.to_string()),
            })
    }
}

/// Why a token could not be accepted: it is not valid (401), or its validity could not be
/// established because the server's keys or introspection endpoint are unreachable (503: the
/// TPP's token may be fine, the TPP retries).
#[derive(Debug)]
pub enum TokenCheckError {
    /// Forged, foreign or expired.
    Invalid(InvalidToken),
    /// The authorization server could not be asked (unreachable, 5xx): 503, retry.
    Unavailable(String),
    /// The authorization server's answer was unusable (the gateway's own client refused,
    /// a malformed body): a fault of this deployment, 500, not something a retry fixes.
    Failed(String),
}

/// Decides about bank-API requests.
pub struct ResourceGuard {
    tokens: Arc<dyn AccessTokens>,
    directory: Arc<ClientDirectory>,
    validator: CertValidator,
    clock: Arc<dyn Clock>,
    signatures: SignaturePolicy,
    /// RFC 9068 4: the `aud` a token must carry to be used here.
    audience: String,
}

impl std::fmt::Debug for ResourceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceGuard").finish_non_exhaustive()
    }
}

impl ResourceGuard {
    /// A guard over the token service, the client directory and the certificate validator.
    pub fn new(
        tokens: Arc<dyn AccessTokens>,
        directory: Arc<ClientDirectory>,
        validator: CertValidator,
        clock: Arc<dyn Clock>,
        signatures: SignaturePolicy,
        audience: String,
    ) -> Self {
        Self {
            tokens,
            directory,
            validator,
            clock,
            signatures,
            audience,
        }
    }

    /// Admits the request's caller, or says why not (logged on `bulwark::security`).
    pub async fn admit(&self, req: &ResourceRequest<'_>) -> Result<ApiCaller, Refusal> {
        let result = self.admit_inner(req).await;
        if let Err(refusal) = &result {
            refusal.log();
        }
        result
    }

    async fn admit_inner(&self, req: &ResourceRequest<'_>) -> Result<ApiCaller, Refusal> {
        let token = req
            .authorization
            .and_then(bulwark_core::bearer_token)
            .ok_or(Refusal::NoToken)?;
        let claims = self.tokens.verify(token).await.map_err(|e| match e {
            TokenCheckError::Invalid(e) => Refusal::Token(e),
            TokenCheckError::Unavailable(e) => Refusal::Unavailable(e),
            TokenCheckError::Failed(e) => Refusal::Internal(e),
        })?;
        if self
            .tokens
            .is_revoked(&claims)
            .await
            .map_err(Refusal::from)?
        {
            return Err(Refusal::Revoked);
        }
        // A suspended or deleted client can do nothing, whatever tokens it still holds.
        if !self
            .directory
            .is_active(&claims.client_id)
            .await
            .map_err(Refusal::from)?
        {
            return Err(Refusal::ClientInactive);
        }
        let leaf = req.chain.first().ok_or(Refusal::NoCertificate)?;
        if bulwark_certs::x5t_s256(leaf) != claims.cnf.x5t_s256 {
            return Err(Refusal::OtherCertificate);
        }
        // RFC 9068 4: a token issued for another resource is not one for this API.
        if claims.aud != self.audience {
            return Err(Refusal::WrongAudience);
        }
        if claims.token_kind != req.kind {
            return Err(Refusal::WrongKind(req.kind));
        }
        let validated = self
            .validator
            .validate_presented(
                req.chain,
                req.forwarded_by,
                Purpose::Qwac,
                self.clock.unix_time(),
            )
            .await
            .map_err(|e| Refusal::NotQwac(e.reason()))?;
        match self
            .directory
            .expected_organisation(&claims.client_id, validated.profile)
            .await
            .map_err(Refusal::from)?
        {
            Some(expected) => bulwark_certs::organisation_matches(
                validated.tpp.as_ref(),
                &validated.subject,
                &expected,
            )
            .map_err(|e| Refusal::OtherOrganisation(e.to_string()))?,
            // A directory certificate's organisation and software must be the client's; a
            // client registered without them cannot be held to one, so it is refused.
            None if validated.profile == CertProfile::ObDirectory => {
                return Err(Refusal::OtherOrganisation(
                    "the client has no directory organisation and software id to match".into(),
                ));
            }
            None => {}
        }
        let roles = match validated.profile {
            CertProfile::Eidas => GrantedRoles::Certificate(Box::new(
                validated.tpp.clone().ok_or(Refusal::NoPsd2Roles)?,
            )),
            CertProfile::ObDirectory => self
                .directory
                .registered_roles(&claims.client_id)
                .await
                .map_err(Refusal::from)?,
        };
        Ok(ApiCaller {
            claims,
            tpp: validated.tpp,
            roles,
            profile: validated.profile,
        })
    }
}
