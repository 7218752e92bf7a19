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
    /// The database cannot be reached or cannot take writes now (down, restarting, failing
    /// over, out of connections): the request may succeed if retried later, so the protocol
    /// answer is 503 `temporarily_unavailable`, not a server error.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Applying migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database could not be reached or could not take the statement now
    /// (see [`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Database(e) => is_connection_error(e),
            Self::Conflict(_)
            | Self::UnsupportedUrl(_)
            | Self::Corrupt(_)
            | Self::Batch(_)
            | Self::Migrate(_) => false,
        }
    }

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

/// Errors that say "the database is not there (for writes) right now" rather than "this
/// statement is wrong": I/O and TLS failures, pool time-outs, and the SQLSTATEs of a server
/// that is shutting down, starting, out of connections, or read-only after a failover.
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "25006"
                )
        }),
        _ => false,
    }
}

impl StoreError {
    /// PostgreSQL ended the transaction to break a deadlock or a serialization conflict
    /// (SQLSTATE 40P01, 40001): nothing was written, and running it again is the remedy.
    pub(crate) fn is_retryable_conflict(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| matches!(code.as_ref(), "40P01" | "40001")),
            _ => false,
        }
    }
}
