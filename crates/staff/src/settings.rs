//! The session and login limits of the console (`[staff]`).

use serde::{Deserialize, Serialize};

/// Session and login limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffSettings {
    /// A session unused this long ends, seconds (default 15 minutes).
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: i64,
    /// A session ends this long after the login whatever its use, seconds (default 8 hours).
    #[serde(default = "default_lifetime")]
    pub session_lifetime_secs: i64,
    /// Failed logins per user and per address before each further one waits, doubling.
    #[serde(default = "default_free_failures")]
    pub login_free_failures: u32,
}

fn default_idle() -> i64 {
    900
}

fn default_lifetime() -> i64 {
    8 * 3600
}

fn default_free_failures() -> u32 {
    5
}

impl Default for StaffSettings {
    fn default() -> Self {
        Self {
            idle_timeout_secs: default_idle(),
            session_lifetime_secs: default_lifetime(),
            login_free_failures: default_free_failures(),
        }
    }
}
