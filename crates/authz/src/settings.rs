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

impl AuthzSettings {
    /// The settings a server may run with: a known subject type, and a code that lives 1 to
    /// 60 seconds (TK-2).
    pub fn check(&self) -> Result<(), String> {
        if !matches!(self.subject_type.as_str(), "pairwise" | "public") {
            return Err(format!(
                "authorization.subject_type {:?} must be pairwise or public",
                self.subject_type
            ));
        }
        if self.code_lifetime_secs <= 0 || self.code_lifetime_secs > 60 {
            return Err("authorization.code_lifetime_secs must be between 1 and 60 (TK-2)".into());
        }
        Ok(())
    }
}
