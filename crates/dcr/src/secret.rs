//! RFC 7592 section 3 registration access tokens: random, handed out once, stored only as a
//! SHA-256 hash (DESIGN.md "secrets at rest are hashes"), compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A fresh registration access token (256 bits of entropy).
pub fn new_token(rng: &dyn bulwark_core::Rng) -> String {
    rng.token(32)
}

/// The stored form of a token: base64url(SHA-256(token)).
pub fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// True if `presented` hashes to `stored`, compared without an early exit.
pub fn matches(presented: &str, stored: &str) -> bool {
    let a = hash(presented);
    let (a, b) = (a.as_bytes(), stored.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcr_4_tokens_are_stored_as_hashes() {
        let t = new_token(&bulwark_core::SystemRng);
        let h = hash(&t);
        assert_ne!(h, t);
        assert!(matches(&t, &h));
        assert!(!matches("guess", &h));
        assert!(!matches(&t, "short"));
    }
}
