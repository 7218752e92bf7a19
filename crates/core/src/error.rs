//! The OAuth wire error (RFC 6749 section 5.2, RFC 6750 section 3.1, RFC 7591 section 3.2.2,
//! RFC 9126, RFC 9101): the one error vocabulary every protocol crate maps its precise internal
//! reasons into. Rendering to HTTP happens once, in the server crate.

use std::fmt;

/// An error code that may appear on the wire. Only standard codes exist here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// RFC 6749 5.2: malformed or missing parameter.
    InvalidRequest,
    /// RFC 6749 5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 5.2: grant, code or refresh token invalid.
    InvalidGrant,
    /// RFC 6749 5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 5.2: grant type not supported.
    UnsupportedGrantType,
    /// RFC 6749 5.2: scope invalid or beyond what the client may have.
    InvalidScope,
    /// RFC 6749 4.1.2.1: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 4.1.2.1: response type not supported.
    UnsupportedResponseType,
    /// RFC 6749 4.1.2.1: unexpected condition on the server.
    ServerError,
    /// RFC 6749 4.1.2.1: temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// RFC 6750 3.1: the access token is invalid.
    InvalidToken,
    /// RFC 6750 3.1: the token lacks the scope the request needs.
    InsufficientScope,
    /// RFC 7009 2.2.1: token type hint not supported.
    UnsupportedTokenType,
    /// RFC 8707 2: the requested resource is invalid or not allowed for the client.
    InvalidTarget,
    /// RFC 9101 / OIDC Core 6.6: the request object is invalid.
    InvalidRequestObject,
    /// RFC 9126 / OIDC Core 6.6: the request_uri is invalid.
    InvalidRequestUri,
    /// RFC 7591 3.2.2: a redirect URI is invalid.
    InvalidRedirectUri,
    /// OIDC Core 3.1.2.6: `prompt=none` but the PSU must log in.
    LoginRequired,
    /// OIDC Core 3.1.2.6: `prompt=none` but the PSU must decide on the consent.
    ConsentRequired,
    /// OpenID Connect Core Error Code unmet_authentication_requirements 1.0: the login did not
    /// reach the essential `acr` the client asked for (OIDC Core 5.5.1.1).
    UnmetAuthenticationRequirements,
    /// RFC 7591 3.2.2: client metadata is invalid.
    InvalidClientMetadata,
    /// RFC 7591 3.2.2: the software statement is invalid.
    InvalidSoftwareStatement,
    /// RFC 7591 3.2.2: the software statement is not approved.
    UnapprovedSoftwareStatement,
}

impl OAuthErrorCode {
    /// The code as it appears in the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
        }
    }

    /// The HTTP status the RFCs prescribe for this code at a direct (non-redirect) endpoint.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::InvalidRequest
            | Self::InvalidGrant
            | Self::UnauthorizedClient
            | Self::UnsupportedGrantType
            | Self::InvalidScope
            | Self::UnsupportedResponseType
            | Self::UnsupportedTokenType
            | Self::InvalidTarget
            | Self::InvalidRequestObject
            | Self::InvalidRequestUri
            | Self::InvalidRedirectUri
            | Self::LoginRequired
            | Self::ConsentRequired
            | Self::UnmetAuthenticationRequirements
            | Self::InvalidClientMetadata
            | Self::InvalidSoftwareStatement
            | Self::UnapprovedSoftwareStatement => 400,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as a client sees it: a standard code and a safe, human-readable description.
/// Internal detail never goes here; it is logged where the error is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The standard error code.
    pub code: OAuthErrorCode,
    /// A description a client developer can act on, free of internal detail.
    pub description: Option<String>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: Some(description.into()),
        }
    }

    /// An error without a description.
    pub fn bare(code: OAuthErrorCode) -> Self {
        Self {
            code,
            description: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` with a description.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }

    /// `server_error` with the generic description; the cause must be logged by the caller.
    pub fn server_error() -> Self {
        Self::new(
            OAuthErrorCode::ServerError,
            "the server could not complete the request",
        )
    }

    /// The JSON body: `{"error": ..., "error_description": ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), self.code.as_str().into());
        if let Some(d) = &self.description {
            body.insert("error_description".into(), d.clone().into());
        }
        serde_json::Value::Object(body)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tk_8_error_body_has_code_and_description() {
        let e = OAuthError::invalid_client("no certificate");
        assert_eq!(e.code.http_status(), 401);
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error": "invalid_client", "error_description": "no certificate"})
        );
        assert_eq!(
            OAuthError::bare(OAuthErrorCode::InvalidGrant).to_json(),
            serde_json::json!({"error": "invalid_grant"})
        );
    }
}
