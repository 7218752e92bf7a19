//! Precise internal reasons a token-service request fails, and the one exhaustive mapping to
//! the RFC 6749 / 7009 / 7662 / 8707 wire errors.

use bulwark_core::{OAuthError, OAuthErrorCode};

/// Why a request to the token service failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed request (missing / repeated parameter, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// Client authentication failed; the text is safe to show the client.
    #[error("client authentication failed: {0}")]
    ClientAuth(String),
    /// The client may not use this grant type.
    #[error("client may not use grant type {0}")]
    GrantNotAllowed(String),
    /// The grant type is unknown or not supported.
    #[error("unsupported grant type {0}")]
    UnsupportedGrant(String),
    /// The code or refresh token is invalid, expired, used, or another client's (RFC 6749
    /// 5.2 `invalid_grant`).
    #[error("invalid grant: {0}")]
    Grant(String),
    /// No requested scope is one the client may have.
    #[error("invalid scope: {0}")]
    Scope(String),
    /// The RFC 8707 resource is malformed or not allowed for the client.
    #[error("invalid resource: {0}")]
    Resource(String),
    /// The client tried to revoke a token issued to another client.
    #[error("token was issued to another client")]
    NotTokenOwner,
    /// Storage or signing failed; logged with detail, shown as `server_error`.
    #[error("internal: {0}")]
    Internal(String),
    /// The database is unreachable now: 503 `temporarily_unavailable` (RFC 6749 4.1.2.1),
    /// so clients retry instead of treating it as a fault.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The one description of every client authentication failure.
pub const GENERIC_CLIENT_AUTH: &str =
    "client authentication failed; the authorization server's log has the reason";

impl TokenError {
    /// The wire error for this reason.
    pub fn to_oauth(&self) -> OAuthError {
        match self {
            Self::BadRequest(d) => OAuthError::invalid_request(d.clone()),
            // Whether the client exists, how it authenticates and whether it is suspended are
            // not told to an unauthenticated caller: the reason is on the security log.
            Self::ClientAuth(_) => OAuthError::invalid_client(GENERIC_CLIENT_AUTH),
            Self::GrantNotAllowed(g) => OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("the client is not registered for grant type {g}"),
            ),
            Self::UnsupportedGrant(g) => OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant type {g} is not supported"),
            ),
            Self::Grant(d) => OAuthError::new(OAuthErrorCode::InvalidGrant, d.clone()),
            Self::Scope(d) => OAuthError::new(OAuthErrorCode::InvalidScope, d.clone()),
            Self::Resource(d) => OAuthError::new(OAuthErrorCode::InvalidTarget, d.clone()),
            Self::NotTokenOwner => OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "the token was not issued to this client",
            ),
            Self::Internal(_) => OAuthError::server_error(),
            Self::Unavailable(_) => OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the service is briefly unavailable; retry shortly",
            ),
        }
    }
}

impl From<bulwark_store::StoreError> for TokenError {
    fn from(e: bulwark_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<bulwark_clients::ClientError> for TokenError {
    fn from(e: bulwark_clients::ClientError) -> Self {
        match e {
            bulwark_clients::ClientError::Auth(reason) => Self::ClientAuth(reason),
            bulwark_clients::ClientError::Internal(detail) => Self::Internal(detail),
            bulwark_clients::ClientError::Unavailable(detail) => Self::Unavailable(detail),
        }
    }
}

impl From<bulwark_core::FormError> for TokenError {
    fn from(e: bulwark_core::FormError) -> Self {
        Self::BadRequest(e.to_string())
    }
}
