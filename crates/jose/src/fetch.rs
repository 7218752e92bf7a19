//! Fetching a client's `jwks_uri` (CA-1): with a timeout, cached for a while, refetched once
//! when an assertion names an unknown `kid` (key rotation), and never more often than every
//! few seconds per URI so a stream of bad `kid`s cannot turn us into a request amplifier.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bulwark_core::{OutboundHttp, OutboundSettings};
use tokio::sync::Mutex;

use crate::PublicKeySet;

/// Largest accepted JWK Set document.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Minimum time between two fetches of the same URI triggered by an unknown kid.
const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Why a JWKS could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Network error, timeout, or a non-200 answer.
    #[error("fetching {uri}: {reason}")]
    Http {
        /// The URI.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// The document is not a usable JWK Set.
    #[error("{uri} is not a JWK Set: {reason}")]
    Invalid {
        /// The URI.
        uri: String,
        /// What went wrong.
        reason: String,
    },
}

struct Entry {
    keys: PublicKeySet,
    fetched: Instant,
    /// When an unknown kid last forced a refetch.
    forced: Option<Instant>,
}

/// A caching fetcher of JWK Sets by URL.
pub struct JwksFetcher {
    http: OutboundHttp,
    ttl: Duration,
    cache: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwksFetcher {
    /// A fetcher with the given timeout and cache lifetime; `extra_roots` (DER) are trusted
    /// for https in addition to the system's roots.
    pub fn new(timeout: Duration, ttl: Duration, extra_roots: &[Vec<u8>]) -> Result<Self, String> {
        let http = OutboundHttp::new(&OutboundSettings {
            extra_roots: extra_roots.to_vec(),
            ..OutboundSettings::https(timeout, "bulwark-jwks")
        })?;
        Ok(Self::with_client(http, ttl))
    }

    /// A fetcher over an existing outbound client.
    pub fn with_client(http: OutboundHttp, ttl: Duration) -> Self {
        Self {
            http,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The keys at `uri`: from cache when fresh and (if `kid` is given) holding that kid;
    /// otherwise fetched, at most once per [`REFETCH_MIN_INTERVAL`] for a missing kid.
    pub async fn get(&self, uri: &str, kid: Option<&str>) -> Result<PublicKeySet, FetchError> {
        // One fetch at a time: concurrent requests for a cold URI wait for the first.
        let mut cache = self.cache.lock().await;
        let mut forced = None;
        if let Some(entry) = cache.get(uri)
            && entry.fetched.elapsed() < self.ttl
        {
            if kid.is_none_or(|k| entry.keys.has_kid(k)) {
                return Ok(entry.keys.clone());
            }
            if entry
                .forced
                .is_some_and(|at| at.elapsed() < REFETCH_MIN_INTERVAL)
            {
                return Ok(entry.keys.clone());
            }
            forced = Some(Instant::now());
        }
        let keys = self.fetch(uri).await?;
        cache.insert(
            uri.to_string(),
            Entry {
                keys: keys.clone(),
                fetched: Instant::now(),
                forced,
            },
        );
        Ok(keys)
    }

    async fn fetch(&self, uri: &str) -> Result<PublicKeySet, FetchError> {
        let body = self
            .http
            .get(uri, MAX_JWKS_BYTES)
            .await
            .map_err(|e| FetchError::Http {
                uri: uri.to_string(),
                reason: e.to_string(),
            })?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Invalid {
                uri: uri.to_string(),
                reason: e.to_string(),
            })?;
        PublicKeySet::from_jwks(&value).map_err(|e| FetchError::Invalid {
            uri: uri.to_string(),
            reason: e.to_string(),
        })
    }
}
