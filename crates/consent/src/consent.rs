//! A consent as the domain sees it (CO-1/CO-2): typed details per kind, the stored status and
//! the status it reads as at a given instant (expiry is evaluated against the clock on read,
//! so no background job is needed), the OB response body (`Data`, `Risk`, `Links`, `Meta`), and
//! the audit entries of its history.

use bulwark_store::{ConsentAuditRecord, ConsentRecord};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::account_access::AccountAccessDetails;
use crate::domestic_payment::DomesticPaymentDetails;
use crate::error::ConsentError;
use crate::funds_confirmation::FundsConfirmationDetails;
use crate::model::{Actor, ActorKind, ConsentKind, ConsentStatus};
use crate::wire::{format_datetime, from_unix};

/// What a consent grants, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsentDetails {
    /// An account-access consent.
    AccountAccess(AccountAccessDetails),
    /// A domestic-payment consent.
    DomesticPayment(DomesticPaymentDetails),
    /// A funds-confirmation consent.
    FundsConfirmation(FundsConfirmationDetails),
}

impl ConsentDetails {
    /// The kind.
    pub fn kind(&self) -> ConsentKind {
        match self {
            Self::AccountAccess(_) => ConsentKind::AccountAccess,
            Self::DomesticPayment(_) => ConsentKind::DomesticPayment,
            Self::FundsConfirmation(_) => ConsentKind::FundsConfirmation,
        }
    }

    /// The ExpirationDateTime, if the kind has one and it was given.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        match self {
            Self::AccountAccess(d) => d.expiration_date_time,
            Self::DomesticPayment(_) => None,
            Self::FundsConfirmation(d) => d.expiration_date_time,
        }
    }

    fn to_json(&self) -> Result<Value, serde_json::Error> {
        match self {
            Self::AccountAccess(d) => serde_json::to_value(d),
            Self::DomesticPayment(d) => serde_json::to_value(d),
            Self::FundsConfirmation(d) => serde_json::to_value(d),
        }
    }

    fn from_json(kind: ConsentKind, v: Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            ConsentKind::AccountAccess => Self::AccountAccess(serde_json::from_value(v)?),
            ConsentKind::DomesticPayment => Self::DomesticPayment(serde_json::from_value(v)?),
            ConsentKind::FundsConfirmation => Self::FundsConfirmation(serde_json::from_value(v)?),
        })
    }
}

/// A consent resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Consent {
    /// The ConsentId.
    pub id: String,
    /// The client that created it.
    pub client_id: String,
    /// The status as stored; see [`Consent::status_at`] for what it reads as.
    pub stored_status: ConsentStatus,
    /// The PSU who authorised or rejected it.
    pub psu_id: Option<String>,
    /// Accounts the PSU selected.
    pub selected_accounts: Vec<String>,
    /// CreationDateTime.
    pub created_at: OffsetDateTime,
    /// StatusUpdateDateTime as stored.
    pub status_updated_at: OffsetDateTime,
    /// What it grants.
    pub details: ConsentDetails,
}

impl Consent {
    /// The kind.
    pub fn kind(&self) -> ConsentKind {
        self.details.kind()
    }

    /// The ExpirationDateTime, if any.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.details.expires_at()
    }

    /// True when an Authorised consent has reached its ExpirationDateTime at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.stored_status == ConsentStatus::Authorised
            && self.expires_at().is_some_and(|exp| now >= exp)
    }

    /// The status the consent reads as at `now`: an Authorised consent past its
    /// ExpirationDateTime is Expired whether or not that was recorded yet.
    pub fn status_at(&self, now: OffsetDateTime) -> ConsentStatus {
        if self.is_expired_at(now) {
            ConsentStatus::Expired
        } else {
            self.stored_status
        }
    }

    /// StatusUpdateDateTime as it reads at `now` (the expiry instant for a lazily expired one).
    pub fn status_updated_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self.expires_at() {
            Some(exp) if self.is_expired_at(now) => exp,
            _ => self.status_updated_at,
        }
    }

    /// The OB response body at `now`. `self_link` is the absolute URL of this resource, e.g.
    /// `https://bank/open-banking/v3.1/aisp/account-access-consents/aac-...`.
    pub fn to_ob_json(&self, self_link: &str, now: OffsetDateTime) -> Value {
        let mut data = Map::new();
        data.insert("ConsentId".into(), self.id.clone().into());
        data.insert(
            "CreationDateTime".into(),
            format_datetime(self.created_at).into(),
        );
        // OB v3.1.10's status enums have no Expired: an expired consent reads as its last
        // spec status (Authorised; only Authorised consents expire) and its resources are
        // refused (`validate_for_resource`, introspection judge `status_at`). Its
        // StatusUpdateDateTime is the expiry instant, before and after the expiry is recorded,
        // so two reads never disagree.
        let updated = self.status_updated_at(now);
        let status = match self.status_at(now) {
            ConsentStatus::Expired => ConsentStatus::Authorised,
            other => other,
        };
        data.insert("Status".into(), status.as_str().into());
        data.insert(
            "StatusUpdateDateTime".into(),
            format_datetime(updated).into(),
        );
        let mut body = Map::new();
        match &self.details {
            ConsentDetails::AccountAccess(d) => {
                d.render_into(&mut data);
                body.insert("Data".into(), Value::Object(data));
                body.insert("Risk".into(), d.risk.clone());
            }
            ConsentDetails::DomesticPayment(d) => {
                d.render_into(&mut data);
                body.insert("Data".into(), Value::Object(data));
                body.insert("Risk".into(), d.risk.clone());
            }
            ConsentDetails::FundsConfirmation(d) => {
                d.render_into(&mut data);
                body.insert("Data".into(), Value::Object(data));
            }
        }
        body.insert("Links".into(), serde_json::json!({ "Self": self_link }));
        body.insert("Meta".into(), serde_json::json!({ "TotalPages": 1 }));
        Value::Object(body)
    }

    /// The store record (with the idempotency key and body hash of its creation).
    pub(crate) fn to_record(
        &self,
        idempotency_key: Option<String>,
        body_hash: Option<String>,
    ) -> Result<ConsentRecord, ConsentError> {
        Ok(ConsentRecord {
            id: self.id.clone(),
            kind: self.kind().as_str().into(),
            client_id: self.client_id.clone(),
            status: self.stored_status.as_str().into(),
            psu_id: self.psu_id.clone(),
            body: self
                .details
                .to_json()
                .map_err(|e| ConsentError::Corrupt(e.to_string()))?,
            selected_accounts: self.selected_accounts.clone(),
            idempotency_key,
            body_hash,
            created_at: self.created_at.unix_timestamp(),
            status_updated_at: self.status_updated_at.unix_timestamp(),
            expires_at: self.expires_at().map(OffsetDateTime::unix_timestamp),
        })
    }

    /// Reads a store record.
    pub(crate) fn from_record(r: ConsentRecord) -> Result<Self, ConsentError> {
        let corrupt = |what: &str| ConsentError::Corrupt(format!("consent {}: {what}", r.id));
        let kind = ConsentKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?;
        let status = ConsentStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?;
        let details = ConsentDetails::from_json(kind, r.body.clone())
            .map_err(|e| corrupt(&format!("body: {e}")))?;
        Ok(Self {
            created_at: from_unix(r.created_at)?,
            status_updated_at: from_unix(r.status_updated_at)?,
            id: r.id,
            client_id: r.client_id,
            stored_status: status,
            psu_id: r.psu_id,
            selected_accounts: r.selected_accounts,
            details,
        })
    }
}

/// One entry of a consent's history (CO-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: OffsetDateTime,
    /// The status before; `None` for creation.
    pub from: Option<ConsentStatus>,
    /// The status after.
    pub to: ConsentStatus,
    /// Why, when given.
    pub reason: Option<String>,
}

/// The reason the history records when a PSU declines to re-authenticate an Authorised
/// consent (which stays as it was, its access unchanged).
pub(crate) const REAUTHENTICATION_DECLINED: &str = "re-authentication declined by the PSU";

impl AuditEntry {
    /// The bank ended the TPP's access under the consent, which stayed Authorised (OB v3.1.10
    /// "Access Revocation", from the staff console).
    pub fn is_access_revocation(&self) -> bool {
        self.actor.kind == ActorKind::Staff
            && self.from == Some(ConsentStatus::Authorised)
            && self.to == ConsentStatus::Authorised
    }

    /// The PSU authorised the Authorised consent again (a re-authentication, which opens a new
    /// grant generation); a declined one is not.
    pub fn is_reauthorisation(&self) -> bool {
        self.actor.kind == ActorKind::Psu
            && self.from == Some(ConsentStatus::Authorised)
            && self.to == ConsentStatus::Authorised
            && self.reason.as_deref() != Some(REAUTHENTICATION_DECLINED)
    }

    pub(crate) fn from_record(r: ConsentAuditRecord) -> Result<Self, ConsentError> {
        let corrupt = |what: &str| {
            ConsentError::Corrupt(format!("audit of consent {}: {what}", r.consent_id))
        };
        let status = |s: &str| ConsentStatus::parse(s).ok_or_else(|| corrupt("status"));
        Ok(Self {
            actor: Actor {
                kind: ActorKind::parse(&r.actor_kind).ok_or_else(|| corrupt("actor kind"))?,
                id: r.actor_id.clone(),
                customer: r.customer.clone(),
            },
            at: from_unix(r.at)?,
            from: r.from_status.as_deref().map(status).transpose()?,
            to: status(&r.to_status)?,
            reason: r.reason.clone(),
        })
    }
}
