//! One representation of an instant for every protocol decision: whole seconds since the Unix
//! epoch, the unit JWT claims (RFC 7519 2 "NumericDate") and the database carry. Conversions to
//! `SystemTime` (webpki, OCSP) and `OffsetDateTime` (OB JSON timestamps) live here, once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An instant, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    /// The epoch itself.
    pub const EPOCH: Self = Self(0);

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> i64 {
        self.0
    }

    /// This instant moved by `secs` seconds, saturating instead of overflowing (a hostile
    /// `exp` of `i64::MAX` must not wrap around into the past).
    pub const fn plus(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// As a `SystemTime`; instants before the epoch are the epoch.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(self.0).unwrap_or(0))
    }

    /// From a `SystemTime`, truncated to the second; before the epoch is the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(secs)
    }

    /// As an `OffsetDateTime` in UTC; out of its range is the epoch.
    pub fn to_offset(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// From an `OffsetDateTime`.
    pub fn from_offset(t: OffsetDateTime) -> Self {
        Self(t.unix_timestamp())
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conversions_round_trip_and_saturate() {
        let t = UnixTime::from_secs(1_700_000_000);
        assert_eq!(UnixTime::from_system_time(t.to_system_time()), t);
        assert_eq!(UnixTime::from_offset(t.to_offset()), t);
        assert_eq!(UnixTime::from_secs(i64::MAX).plus(10).secs(), i64::MAX);
        assert_eq!(UnixTime::from_secs(-5).to_system_time(), UNIX_EPOCH);
    }

    /// A second not yet complete is not counted (RFC 7519 NumericDate ignores fractions;
    /// rounding up would make a token expire, or a code count as expired, early).
    #[test]
    fn partial_seconds_are_truncated() {
        let later = UNIX_EPOCH + Duration::from_millis(1_700_000_000_999);
        assert_eq!(UnixTime::from_system_time(later).secs(), 1_700_000_000);
        let odt = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_999_000_000).unwrap();
        assert_eq!(UnixTime::from_offset(odt).secs(), 1_700_000_000);
    }
}
