//! CERT-8: the organisation a client's certificates must belong to. A dynamically registered
//! client belongs to the organisation its software statement named (kept with the
//! registration, in the forms certificates carry it); a statically registered client to its
//! `organization_identifier` metadata.

use bulwark_certs::{CertProfile, ExpectedOrganisation};
use bulwark_core::Client;
use serde::{Deserialize, Serialize};

use crate::ClientError;

/// The organisation an SSA names, in the forms certificates carry it (CERT-8); stored with the
/// registration so management requests are held to the same organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// OB directory organisation id (subject OU of directory-issued certificates).
    pub org_id: String,
    /// NCA identifier from `organisation_competent_authority_claims.authority_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_id: Option<String>,
    /// Authorisation number from `organisation_competent_authority_claims.registration_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
    /// The registration's `status` with the competent authority (OB: `Active`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `organisation_competent_authority_claims.authorisations[].member_state` values (the
    /// country of a bare NCA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_states: Vec<String>,
    /// The roles the competent authority authorised (the union over
    /// `organisation_competent_authority_claims.authorisations[].roles`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorised_roles: Option<Vec<String>>,
}

impl Organisation {
    /// What an `eidas` certificate must show: the competent-authority registration when the
    /// SSA has one (QWAC organizationIdentifier `PSD<CC>-<NCA>-<id>`), else the `org_id` in
    /// the OU.
    pub fn expected(&self) -> ExpectedOrganisation {
        match (&self.authority_id, &self.registration_id) {
            (Some(authority), Some(registration_id)) => ExpectedOrganisation::CompetentAuthority {
                authority: authority.clone(),
                registration_id: registration_id.clone(),
                member_states: self.member_states.clone(),
            },
            _ => ExpectedOrganisation::OrgId(self.org_id.clone()),
        }
    }

    /// What a certificate of `profile` must show; an `ob-directory` certificate (OBWAC /
    /// OBSeal) names the organisation id in its OU and the software id as its CN.
    pub fn expected_for(&self, profile: CertProfile, software_id: &str) -> ExpectedOrganisation {
        match profile {
            CertProfile::Eidas => self.expected(),
            CertProfile::ObDirectory => ExpectedOrganisation::Directory {
                org_id: self.org_id.clone(),
                software_id: Some(software_id.to_owned()),
            },
        }
    }
}

/// The organisation expected of a client, in the form certificates of `profile` carry it.
/// `eidas`: its registration's, else its `organization_identifier` metadata, else none known.
/// `ob-directory`: the directory organisation id in the OU and the software id as the CN, from
/// the registration (its software statement), else from `org_id` and `software_id` metadata;
/// none known unless both are (the caller must then refuse: a directory certificate names
/// nothing else the client could be held to).
pub fn expected_of(
    registration: Option<(&str, &str)>,
    client: Option<&Client>,
    profile: CertProfile,
) -> Result<Option<ExpectedOrganisation>, ClientError> {
    let registration_organisation = registration.map(|(organisation, _)| organisation);
    if profile == CertProfile::ObDirectory {
        let registered = match registration {
            Some((json, software_id)) => Some((parse(json)?.org_id, software_id.to_owned())),
            None => None,
        };
        let from_metadata = || {
            let m = &client?.metadata;
            Some((m.org_id.clone()?, m.software_id.clone()?))
        };
        return Ok(registered
            .or_else(from_metadata)
            .filter(|(org_id, software_id)| !org_id.is_empty() && !software_id.is_empty())
            .map(|(org_id, software_id)| ExpectedOrganisation::Directory {
                org_id,
                software_id: Some(software_id),
            }));
    }
    if let Some(json) = registration_organisation {
        return Ok(Some(parse(json)?.expected()));
    }
    Ok(client.and_then(|c| {
        c.metadata
            .extra
            .get("organization_identifier")
            .and_then(serde_json::Value::as_str)
            .map(|oi| ExpectedOrganisation::OrganizationIdentifier(oi.to_string()))
    }))
}

fn parse(json: &str) -> Result<Organisation, ClientError> {
    serde_json::from_str(json).map_err(|e| {
        ClientError::Internal(format!("stored registration organisation unreadable: {e}"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ORG: &str = "0015800001041REAAY";

    fn directory(org_id: &str, software_id: &str) -> Option<ExpectedOrganisation> {
        Some(ExpectedOrganisation::Directory {
            org_id: org_id.into(),
            software_id: Some(software_id.into()),
        })
    }

    /// CERT-8: an `ob-directory` certificate (OBWAC, OBSeal) is held to the organisation id
    /// (its OU) and the software id (its CN) of the client's software statement, else of its
    /// metadata; with either missing nothing is known (the caller refuses), so another
    /// software of the same organisation never passes for the client.
    #[test]
    fn cert_8_a_directory_certificate_is_held_to_the_organisation_and_the_software() {
        let registered = format!(r#"{{"org_id":"{ORG}"}}"#);
        assert_eq!(
            expected_of(
                Some((registered.as_str(), "soft-1")),
                None,
                CertProfile::ObDirectory
            )
            .unwrap(),
            directory(ORG, "soft-1")
        );
        assert_eq!(
            expected_of(
                Some((registered.as_str(), "")),
                None,
                CertProfile::ObDirectory
            )
            .unwrap(),
            None
        );
        let client = |metadata: serde_json::Value| -> Client {
            let mut c = serde_json::json!({
                "client_id": "tpp-1", "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=soft-2", "scope": "accounts",
                "status": "active", "client_id_issued_at": 1, "updated_at": 1
            });
            c.as_object_mut()
                .unwrap()
                .extend(metadata.as_object().unwrap().clone());
            serde_json::from_value(c).unwrap()
        };
        let both = client(serde_json::json!({"org_id": ORG, "software_id": "soft-2"}));
        assert_eq!(
            expected_of(None, Some(&both), CertProfile::ObDirectory).unwrap(),
            directory(ORG, "soft-2")
        );
        let no_software = client(serde_json::json!({"org_id": ORG}));
        assert_eq!(
            expected_of(None, Some(&no_software), CertProfile::ObDirectory).unwrap(),
            None
        );
    }

    fn eidas_org() -> Organisation {
        Organisation {
            org_id: ORG.into(),
            authority_id: Some("FCAGBR".into()),
            registration_id: Some("123456".into()),
            status: Some("Active".into()),
            member_states: vec!["GB".into()],
            authorised_roles: Some(vec!["AISP".into()]),
        }
    }

    fn static_client(extra: serde_json::Value) -> Client {
        let mut c = serde_json::json!({
            "client_id": "tpp-1", "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": []}, "scope": "accounts",
            "status": "active", "client_id_issued_at": 1, "updated_at": 1
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(c).unwrap()
    }

    /// CERT-8 under eIDAS: a registered client is held to its software statement's competent
    /// authority registration (kept whole through the stored JSON, member states included),
    /// whatever its metadata says; a static client to its `organization_identifier`; and a
    /// stored organisation that cannot be read is an error, never "no organisation to check".
    #[test]
    fn cert_8_an_eidas_certificate_is_held_to_the_registration_else_the_metadata() {
        let stored = serde_json::to_string(&eidas_org()).unwrap();
        let want = Some(ExpectedOrganisation::CompetentAuthority {
            authority: "FCAGBR".into(),
            registration_id: "123456".into(),
            member_states: vec!["GB".into()],
        });
        let plain = static_client(serde_json::json!({}));
        for client in [None, Some(&plain)] {
            assert_eq!(
                expected_of(
                    Some((stored.as_str(), "soft-1")),
                    client,
                    CertProfile::Eidas
                )
                .unwrap(),
                want
            );
        }
        let with_oi =
            static_client(serde_json::json!({"organization_identifier": "PSDGB-FCA-654321"}));
        assert_eq!(
            expected_of(None, Some(&with_oi), CertProfile::Eidas).unwrap(),
            Some(ExpectedOrganisation::OrganizationIdentifier(
                "PSDGB-FCA-654321".into()
            ))
        );
        assert_eq!(
            expected_of(None, Some(&plain), CertProfile::Eidas).unwrap(),
            None
        );
        for profile in [CertProfile::Eidas, CertProfile::ObDirectory] {
            assert!(matches!(
                expected_of(Some(("{not json", "soft-1")), None, profile),
                Err(ClientError::Internal(_))
            ));
        }
    }

    /// At registration (DCR-3) the transport certificate is held to the statement's software as
    /// well as its organisation.
    #[test]
    fn cert_8_a_registration_holds_a_directory_certificate_to_its_software() {
        assert_eq!(
            eidas_org().expected_for(CertProfile::ObDirectory, "soft-1"),
            ExpectedOrganisation::Directory {
                org_id: ORG.into(),
                software_id: Some("soft-1".into()),
            }
        );
    }
}
