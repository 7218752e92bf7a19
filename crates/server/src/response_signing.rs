//! Loads `[consents.response_signing]`: the bank's sealing key and its certificate chain, and
//! checks at start that the certificate holds that key (a mismatch would publish an `x5c` no
//! signature verifies against).

use std::sync::Arc;

use anyhow::{Context, bail};
use bulwark_consent::ResponseSigner;
use bulwark_jose::{Alg, PublicKey, SigningKey};
use x509_cert::der::{Decode, Encode};

use crate::config::ResponseSigningConfig;

/// The signer, or `None` when response signing is not configured.
pub fn load(
    config: Option<&ResponseSigningConfig>,
    tan: &str,
) -> anyhow::Result<Option<Arc<ResponseSigner>>> {
    let Some(c) = config else {
        return Ok(None);
    };
    let pem = std::fs::read(&c.key)
        .with_context(|| format!("consents.response_signing.key {}", c.key.display()))?;
    let key = SigningKey::from_pem(Alg::Ps256, &pem)
        .or_else(|_| SigningKey::from_pem(Alg::Es256, &pem))
        .map_err(|e| {
            anyhow::anyhow!(
                "consents.response_signing.key {}: not an RSA or P-256 private key ({e})",
                c.key.display()
            )
        })?;
    let chain = crate::tls::load_chain(&c.cert)
        .with_context(|| format!("consents.response_signing.cert {}", c.cert.display()))?;
    let Some(leaf) = chain.first() else {
        bail!(
            "consents.response_signing.cert {}: no certificate",
            c.cert.display()
        );
    };
    let spki = x509_cert::Certificate::from_der(leaf)
        .and_then(|cert| cert.tbs_certificate.subject_public_key_info.to_der())
        .with_context(|| format!("consents.response_signing.cert {}", c.cert.display()))?;
    let certified = PublicKey::from_spki_der(key.alg(), &spki);
    let probe = b"bulwark response-signing key check";
    let holds_key = match (certified, key.sign_raw(probe)) {
        (Some(public), Ok(sig)) => public.verify_bytes(probe, &sig).is_ok(),
        _ => false,
    };
    if !holds_key {
        bail!(
            "consents.response_signing.cert {} does not certify the key in {}",
            c.cert.display(),
            c.key.display()
        );
    }
    Ok(Some(Arc::new(ResponseSigner::new(
        key,
        c.kid.clone(),
        c.iss.clone(),
        tan,
        &chain,
    ))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write_pair(dir: &std::path::Path, cert_for_other_key: bool) -> ResponseSigningConfig {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "bank-seal");
        let certified = if cert_for_other_key { &other } else { &key };
        let cert = p.self_signed(certified).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        ResponseSigningConfig {
            key: dir.join("key.pem"),
            cert: dir.join("cert.pem"),
            kid: "bank-seal-1".into(),
            iss: "0015800000jf7AeAAI".into(),
        }
    }

    #[test]
    fn ob_response_signing_key_and_certificate_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_pair(dir.path(), false);
        let signer = load(Some(&good), "openbanking.org.uk").unwrap().unwrap();
        assert_eq!(signer.public_jwk()["kid"], "bank-seal-1");
        assert!(signer.public_jwk()["x5c"].is_array());
        let bad = write_pair(dir.path(), true);
        let err = load(Some(&bad), "openbanking.org.uk").unwrap_err();
        assert!(err.to_string().contains("does not certify"), "{err}");
        assert!(load(None, "openbanking.org.uk").unwrap().is_none());
    }
}
