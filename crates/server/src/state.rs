//! The state every handler shares: configuration, store, keys, clock.

use std::sync::Arc;

use bulwark_core::Clock;
use bulwark_jose::KeySet;
use bulwark_store::SqlStore;

use crate::config::Config;

/// Shared, cheaply clonable handler state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// The loaded configuration.
    pub config: Config,
    /// The database.
    pub store: SqlStore,
    /// The server's signing keys.
    pub keys: KeySet,
    /// The clock every decision reads.
    pub clock: Arc<dyn Clock>,
    /// The token service (client authentication, token, introspection, revocation).
    pub tokens: Arc<bulwark_token::TokenService>,
    /// Client and sealing certificate validation.
    pub validator: bulwark_certs::CertValidator,
    /// OB consents.
    pub consents: bulwark_consent::ConsentService,
    /// CO-6 `x-jws-signature` verification.
    pub consents_jws: bulwark_consent::DetachedJwsVerifier,
    /// Dynamic client registration (RFC 7591 / 7592).
    pub dcr: Arc<bulwark_dcr::DcrService>,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl AppState {
    /// The absolute URL of an endpoint under the issuer.
    pub fn endpoint_url(&self, endpoint: crate::routes::Endpoint) -> String {
        format!("{}{}", self.config.issuer, endpoint.path())
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
