//! DCR-3: the transport certificate of a registration is a valid QWAC of the SSA's
//! organisation whose PSD2 roles cover the SSA's software_roles (CERT-7, CERT-8; ETSI TS 119
//! 495 section 5.1 and 5.2.1), or an `ob-directory` transport certificate (OBWAC) naming the
//! SSA's organisation id (OU) and software id (CN), whose roles are the SSA's own.

use bulwark_certs::{OrgMatchError, RoleError, ValidatedCert, organisation_matches, roles_cover};

use crate::DcrError;
use crate::ssa::Organisation;

/// CERT-8: the validated certificate belongs to `org` (and, for an `ob-directory`
/// certificate, to the software `software_id`: its CN).
pub fn check_organisation(
    cert: &ValidatedCert,
    org: &Organisation,
    software_id: &str,
) -> Result<(), DcrError> {
    let expected = org.expected_for(cert.profile, software_id);
    organisation_matches(cert.tpp.as_ref(), &cert.subject, &expected).map_err(|e| {
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
            OrgMatchError::UnusableClaims(why) => format!(
                "the software statement's organisation_competent_authority_claims name no usable registration: {why}"
            ),
        })
    })
}

/// What the registration record keeps of the transport certificate (JSON): who the TPP proved
/// to be, for the bank's staff (subject, serial, notAfter, profile, PSD2 roles, organisation
/// identifier, thumbprint).
pub fn summary(cert: &ValidatedCert) -> String {
    let roles: Vec<&str> = cert
        .tpp
        .as_ref()
        .and_then(|t| t.psd2.as_ref())
        .map(|p| p.roles.iter().map(|r| r.etsi_name()).collect())
        .unwrap_or_default();
    serde_json::json!({
        "subject": cert.subject.to_rfc4514(),
        "serial": cert.serial,
        "not_after": cert.chain.first().map(|c| c.not_after.clone()),
        "profile": cert.profile,
        "roles": roles,
        "organization_identifier": cert
            .tpp
            .as_ref()
            .and_then(|t| t.organization_identifier.as_ref())
            .map(|o| o.raw.clone()),
        "x5t#S256": cert.x5t_s256,
    })
    .to_string()
}

/// CERT-7: every role the SSA claims is one the certificate's PSD2 statement grants. An
/// `ob-directory` certificate grants no roles: the directory's signed statement is their
/// source, so there is nothing in the certificate to compare.
pub fn check_roles(cert: &ValidatedCert, software_roles: &[String]) -> Result<(), DcrError> {
    if cert.profile.roles_from_registration() {
        return Ok(());
    }
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

/// DCR-3: the competent-authority claims of the SSA, when present, must show an `Active`
/// registration whose authorisations cover every software role the SSA claims.
pub fn check_authorisations(
    org: &crate::ssa::Organisation,
    software_roles: &[String],
) -> Result<(), DcrError> {
    if let Some(status) = &org.status
        && !status.eq_ignore_ascii_case("active")
    {
        return Err(DcrError::Roles(format!(
            "the organisation's competent-authority registration is {status:?}, not Active"
        )));
    }
    let Some(authorised) = &org.authorised_roles else {
        return Ok(());
    };
    let granted: Vec<bulwark_certs::PspRole> =
        authorised.iter().filter_map(|r| r.parse().ok()).collect();
    for role in software_roles {
        let wanted: bulwark_certs::PspRole = role
            .parse()
            .map_err(|_| DcrError::Roles(format!("unknown software role {role:?}")))?;
        if !granted.contains(&wanted) {
            return Err(DcrError::Roles(format!(
                "the software statement claims {} but the competent authority has not authorised it",
                wanted.ob_name()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod authorisation_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ssa::Organisation;

    fn org(status: Option<&str>, roles: Option<&[&str]>) -> Organisation {
        Organisation {
            org_id: "org".into(),
            authority_id: Some("GB-FCA".into()),
            registration_id: Some("123456".into()),
            status: status.map(str::to_string),
            member_states: vec![],
            authorised_roles: roles.map(|r| r.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn dcr_3_competent_authority_authorisations_must_cover_the_software_roles() {
        let roles = vec!["AISP".to_string(), "PISP".to_string()];
        assert!(
            check_authorisations(&org(Some("Active"), Some(&["AISP", "PISP"])), &roles).is_ok()
        );
        assert!(
            check_authorisations(&org(None, None), &roles).is_ok(),
            "claims absent: nothing to check"
        );
        assert!(check_authorisations(&org(Some("Active"), Some(&["AISP"])), &roles).is_err());
        assert!(
            check_authorisations(&org(Some("Withdrawn"), Some(&["AISP", "PISP"])), &roles).is_err()
        );
        assert!(
            check_authorisations(&org(Some("Active"), Some(&["PSP_AI", "PSP_PI"])), &roles).is_ok()
        );
    }
}
