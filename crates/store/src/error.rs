//! Store errors: precise enough for callers to tell a conflict from an outage.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists (a replayed jti, a duplicate client id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    /// A stored row could not be decoded (corruption or a newer schema).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not be reached or answered with an error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A batched statement failed (the message of the database error).
    #[error("database: {0}")]
    Batch(String),
    /// Applying migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Turns a unique-constraint violation into [`StoreError::Conflict`], anything else into
    /// [`StoreError::Database`].
    pub(crate) fn from_insert(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(what.to_string())
            }
            _ => Self::Database(err),
        }
    }
}
