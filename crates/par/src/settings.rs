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

impl ParSettings {
    /// The settings a server may run with: a pushed request lives 1 to 599 seconds (AZ-1,
    /// RFC 9126 2.2, FAPI 2.0 SP 5.3.2.2), the skew is not negative.
    pub fn check(&self) -> Result<(), String> {
        if !(1..600).contains(&self.request_uri_lifetime_secs) {
            return Err(format!(
                "par.request_uri_lifetime_secs must be between 1 and 599 (AZ-1), not {}",
                self.request_uri_lifetime_secs
            ));
        }
        if self.clock_skew_secs < 0 {
            return Err("par.clock_skew_secs must not be negative".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_1_a_pushed_request_lives_under_ten_minutes() {
        assert_eq!(ParSettings::default().check(), Ok(()));
        for bad in [0, -1, 600, 3600] {
            let s = ParSettings {
                request_uri_lifetime_secs: bad,
                ..ParSettings::default()
            };
            assert!(s.check().is_err(), "{bad}");
        }
        let s = ParSettings {
            request_uri_lifetime_secs: 599,
            ..ParSettings::default()
        };
        assert_eq!(s.check(), Ok(()));
    }
}
