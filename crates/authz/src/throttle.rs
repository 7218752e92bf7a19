//! AZ-6: repeated failed logins slow down, per user and per address. After a number of
//! failures within a window, further attempts for that key are refused (without checking the
//! password) for a delay that doubles with each failure, capped. The counters live in the
//! database ([`ThrottleStore`]), so every node counts the same failures: N nodes behind a load
//! balancer slow a guesser down as one would.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bulwark_store::{LoginFailures, StoreError, ThrottleStore};

/// The longest username a login form accepts (longer input is refused before any work).
pub const MAX_USERNAME: usize = 128;
/// The longest password a login form accepts (argon2 takes any length; the bound keeps the
/// work bounded).
pub const MAX_PASSWORD: usize = 1024;

/// Whether a login attempt is worth counting and checking at all: bounded before anything is
/// hashed or stored (a megabyte "password" costs no more than a wrong one), and a control
/// character (a NUL, say) is no one's username. The PSU and staff logins both ask this first.
pub fn plausible_login(username: &str, password: &str) -> bool {
    !username.is_empty()
        && username.len() <= MAX_USERNAME
        && password.len() <= MAX_PASSWORD
        && !username.chars().any(char::is_control)
}

/// The part of a client address that per-address throttling counts (AZ-6, CO-5): an IPv4
/// address as it is, an IPv6 address by its /64 prefix (`2001:db8:1:2::/64`), and an
/// IPv4-mapped IPv6 address as its IPv4 address. One host is routinely given a whole /64
/// (RFC 6177, SLAAC picks any interface identifier in it), so counting full IPv6 addresses
/// would let a guesser rotate through its own prefix for fresh free failures on each. Text
/// that is no address (the server writes `-` when it has no peer) counts as it is.
pub fn address_key(address: &str) -> String {
    match address
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_canonical())
    {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
        Err(_) => address.to_owned(),
    }
}

/// Failures are forgotten after this long without one, seconds.
const WINDOW_SECS: i64 = 900;
/// The longest delay, seconds.
const MAX_DELAY_SECS: i64 = 900;

/// Counts failed logins per key (`user:NAME`, `addr:` + [`address_key`]) in the shared store.
pub struct LoginThrottle {
    free_failures: u32,
    store: Arc<dyn ThrottleStore>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("free_failures", &self.free_failures)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle {
    /// A throttle that lets `free_failures` failures through before delaying.
    pub fn new(free_failures: u32, store: Arc<dyn ThrottleStore>) -> Self {
        Self {
            free_failures: free_failures.max(1),
            store,
        }
    }

    /// Starts a login attempt on `keys` (the user's and the address's): refused with the
    /// longest wait in seconds (`Ok(Err(wait))`) when any of them is blocked; otherwise the
    /// attempt is counted as a failure on each, read and counted in one transaction, so
    /// parallel guesses, on this node or another, cannot all pass the throttle before the
    /// first failure is recorded. A success takes it back ([`Self::succeeded`]); a failure
    /// leaves it counted. A database that cannot answer refuses the login (an error).
    pub async fn begin(&self, keys: &[&str], now: i64) -> Result<Result<(), i64>, StoreError> {
        let free = self.free_failures;
        let wait = AtomicI64::new(0);
        let step = |current: &[LoginFailures]| {
            let longest = current.iter().map(|r| wait_of(r, now)).max().unwrap_or(0);
            if longest > 0 {
                wait.store(longest, Ordering::Relaxed);
                return None;
            }
            Some(current.iter().map(|r| counted(*r, now, free)).collect())
        };
        if self
            .store
            .step_login_failures(keys, WINDOW_SECS, &step)
            .await?
        {
            return Ok(Ok(()));
        }
        Ok(Err(wait.load(Ordering::Relaxed)))
    }

    /// After a successful login: the user's counters are forgotten (that user proved the
    /// password), and the address gets back only the one failure [`Self::begin`] counted in
    /// advance, so one good login every few guesses does not clear an address spraying
    /// passwords over many users.
    pub async fn succeeded(&self, user_key: &str, address_key: &str) -> Result<(), StoreError> {
        let free = self.free_failures;
        let step = |current: &[LoginFailures]| {
            Some(vec![
                LoginFailures::default(),
                taken_back(current.get(1).copied().unwrap_or_default(), free),
            ])
        };
        self.store
            .step_login_failures(&[user_key, address_key], WINDOW_SECS, &step)
            .await?;
        Ok(())
    }
}

/// Seconds `r` must still wait at `now` (0: go ahead).
fn wait_of(r: &LoginFailures, now: i64) -> i64 {
    (r.blocked_until - now).max(0)
}

/// `r` with one more failure at `now`: counts older than the window are forgotten first; past
/// `free` failures the key is blocked for a delay doubling with each, capped.
fn counted(mut r: LoginFailures, now: i64, free: u32) -> LoginFailures {
    if now - r.last_failure >= WINDOW_SECS {
        r.failures = 0;
    }
    r.failures = r.failures.saturating_add(1);
    r.last_failure = now;
    if r.failures >= free {
        let over = (r.failures - free).min(10);
        r.blocked_until = now + (2i64 << over).min(MAX_DELAY_SECS);
    }
    r
}

/// `r` without the failure counted in advance for an attempt that succeeded.
fn taken_back(mut r: LoginFailures, free: u32) -> LoginFailures {
    r.failures = r.failures.saturating_sub(1);
    if r.failures < free {
        r.blocked_until = 0;
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn az_6_repeated_failures_slow_down_and_the_wait_ends() {
        let mut r = LoginFailures::default();
        for _ in 0..2 {
            r = counted(r, 100, 3);
        }
        assert_eq!(wait_of(&r, 100), 0);
        r = counted(r, 100, 3);
        let first = wait_of(&r, 100);
        assert!(first > 0);
        r = counted(r, 100, 3);
        assert!(wait_of(&r, 100) > first, "the delay grows");
        assert_eq!(wait_of(&r, 100 + MAX_DELAY_SECS), 0, "and ends");
        let later = counted(r, 100 + WINDOW_SECS, 3);
        assert_eq!(
            later.failures, 1,
            "failures older than the window are forgotten"
        );
    }

    /// AZ-6 / CO-5: an address counts by what its holder controls: IPv4 as it is, IPv6 by
    /// its /64 (any address in a customer's prefix is the same counter), IPv4-mapped IPv6 as
    /// its IPv4 address.
    #[test]
    fn az_6_an_ipv6_address_counts_by_its_64_prefix() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1"),
            "the next /64 is someone else"
        );
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("::1"), "::/64");
        assert_eq!(address_key("-"), "-");
    }

    /// AZ-6 / CO-5: a good login from an address takes back only its own attempt; the
    /// address's earlier failures against other users still count.
    #[test]
    fn az_6_a_good_login_does_not_clear_an_address() {
        let mut r = LoginFailures::default();
        for _ in 0..3 {
            r = counted(r, 100, 3);
        }
        assert!(wait_of(&r, 100) > 0);
        r = taken_back(r, 3);
        assert_eq!(wait_of(&r, 100), 0, "its own attempt is taken back");
        r = counted(r, 101, 3);
        assert!(wait_of(&r, 101) > 0, "the two before are remembered");
    }
}
