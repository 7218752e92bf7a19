//! CERT-9: the RFC 8705 section 3.1 certificate thumbprint that binds tokens to a certificate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER encoding.
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_9_thumbprint_is_base64url_sha256() {
        // SHA-256("abc") is the FIPS 180-2 test vector.
        assert_eq!(
            x5t_s256(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}
