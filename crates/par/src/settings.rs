//! The `[authorization]` settings the request pipeline reads.

use serde::{Deserialize, Serialize};

/// Request handling settings; every key has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParSettings {
    /// `expires_in` of a pushed request, seconds (RFC 9126 2.2; FAPI 2.0 asks < 600).
    pub request_uri_lifetime_secs: i64,
    /// FAPI 1.0 Advanced clients must push their requests too (request by value refused).
    /// FAPI 2.0 always requires PAR.
    pub require_par: bool,
    /// Tolerated clock difference for request-object time claims, seconds.
    pub clock_skew_secs: i64,
}

impl Default for ParSettings {
    fn default() -> Self {
        Self {
            request_uri_lifetime_secs: 60,
            require_par: false,
            clock_skew_secs: 10,
        }
    }
}
