//! Sealing a short value to a secret someone else holds: the database keeps only what the
//! holder of the secret can open. AES-256-GCM under a key derived from the secret with
//! HKDF-SHA256, bound to a context (which is also the associated data), a fresh key per secret
//! and context, so each key seals once.
//!
//! Used where the server must give the same browser the same answer again without keeping that
//! answer readable at rest: the redirect of a finished authorization interaction carries an
//! authorization code, and codes are stored only as hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{aead, hkdf};

use crate::Rng;

const NONCE_LEN: usize = 12;
const SALT: &[u8] = b"bulwark seal v1";

fn key(secret: &str, context: &str) -> Option<aead::LessSafeKey> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret.as_bytes());
    let info = [context.as_bytes()];
    let okm = prk.expand(&info, &aead::AES_256_GCM).ok()?;
    Some(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
}

/// Seals `plaintext` so that only a holder of `secret` can open it, for `context` only.
/// `None` only if the cipher refuses (never for the short values this is for).
pub fn seal(secret: &str, context: &str, plaintext: &str, rng: &dyn Rng) -> Option<String> {
    let key = key(secret, context)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce);
    let mut in_out = plaintext.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(context.as_bytes()),
        &mut in_out,
    )
    .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&in_out);
    Some(URL_SAFE_NO_PAD.encode(out))
}

/// Opens what [`seal`] made with the same secret and context; `None` for anything else (another
/// secret, another context, altered or malformed input).
pub fn open(secret: &str, context: &str, sealed: &str) -> Option<String> {
    let key = key(secret, context)?;
    let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = raw.split_at(NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = body.to_vec();
    let plain = key
        .open_in_place(nonce, aead::Aad::from(context.as_bytes()), &mut in_out)
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn only_the_secret_and_context_it_was_sealed_to_open_it() {
        let url = "https://tpp.example/cb?code=abc&state=xyz&iss=https%3A%2F%2Fbank";
        let sealed = seal("browser-secret", "interaction i-1", url, &SystemRng).unwrap();
        assert!(!sealed.contains("abc"));
        assert_eq!(
            open("browser-secret", "interaction i-1", &sealed).as_deref(),
            Some(url)
        );
        assert_eq!(open("other-secret", "interaction i-1", &sealed), None);
        assert_eq!(open("browser-secret", "interaction i-2", &sealed), None);
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            open(
                "browser-secret",
                "interaction i-1",
                &URL_SAFE_NO_PAD.encode(raw)
            ),
            None
        );
        assert_eq!(open("browser-secret", "interaction i-1", "!!"), None);
        assert_eq!(open("browser-secret", "interaction i-1", ""), None);
        // Shorter than a nonce: no answer, and no panic on a browser's garbage.
        let short = URL_SAFE_NO_PAD.encode([7u8; NONCE_LEN - 1]);
        assert_eq!(open("browser-secret", "interaction i-1", &short), None);
    }

    /// Each seal draws a fresh nonce: the same redirect sealed twice is two different texts
    /// (AES-GCM with a repeated nonce under one key would leak the XOR of the plaintexts).
    #[test]
    fn each_seal_has_its_own_nonce() {
        let a = seal(
            "browser-secret",
            "interaction i-1",
            "https://tpp/cb",
            &SystemRng,
        )
        .unwrap();
        let b = seal(
            "browser-secret",
            "interaction i-1",
            "https://tpp/cb",
            &SystemRng,
        )
        .unwrap();
        assert_ne!(a, b);
        assert_ne!(
            URL_SAFE_NO_PAD.decode(&a).unwrap()[..NONCE_LEN],
            URL_SAFE_NO_PAD.decode(&b).unwrap()[..NONCE_LEN]
        );
        for sealed in [a, b] {
            assert_eq!(
                open("browser-secret", "interaction i-1", &sealed).as_deref(),
                Some("https://tpp/cb")
            );
        }
    }
}
