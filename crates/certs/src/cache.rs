//! A small bounded expiring map: revocation answers (RFC 5019 section 6 / RFC 5280 section
//! 5.1.2.5: an answer is reusable until its nextUpdate), CRLs, and validated paths (RFC 5280
//! section 6: a verified signature stays verified; validity is re-checked on every use). Bounded
//! so a flood of distinct certificates cannot grow memory without limit: when full, expired
//! entries go first, then the entry that expires soonest.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::SystemTime;

pub(crate) struct ExpiringCache<K, V> {
    map: Mutex<HashMap<K, (V, SystemTime)>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> ExpiringCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value for `key` if it is still fresh at `now`.
    pub(crate) fn get(&self, key: &K, now: SystemTime) -> Option<V> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((v, exp)) if now < *exp => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` until `expires`; evicts when the capacity is reached.
    pub(crate) fn insert(&self, key: K, value: V, expires: SystemTime, now: SystemTime) {
        if self.capacity == 0 || expires <= now {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, exp)| *exp > now);
            if map.len() >= self.capacity {
                let soonest = map
                    .iter()
                    .min_by_key(|(_, (_, exp))| *exp)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, (value, expires));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn cert_4_cache_is_bounded_and_expires() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let c = ExpiringCache::new(2);
        c.insert(1, "a", now + Duration::from_secs(10), now);
        c.insert(2, "b", now + Duration::from_secs(20), now);
        c.insert(3, "c", now + Duration::from_secs(30), now);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&1, now), None, "soonest-expiring entry evicted");
        assert_eq!(c.get(&3, now), Some("c"));
        assert_eq!(c.get(&2, now + Duration::from_secs(21)), None, "expired");
        c.insert(4, "d", now, now);
        assert_eq!(
            c.get(&4, now),
            None,
            "already expired answers are not cached"
        );
    }

    #[test]
    fn cert_4_an_entry_is_stale_from_its_expiry_instant_on() {
        // RFC 5019 6 / RFC 5280 5.1.2.5: an answer is reusable until its nextUpdate, not at it.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let expires = now + Duration::from_secs(10);
        let c = ExpiringCache::new(4);
        c.insert("ocsp", 1, expires, now);
        assert_eq!(c.get(&"ocsp", expires - Duration::from_nanos(1)), Some(1));
        assert_eq!(c.get(&"ocsp", expires), None);
        assert_eq!(c.len(), 0, "the stale entry is dropped when read");
    }

    #[test]
    fn cert_4_a_cache_of_size_zero_keeps_nothing() {
        // `cache_size = 0` turns caching off: every check is made again.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let c = ExpiringCache::new(0);
        c.insert(1, "a", now + Duration::from_secs(60), now);
        assert_eq!(c.len(), 0);
        assert_eq!(c.get(&1, now), None);
    }
}
