//! Randomness from one place. Services take an [`Rng`] value (production: [`SystemRng`], the
//! operating system's CSPRNG through ring) so tests can make ids predictable with
//! [`SequenceRng`]: ids, tokens, nonces, OCSP request nonces (the certificate validator's
//! `with_rng`). The one other reader of an entropy source is the ES256 signer's per-signature
//! secret (ring draws it itself; it must never be predictable, not even in a test).

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// A source of random bytes, and the identifiers built from them.
pub trait Rng: Send + Sync + std::fmt::Debug {
    /// Fills a buffer with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A random URL-safe token carrying `bytes` bytes of entropy (client ids, token ids,
    /// registration access tokens).
    fn token(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.fill(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// A random version-4 UUID in its canonical text form.
    fn uuid_v4(&self) -> String {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        uuid_text(b)
    }
}

/// The operating system's CSPRNG, for production.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRng;

impl Rng for SystemRng {
    /// The OS generator failing is not recoverable for an authorization server (every id and
    /// token would be predictable), so this aborts the process rather than continue.
    fn fill(&self, buf: &mut [u8]) {
        if SystemRandom::new().fill(buf).is_err() {
            std::process::abort();
        }
    }
}

/// A predictable generator for tests: each call yields the next bytes of a counter, so ids
/// differ from each other and are the same on every run.
#[derive(Debug, Default)]
pub struct SequenceRng {
    next: AtomicU64,
}

impl SequenceRng {
    /// A sequence starting at `start`.
    pub fn starting_at(start: u64) -> Self {
        Self {
            next: AtomicU64::new(start),
        }
    }
}

impl Rng for SequenceRng {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.next.fetch_add(1, Ordering::SeqCst).to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n[i % n.len()] ^ u8::try_from((i / n.len()) & 0xff).unwrap_or(0);
        }
    }
}

/// Fills a buffer from the system generator (for code with no service to carry an [`Rng`],
/// such as the operator CLI and test fixtures).
pub fn fill(buf: &mut [u8]) {
    SystemRng.fill(buf);
}

/// [`Rng::token`] from the system generator.
pub fn token(bytes: usize) -> String {
    SystemRng.token(bytes)
}

/// [`Rng::uuid_v4`] from the system generator.
pub fn uuid_v4() -> String {
    SystemRng.uuid_v4()
}

fn uuid_text(mut b: [u8; 16]) -> String {
    use std::fmt::Write;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_url_safe() {
        let a = token(32);
        let b = token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn uuid_has_version_4_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(u.matches('-').count(), 4);
    }

    #[test]
    fn sequence_rng_is_predictable_and_distinct() {
        let a = SequenceRng::starting_at(7);
        let b = SequenceRng::starting_at(7);
        assert_eq!(a.token(16), b.token(16));
        assert_ne!(a.uuid_v4(), a.uuid_v4());
    }
}
