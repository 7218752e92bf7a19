//! The operator's view of one validation (`bulwark certs verify LEAF.pem [CHAIN.pem...]`): runs
//! exactly [`CertValidator::validate`] and renders the verdict as JSON, so an operator sees what
//! the server would decide for the same chain at the same time.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

use crate::error::{CertError, RevocationSource};
use crate::parse::{CertSummary, decode_cert};
use crate::path::Purpose;
use crate::profile::CertProfile;
use crate::qc::TppIdentity;
use crate::revocation::{CaRevocation, RevocationStatus};
use crate::roles::PspRole;
use crate::validator::CertValidator;

/// JSON report of `bulwark certs verify`.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// True when the server would accept the chain.
    pub valid: bool,
    /// Stable reason code on failure ([`CertError::reason`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The presented chain, leaf first (what could be decoded).
    pub chain: Vec<CertSummary>,
    /// The revocation verdict, when one was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<ReportRevocation>,
    /// The verdict on each CA certificate between the leaf and the trust anchor, the leaf's
    /// issuer first (on failure, the refused CA is named in `detail`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca_revocation: Vec<CaRevocation>,
    /// The certificate profile the chain was held to (`eidas` or `ob-directory`, from the
    /// trust anchor set its path ends at), when path validation got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<CertProfile>,
    /// eIDAS / PSD2 content of the leaf, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qwac: Option<QwacReport>,
    /// Leaf thumbprint.
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

/// Revocation part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRevocation {
    /// good, revoked or unknown.
    pub status: RevocationStatus,
    /// ocsp, crl or skipped.
    pub source: RevocationSource,
}

/// PSD2 part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct QwacReport {
    /// PSD2 roles (PSP_AI, ...).
    pub roles: Vec<PspRole>,
    /// nCAName.
    pub nca_name: Option<String>,
    /// nCAId.
    pub nca_id: Option<String>,
    /// organizationIdentifier as written.
    pub organization_identifier: Option<String>,
}

impl QwacReport {
    fn of(t: &TppIdentity) -> Self {
        Self {
            roles: t.psd2.as_ref().map(|p| p.roles.clone()).unwrap_or_default(),
            nca_name: t.psd2.as_ref().map(|p| p.nca_name.clone()),
            nca_id: t.psd2.as_ref().map(|p| p.nca_id.clone()),
            organization_identifier: t.organization_identifier.as_ref().map(|o| o.raw.clone()),
        }
    }
}

/// Runs [`CertValidator::validate`] and turns the result into a report.
pub async fn verify_report(
    validator: &CertValidator,
    chain: &[CertificateDer<'_>],
    purpose: Purpose,
    now: SystemTime,
) -> VerifyReport {
    match validator.validate(chain, purpose, now).await {
        Ok(v) => VerifyReport {
            valid: true,
            reason: None,
            detail: None,
            revocation: Some(ReportRevocation {
                status: v.revocation.status,
                source: v.revocation.source,
            }),
            profile: Some(v.profile),
            qwac: v.tpp.as_ref().map(QwacReport::of),
            ca_revocation: v.ca_revocation,
            x5t_s256: Some(v.x5t_s256),
            chain: v.chain,
        },
        Err(e) => {
            let leaf = chain.first().and_then(|d| decode_cert(d).ok());
            VerifyReport {
                valid: false,
                reason: Some(e.reason().to_owned()),
                detail: Some(e.to_string()),
                chain: chain
                    .iter()
                    .filter_map(|d| decode_cert(d).ok())
                    .map(|c| CertSummary::of(&c))
                    .collect(),
                revocation: match e {
                    CertError::Revoked { via } => Some(ReportRevocation {
                        status: RevocationStatus::Revoked,
                        source: via,
                    }),
                    _ => None,
                },
                ca_revocation: Vec::new(),
                // The set whose anchor issued the chain: which rules it was held to.
                profile: match e {
                    CertError::UnknownIssuer
                    | CertError::NoTrustAnchors
                    | CertError::NoCertificate
                    | CertError::Malformed { .. } => None,
                    _ => validator.profile_by_issuer(chain, purpose),
                },
                qwac: leaf
                    .as_ref()
                    .and_then(|c| TppIdentity::from_cert(c).ok().flatten())
                    .map(|t| QwacReport::of(&t)),
                x5t_s256: chain.first().map(|d| crate::x5t_s256(d)),
            }
        }
    }
}

/// Why PEM certificates could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds no certificate or a malformed one.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Reads PEM certificates from files in order (leaf file first) into one chain, for the CLI.
pub fn read_pem_chain(
    paths: &[impl AsRef<Path>],
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let mut chain = Vec::new();
    for p in paths {
        let path = p.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PemError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| PemError::Invalid {
                path: path.to_path_buf(),
                reason: format!("malformed PEM: {e}"),
            })?;
        if certs.is_empty() {
            return Err(PemError::Invalid {
                path: path.to_path_buf(),
                reason: "no PEM certificate found".into(),
            });
        }
        chain.extend(certs);
    }
    Ok(chain)
}
