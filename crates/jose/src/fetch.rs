//! Fetching a client's `jwks_uri` (CA-1): with a timeout, cached for a while, refetched once
//! when an assertion names an unknown `kid` (key rotation), and never more often than every
//! few seconds per URI so a stream of bad `kid`s cannot turn us into a request amplifier.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bulwark_core::{OutboundHttp, OutboundSettings};

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

/// What is known about one URI. Its async lock is held across a fetch, so concurrent requests
/// for the same cold URI wait for one fetch (single flight), while other URIs are unaffected.
#[derive(Default)]
struct Slot {
    state: tokio::sync::Mutex<SlotState>,
    /// The last good key set and when it was fetched, readable while a fetch holds `state`.
    last_good: std::sync::Mutex<Option<(PublicKeySet, Instant)>>,
}

#[derive(Default)]
struct SlotState {
    /// The last good key set and when it was fetched.
    keys: Option<(PublicKeySet, Instant)>,
    /// When an unknown kid last forced a refetch.
    forced: Option<Instant>,
    /// Consecutive failures, and until when no new attempt is made (negative caching).
    failures: u32,
    retry_after: Option<Instant>,
}

/// Longest pause after repeated failures of one URI.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A caching fetcher of JWK Sets by URL.
pub struct JwksFetcher {
    http: OutboundHttp,
    ttl: Duration,
    max_stale: Duration,
    slots: std::sync::Mutex<HashMap<String, std::sync::Arc<Slot>>>,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Entries kept before idle ones are dropped.
const MAX_SLOTS: usize = 10_000;

/// How long past its lifetime a key set is still served while its URI fails, by default.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(3600);

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
            max_stale: DEFAULT_MAX_STALE,
            slots: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Serves a key set at most `max_stale` past its lifetime while its URI fails (default
    /// [`DEFAULT_MAX_STALE`]): a host outage does not lock its client out at once, and a key
    /// the client withdrew while its host is failing (or made to fail) stops working then.
    pub fn with_max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// True while a set fetched at `fetched` may still be served from a failing URI.
    fn servable(&self, fetched: Instant, now: Instant) -> bool {
        now.duration_since(fetched) < self.ttl.saturating_add(self.max_stale)
    }

    fn slot(&self, uri: &str) -> std::sync::Arc<Slot> {
        let Ok(mut slots) = self.slots.lock() else {
            return std::sync::Arc::new(Slot::default());
        };
        if slots.len() >= MAX_SLOTS && !slots.contains_key(uri) {
            slots.retain(|_, s| std::sync::Arc::strong_count(s) > 1);
        }
        slots.entry(uri.to_string()).or_default().clone()
    }

    /// The keys at `uri`: from cache when fresh and (if `kid` is given) holding that kid;
    /// otherwise fetched, at most once per [`REFETCH_MIN_INTERVAL`] for a missing kid. No lock
    /// is held across a fetch except this URI's own; a failing URI is not retried before its
    /// backoff ends (negative caching), and its last good key set keeps being served, for at
    /// most `max_stale` past its lifetime.
    pub async fn get(&self, uri: &str, kid: Option<&str>) -> Result<PublicKeySet, FetchError> {
        let slot = self.slot(uri);
        let wants = |keys: &PublicKeySet| kid.is_none_or(|k| keys.has_kid(k));
        // A fetch of this URI in flight: answer from the last good set when it will do.
        let mut state = match slot.state.try_lock() {
            Ok(state) => state,
            Err(_) => {
                let good = slot.last_good.lock().ok().and_then(|g| g.clone());
                let now = Instant::now();
                if let Some((keys, _)) = good.filter(|(k, at)| wants(k) && self.servable(*at, now))
                {
                    return Ok(keys);
                }
                slot.state.lock().await
            }
        };
        let now = Instant::now();
        if let Some((keys, fetched)) = &state.keys
            && now.duration_since(*fetched) < self.ttl
        {
            if wants(keys) {
                return Ok(keys.clone());
            }
            if state
                .forced
                .is_some_and(|at| now.duration_since(at) < REFETCH_MIN_INTERVAL)
            {
                return Ok(keys.clone());
            }
            state.forced = Some(now);
        }
        if let Some(until) = state.retry_after
            && now < until
        {
            return match &state.keys {
                Some((keys, at)) if wants(keys) && self.servable(*at, now) => Ok(keys.clone()),
                _ => Err(FetchError::Http {
                    uri: uri.to_string(),
                    reason: "failed recently; not retried yet".into(),
                }),
            };
        }
        match self.fetch(uri).await {
            Ok(keys) => {
                let fetched = Instant::now();
                state.keys = Some((keys.clone(), fetched));
                if let Ok(mut good) = slot.last_good.lock() {
                    *good = Some((keys.clone(), fetched));
                }
                state.failures = 0;
                state.retry_after = None;
                Ok(keys)
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = Duration::from_secs(1u64 << state.failures.min(6)).min(MAX_BACKOFF);
                state.retry_after = Some(Instant::now() + backoff);
                match &state.keys {
                    // Keep serving the last good set while the host is down, for a while.
                    Some((keys, at)) if wants(keys) && self.servable(*at, Instant::now()) => {
                        Ok(keys.clone())
                    }
                    _ => Err(e),
                }
            }
        }
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
