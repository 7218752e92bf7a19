//! Why a console call was refused, with the HTTP status and the sentence the page shows.

use bulwark_consent::ConsentError;
use bulwark_store::StoreError;

/// A refused or failed console call.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// No session, or it ended (logout, idle timeout, absolute lifetime).
    #[error("not logged in")]
    Unauthenticated,
    /// Wrong username or password (never says which).
    #[error("wrong username or password")]
    BadCredentials,
    /// Too many failed logins: wait this many seconds.
    #[error("too many failed logins; try again in {0} seconds")]
    Throttled(i64),
    /// The form's CSRF token is missing or not the session's.
    #[error("the form has expired; reload the page and try again")]
    Csrf,
    /// The role may not do this.
    #[error("your role ({0}) may not do this")]
    Forbidden(&'static str),
    /// A change to who can do what (staff members, a TPP's access) needs a recent sign-in.
    #[error(
        "for this change you must have signed in within the last 15 minutes: sign out, sign in again and repeat it"
    )]
    SignInAgain,
    /// No such consent or client.
    #[error("not found")]
    NotFound,
    /// The input is not acceptable (a missing reason, a consent in the wrong status).
    #[error("{0}")]
    BadRequest(String),
    /// The change met a concurrent one it could not be ordered after (said how to go on).
    #[error("{0}")]
    Conflict(String),
    /// The server could not decide (logged with detail).
    #[error("internal error: {0}")]
    Internal(String),
}

impl StaffError {
    /// The HTTP status of the page that says so.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated | Self::BadCredentials => 401,
            Self::Throttled(_) => 429,
            Self::Csrf | Self::Forbidden(_) | Self::SignInAgain => 403,
            Self::NotFound => 404,
            Self::BadRequest(_) => 400,
            Self::Conflict(_) => 409,
            Self::Internal(_) => 500,
        }
    }
}

impl From<StoreError> for StaffError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<ConsentError> for StaffError {
    fn from(e: ConsentError) -> Self {
        match e {
            ConsentError::NotFound => Self::NotFound,
            ConsentError::Store(s) => Self::Internal(s.to_string()),
            ConsentError::Corrupt(s) => Self::Internal(s),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<bulwark_token::TokenError> for StaffError {
    fn from(e: bulwark_token::TokenError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<bulwark_authz::AuthzError> for StaffError {
    fn from(e: bulwark_authz::AuthzError) -> Self {
        Self::Internal(e.to_string())
    }
}
