//! The consent vocabulary: kinds, the CO-2 lifecycle (UK Open Banking v3.1 consent statuses
//! plus Expired and Consumed), actors of the audit trail, and the caller of a TPP-facing
//! operation with its CERT-7 roles and token scope.

use std::fmt;

use bulwark_certs::{Api, GrantedRoles, TppIdentity};
use bulwark_store::FapiCustomer;

use crate::error::ConsentError;

/// Which OB consent resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsentKind {
    /// `account-access-consents` (AIS).
    AccountAccess,
    /// `domestic-payment-consents` (PIS).
    DomesticPayment,
    /// `funds-confirmation-consents` (CoF).
    FundsConfirmation,
}

impl ConsentKind {
    /// Can a consent of this kind ever have `status`? OB Read/Write v3.1.10's enums: a
    /// domestic-payment consent is AwaitingAuthorisation, Authorised, Consumed or Rejected
    /// (never Revoked: once Authorised only the payment consumes it; it has no expiry); the
    /// account-access and funds-confirmation consents are never Consumed.
    pub fn has_status(self, status: ConsentStatus) -> bool {
        match self {
            Self::DomesticPayment => {
                !matches!(status, ConsentStatus::Revoked | ConsentStatus::Expired)
            }
            Self::AccountAccess | Self::FundsConfirmation => status != ConsentStatus::Consumed,
        }
    }

    /// The stored form, also the resource path segment without `-consents`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountAccess => "account-access",
            Self::DomesticPayment => "domestic-payment",
            Self::FundsConfirmation => "funds-confirmation",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::AccountAccess,
            Self::DomesticPayment,
            Self::FundsConfirmation,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// OB Read/Write v3.1.10 "re-authenticate a consent": an Authorised account-access or
    /// funds-confirmation consent may be authorised again by its PSU with the same ConsentId
    /// (a payment consent is single use).
    pub fn reauthorisable(self) -> bool {
        match self {
            Self::AccountAccess | Self::FundsConfirmation => true,
            Self::DomesticPayment => false,
        }
    }

    /// OB Read/Write v3.1.10 message signing: whether requests to create this kind of consent
    /// are signed ("signed request, signed response" for payment consents; account-access and
    /// funds-confirmation consents are not signed).
    pub fn signed(self) -> bool {
        match self {
            Self::DomesticPayment => true,
            Self::AccountAccess | Self::FundsConfirmation => false,
        }
    }

    /// The prefix of generated ConsentIds.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Self::AccountAccess => "aac-",
            Self::DomesticPayment => "pdc-",
            Self::FundsConfirmation => "fcc-",
        }
    }

    /// The API family (CERT-7 role).
    pub fn api(self) -> Api {
        match self {
            Self::AccountAccess => Api::AccountAccess,
            Self::DomesticPayment => Api::Payments,
            Self::FundsConfirmation => Api::FundsConfirmation,
        }
    }

    /// The OAuth scope a token needs to use this kind's endpoints (OB: `accounts`,
    /// `payments`, `fundsconfirmations`).
    pub fn scope(self) -> &'static str {
        match self {
            Self::AccountAccess => "accounts",
            Self::DomesticPayment => "payments",
            Self::FundsConfirmation => "fundsconfirmations",
        }
    }
}

/// A consent status (CO-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsentStatus {
    /// Created, waiting for the PSU.
    AwaitingAuthorisation,
    /// The PSU authorised it.
    Authorised,
    /// The PSU (or the bank) rejected it, or the TPP withdrew it before authorisation.
    Rejected,
    /// Revoked after authorisation (TPP DELETE, PSU, or staff).
    Revoked,
    /// Past its ExpirationDateTime.
    Expired,
    /// A single-use payment consent was used.
    Consumed,
}

impl ConsentStatus {
    /// The OB status name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingAuthorisation => "AwaitingAuthorisation",
            Self::Authorised => "Authorised",
            Self::Rejected => "Rejected",
            Self::Revoked => "Revoked",
            Self::Expired => "Expired",
            Self::Consumed => "Consumed",
        }
    }

    /// Parses the OB status name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every status.
    pub const ALL: [ConsentStatus; 6] = [
        Self::AwaitingAuthorisation,
        Self::Authorised,
        Self::Rejected,
        Self::Revoked,
        Self::Expired,
        Self::Consumed,
    ];

    /// CO-2: AwaitingAuthorisation -> Authorised | Rejected; Authorised -> Revoked | Expired |
    /// Consumed. Nothing else.
    pub fn can_become(self, to: ConsentStatus) -> bool {
        matches!(
            (self, to),
            (
                Self::AwaitingAuthorisation,
                Self::Authorised | Self::Rejected
            ) | (
                Self::Authorised,
                Self::Revoked | Self::Expired | Self::Consumed
            )
            // OB shows an expired consent as Authorised; its TPP may still DELETE it.
            | (Self::Expired, Self::Revoked)
        )
    }

    /// `Ok` when CO-2 allows `self -> to`, else [`ConsentError::IllegalTransition`].
    pub fn check_transition(self, to: ConsentStatus) -> Result<(), ConsentError> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(ConsentError::IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who changed a consent, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// The TPP (client) through the OB API.
    Tpp,
    /// The bank customer on the consent pages.
    Psu,
    /// Bank staff on the staff console (CO-5).
    Staff,
    /// Bulwark itself (e.g. recording expiry).
    System,
}

impl ActorKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tpp => "TPP",
            Self::Psu => "PSU",
            Self::Staff => "Staff",
            Self::System => "System",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Tpp, Self::Psu, Self::Staff, Self::System]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An actor: kind and id (client id, PSU id, staff user name, component name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    /// What kind of actor.
    pub kind: ActorKind,
    /// Its id.
    pub id: String,
    /// For a TPP: the FAPI headers it forwarded about its customer with the request
    /// (`x-fapi-auth-date`, `x-fapi-customer-ip-address`), kept in the audit row.
    pub customer: FapiCustomer,
}

impl Actor {
    /// A TPP acting as `client_id`.
    pub fn tpp(client_id: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Tpp,
            id: client_id.into(),
            customer: FapiCustomer::default(),
        }
    }

    /// A PSU.
    pub fn psu(psu_id: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Psu,
            id: psu_id.into(),
            customer: FapiCustomer::default(),
        }
    }

    /// A staff user.
    pub fn staff(user: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Staff,
            id: user.into(),
            customer: FapiCustomer::default(),
        }
    }

    /// The same actor with the customer headers of its request.
    pub fn with_customer(mut self, customer: FapiCustomer) -> Self {
        self.customer = customer;
        self
    }

    /// Bulwark itself.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: "bulwark".into(),
            customer: FapiCustomer::default(),
        }
    }
}

/// The caller of a TPP-facing consent operation, as the server established it: the client
/// the application access token was issued to, the PSD2 roles it holds (from the eIDAS
/// certificate the token is bound to, or from its registration for an `ob-directory`
/// certificate; CERT-5/7), and the token's scope.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The client id of the access token.
    pub client_id: String,
    /// The caller's PSD2 roles and their source, if any identity was presented.
    pub roles: Option<GrantedRoles>,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// The FAPI headers the TPP forwarded about its customer with this request (validated).
    pub customer: FapiCustomer,
}

impl Caller {
    /// A caller from a client id, the eIDAS identity of its certificate and a space-separated
    /// scope string.
    pub fn new(client_id: impl Into<String>, tpp: Option<TppIdentity>, scope: &str) -> Self {
        Self::with_roles(
            client_id,
            tpp.map(|t| GrantedRoles::Certificate(Box::new(t))),
            scope,
        )
    }

    /// A caller whose roles were established some other way (e.g. from the registration).
    pub fn with_roles(
        client_id: impl Into<String>,
        roles: Option<GrantedRoles>,
        scope: &str,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            roles,
            scopes: scope.split_ascii_whitespace().map(str::to_owned).collect(),
            customer: FapiCustomer::default(),
        }
    }

    /// The same caller with the customer headers of its request (from
    /// [`crate::fapi_headers::customer_headers`]).
    pub fn with_customer(mut self, customer: FapiCustomer) -> Self {
        self.customer = customer;
        self
    }

    /// The caller as the actor of an audit row.
    pub fn actor(&self) -> Actor {
        Actor::tpp(&self.client_id).with_customer(self.customer.clone())
    }

    /// CERT-7 and scope: may this caller use the endpoints of `kind`? Role first, then scope;
    /// both failures are 403.
    pub fn authorize(&self, kind: ConsentKind) -> Result<(), ConsentError> {
        let roles = self.roles.as_ref().ok_or(ConsentError::NoTppIdentity)?;
        roles.require(kind.api())?;
        if !self.scopes.iter().any(|s| s == kind.scope()) {
            return Err(ConsentError::ScopeMissing(kind.scope()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_2_transition_table_is_exactly_the_lifecycle() {
        use ConsentStatus as S;
        let legal = [
            (S::AwaitingAuthorisation, S::Authorised),
            (S::AwaitingAuthorisation, S::Rejected),
            (S::Authorised, S::Revoked),
            (S::Authorised, S::Expired),
            (S::Authorised, S::Consumed),
            (S::Expired, S::Revoked),
        ];
        for from in S::ALL {
            for to in S::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.check_transition(to).is_ok(), expected);
            }
        }
    }

    #[test]
    fn stored_forms_round_trip() {
        for s in ConsentStatus::ALL {
            assert_eq!(ConsentStatus::parse(s.as_str()), Some(s));
        }
        for k in [
            ConsentKind::AccountAccess,
            ConsentKind::DomesticPayment,
            ConsentKind::FundsConfirmation,
        ] {
            assert_eq!(ConsentKind::parse(k.as_str()), Some(k));
        }
        for a in [
            ActorKind::Tpp,
            ActorKind::Psu,
            ActorKind::Staff,
            ActorKind::System,
        ] {
            assert_eq!(ActorKind::parse(a.as_str()), Some(a));
        }
    }
}
