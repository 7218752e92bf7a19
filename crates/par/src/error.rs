//! Why an authorization request is refused, and the one mapping to RFC 6749 / 9101 / 9126
//! wire errors.

use bulwark_core::{OAuthError, OAuthErrorCode};

/// Why a pushed or direct authorization request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParError {
    /// A parameter is missing, repeated, malformed or not allowed (RFC 6749 4.1.2.1).
    #[error("{0}")]
    BadRequest(String),
    /// The request object is unsigned, badly signed or has bad claims (RFC 9101 6).
    #[error("request object: {0}")]
    RequestObject(String),
    /// The request_uri is unknown, used, expired or another client's (RFC 9126 4).
    #[error("request_uri: {0}")]
    RequestUri(String),
    /// Client authentication failed at the PAR endpoint.
    #[error("client authentication failed: {0}")]
    ClientAuth(String),
    /// The client may not make this request (registration or profile).
    #[error("unauthorized client: {0}")]
    UnauthorizedClient(String),
    /// The response type is not one the profile allows.
    #[error("unsupported response type: {0}")]
    ResponseType(String),
    /// A requested scope is not one the client may have.
    #[error("invalid scope: {0}")]
    Scope(String),
    /// Storage failed.
    #[error("internal: {0}")]
    Internal(String),
    /// The database is unreachable now: 503 `temporarily_unavailable`, so clients retry
    /// instead of treating it as a fault.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The one description of every client authentication failure.
pub const GENERIC_CLIENT_AUTH: &str =
    "client authentication failed; the authorization server's log has the reason";

impl ParError {
    /// The wire error.
    pub fn to_oauth(&self) -> OAuthError {
        match self {
            Self::BadRequest(d) => OAuthError::invalid_request(d.clone()),
            Self::RequestObject(d) => {
                OAuthError::new(OAuthErrorCode::InvalidRequestObject, d.clone())
            }
            Self::RequestUri(d) => OAuthError::new(OAuthErrorCode::InvalidRequestUri, d.clone()),
            // Whether the client exists, how it authenticates and whether it is suspended are
            // not told to an unauthenticated caller: the reason is on the security log.
            Self::ClientAuth(_) => OAuthError::invalid_client(GENERIC_CLIENT_AUTH),
            Self::UnauthorizedClient(d) => {
                OAuthError::new(OAuthErrorCode::UnauthorizedClient, d.clone())
            }
            Self::ResponseType(d) => {
                OAuthError::new(OAuthErrorCode::UnsupportedResponseType, d.clone())
            }
            Self::Scope(d) => OAuthError::new(OAuthErrorCode::InvalidScope, d.clone()),
            Self::Internal(_) => OAuthError::server_error(),
            Self::Unavailable(_) => OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the service is briefly unavailable; retry shortly",
            ),
        }
    }
}

impl From<bulwark_store::StoreError> for ParError {
    fn from(e: bulwark_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<bulwark_clients::ClientError> for ParError {
    fn from(e: bulwark_clients::ClientError) -> Self {
        match e {
            bulwark_clients::ClientError::Auth(reason) => Self::ClientAuth(reason),
            bulwark_clients::ClientError::Internal(detail) => Self::Internal(detail),
            bulwark_clients::ClientError::Unavailable(detail) => Self::Unavailable(detail),
        }
    }
}

impl From<bulwark_core::FormError> for ParError {
    fn from(e: bulwark_core::FormError) -> Self {
        Self::BadRequest(e.to_string())
    }
}
