//! Access tokens whose signature and issuer were already verified, by SHA-256 of the token:
//! a resource server or the gateway sees the same token many times, and the signature is the
//! costly part. One type for the server's introspection and the gateway's local checks.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::access_token::{AccessTokenClaims, InvalidToken};

/// A bounded map from the SHA-256 of an access token to its verified claims and a stamp saying
/// under what that verification was made (the server's key-ring generation, the gateway's
/// time of verification), so the caller decides when a verification no longer counts. Expiry
/// is checked on every use; the map is emptied when it reaches its bound.
#[derive(Debug)]
pub struct VerifiedTokens<S> {
    max: usize,
    entries: Mutex<HashMap<[u8; 32], (AccessTokenClaims, S)>>,
}

impl<S> VerifiedTokens<S> {
    /// An empty cache holding at most `max` tokens.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The claims of `token` if it was verified under a stamp `current` accepts: `Ok(None)`
    /// when it was not (verify it, then [`Self::insert`]), [`InvalidToken::Expired`] when it
    /// expired by `now` (Unix seconds).
    pub fn get(
        &self,
        token: &str,
        now: i64,
        current: impl FnOnce(&S) -> bool,
    ) -> Result<Option<AccessTokenClaims>, InvalidToken> {
        let key = digest(token);
        let Ok(entries) = self.entries.lock() else {
            return Ok(None);
        };
        match entries.get(&key) {
            Some((claims, stamp)) if current(stamp) => {
                if claims.is_expired(now) {
                    Err(InvalidToken::Expired)
                } else {
                    Ok(Some(claims.clone()))
                }
            }
            _ => Ok(None),
        }
    }

    /// Remembers the verified `claims` of `token` under `stamp`.
    pub fn insert(&self, token: &str, claims: AccessTokenClaims, stamp: S) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.max {
                entries.clear();
            }
            entries.insert(digest(token), (claims, stamp));
        }
    }

    /// How many tokens are held.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    /// True when no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::access_token::{Confirmation, TokenKind};

    fn claims(jti: &str, exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://as".into(),
            sub: "client".into(),
            aud: "https://as".into(),
            exp,
            iat: exp - 300,
            jti: jti.into(),
            client_id: "client".into(),
            scope: "accounts".into(),
            cnf: Confirmation {
                x5t_s256: "x5t".into(),
            },
            token_kind: TokenKind::Application,
            consent_id: None,
            openbanking_intent_id: None,
            grant_generation: None,
        }
    }

    #[test]
    fn a_cached_token_is_a_hit_until_it_expires() {
        let cache = VerifiedTokens::new(10);
        assert_eq!(cache.get("t1", 1_000, |_: &u64| true), Ok(None));
        cache.insert("t1", claims("j1", 1_100), 7u64);
        assert_eq!(
            cache.get("t1", 1_099, |g| *g == 7).unwrap().unwrap().jti,
            "j1"
        );
        // Expiry is checked on every use, `exp` itself already expired.
        assert_eq!(
            cache.get("t1", 1_100, |g| *g == 7),
            Err(InvalidToken::Expired)
        );
        assert_eq!(cache.get("t2", 1_000, |_| true), Ok(None));
    }

    #[test]
    fn a_stamp_the_caller_no_longer_accepts_is_a_miss() {
        let cache = VerifiedTokens::new(10);
        cache.insert("t1", claims("j1", 1_100), 7u64);
        assert_eq!(cache.get("t1", 1_000, |g| *g == 8), Ok(None));
        // Even an expired entry: the caller verifies again and learns it there.
        assert_eq!(cache.get("t1", 2_000, |g| *g == 8), Ok(None));
    }

    #[test]
    fn the_cache_is_bounded_and_emptied_when_full() {
        let cache = VerifiedTokens::new(3);
        for i in 0..3 {
            cache.insert(&format!("t{i}"), claims(&format!("j{i}"), 1_100), ());
        }
        assert_eq!(cache.len(), 3);
        cache.insert("t3", claims("j3", 1_100), ());
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("t0", 1_000, |()| true), Ok(None));
        assert!(cache.get("t3", 1_000, |()| true).unwrap().is_some());
        // Replacing a held token does not count twice.
        cache.insert("t3", claims("j3", 1_100), ());
        assert_eq!(cache.len(), 1);
    }
}
