//! CERT-4 CRL fallback (RFC 5280 sections 5 and 6.3): fetch the CRL named in the certificate's
//! CRL distribution point, parse it once and reuse it until its nextUpdate. Signature, issuer,
//! expiry and the serial lookup are done by rustls-webpki during a path re-check; thisUpdate
//! (not checked by webpki) is checked here.

use std::time::{Duration, SystemTime};

use der::Decode;
use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_cert::crl::CertificateList;

/// A parsed CRL and its validity window.
pub(crate) struct CachedCrl {
    pub crl: CertRevocationList<'static>,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
}

/// Parses a DER (or PEM) CRL body. CRLs without nextUpdate are reused for `default_ttl`.
pub(crate) fn parse(body: &[u8], default_ttl: Duration) -> Result<CachedCrl, String> {
    let der: Vec<u8> = if body.starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(body)
            .map_err(|e| format!("bad PEM CRL: {e}"))?
            .as_ref()
            .to_vec()
    } else {
        body.to_vec()
    };
    let list = CertificateList::from_der(&der).map_err(|e| format!("malformed CRL: {e}"))?;
    let this_update = list.tbs_cert_list.this_update.to_system_time();
    let next_update = list
        .tbs_cert_list
        .next_update
        .map(|t| t.to_system_time())
        .unwrap_or(this_update + default_ttl);
    let owned =
        OwnedCertRevocationList::from_der(&der).map_err(|e| format!("malformed CRL: {e:?}"))?;
    Ok(CachedCrl {
        crl: CertRevocationList::from(owned),
        this_update,
        next_update,
    })
}
