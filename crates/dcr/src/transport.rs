//! DCR-3: the transport certificate of a registration is a valid QWAC (or directory-issued
//! transport certificate) of the SSA's organisation whose PSD2 roles cover the SSA's
//! software_roles (CERT-7, CERT-8; ETSI TS 119 495 section 5.1 and 5.2.1).

use bulwark_certs::{OrgMatchError, RoleError, ValidatedCert, organisation_matches, roles_cover};

use crate::DcrError;
use crate::ssa::Organisation;

/// CERT-8: the validated certificate belongs to `org`.
pub fn check_organisation(cert: &ValidatedCert, org: &Organisation) -> Result<(), DcrError> {
    organisation_matches(cert.tpp.as_ref(), &cert.subject, &org.expected()).map_err(|e| {
        DcrError::Organisation(match e {
            OrgMatchError::NoIdentifier => {
                "the certificate carries no organizationIdentifier (or OU) to compare".into()
            }
            OrgMatchError::NotPsd2(found) => format!(
                "the certificate's organizationIdentifier {found:?} is not of the form PSD<CC>-<NCA>-<id>"
            ),
            OrgMatchError::Mismatch { found, expected } => {
                format!("the certificate names {found:?}, the software statement {expected:?}")
            }
        })
    })
}

/// CERT-7: every role the SSA claims is one the certificate's PSD2 statement grants.
pub fn check_roles(cert: &ValidatedCert, software_roles: &[String]) -> Result<(), DcrError> {
    let tpp = cert.tpp.as_ref().ok_or_else(|| {
        DcrError::Roles("the certificate carries no PSD2 statement (qcStatements)".into())
    })?;
    roles_cover(tpp, software_roles).map_err(|e| {
        DcrError::Roles(match e {
            RoleError::NoPsd2Statement => {
                "the certificate carries no PSD2 statement (qcStatements)".into()
            }
            RoleError::MissingRole { required } => format!(
                "the software statement claims {} ({}), the certificate does not grant it",
                required.ob_name(),
                required.etsi_name()
            ),
            RoleError::UnknownRole(r) => format!("unknown software role {r:?}"),
        })
    })
}
