//! CERT-3: certification path validation (RFC 5280 section 6) with rustls-webpki: signatures,
//! validity (with a configurable clock skew), basic constraints / path length, name constraints
//! and the extended key usage of the purpose. Key usage bits of the leaf (RFC 5280 section
//! 4.2.1.3) are checked here too, since webpki leaves them to the caller.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage};
use x509_cert::Certificate;

use crate::error::{CertError, from_webpki};

/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9), DER content octets.
pub(crate) const EKU_OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];

/// The signature algorithms accepted anywhere (paths, OCSP responses, CRLs): webpki's ring
/// table, i.e. RSA PKCS#1 and PSS (2048-8192 bits), ECDSA P-256/P-384, Ed25519.
pub(crate) static ALGS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] =
    webpki::ALL_VERIFICATION_ALGS;

/// What a certificate is presented for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// A TLS client (transport) certificate: EKU clientAuth required in the leaf, keyUsage (if present)
    /// must allow digitalSignature. Any CA-issued certificate; eIDAS content read if present.
    TlsClient,
    /// A TLS client certificate that must also be a PSD2 QWAC (QcCompliance, QcType web, PSD2
    /// statement): for DCR and PSD2 API access (CERT-5, CERT-8).
    Qwac,
    /// A sealing certificate for application-layer signatures (`x5c`, `x-jws-signature`): must be
    /// a QSealC (QcCompliance, QcType eseal) with keyUsage digitalSignature or nonRepudiation.
    Sealing,
}

/// Accepts any EKU: QSealC profiles do not fix one.
struct AnyEku;

impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            id?;
        }
        Ok(())
    }
}

/// The result of a successful path validation that revocation checking needs.
pub(crate) struct PathInfo {
    /// The issuer of the leaf as a trust anchor (to validate delegated OCSP responders).
    pub issuer: TrustAnchor<'static>,
    /// The issuer's SubjectPublicKeyInfo DER.
    pub issuer_spki: Vec<u8>,
    /// False when the leaf's issuer (a CA certificate or the anchor) has a keyUsage without
    /// cRLSign (RFC 5280 section 4.2.1.3): a CRL it signed is no evidence.
    pub issuer_signs_crls: bool,
    /// The CA certificates of the verified path between the leaf and the trust anchor, the
    /// leaf's issuer first: each is revocation-checked like the leaf (RFC 5280 section
    /// 6.1.3(a)(3)). Empty when the leaf's issuer is itself a configured anchor.
    pub cas: Vec<CaLink>,
    /// The time at which the path validated (now, or now +/- the skew).
    pub time: UnixTime,
    /// The trust anchor the path ends at (its set gives the certificate profile).
    pub anchor: TrustAnchor<'static>,
}

/// A CA certificate of a verified path and its own issuer, for its revocation check; built
/// once per cached path, so a request does no decoding or rendering for it.
pub(crate) struct CaLink {
    /// The CA certificate, decoded.
    pub cert: Certificate,
    /// Its subject, RFC 4514 (for reports and errors).
    pub subject: String,
    /// Its serial number, upper-case hex.
    pub serial: String,
    /// Its issuer (the next certificate up, or the anchor) as a trust anchor.
    pub issuer: TrustAnchor<'static>,
    /// The issuer's SubjectPublicKeyInfo DER (an excluded issuer is named by it).
    pub issuer_spki: Vec<u8>,
    /// False when the issuer is a CA certificate whose keyUsage leaves out cRLSign (RFC 5280
    /// section 4.2.1.3): a CRL it signed is no evidence.
    pub issuer_signs_crls: bool,
}

pub(crate) fn unix(t: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO))
}

/// Validates `leaf` + `intermediates` to `anchors` for `purpose` at `now`, allowing `skew`
/// either side of the validity periods. `anchor_signs_crls` tells whether an anchor's own
/// certificate allows CRL signing (a trust anchor carries no key usage of its own).
pub(crate) fn validate_path(
    anchors: &[TrustAnchor<'static>],
    anchor_signs_crls: &dyn Fn(&TrustAnchor<'_>) -> bool,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    purpose: Purpose,
    now: SystemTime,
    skew: Duration,
) -> Result<PathInfo, CertError> {
    if anchors.is_empty() {
        return Err(CertError::NoTrustAnchors);
    }
    let ee = EndEntityCert::try_from(leaf).map_err(|e| from_webpki(&e))?;
    let at = |time| {
        verify(
            &ee,
            anchors,
            anchor_signs_crls,
            intermediates,
            purpose,
            time,
        )
    };
    let mut time = unix(now);
    let mut result = at(time);
    // Clock skew: retry once with the clock moved by the tolerance in the helpful direction.
    let retry = match &result {
        Err(webpki::Error::CertExpired { .. }) => now.checked_sub(skew),
        Err(webpki::Error::CertNotValidYet { .. }) => now.checked_add(skew),
        _ => None,
    };
    if let Some(t) = retry.filter(|_| !skew.is_zero()) {
        time = unix(t);
        result = at(time);
    }
    let info = result.map_err(|e| from_webpki(&e))?;
    cas_may_sign_certificates(&info)?;
    Ok(info)
}

/// RFC 5280 4.2.1.3 and 6.1.4(n): a CA certificate of the path whose key usage is given must
/// allow certificate signing (`keyCertSign`). webpki checks basicConstraints only, which a
/// CRL-signing-only CA certificate also carries.
fn cas_may_sign_certificates(info: &PathInfo) -> Result<(), CertError> {
    for link in &info.cas {
        if let Some(usage) = crate::parse::key_usage(&link.cert)?
            && !usage.key_cert_sign()
        {
            return Err(CertError::InvalidPath {
                detail: format!(
                    "the CA {} may not sign certificates (its key usage has no keyCertSign)",
                    link.subject
                ),
            });
        }
    }
    Ok(())
}

fn verify(
    ee: &EndEntityCert<'_>,
    anchors: &[TrustAnchor<'static>],
    anchor_signs_crls: &dyn Fn(&TrustAnchor<'_>) -> bool,
    intermediates: &[CertificateDer<'_>],
    purpose: Purpose,
    time: UnixTime,
) -> Result<PathInfo, webpki::Error> {
    let path = match purpose {
        Purpose::TlsClient | Purpose::Qwac => ee.verify_for_usage(
            ALGS,
            anchors,
            intermediates,
            time,
            KeyUsage::client_auth(),
            None,
            None,
        )?,
        Purpose::Sealing => {
            ee.verify_for_usage(ALGS, anchors, intermediates, time, AnyEku, None, None)?
        }
    };
    let issuer = match path.intermediate_certificates().next() {
        Some(cert) => webpki::anchor_from_trusted_cert(&cert.der())?.to_owned(),
        None => path.anchor().to_owned(),
    };
    let issuer_spki: SubjectPublicKeyInfoDer<'_> = path.issuer_spki();
    let ders: Vec<Vec<u8>> = path
        .intermediate_certificates()
        .map(|c| c.der().as_ref().to_vec())
        .collect();
    let top_signs_crls = anchor_signs_crls(path.anchor());
    let cas = ca_links(&ders, path.anchor(), top_signs_crls).map_err(|_| webpki::Error::BadDer)?;
    let issuer_signs_crls = match cas.first() {
        Some(link) => crate::parse::key_usage(&link.cert)
            .map_err(|_| webpki::Error::BadDer)?
            .is_none_or(|ku| ku.crl_sign()),
        None => top_signs_crls,
    };
    Ok(PathInfo {
        issuer,
        issuer_spki: issuer_spki.as_ref().to_vec(),
        issuer_signs_crls,
        cas,
        time,
        anchor: path.anchor().to_owned(),
    })
}

/// The CA links of a verified path: `ders` are its intermediates, the leaf's issuer first;
/// `anchor_signs_crls` is whether the anchor above the last of them may sign CRLs.
fn ca_links(
    ders: &[Vec<u8>],
    anchor: &TrustAnchor<'_>,
    anchor_signs_crls: bool,
) -> Result<Vec<CaLink>, der::Error> {
    let certs = ders
        .iter()
        .map(|d| Certificate::from_der(d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut links = Vec::with_capacity(certs.len());
    for (i, cert) in certs.iter().enumerate() {
        let link = match (certs.get(i + 1), ders.get(i + 1)) {
            (Some(up), Some(up_der)) => CaLink {
                cert: cert.clone(),
                subject: crate::dn::DistinguishedName::from_name(&cert.tbs_certificate.subject)
                    .to_rfc4514(),
                serial: crate::parse::serial_hex(cert),
                issuer: webpki::anchor_from_trusted_cert(&CertificateDer::from(up_der.as_slice()))
                    .map_err(|_| der::Error::from(der::ErrorKind::Failed))?
                    .to_owned(),
                issuer_spki: up.tbs_certificate.subject_public_key_info.to_der()?,
                issuer_signs_crls: crate::parse::key_usage(up)
                    .map_err(|_| der::Error::from(der::ErrorKind::Failed))?
                    .is_none_or(|ku| ku.crl_sign()),
            },
            _ => CaLink {
                cert: cert.clone(),
                subject: crate::dn::DistinguishedName::from_name(&cert.tbs_certificate.subject)
                    .to_rfc4514(),
                serial: crate::parse::serial_hex(cert),
                issuer: anchor.to_owned(),
                issuer_spki: anchor_spki_der(anchor)?,
                issuer_signs_crls: anchor_signs_crls,
            },
        };
        links.push(link);
    }
    Ok(links)
}

/// A trust anchor's SubjectPublicKeyInfo as full DER (webpki keeps only its contents).
fn anchor_spki_der(anchor: &TrustAnchor<'_>) -> Result<Vec<u8>, der::Error> {
    let content = anchor.subject_public_key_info.as_ref();
    let header = der::Header::new(der::Tag::Sequence, der::Length::try_from(content.len())?)?;
    let mut out = header.to_der()?;
    out.extend_from_slice(content);
    Ok(out)
}

/// Re-runs path validation with a CRL so webpki checks the CRL's signature, issuer, expiry and
/// the leaf's serial (RFC 5280 section 6.3).
pub(crate) fn check_crl(
    anchors: &[TrustAnchor<'static>],
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    purpose: Purpose,
    time: UnixTime,
    crl: &webpki::CertRevocationList<'_>,
) -> Result<(), webpki::Error> {
    let ee = EndEntityCert::try_from(leaf)?;
    let crls = [crl];
    let opts = webpki::RevocationOptionsBuilder::new(&crls)
        .map_err(|_| webpki::Error::UnknownRevocationStatus)?
        .with_depth(webpki::RevocationCheckDepth::EndEntity)
        .with_status_policy(webpki::UnknownStatusPolicy::Deny)
        .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
        .build();
    match purpose {
        Purpose::TlsClient | Purpose::Qwac => ee
            .verify_for_usage(
                ALGS,
                anchors,
                intermediates,
                time,
                KeyUsage::client_auth(),
                Some(opts),
                None,
            )
            .map(|_| ()),
        Purpose::Sealing => ee
            .verify_for_usage(ALGS, anchors, intermediates, time, AnyEku, Some(opts), None)
            .map(|_| ()),
    }
}

/// Leaf key usage rules of the purpose (RFC 5280 sections 4.2.1.3 and 4.2.1.12, ETSI EN 319
/// 412-3 for seals). webpki applies one EKU policy to every certificate of the path, where CA
/// certificates usually carry no EKU, so it runs "clientAuth if present" and the leaf's explicit
/// clientAuth requirement is checked here.
pub(crate) fn check_key_usage(cert: &Certificate, purpose: Purpose) -> Result<(), CertError> {
    if matches!(purpose, Purpose::TlsClient | Purpose::Qwac) {
        let eku = crate::parse::extension(cert, const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
            .map(x509_cert::ext::pkix::ExtendedKeyUsage::from_der)
            .transpose()
            .map_err(CertError::malformed)?;
        let client_auth =
            eku.is_some_and(|e| e.0.contains(&const_oid::db::rfc5280::ID_KP_CLIENT_AUTH));
        if !client_auth {
            return Err(CertError::WrongEku);
        }
    }
    let ku = crate::parse::key_usage(cert)?;
    match purpose {
        Purpose::TlsClient | Purpose::Qwac => match ku {
            Some(ku) if !ku.digital_signature() => Err(CertError::WrongKeyUsage {
                detail: "digitalSignature required for TLS client authentication".into(),
            }),
            _ => Ok(()),
        },
        Purpose::Sealing => match ku {
            Some(ku) if ku.digital_signature() || ku.non_repudiation() => Ok(()),
            _ => Err(CertError::WrongKeyUsage {
                detail: "digitalSignature or nonRepudiation required for a seal".into(),
            }),
        },
    }
}
