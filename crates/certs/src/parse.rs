//! Reading the RFC 5280 section 4.2 extensions Bulwark needs from a decoded certificate: AIA
//! (4.2.2.1) for the OCSP responder, CRL distribution points (4.2.1.13), key usage (4.2.1.3),
//! plus a per-certificate summary for logs and the operator report.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ID_AD_OCSP, ID_CE_CRL_DISTRIBUTION_POINTS, ID_PE_AUTHORITY_INFO_ACCESS,
};
use der::Decode;
use serde::Serialize;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints, KeyUsage};

use crate::dn::DistinguishedName;
use crate::error::CertError;

/// Decodes one DER certificate, mapping failures to [`CertError::Malformed`]. A subject or
/// issuer attribute type that is not a canonical DER object identifier is malformed too
/// ([`crate::oid_guard`]): such names would not render and parse back as the same DN.
pub fn decode_cert(der: &[u8]) -> Result<Certificate, CertError> {
    let cert = Certificate::from_der(der).map_err(CertError::malformed)?;
    let tbs = &cert.tbs_certificate;
    let canonical = [&tbs.subject, &tbs.issuer].iter().all(|name| {
        name.0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .all(|atv| crate::oid_guard::is_canonical(atv.oid.as_bytes()))
    });
    if !canonical {
        return Err(CertError::malformed(
            "name attribute type is not a canonical object identifier (X.690 8.19)",
        ));
    }
    Ok(cert)
}

/// The raw value (inside the OCTET STRING) of the extension with `oid`, if present.
pub fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&[u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// HTTP(S) URLs of OCSP responders named in the AIA extension.
pub fn ocsp_urls(cert: &Certificate) -> Result<Vec<String>, CertError> {
    let Some(raw) = extension(cert, ID_PE_AUTHORITY_INFO_ACCESS) else {
        return Ok(Vec::new());
    };
    let aia = AuthorityInfoAccessSyntax::from_der(raw).map_err(CertError::malformed)?;
    Ok(aia
        .0
        .into_iter()
        .filter(|ad| ad.access_method == ID_AD_OCSP)
        .filter_map(|ad| match ad.access_location {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .filter(|u| is_http(u))
        .collect())
}

/// HTTP(S) URLs of the CRL distribution points (full names only; LDAP is not fetched).
pub fn crl_urls(cert: &Certificate) -> Result<Vec<String>, CertError> {
    let Some(raw) = extension(cert, ID_CE_CRL_DISTRIBUTION_POINTS) else {
        return Ok(Vec::new());
    };
    let cdp = CrlDistributionPoints::from_der(raw).map_err(CertError::malformed)?;
    let mut urls = Vec::new();
    for dp in cdp.0 {
        // A point that serves only some revocation reasons (a partitioned CRL, RFC 5280
        // 6.3.3(d)) or whose CRL another issuer signs (indirect, 6.3.3(b)) cannot tell the
        // whole status: a CRL fetched there would be read as complete. Only complete points.
        if dp.reasons.is_some() || dp.crl_issuer.is_some() {
            continue;
        }
        if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
            for n in names {
                if let GeneralName::UniformResourceIdentifier(u) = n {
                    let u = u.to_string();
                    if is_http(&u) {
                        urls.push(u);
                    }
                }
            }
        }
    }
    Ok(urls)
}

fn is_http(u: &str) -> bool {
    let l = u.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// The key usage extension, if present.
pub fn key_usage(cert: &Certificate) -> Result<Option<KeyUsage>, CertError> {
    extension(cert, const_oid::db::rfc5280::ID_CE_KEY_USAGE)
        .map(|raw| KeyUsage::from_der(raw).map_err(CertError::malformed))
        .transpose()
}

/// Upper-case hex of the serial number's DER content bytes.
pub fn serial_hex(cert: &Certificate) -> String {
    hex_upper(cert.tbs_certificate.serial_number.as_bytes())
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// RFC 3339 rendering of a certificate time, for reports.
pub fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One certificate of a chain as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    /// RFC 4514 subject.
    pub subject: String,
    /// RFC 4514 issuer.
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// `sha256:` + base64url SHA-256 of its SubjectPublicKeyInfo: how
    /// `revocation.exclude_issuers` names a CA.
    pub spki_sha256: String,
}

impl CertSummary {
    /// Summarises a decoded certificate.
    pub fn of(cert: &Certificate) -> Self {
        Self {
            subject: DistinguishedName::from_name(&cert.tbs_certificate.subject).to_rfc4514(),
            issuer: DistinguishedName::from_name(&cert.tbs_certificate.issuer).to_rfc4514(),
            serial: serial_hex(cert),
            not_after: rfc3339(cert.tbs_certificate.validity.not_after.to_system_time()),
            spki_sha256: {
                use base64::Engine;
                use sha2::Digest;
                use x509_cert::der::Encode;
                let der = cert
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .unwrap_or_default();
                format!(
                    "sha256:{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(sha2::Sha256::digest(der))
                )
            },
        }
    }
}

/// Decodes a JWS / JWK `x5c` array (RFC 7515 section 4.1.6: standard base64 DER, leaf first)
/// into a chain for [`crate::CertValidator::validate`] with [`crate::Purpose::Sealing`].
pub fn chain_from_x5c<S: AsRef<str>>(
    x5c: &[S],
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, CertError> {
    use base64::Engine;
    if x5c.len() > 10 {
        return Err(CertError::malformed("x5c: too many certificates"));
    }
    x5c.iter()
        .map(|c| {
            base64::engine::general_purpose::STANDARD
                .decode(c.as_ref().trim())
                .map(rustls_pki_types::CertificateDer::from)
                .map_err(|e| CertError::malformed(format!("x5c: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::Encode;
    use x509_cert::ext::pkix::crl::dp::{DistributionPoint, ReasonFlags, Reasons};

    fn point(url: &str, reasons: Option<ReasonFlags>, issuer: bool) -> DistributionPoint {
        let uri = GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(url).unwrap());
        DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri.clone()])),
            reasons,
            crl_issuer: issuer.then(|| vec![uri]),
        }
    }

    /// A certificate (self-signed by rcgen) whose CRL distribution points are `points`.
    fn with_points(points: Vec<DistributionPoint>) -> Certificate {
        let der = CrlDistributionPoints(points).to_der().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["x.example".to_string()]).unwrap();
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[2, 5, 29, 31],
                der,
            ));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Certificate::from_der(cert.der()).unwrap()
    }

    /// RFC 5280 6.3.3(b)/(d): only distribution points for every reason, whose CRL the
    /// certificate's own issuer signs, are asked.
    #[test]
    fn cert_4_only_complete_distribution_points_are_used() {
        let some_reasons: ReasonFlags = Reasons::KeyCompromise.into();
        let cert = with_points(vec![
            point(
                "http://partitioned.example/kc.crl",
                Some(some_reasons),
                false,
            ),
            point("http://indirect.example/other.crl", None, true),
            point("http://complete.example/ca.crl", None, false),
        ]);
        assert_eq!(
            crl_urls(&cert).unwrap(),
            vec!["http://complete.example/ca.crl".to_string()]
        );
        let only_partial = with_points(vec![point(
            "http://partitioned.example/kc.crl",
            Some(some_reasons),
            false,
        )]);
        assert!(crl_urls(&only_partial).unwrap().is_empty());
    }

    fn with_extension(oid: &[u64], content: Vec<u8>) -> Certificate {
        let mut params = rcgen::CertificateParams::new(vec!["x.example".to_string()]).unwrap();
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(oid, content));
        let key = rcgen::KeyPair::generate().unwrap();
        Certificate::from_der(params.self_signed(&key).unwrap().der()).unwrap()
    }

    fn uri(u: &str) -> GeneralName {
        GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(u).unwrap())
    }

    /// CERT-4: the OCSP responders are the AIA's id-ad-ocsp entries only (the caIssuers
    /// entry names where the issuer's certificate is, not a responder), and a URL's scheme is
    /// read case-insensitively (RFC 3986 3.1), in the AIA and the CRL distribution points alike.
    #[test]
    fn cert_4_responders_are_the_ocsp_entries_with_http_schemes_in_any_case() {
        use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
        let aia = AuthorityInfoAccessSyntax(vec![
            AccessDescription {
                access_method: const_oid::db::rfc5280::ID_AD_CA_ISSUERS,
                access_location: uri("http://ca.example/issuer.crt"),
            },
            AccessDescription {
                access_method: ID_AD_OCSP,
                access_location: uri("HTTP://OCSP.example/"),
            },
            AccessDescription {
                access_method: ID_AD_OCSP,
                access_location: uri("ldap://ocsp.example/"),
            },
        ]);
        let cert = with_extension(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia.to_der().unwrap());
        assert_eq!(
            ocsp_urls(&cert).unwrap(),
            vec!["HTTP://OCSP.example/".to_string()]
        );
        let cert = with_points(vec![point("HTTPS://crl.example/ca.crl", None, false)]);
        assert_eq!(
            crl_urls(&cert).unwrap(),
            vec!["HTTPS://crl.example/ca.crl".to_string()]
        );
    }

    /// CERT-3: a keyUsage extension that does not decode is malformed, not absent (absent
    /// would let a leaf skip the key usage rules).
    #[test]
    fn cert_3_a_key_usage_that_does_not_decode_is_malformed() {
        let cert = with_extension(&[2, 5, 29, 15], vec![0x05, 0x00]);
        assert!(key_usage(&cert).is_err());
    }

    /// CERT-6: an `x5c` holds at most ten certificates.
    #[test]
    fn cert_6_x5c_holds_at_most_ten_certificates() {
        let one = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0x30, 0x00]);
        assert_eq!(chain_from_x5c(&vec![one.clone(); 10]).unwrap().len(), 10);
        assert!(chain_from_x5c(&vec![one; 11]).is_err());
    }

    /// X.690 8.19: an attribute type encoded with a padded sub-identifier is refused in the
    /// issuer's name as in the subject's (two spellings of one name could otherwise compare
    /// unequal, or a name could pass for another).
    #[test]
    fn cert_3_a_padded_object_identifier_in_either_name_is_malformed() {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Issuing CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "Leaf");
        let key = rcgen::KeyPair::generate().unwrap();
        let der = leaf.signed_by(&key, &issuer).unwrap().der().to_vec();
        assert!(decode_cert(&der).is_ok());
        // 2.5.4.3 (55 04 03) becomes 2.5.3 with a padded last arc (55 80 03), same length.
        for value in [&b"Issuing CA"[..], b"Leaf"] {
            let mut cn = vec![0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, value.len() as u8];
            cn.extend_from_slice(value);
            let at = der.windows(cn.len()).position(|w| w == cn).unwrap();
            let mut bad = der.clone();
            bad[at + 3] = 0x80;
            assert!(
                Certificate::from_der(&bad).is_ok(),
                "the DER itself decodes"
            );
            assert!(
                decode_cert(&bad).is_err(),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
