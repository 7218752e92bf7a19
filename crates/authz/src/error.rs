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
    /// The database is away now (restart, failover): nothing was decided and the same step
    /// works again in a moment, so the page says so (503 with `Retry-After`).
    #[error("unavailable: {0}")]
    Unavailable(String),
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
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// What the page says; internal detail stays in the log.
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => "Something went wrong on our side. Nothing was shared. Please return to the app and try again.".into(),
            Self::Unavailable(_) => "We cannot complete this step just now. Nothing was shared. Please try again in a moment.".into(),
            other => other.to_string(),
        }
    }
}

impl From<bulwark_store::StoreError> for AuthzError {
    fn from(e: bulwark_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<bulwark_par::ParError> for AuthzError {
    fn from(e: bulwark_par::ParError) -> Self {
        match e {
            bulwark_par::ParError::Internal(d) => Self::Internal(d),
            bulwark_par::ParError::Unavailable(d) => Self::Unavailable(d),
            other => Self::BadRequest(
                other
                    .to_oauth()
                    .description
                    .unwrap_or_else(|| other.to_string()),
            ),
        }
    }
}

impl AuthzError {
    /// A consent lookup that failed during the PSU's pages: an outage is retryable; anything
    /// else means the consent can no longer be authorised here.
    pub(crate) fn of_consent(e: bulwark_consent::ConsentError) -> Self {
        match e {
            bulwark_consent::ConsentError::Store(store) if store.is_unavailable() => {
                Self::Unavailable(store.to_string())
            }
            _ => Self::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_2_an_outage_on_the_psu_pages_is_a_retryable_503() {
        let away = AuthzError::from(bulwark_store::StoreError::Unavailable("refused".into()));
        assert_eq!(away.status(), 503);
        assert!(!away.message().contains("refused"));
        let consent = AuthzError::of_consent(bulwark_consent::ConsentError::Store(
            bulwark_store::StoreError::Unavailable("refused".into()),
        ));
        assert_eq!(consent.status(), 503);
        assert_eq!(
            AuthzError::of_consent(bulwark_consent::ConsentError::NotFound).status(),
            400
        );
    }
}
