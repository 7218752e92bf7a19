//! Time comes from a clock value so tests can fix it (no `sleep` in tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

use crate::UnixTime;

/// A source of the current time, injected wherever a decision depends on it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;

    /// The current instant as seconds since the Unix epoch (the unit stored in the database
    /// and carried in JWT claims).
    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// The current instant as a [`UnixTime`].
    fn unix_time(&self) -> UnixTime {
        UnixTime::from_secs(self.unix())
    }
}

/// The operating system's clock, for production.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until told to move, for tests.
#[derive(Clone, Debug)]
pub struct FixedClock {
    unix: Arc<AtomicI64>,
}

impl FixedClock {
    /// A clock fixed at the given Unix time.
    pub fn at(unix: i64) -> Self {
        Self {
            unix: Arc::new(AtomicI64::new(unix)),
        }
    }

    /// Moves the clock forward (or back, with a negative value) by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.unix.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.unix.load(Ordering::SeqCst))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn unix(&self) -> i64 {
        self.unix.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at(1_000);
        assert_eq!(clock.unix(), 1_000);
        clock.advance(60);
        assert_eq!(clock.unix(), 1_060);
        assert_eq!(clock.now().unix_timestamp(), 1_060);
    }
}
