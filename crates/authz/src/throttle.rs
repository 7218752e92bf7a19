//! AZ-6: repeated failed logins slow down, per user and per address. After a number of
//! failures within a window, further attempts for that key are refused (without checking the
//! password) for a delay that doubles with each failure, capped. Node-local: with N nodes an
//! attacker gets at most N times the attempts, still bounded.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures are forgotten after this long without one, seconds.
const WINDOW_SECS: i64 = 900;
/// The longest delay, seconds.
const MAX_DELAY_SECS: i64 = 900;
/// Entries kept before the oldest are dropped.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last_failure: i64,
    blocked_until: i64,
}

/// Counts failed logins per key (`user:NAME`, `addr:IP`).
#[derive(Debug)]
pub struct LoginThrottle {
    free_failures: u32,
    records: Mutex<HashMap<String, Record>>,
}

impl LoginThrottle {
    /// A throttle that lets `free_failures` failures through before delaying.
    pub fn new(free_failures: u32) -> Self {
        Self {
            free_failures,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait before `key` may try again (0: go ahead).
    pub fn wait(&self, key: &str, now: i64) -> i64 {
        let Ok(records) = self.records.lock() else {
            return 0;
        };
        records
            .get(key)
            .map(|r| (r.blocked_until - now).max(0))
            .unwrap_or(0)
    }

    /// Records a failure for `key`.
    pub fn failed(&self, key: &str, now: i64) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        if records.len() >= MAX_KEYS {
            records.retain(|_, r| now - r.last_failure < WINDOW_SECS);
        }
        let r = records.entry(key.to_string()).or_insert(Record {
            failures: 0,
            last_failure: now,
            blocked_until: 0,
        });
        if now - r.last_failure >= WINDOW_SECS {
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        r.last_failure = now;
        if r.failures >= self.free_failures {
            let over = (r.failures - self.free_failures).min(10);
            let delay = (2i64 << over).min(MAX_DELAY_SECS);
            r.blocked_until = now + delay;
        }
    }

    /// Forgets `key` after a successful login (a user's key: that user proved the password).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(key);
        }
    }

    /// Takes back the one failure this attempt recorded in advance for `key` (an address's
    /// key after a successful login): the address's other failures stay, so one good login
    /// every few guesses does not clear an address spraying passwords over many users.
    pub fn attempt_succeeded(&self, key: &str) {
        if let Ok(mut records) = self.records.lock()
            && let Some(r) = records.get_mut(key)
        {
            r.failures = r.failures.saturating_sub(1);
            if r.failures < self.free_failures {
                r.blocked_until = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_6_repeated_failures_slow_down_and_success_forgets() {
        let t = LoginThrottle::new(3);
        for _ in 0..2 {
            t.failed("user:a", 100);
        }
        assert_eq!(t.wait("user:a", 100), 0);
        t.failed("user:a", 100);
        let first = t.wait("user:a", 100);
        assert!(first > 0);
        t.failed("user:a", 100);
        assert!(t.wait("user:a", 100) > first, "the delay grows");
        assert_eq!(t.wait("user:b", 100), 0, "per key");
        assert_eq!(t.wait("user:a", 100 + MAX_DELAY_SECS), 0, "and ends");
        t.succeeded("user:a");
        assert_eq!(t.wait("user:a", 100), 0);
    }

    /// AZ-6 / CO-5: a good login from an address takes back only its own attempt; the
    /// address's earlier failures against other users still count.
    #[test]
    fn az_6_a_good_login_does_not_clear_an_address() {
        let t = LoginThrottle::new(3);
        for _ in 0..2 {
            t.failed("addr:10.0.0.9", 100);
        }
        // The next attempt is counted in advance, then succeeds.
        t.failed("addr:10.0.0.9", 100);
        assert!(t.wait("addr:10.0.0.9", 100) > 0);
        t.attempt_succeeded("addr:10.0.0.9");
        assert_eq!(
            t.wait("addr:10.0.0.9", 100),
            0,
            "its own attempt is taken back"
        );
        // One more failure blocks again: the two before are remembered.
        t.failed("addr:10.0.0.9", 101);
        assert!(t.wait("addr:10.0.0.9", 101) > 0);
    }
}
