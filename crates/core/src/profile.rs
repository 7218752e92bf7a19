//! The FAPI profile a request is judged by (AZ-3), resolved once per request. Each
//! profile-dependent rule names the section it enforces where it is applied.

use serde::{Deserialize, Serialize};

/// A FAPI security profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Profile {
    /// FAPI 1.0 Advanced (Final).
    #[serde(rename = "fapi1-advanced")]
    Fapi1Advanced,
    /// FAPI 2.0 Security Profile (Final).
    #[default]
    #[serde(rename = "fapi2")]
    Fapi2,
}

impl Profile {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fapi1Advanced => "fapi1-advanced",
            Self::Fapi2 => "fapi2",
        }
    }
}
