//! The `[authorization]` settings of the authorization endpoint and the PSU pages.

use serde::{Deserialize, Serialize};

/// Authorization endpoint settings; every key has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzSettings {
    /// Authorization code lifetime, seconds (TK-2: at most 60).
    pub code_lifetime_secs: i64,
    /// How long a PSU has to log in and decide, seconds.
    pub interaction_lifetime_secs: i64,
    /// How long a PSU stays logged in across authorizations, seconds (0: never remembered).
    pub session_lifetime_secs: i64,
    /// `pairwise` (AZ-8) or `public` subject identifiers.
    pub subject_type: String,
    /// Lifetime of JARM responses and front-channel ID tokens, seconds.
    pub response_lifetime_secs: i64,
    /// Failed logins (per user and per address) before attempts are slowed down.
    pub login_failures_before_delay: u32,
}

impl Default for AuthzSettings {
    fn default() -> Self {
        Self {
            code_lifetime_secs: 60,
            interaction_lifetime_secs: 600,
            session_lifetime_secs: 900,
            subject_type: "pairwise".into(),
            response_lifetime_secs: 300,
            login_failures_before_delay: 5,
        }
    }
}
