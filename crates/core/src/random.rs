//! Randomness from one place: the operating system's CSPRNG through ring.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// Fills a buffer with cryptographically secure random bytes.
///
/// The OS generator failing is not recoverable for an authorization server (every id and
/// token would be predictable), so this aborts the process rather than continue.
pub fn fill(buf: &mut [u8]) {
    if SystemRandom::new().fill(buf).is_err() {
        std::process::abort();
    }
}

/// A random URL-safe token carrying `bytes` bytes of entropy (client ids, token ids,
/// registration access tokens).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A random version-4 UUID in its canonical text form.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
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
    }
}
