//! Certificate profiles: which rules a certificate's content must meet, and where the TPP's
//! organisation and PSD2 roles are read, depends on the trust anchor set its path ends at.
//!
//! - `eidas` (QTSP anchors, `[trust] anchors` / `tls_client` / `qwac` / `qseal`): a QWAC or
//!   QSealC with qcStatements (ETSI TS 119 495), the organisation in organizationIdentifier,
//!   the roles in the PSD2 statement.
//! - `ob-directory` (the UK Open Banking directory's CAs, `[trust] ob_directory`): OBWAC and
//!   OBSeal certificates carry no qcStatements; the organisation is the subject OU (the
//!   directory's organisation id) with the CN the software id, and the roles come from the
//!   client's registration (its software statement), not from the certificate.

use der::{Decode, Encode};
use rustls_pki_types::TrustAnchor;
use serde::{Deserialize, Serialize};

use crate::anchors::TrustAnchors;
use crate::dn::DistinguishedName;
use crate::error::CertError;
use crate::path::Purpose;
use crate::qc::TppIdentity;
use crate::validator::ValidatorError;

/// The rules a validated certificate was held to, named after its trust anchor set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertProfile {
    /// eIDAS qualified certificates: qcStatements required for QWAC and QSealC purposes,
    /// roles from the PSD2 statement.
    #[default]
    Eidas,
    /// UK Open Banking directory certificates (OBWAC / OBSeal): no qcStatements, organisation
    /// id in the subject OU and software id in the CN, roles from the registration.
    ObDirectory,
}

impl CertProfile {
    /// The configuration / report name (`eidas`, `ob-directory`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eidas => "eidas",
            Self::ObDirectory => "ob-directory",
        }
    }

    /// True when the certificate carries no roles and the client's registration supplies them.
    pub fn roles_from_registration(self) -> bool {
        self == Self::ObDirectory
    }
}

impl std::fmt::Display for CertProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The anchors of one purpose, each remembered with the profile of the set it came from.
pub(crate) struct ProfiledAnchors {
    anchors: Vec<TrustAnchor<'static>>,
    profiles: Vec<CertProfile>,
    /// Each anchor's subject as full DER (to recognise an issuer by name when a trusted proxy
    /// validated the path).
    subjects: Vec<Vec<u8>>,
    /// Whether each anchor may sign CRLs: its certificate has no keyUsage or one with cRLSign
    /// (RFC 5280 section 4.2.1.3). webpki knows an anchor by name and key only, so it cannot
    /// tell; a CRL signed by an anchor that may not sign CRLs is no evidence.
    crl_signers: Vec<bool>,
}

impl ProfiledAnchors {
    /// Joins the sets, in order. A CA listed under two profiles is a configuration error: the
    /// profile of a path must not depend on the order anchors were loaded in.
    pub(crate) fn new(sets: &[(CertProfile, &TrustAnchors)]) -> Result<Self, ValidatorError> {
        let mut out = Self {
            anchors: Vec::new(),
            profiles: Vec::new(),
            subjects: Vec::new(),
            crl_signers: Vec::new(),
        };
        for (profile, set) in sets {
            for cert in set.certs() {
                let anchor = webpki::anchor_from_trusted_cert(cert)
                    .map_err(|e| ValidatorError::Settings(format!("trust anchor: {e:?}")))?
                    .to_owned();
                let decoded = x509_cert::Certificate::from_der(cert.as_ref())
                    .map_err(|e| ValidatorError::Settings(format!("trust anchor: {e}")))?;
                let subject = decoded
                    .tbs_certificate
                    .subject
                    .to_der()
                    .map_err(|e| ValidatorError::Settings(format!("trust anchor: {e}")))?;
                let signs_crls = crate::parse::key_usage(&decoded)
                    .map_err(|e| ValidatorError::Settings(format!("trust anchor: {e}")))?
                    .is_none_or(|ku| ku.crl_sign());
                if let Some(i) = out.position(&anchor) {
                    if out.profiles[i] != *profile {
                        return Err(ValidatorError::Settings(format!(
                            "trust anchor {} is listed for both the {} and the {profile} profile",
                            render(&subject),
                            out.profiles[i]
                        )));
                    }
                    continue;
                }
                out.anchors.push(anchor);
                out.profiles.push(*profile);
                out.subjects.push(subject);
                out.crl_signers.push(signs_crls);
            }
        }
        Ok(out)
    }

    /// The anchors, for path building.
    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    fn position(&self, anchor: &TrustAnchor<'_>) -> Option<usize> {
        self.anchors.iter().position(|a| {
            a.subject.as_ref() == anchor.subject.as_ref()
                && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
        })
    }

    /// Whether `anchor` may sign CRLs (false for an anchor not in the set).
    pub(crate) fn signs_crls(&self, anchor: &TrustAnchor<'_>) -> bool {
        self.position(anchor).is_some_and(|i| self.crl_signers[i])
    }

    /// The profile of the anchor a verified path ended at.
    pub(crate) fn profile_of(&self, anchor: &TrustAnchor<'_>) -> CertProfile {
        self.position(anchor)
            .map_or(CertProfile::Eidas, |i| self.profiles[i])
    }

    /// The profile of a chain whose path a trusted proxy verified: the anchor named as the
    /// issuer of the chain's last certificate (eIDAS when none is).
    pub(crate) fn profile_by_issuer(&self, top: &x509_cert::Certificate) -> CertProfile {
        let Ok(issuer) = top.tbs_certificate.issuer.to_der() else {
            return CertProfile::Eidas;
        };
        self.subjects
            .iter()
            .position(|s| *s == issuer)
            .map_or(CertProfile::Eidas, |i| self.profiles[i])
    }

    /// Number of anchors (for `Debug`).
    pub(crate) fn len(&self) -> usize {
        self.anchors.len()
    }
}

fn render(subject_der: &[u8]) -> String {
    x509_cert::name::Name::from_der(subject_der)
        .map(|n| DistinguishedName::from_name(&n).to_rfc4514())
        .unwrap_or_else(|_| "(unreadable subject)".into())
}

/// CERT-5 / CERT-6: the content rules of `profile` for a certificate presented for `purpose`.
pub(crate) fn check_content(
    profile: CertProfile,
    leaf: &x509_cert::Certificate,
    tpp: Option<&TppIdentity>,
    subject: &DistinguishedName,
    purpose: Purpose,
) -> Result<(), CertError> {
    match (profile, purpose) {
        (_, Purpose::TlsClient) => Ok(()),
        (CertProfile::Eidas, Purpose::Qwac) => {
            let tpp = tpp.ok_or(CertError::NotQwac)?;
            if !tpp.is_qwac() {
                return Err(CertError::NotQwac);
            }
            if tpp.psd2.is_none() {
                return Err(CertError::MissingPsd2Statement);
            }
            Ok(())
        }
        (CertProfile::Eidas, Purpose::Sealing) => match tpp {
            Some(t) if t.is_qsealc() => Ok(()),
            _ => Err(CertError::NotQsealc),
        },
        // OB directory certificates: `CN=<software id>, OU=<organisation id>`; without both
        // the certificate names no registration it could belong to.
        (CertProfile::ObDirectory, Purpose::Qwac | Purpose::Sealing) => {
            let present = |oid| subject.values(oid).any(|v| !v.trim().is_empty());
            if !present(const_oid::db::rfc4519::OU) {
                return Err(CertError::IncompleteDirectorySubject {
                    missing: "OU (organisation id)",
                });
            }
            if !present(const_oid::db::rfc4519::CN) {
                return Err(CertError::IncompleteDirectorySubject {
                    missing: "CN (software id)",
                });
            }
            // An OBSeal is a signing certificate (digitalSignature and nonRepudiation); an
            // OBWAC (digitalSignature, keyEncipherment) signs TLS handshakes, not messages.
            if purpose == Purpose::Sealing
                && !crate::parse::key_usage(leaf)?.is_some_and(|ku| ku.non_repudiation())
            {
                return Err(CertError::WrongKeyUsage {
                    detail: "a directory sealing certificate (OBSeal) must allow nonRepudiation"
                        .into(),
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OB-6: only a directory certificate (no qcStatements) takes its PSD2 roles from the
    /// client's registration; an eIDAS certificate's roles are its own.
    #[test]
    fn ob_6_only_directory_certificates_take_roles_from_the_registration() {
        assert!(CertProfile::ObDirectory.roles_from_registration());
        assert!(!CertProfile::Eidas.roles_from_registration());
    }
}
