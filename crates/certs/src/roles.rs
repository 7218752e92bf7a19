//! CERT-7: PSD2 roles (ETSI TS 119 495 section 5.1, role OIDs 0.4.0.19495.1.x) and the checks the
//! API and DCR flows make: account access needs PSP_AI, payments PSP_PI, funds confirmation
//! PSP_IC. UK Open Banking names (AISP, PISP, CBPII, ASPSP) map onto the ETSI roles.

use std::str::FromStr;

use const_oid::ObjectIdentifier;
use serde::{Serialize, Serializer};

use crate::qc::TppIdentity;

/// A PSD2 role of a payment service provider, as carried in the QWAC / QSealC PSD2 statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PspRole {
    /// PSP_AS, account servicing (the bank). OB: ASPSP.
    AccountServicing,
    /// PSP_PI, payment initiation. OB: PISP.
    PaymentInitiation,
    /// PSP_AI, account information. OB: AISP.
    AccountInformation,
    /// PSP_IC, issuing of card-based payment instruments. OB: CBPII.
    CardIssuing,
}

impl PspRole {
    /// All roles, in OID order.
    pub const ALL: [PspRole; 4] = [
        Self::AccountServicing,
        Self::PaymentInitiation,
        Self::AccountInformation,
        Self::CardIssuing,
    ];

    /// The role OID (ETSI TS 119 495 section 5.1): 0.4.0.19495.1.1 ... .4.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::AccountServicing => ObjectIdentifier::new_unwrap("0.4.0.19495.1.1"),
            Self::PaymentInitiation => ObjectIdentifier::new_unwrap("0.4.0.19495.1.2"),
            Self::AccountInformation => ObjectIdentifier::new_unwrap("0.4.0.19495.1.3"),
            Self::CardIssuing => ObjectIdentifier::new_unwrap("0.4.0.19495.1.4"),
        }
    }

    /// The role for an OID, if it is one of the four PSD2 roles.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.oid() == *oid)
    }

    /// The ETSI name (`PSP_AS`, `PSP_PI`, `PSP_AI`, `PSP_IC`).
    pub fn etsi_name(self) -> &'static str {
        match self {
            Self::AccountServicing => "PSP_AS",
            Self::PaymentInitiation => "PSP_PI",
            Self::AccountInformation => "PSP_AI",
            Self::CardIssuing => "PSP_IC",
        }
    }

    /// The UK Open Banking name (`ASPSP`, `PISP`, `AISP`, `CBPII`).
    pub fn ob_name(self) -> &'static str {
        match self {
            Self::AccountServicing => "ASPSP",
            Self::PaymentInitiation => "PISP",
            Self::AccountInformation => "AISP",
            Self::CardIssuing => "CBPII",
        }
    }
}

impl std::fmt::Display for PspRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.etsi_name())
    }
}

impl Serialize for PspRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.etsi_name())
    }
}

impl FromStr for PspRole {
    type Err = RoleError;

    /// Accepts the ETSI names and the OB names, case-insensitively (SSA `software_roles`).
    fn from_str(s: &str) -> Result<Self, RoleError> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|r| r.etsi_name().eq_ignore_ascii_case(s) || r.ob_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| RoleError::UnknownRole(s.to_owned()))
    }
}

/// An API family a TPP calls; each needs one PSD2 role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// Account and transaction information (AISP).
    AccountAccess,
    /// Payment initiation (PISP).
    Payments,
    /// Confirmation of funds (CBPII).
    FundsConfirmation,
}

impl Api {
    /// The PSD2 role this API requires (CERT-7).
    pub fn required_role(self) -> PspRole {
        match self {
            Self::AccountAccess => PspRole::AccountInformation,
            Self::Payments => PspRole::PaymentInitiation,
            Self::FundsConfirmation => PspRole::CardIssuing,
        }
    }
}

/// Why a TPP may not use an API or register with given roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The certificate carries no PSD2 statement, so it grants no role.
    #[error("certificate has no PSD2 statement")]
    NoPsd2Statement,
    /// The certificate lacks the role the API (or SSA) requires.
    #[error("certificate lacks PSD2 role {required}")]
    MissingRole {
        /// The role that was needed.
        required: PspRole,
    },
    /// A role name that is neither an ETSI nor an OB role.
    #[error("unknown PSD2 role {0:?}")]
    UnknownRole(String),
}

impl RoleError {
    /// Short stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoPsd2Statement => "no_psd2_statement",
            Self::MissingRole { .. } => "missing_role",
            Self::UnknownRole(_) => "unknown_role",
        }
    }
}

/// CERT-7: may this TPP call `api`? Requires the PSD2 statement to list the API's role.
pub fn require_role(identity: &TppIdentity, api: Api) -> Result<(), RoleError> {
    has_role(identity, api.required_role())
}

/// DCR-3 / CERT-7: every role in an SSA's `software_roles` (OB or ETSI names) must be present in
/// the certificate's PSD2 statement.
pub fn roles_cover<S: AsRef<str>>(
    identity: &TppIdentity,
    software_roles: &[S],
) -> Result<(), RoleError> {
    for r in software_roles {
        let role = r.as_ref().parse().inspect_err(|e: &RoleError| {
            tracing::warn!(target: "bulwark::security", reason = e.reason(), role = r.as_ref(), "unknown software role");
        })?;
        has_role(identity, role)?;
    }
    Ok(())
}

fn has_role(identity: &TppIdentity, role: PspRole) -> Result<(), RoleError> {
    let result = match &identity.psd2 {
        None => Err(RoleError::NoPsd2Statement),
        Some(p) if p.roles.contains(&role) => Ok(()),
        Some(_) => Err(RoleError::MissingRole { required: role }),
    };
    if let Err(e) = &result {
        let org = identity
            .organization_identifier
            .as_ref()
            .map_or("-", |o| o.raw.as_str());
        tracing::warn!(target: "bulwark::security", reason = e.reason(), required = %role, organization = org, "PSD2 role check failed");
    }
    result
}

/// The PSD2 roles a caller may act in, and where they were read: from the certificate's PSD2
/// statement (`eidas` profile) or from the client's registration (`ob-directory` profile, whose
/// certificates carry none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantedRoles {
    /// The PSD2 statement of the caller's QWAC.
    Certificate(Box<TppIdentity>),
    /// The `software_roles` the client registered with (checked against the directory's
    /// software statement at registration).
    Registration(Vec<PspRole>),
}

impl GrantedRoles {
    /// Roles from registered `software_roles` names (OB or ETSI); names that are no PSD2 role
    /// grant nothing.
    pub fn registered<S: AsRef<str>>(software_roles: &[S]) -> Self {
        Self::Registration(
            software_roles
                .iter()
                .filter_map(|r| r.as_ref().parse().ok())
                .collect(),
        )
    }

    /// CERT-7: may this caller use `api`?
    pub fn require(&self, api: Api) -> Result<(), RoleError> {
        match self {
            Self::Certificate(identity) => require_role(identity, api),
            Self::Registration(roles) => {
                let required = api.required_role();
                if roles.contains(&required) {
                    Ok(())
                } else {
                    tracing::warn!(target: "bulwark::security", reason = "missing_role", required = %required, source = "registration", "PSD2 role check failed");
                    Err(RoleError::MissingRole { required })
                }
            }
        }
    }
}
