//! Why the client directory or client authentication refused or failed. Callers map these to
//! their protocol's wire error in their own exhaustive match.

/// A client-directory failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Client authentication failed; the text is safe to show the client (RFC 6749 5.2
    /// `invalid_client`).
    #[error("client authentication failed: {0}")]
    Auth(String),
    /// Storage failed or stored data is unusable; logged with detail, never shown.
    #[error("internal: {0}")]
    Internal(String),
    /// The database is unreachable now (503 `temporarily_unavailable`; retrying may work).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<bulwark_store::StoreError> for ClientError {
    fn from(e: bulwark_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}
