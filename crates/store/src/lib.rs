//! Bulwark persistence. One trait per aggregate (clients, signing keys, consents, ...), implemented once
//! over portable SQL (`db`: PostgreSQL through sqlx's `Any` pool, SQLite inline on one embedded
//! connection), with PostgreSQL (production) and SQLite (the embedded default) as backends. Each backend has its own migrations folder, numbered alike.
//!
//! The database is the only shared state between nodes (DESIGN.md): single-use records are
//! claimed with unique constraints, and times are application-clock Unix seconds.

mod authorization;
mod batch;
mod checkpoint;
mod clients;
mod consents;
mod db;
mod error;
mod failover;
mod keys;
mod psus;
mod registrations;
mod replay;
mod sql;
mod staff;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;

pub use authorization::{
    AuthorizationStore, CodeRecord, Interaction, JtiClaim, PsuSession, PushedRequest, Redeemed,
    Redemption, RefreshRecord,
};
pub use clients::ClientStore;
pub use consents::{
    ConsentAuditRecord, ConsentCursor, ConsentOrder, ConsentQuery, ConsentRecord, ConsentStore,
    ConsentTransition, FapiCustomer, OperatorRecord, PaymentSubmission, SubmittedPayment,
};
pub use error::StoreError;
pub use keys::{KeyStore, StoredKey};
pub use psus::{PsuAccountRecord, PsuRecord, PsuStore};
pub use registrations::{
    CLIENT_DELETED, ClientDeletion, Registration, RegistrationStore, RegistrationWrite,
};
pub use replay::{GrantRevocation, IssuedToken, ReplayStore};
pub use sql::{Backend, ConnectSettings, SqlStore, opens_read_only};
pub use staff::{AuditEvent, AuditQuery, AuditStore, StaffRecord, StaffSessionRecord, StaffStore};
pub use throttle::{LoginFailures, ThrottleStep, ThrottleStore};

/// Everything the server needs from persistence, as one object-safe bundle.
pub trait Store:
    ClientStore
    + KeyStore
    + ReplayStore
    + ConsentStore
    + RegistrationStore
    + AuthorizationStore
    + PsuStore
    + StaffStore
    + AuditStore
    + ThrottleStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: ClientStore
        + KeyStore
        + ReplayStore
        + ConsentStore
        + RegistrationStore
        + AuthorizationStore
        + PsuStore
        + StaffStore
        + AuditStore
        + ThrottleStore
        + Send
        + Sync
{
}
