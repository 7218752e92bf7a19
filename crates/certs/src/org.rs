//! CERT-8: does the TPP's certificate belong to the organisation the client was registered for?
//! eIDAS QWACs carry organizationIdentifier `PSD<CC>-<NCA>-<id>` (ETSI TS 119 495 section 5.2.1);
//! UK Open Banking certificates carry the directory organisation id in the subject OU.

use crate::dn::DistinguishedName;
use crate::qc::{OrganizationIdentifier, TppIdentity};

/// What the registered client (or SSA) says the organisation is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedOrganisation {
    /// A full organizationIdentifier, e.g. `PSDGB-FCA-123456` (compared case-insensitively).
    OrganizationIdentifier(String),
    /// A competent-authority registration: the NCA identifier (e.g. `FCA`, or `GB-FCA`) and the
    /// authorisation number it issued (e.g. `123456`).
    CompetentAuthority {
        /// NCA identifier in any form real directories use (`FCAGBR`, `GB-FCA`, `PSDGB-FCA`,
        /// or a bare `FCA` with `member_states`); see [`crate::authority`].
        authority: String,
        /// The authorisation / registration number (or the whole `PSDGB-FCA-730427`).
        registration_id: String,
        /// `authorisations[].member_state` values, which give a bare NCA its country.
        member_states: Vec<String>,
    },
    /// An Open Banking organisation id expected in the subject OU.
    OrgId(String),
    /// An `ob-directory` certificate (OBWAC / OBSeal) of a directory registration: the
    /// organisation id in the subject OU and, when known, the software id as the CN.
    Directory {
        /// The directory's organisation id (`org_id` of the software statement).
        org_id: String,
        /// The software id (`software_id` of the software statement), when known.
        software_id: Option<String>,
    },
}

/// Why the certificate does not belong to the expected organisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgMatchError {
    /// The certificate has no organizationIdentifier (or no OU for `OrgId`).
    #[error("certificate carries no organisation identifier")]
    NoIdentifier,
    /// The organizationIdentifier is not in the PSD form.
    #[error("organizationIdentifier {0:?} is not a PSD2 identifier")]
    NotPsd2(String),
    /// The competent-authority claims name no registration a certificate could carry (a bare
    /// NCA without a country, an unknown country, contradicting forms).
    #[error("competent-authority claims unusable: {0}")]
    UnusableClaims(String),
    /// The identifiers differ.
    #[error("certificate organisation {found:?} does not match {expected:?}")]
    Mismatch {
        /// What the certificate says.
        found: String,
        /// What was expected.
        expected: String,
    },
}

impl OrgMatchError {
    /// Short stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoIdentifier => "no_organisation_identifier",
            Self::NotPsd2(_) => "not_psd2_identifier",
            Self::UnusableClaims(_) => "unusable_authority_claims",
            Self::Mismatch { .. } => "organisation_mismatch",
        }
    }
}

/// CERT-8 check: `identity` is the certificate's eIDAS identity (if any), `subject` its subject.
/// Failures are logged on `bulwark::security`.
pub fn organisation_matches(
    identity: Option<&TppIdentity>,
    subject: &DistinguishedName,
    expected: &ExpectedOrganisation,
) -> Result<(), OrgMatchError> {
    let result = check(identity, subject, expected);
    if let Err(e) = &result {
        tracing::warn!(target: "bulwark::security", reason = e.reason(), error = %e, "certificate organisation check failed");
    }
    result
}

fn check(
    identity: Option<&TppIdentity>,
    subject: &DistinguishedName,
    expected: &ExpectedOrganisation,
) -> Result<(), OrgMatchError> {
    let org_id: Option<&OrganizationIdentifier> =
        identity.and_then(|i| i.organization_identifier.as_ref());
    match expected {
        ExpectedOrganisation::OrganizationIdentifier(want) => {
            let found = org_id.ok_or(OrgMatchError::NoIdentifier)?;
            if found.raw.trim().eq_ignore_ascii_case(want.trim()) {
                Ok(())
            } else {
                Err(mismatch(&found.raw, want))
            }
        }
        ExpectedOrganisation::CompetentAuthority {
            authority,
            registration_id,
            member_states,
        } => {
            let found = org_id.ok_or(OrgMatchError::NoIdentifier)?;
            let (Some(nca), Some(id)) = (&found.competent_authority, &found.authorisation_id)
            else {
                return Err(OrgMatchError::NotPsd2(found.raw.clone()));
            };
            let want = crate::authority::parse_authority(authority, registration_id, member_states)
                .map_err(OrgMatchError::UnusableClaims)?;
            let country = if found.country.eq_ignore_ascii_case("EL") {
                "GR"
            } else {
                found.country.as_str()
            };
            if country.eq_ignore_ascii_case(&want.country)
                && nca.eq_ignore_ascii_case(&want.nca)
                && id.trim() == want.id
            {
                Ok(())
            } else {
                Err(mismatch(
                    &found.raw,
                    &format!("PSD{}-{}-{}", want.country, want.nca, want.id),
                ))
            }
        }
        ExpectedOrganisation::Directory {
            org_id,
            software_id,
        } => {
            check(
                identity,
                subject,
                &ExpectedOrganisation::OrgId(org_id.clone()),
            )?;
            let Some(want) = software_id else {
                return Ok(());
            };
            let cns: Vec<&str> = subject.values(const_oid::db::rfc4519::CN).collect();
            if cns.iter().any(|cn| cn.trim() == want.trim()) {
                Ok(())
            } else {
                Err(mismatch(
                    &format!("CN={}", cns.join("+")),
                    &format!("CN={want}"),
                ))
            }
        }
        ExpectedOrganisation::OrgId(want) => {
            let mut ous = subject.values(const_oid::db::rfc4519::OU).peekable();
            if ous.peek().is_none() {
                return Err(OrgMatchError::NoIdentifier);
            }
            let ous: Vec<&str> = ous.collect();
            if ous.iter().any(|ou| ou.trim() == want.trim()) {
                Ok(())
            } else {
                Err(mismatch(&ous.join("+"), want))
            }
        }
    }
}

fn mismatch(found: &str, expected: &str) -> OrgMatchError {
    OrgMatchError::Mismatch {
        found: found.to_owned(),
        expected: expected.to_owned(),
    }
}
