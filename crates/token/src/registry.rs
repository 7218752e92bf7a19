//! Registered clients as the token service sees them: metadata with its JWK Set already
//! parsed into verifiers, cached per node for `client_cache_secs` so the hot path reads no
//! database (DESIGN.md hot-path budget). Suspension reaches every node within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_core::Client;
use bulwark_jose::PublicKeySet;
use bulwark_store::ClientStore;

use crate::TokenError;
use crate::jwks_fetch::JwksFetcher;

const MAX_CACHED: usize = 10_000;

/// A client with its by-value keys parsed.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The stored client.
    pub client: Client,
    /// Verifiers for the `jwks` registered by value, if any.
    pub jwks: Option<PublicKeySet>,
}

/// Looks clients up, with a short-lived node-local cache.
pub struct ClientRegistry {
    store: Arc<dyn ClientStore>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Arc<RegisteredClient>)>>,
    fetcher: JwksFetcher,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ClientRegistry {
    /// A registry over the store.
    pub fn new(store: Arc<dyn ClientStore>, ttl: Duration, fetcher: JwksFetcher) -> Self {
        Self {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
            fetcher,
        }
    }

    /// The client, or None if unknown.
    pub async fn get(&self, client_id: &str) -> Result<Option<Arc<RegisteredClient>>, TokenError> {
        if !self.ttl.is_zero()
            && let Ok(cache) = self.cache.lock()
            && let Some((at, rc)) = cache.get(client_id)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(rc.clone()));
        }
        let Some(client) = self.store.get_client(client_id).await? else {
            return Ok(None);
        };
        let jwks = match &client.metadata.jwks {
            Some(v) => Some(PublicKeySet::from_jwks(v).map_err(|e| {
                TokenError::Internal(format!(
                    "client {client_id} has an invalid stored jwks: {e}"
                ))
            })?),
            None => None,
        };
        let rc = Arc::new(RegisteredClient { client, jwks });
        if !self.ttl.is_zero()
            && let Ok(mut cache) = self.cache.lock()
        {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(client_id.to_string(), (Instant::now(), rc.clone()));
        }
        Ok(Some(rc))
    }

    /// Forgets a cached client (after a change made through this node).
    pub fn invalidate(&self, client_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(client_id);
        }
    }

    /// The client's public keys: by value, or fetched from `jwks_uri` (refetched once for an
    /// unknown `kid`).
    pub async fn keys(
        &self,
        rc: &RegisteredClient,
        kid: Option<&str>,
    ) -> Result<PublicKeySet, TokenError> {
        if let Some(keys) = &rc.jwks {
            return Ok(keys.clone());
        }
        let Some(uri) = &rc.client.metadata.jwks_uri else {
            return Err(TokenError::ClientAuth(
                "the client has registered no keys".into(),
            ));
        };
        self.fetcher.get(uri, kid).await.map_err(|e| {
            tracing::warn!(target: "bulwark::security", client_id = %rc.client.client_id, error = %e, "client jwks_uri unusable");
            TokenError::ClientAuth("the client's jwks_uri could not be fetched".into())
        })
    }
}
