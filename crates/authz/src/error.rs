//! Why a step of the authorization could not go on. Errors that may be sent to the client
//! (its redirect URI validated) are not errors here: they come back as a redirect. What is
//! left is shown to the PSU on an error page, never redirected (AZ-7: no open redirect).

/// A failure shown on the error page.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The request itself is unusable (unknown client, bad or used request_uri, invalid
    /// request object): the redirect URI cannot be trusted.
    #[error("{0}")]
    BadRequest(String),
    /// The interaction is unknown or has expired.
    #[error("this authorisation has expired or was already completed")]
    Expired,
    /// The form did not come from the page we served to this browser (CSRF, other browser).
    #[error("this form was not sent from the page we showed you")]
    Forbidden,
    /// Storage or signing failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl AuthzError {
    /// The HTTP status of the error page.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Expired => 400,
            Self::Forbidden => 403,
            Self::Internal(_) => 500,
        }
    }

    /// What the page says; internal detail stays in the log.
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => "Something went wrong on our side. Nothing was shared. Please return to the app and try again.".into(),
            other => other.to_string(),
        }
    }
}

impl From<bulwark_store::StoreError> for AuthzError {
    fn from(e: bulwark_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<bulwark_par::ParError> for AuthzError {
    fn from(e: bulwark_par::ParError) -> Self {
        match e {
            bulwark_par::ParError::Internal(d) => Self::Internal(d),
            other => Self::BadRequest(
                other
                    .to_oauth()
                    .description
                    .unwrap_or_else(|| other.to_string()),
            ),
        }
    }
}
