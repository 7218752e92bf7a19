//! The state every handler shares: configuration, store, keys, clock.

use std::sync::Arc;

use bulwark_core::Clock;
use bulwark_jose::KeySet;
use bulwark_store::SqlStore;

use crate::config::Config;

/// Shared, cheaply clonable handler state.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// The loaded configuration.
    pub config: Config,
    /// The database.
    pub store: SqlStore,
    /// The server's signing keys.
    pub keys: KeySet,
    /// The clock every decision reads.
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
