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

    /// Starts a login attempt on `keys` (the user's and the address's): refused with the
    /// longest wait when any of them is blocked; otherwise the attempt is counted as a failure
    /// on each, checked and counted under one lock, so parallel guesses cannot all pass the
    /// throttle before the first failure is recorded. A success takes it back
    /// ([`Self::succeeded`], [`Self::attempt_succeeded`]); a failure leaves it counted.
    pub fn begin(&self, keys: &[&str], now: i64) -> Result<(), i64> {
        let Ok(mut records) = self.records.lock() else {
            return Ok(());
        };
        let wait = keys
            .iter()
            .filter_map(|k| records.get(*k))
            .map(|r| (r.blocked_until - now).max(0))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            return Err(wait);
        }
        for key in keys {
            self.count_failure(&mut records, key, now);
        }
        Ok(())
    }

    /// Records a failure for `key`.
    pub fn failed(&self, key: &str, now: i64) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        self.count_failure(&mut records, key, now);
    }

    fn count_failure(&self, records: &mut HashMap<String, Record>, key: &str, now: i64) {
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

    /// Takes back the one failure [`Self::begin`] recorded in advance for `key` (an address's
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
    #![allow(clippy::unwrap_used, clippy::panic)]
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

    /// AZ-6: an attempt is counted before the password is checked, under the same lock as the
    /// check, so a burst of parallel guesses gets only the free ones through; a success takes
    /// back only its own count.
    #[test]
    fn az_6_parallel_attempts_are_counted_before_the_password_is_checked() {
        let t = std::sync::Arc::new(LoginThrottle::new(3));
        let admitted: usize = (0..16)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.begin(&["user:a", "addr:10.0.0.9"], 100).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap_or(false)))
            .sum();
        assert_eq!(admitted, 3, "only the free attempts pass, however parallel");
        assert!(
            t.begin(&["user:b", "addr:10.0.0.9"], 100).is_err(),
            "the address too"
        );
        // A good login from a fresh address: taken back, so it leaves nothing behind.
        t.begin(&["user:c", "addr:10.0.0.10"], 100).unwrap();
        t.succeeded("user:c");
        t.attempt_succeeded("addr:10.0.0.10");
        for _ in 0..2 {
            t.begin(&["user:c", "addr:10.0.0.10"], 101).unwrap();
        }
        assert!(
            t.begin(&["user:c", "addr:10.0.0.10"], 101).is_ok(),
            "the good login's count was taken back: this is the third failure, not the fourth"
        );
    }
}
