//! The `[tokens]` configuration section: lifetimes, algorithms, caches and timeouts of the
//! token service.

use bulwark_core::Profile;
use serde::{Deserialize, Serialize};

/// Token service settings; every key has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// The FAPI profile clients are judged by (`fapi2` or `fapi1-advanced`).
    pub profile: Profile,
    /// JWS algorithm of access tokens: `PS256` or `ES256`.
    pub access_token_alg: String,
    /// Access token lifetime in seconds (TK-4).
    pub access_token_lifetime_secs: i64,
    /// `aud` of access tokens when the request names no RFC 8707 `resource`; default the issuer.
    pub default_audience: Option<String>,
    /// Longest accepted client assertion lifetime (`exp` - now, and `exp` - `iat`), seconds.
    pub assertion_max_lifetime_secs: i64,
    /// Tolerated clock difference for `nbf` / `iat` / `exp`, seconds.
    pub clock_skew_secs: i64,
    /// Timeout for fetching a client's `jwks_uri`, milliseconds.
    pub jwks_fetch_timeout_ms: u64,
    /// How long a fetched `jwks_uri` document is reused, seconds.
    pub jwks_cache_secs: u64,
    /// How long past `jwks_cache_secs` a client's last good key set is still used while its
    /// `jwks_uri` fails, seconds: an outage of the TPP's key host does not lock it out at once,
    /// and a key it withdrew stops working this long after, however its host fails.
    pub jwks_max_stale_secs: u64,
    /// Refresh token lifetime in seconds (TK-3); a refresh token never outlives its consent.
    pub refresh_token_lifetime_secs: i64,
    /// Issue a new refresh token on every refresh (off by default, as FAPI 2.0 advises). The
    /// old one stays usable until the new one is first used (FAPI 2.0 SP 5.3.2.1: a client that
    /// lost the response retries with the token it has), then retires.
    pub rotate_refresh_tokens: bool,
    /// ID token lifetime in seconds (TK-5).
    pub id_token_lifetime_secs: i64,
    /// How long client metadata is cached per node, seconds (0 reads the database every time).
    /// A suspension or change takes effect on every node within this time.
    pub client_cache_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            profile: Profile::Fapi2,
            access_token_alg: "PS256".into(),
            access_token_lifetime_secs: 600,
            default_audience: None,
            assertion_max_lifetime_secs: 600,
            clock_skew_secs: 10,
            jwks_fetch_timeout_ms: 3000,
            jwks_cache_secs: 300,
            jwks_max_stale_secs: 3600,
            client_cache_secs: 5,
            refresh_token_lifetime_secs: 90 * 24 * 3600,
            rotate_refresh_tokens: false,
            id_token_lifetime_secs: 600,
        }
    }
}
