//! Bulwark persistence. One trait per aggregate (clients, signing keys, consents, ...), implemented once
//! over portable SQL on sqlx's `Any` driver, with PostgreSQL (production) and SQLite (the
//! embedded default) as backends. Each backend has its own migrations folder, numbered alike.
//!
//! The database is the only shared state between nodes (DESIGN.md): single-use records are
//! claimed with unique constraints, and times are application-clock Unix seconds.

mod batch;
mod clients;
mod consents;
mod error;
mod keys;
mod registrations;
mod replay;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

pub use clients::ClientStore;
pub use consents::{
    ConsentAuditRecord, ConsentQuery, ConsentRecord, ConsentStore, ConsentTransition,
};
pub use error::StoreError;
pub use keys::{KeyStore, StoredKey};
pub use registrations::{Registration, RegistrationStore};
pub use replay::ReplayStore;
pub use sql::{Backend, ConnectSettings, SqlStore};

/// Everything the server needs from persistence, as one object-safe bundle.
pub trait Store:
    ClientStore + KeyStore + ReplayStore + ConsentStore + RegistrationStore + Send + Sync
{
}

impl<T: ClientStore + KeyStore + ReplayStore + ConsentStore + RegistrationStore + Send + Sync> Store
    for T
{
}
