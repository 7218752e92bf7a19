//! CERT-4 CRL fallback (RFC 5280 sections 5 and 6.3): fetch the CRL named in the certificate's
//! CRL distribution point, parse it once and reuse it until its nextUpdate. Signature, issuer,
//! expiry and the serial lookup are done by rustls-webpki during a path re-check; thisUpdate
//! (not checked by webpki) is checked here.

use std::time::{Duration, SystemTime};

use der::Decode;
use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// A parsed CRL and its validity window.
pub(crate) struct CachedCrl {
    pub crl: CertRevocationList<'static>,
    /// The CRL as received (DER), for checks webpki does not expose ([`ca_status`]).
    pub der: Vec<u8>,
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
        der,
        this_update,
        next_update,
    })
}

/// A CA certificate of a path under a CRL check, and what is known of its issuer.
pub(crate) struct CaUnderCheck<'a> {
    pub cert: &'a Certificate,
    pub issuer_spki: &'a [u8],
    /// The certificate's CRL distribution points (RFC 5280 6.3.3(b)(2)(i): the CRL's issuing
    /// distribution point must name one of them).
    pub urls: &'a [String],
}

/// RFC 5280 section 6.3.3 for a CA certificate of the path (webpki checks CRLs for the leaf
/// only): the CRL must be a complete CRL (webpki's parser refuses delta, indirect and
/// reason-partitioned CRLs) issued by the CA's issuer, signed with the issuer's key, in force
/// (nextUpdate not passed, with the skew), and, when it carries an issuing distribution point,
/// scoped to include CA certificates and naming one of the certificate's distribution points.
/// `Ok(revoked)`.
pub(crate) fn ca_status(
    crl: &CachedCrl,
    ca: &CaUnderCheck<'_>,
    now: SystemTime,
    skew: Duration,
) -> Result<bool, String> {
    let list = CertificateList::from_der(&crl.der).map_err(|e| format!("malformed CRL: {e}"))?;
    if list.tbs_cert_list.issuer != ca.cert.tbs_certificate.issuer {
        return Err("CRL not issued by the certificate's issuer".into());
    }
    let tbs = super::ocsp::raw_tbs(&crl.der).map_err(|e| format!("malformed CRL: {e}"))?;
    super::ocsp::verify_signature(
        ca.issuer_spki,
        &list.signature_algorithm,
        tbs,
        list.signature.raw_bytes(),
        "CRL",
    )?;
    if crl.next_update + skew < now {
        return Err("stale CRL (nextUpdate passed)".into());
    }
    if let Some(idp) = crl.crl.issuing_distribution_point() {
        check_scope(idp, ca.urls)?;
    }
    let serial = ca.cert.tbs_certificate.serial_number.as_bytes();
    let entry = crl
        .crl
        .find_serial(serial)
        .map_err(|e| format!("malformed CRL entry: {e:?}"))?;
    Ok(entry.is_some())
}

/// An issuing distribution point (RFC 5280 section 5.2.5) must not exclude CA certificates
/// and, when it names distribution points, must name one of the certificate's.
fn check_scope(idp_der: &[u8], urls: &[String]) -> Result<(), String> {
    use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let idp = IssuingDistributionPoint::from_der(idp_der)
        .map_err(|e| format!("malformed issuing distribution point: {e}"))?;
    if idp.only_contains_user_certs || idp.only_contains_attribute_certs {
        return Err("CRL scope excludes CA certificates".into());
    }
    match &idp.distribution_point {
        Some(DistributionPointName::FullName(names)) => {
            let named = names.iter().any(|n| match n {
                GeneralName::UniformResourceIdentifier(u) => {
                    urls.iter().any(|url| url == u.as_str())
                }
                _ => false,
            });
            if named {
                Ok(())
            } else {
                Err("CRL scope names none of the certificate's distribution points".into())
            }
        }
        Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => {
            Err("CRL scope relative to the issuer is not supported".into())
        }
        None => Ok(()),
    }
}
