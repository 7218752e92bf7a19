//! CERT-9: the RFC 8705 section 3.1 certificate thumbprint that binds tokens to a certificate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER encoding.
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (DER), base64url, prefixed `sha256:`:
/// how `revocation.exclude_issuers` names an issuer (a key, not a name another CA could carry).
pub fn spki_sha256(cert_der: &[u8]) -> Option<String> {
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    Some(format!(
        "sha256:{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(spki))
    ))
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
