//! Precise internal reasons a registration request fails, and the one exhaustive mapping to the
//! RFC 7591 section 3.2.2 error codes (and RFC 6750 section 3.1 `invalid_token` for the RFC 7592
//! registration access token, 403 for a client that may not manage its registration).

use bulwark_core::{OAuthError, OAuthErrorCode};

/// Why a registration or management request failed. The text of every variant except
/// [`DcrError::Internal`] is written for the registrant and goes out as `error_description`.
#[derive(Debug, thiserror::Error)]
pub enum DcrError {
    /// The body is not `application/jwt`.
    #[error("the body must be a signed JWT (Content-Type: application/jwt)")]
    ContentType,
    /// The registration request JWS is malformed or signed with a refused algorithm.
    #[error("registration request: {0}")]
    Request(String),
    /// The registration request's signature does not verify with the software's keys.
    #[error("registration request signature: {0}")]
    RequestSignature(String),
    /// The request's `jti` was used before (DCR-1).
    #[error("the registration request jti was already used (replay)")]
    Replay,
    /// No `software_statement` although one is required.
    #[error("a software_statement is required")]
    NoSoftwareStatement,
    /// The SSA is malformed, badly signed, too old or lacks a required claim.
    #[error("software_statement: {0}")]
    SoftwareStatement(String),
    /// The SSA comes from a directory this server does not trust.
    #[error("software_statement: {0}")]
    UnapprovedDirectory(String),
    /// The trusted directory's keys could not be fetched (network, or not a JWK Set): not the
    /// registrant's fault, so it may send the same request again later.
    #[error("the software directory's keys could not be fetched: try again later")]
    DirectoryUnavailable,
    /// No transport certificate was presented.
    #[error("no transport certificate: registration requires mTLS with the TPP's QWAC")]
    NoCertificate,
    /// The transport certificate failed validation (path, revocation, QWAC content).
    #[error(
        "the transport certificate was refused ({0}): present a valid QWAC issued by a trusted QTSP"
    )]
    Certificate(&'static str),
    /// The certificate belongs to another organisation than the SSA (CERT-8).
    #[error("the transport certificate does not belong to the SSA's organisation: {0}")]
    Organisation(String),
    /// The certificate's PSD2 roles do not cover the SSA's software_roles (CERT-7).
    #[error("the transport certificate does not grant the SSA's software_roles: {0}")]
    Roles(String),
    /// A client of this software is suspended by the bank: a new registration would undo it.
    #[error(
        "a client of this software_id is suspended by the bank: it cannot register again until the bank reinstates it"
    )]
    SoftwareSuspended,
    /// Client metadata breaks a DCR-2 / FAPI rule.
    #[error("{0}")]
    Metadata(String),
    /// A redirect URI is missing, not https, or not in the SSA.
    #[error("{0}")]
    RedirectUri(String),
    /// The registration access token is missing or wrong, or the management request's
    /// certificate does not belong to the registered organisation.
    #[error("{0}")]
    InvalidToken(String),
    /// RFC 7592 2.1-2.3: the caller authenticated for this client, but may not manage its
    /// registration (the bank has suspended the client): 403.
    #[error("{0}")]
    Forbidden(String),
    /// Storage or another internal failure; logged with detail, shown as `server_error`.
    #[error("internal: {0}")]
    Internal(String),
}

impl DcrError {
    /// The wire error for this reason: the one place the codes are chosen.
    pub fn to_oauth(&self) -> OAuthError {
        let code = match self {
            Self::ContentType
            | Self::Request(_)
            | Self::RequestSignature(_)
            | Self::Replay
            | Self::NoCertificate
            | Self::Certificate(_)
            | Self::Metadata(_) => OAuthErrorCode::InvalidClientMetadata,
            Self::NoSoftwareStatement | Self::SoftwareStatement(_) => {
                OAuthErrorCode::InvalidSoftwareStatement
            }
            Self::UnapprovedDirectory(_)
            | Self::Organisation(_)
            | Self::Roles(_)
            | Self::SoftwareSuspended => OAuthErrorCode::UnapprovedSoftwareStatement,
            Self::RedirectUri(_) => OAuthErrorCode::InvalidRedirectUri,
            Self::DirectoryUnavailable => OAuthErrorCode::TemporarilyUnavailable,
            Self::InvalidToken(_) => OAuthErrorCode::InvalidToken,
            Self::Forbidden(_) => OAuthErrorCode::AccessDenied,
            Self::Internal(_) => return OAuthError::server_error(),
        };
        OAuthError::new(code, self.to_string())
    }

    /// A short stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ContentType => "content_type",
            Self::Request(_) => "request",
            Self::RequestSignature(_) => "request_signature",
            Self::Replay => "replay",
            Self::NoSoftwareStatement => "no_software_statement",
            Self::SoftwareStatement(_) => "software_statement",
            Self::UnapprovedDirectory(_) => "unapproved_directory",
            Self::DirectoryUnavailable => "directory_unavailable",
            Self::NoCertificate => "no_certificate",
            Self::Certificate(_) => "certificate",
            Self::Organisation(_) => "organisation",
            Self::Roles(_) => "roles",
            Self::SoftwareSuspended => "software_suspended",
            Self::Metadata(_) => "metadata",
            Self::RedirectUri(_) => "redirect_uri",
            Self::InvalidToken(_) => "invalid_token",
            Self::Forbidden(_) => "forbidden",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<bulwark_store::StoreError> for DcrError {
    fn from(e: bulwark_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcr_5_codes_follow_rfc_7591() {
        let code = |e: DcrError| e.to_oauth().code;
        assert_eq!(
            code(DcrError::NoSoftwareStatement),
            OAuthErrorCode::InvalidSoftwareStatement
        );
        assert_eq!(
            code(DcrError::UnapprovedDirectory("x".into())),
            OAuthErrorCode::UnapprovedSoftwareStatement
        );
        // The directory being away is not the registrant's fault: 503, try again.
        let away = DcrError::DirectoryUnavailable.to_oauth();
        assert_eq!(away.code, OAuthErrorCode::TemporarilyUnavailable);
        assert_eq!(away.code.http_status(), 503);
        assert_eq!(
            code(DcrError::SoftwareSuspended),
            OAuthErrorCode::UnapprovedSoftwareStatement
        );
        assert_eq!(
            code(DcrError::RedirectUri("x".into())),
            OAuthErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            code(DcrError::NoCertificate),
            OAuthErrorCode::InvalidClientMetadata
        );
        let token = DcrError::InvalidToken("x".into()).to_oauth();
        assert_eq!(token.code.http_status(), 401);
        let forbidden = DcrError::Forbidden("x".into()).to_oauth();
        assert_eq!(forbidden.code.http_status(), 403);
        let internal = DcrError::Internal("db down at 10.0.0.1".into()).to_oauth();
        assert_eq!(internal.code, OAuthErrorCode::ServerError);
        assert!(!internal.to_string().contains("10.0.0.1"));
    }
}
