//! The TPP-facing consent operations of CO-1 (UK Open Banking Read/Write API v3.1: POST, GET
//! and DELETE of account-access-consents and funds-confirmation-consents, POST and GET of
//! domestic-payment-consents), with CERT-7 role and scope checks and the `x-idempotency-key`
//! rules of payment consents. Lifecycle and resource-request operations are in
//! [`crate::lifecycle`]. Time is an argument; nothing here reads a clock.

use std::sync::Arc;

use bulwark_core::{Rng, SystemRng};
use bulwark_store::{ConsentAuditRecord, ConsentRecord, ConsentStore, StoreError};
use time::OffsetDateTime;

use crate::account_access::AccountAccessDetails;
use crate::consent::{Consent, ConsentDetails};
use crate::domestic_payment::DomesticPaymentDetails;
use crate::error::ConsentError;
use crate::funds_confirmation::FundsConfirmationDetails;
use crate::model::{Actor, ActorKind, Caller, ConsentKind, ConsentStatus};
use crate::permissions::Permission;
use crate::wire::{body_hash, parse_body};

/// The longest `x-idempotency-key` OB allows.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 40;

/// Consent operations over a [`ConsentStore`]. Cheap to clone.
#[derive(Clone)]
pub struct ConsentService {
    pub(crate) store: Arc<dyn ConsentStore>,
    rng: Arc<dyn Rng>,
    /// The account-access permissions this bank offers (`None`: all of OB's).
    supported_permissions: Option<Arc<[Permission]>>,
    /// The LocalInstrument codes payment consents may name (default: OB's).
    local_instruments: crate::LocalInstruments,
    /// The bank's terms for payment consents (cut-off, expected dates, charges).
    payment_terms: Arc<dyn crate::payment_terms::PaymentTermsProvider>,
    /// The bank's funds check for authorised payment consents.
    funds: Arc<dyn crate::funds::FundsCheck>,
}

impl std::fmt::Debug for ConsentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentService").finish_non_exhaustive()
    }
}

/// What a successful POST produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    /// The consent.
    pub consent: Consent,
    /// False when an idempotent replay returned the consent created earlier (still 201).
    pub new: bool,
}

impl ConsentService {
    /// A service over `store`, with consent ids from the system's generator.
    pub fn new(store: Arc<dyn ConsentStore>) -> Self {
        Self::with_rng(store, Arc::new(SystemRng))
    }

    /// A service over `store` drawing consent ids from `rng`.
    pub fn with_rng(store: Arc<dyn ConsentStore>, rng: Arc<dyn Rng>) -> Self {
        Self {
            store,
            rng,
            supported_permissions: None,
            local_instruments: crate::LocalInstruments::default(),
            payment_terms: Arc::new(crate::payment_terms::NoPaymentTerms),
            funds: Arc::new(crate::funds::NoFundsCheck),
        }
    }

    /// The same service asking `funds` whether an authorised payment can be made (the
    /// default cannot tell).
    pub fn with_funds_check(mut self, funds: Arc<dyn crate::funds::FundsCheck>) -> Self {
        self.funds = funds;
        self
    }

    /// `GET /domestic-payment-consents/{ConsentId}/funds-confirmation`: the caller's
    /// payment consent (its own, a PISP with the payments scope), named by the PSU's access
    /// token it calls with (`token_consent`, the token's `consent_id`), and Authorised;
    /// then the bank's [`crate::funds::FundsCheck`] answers.
    pub async fn funds_confirmation(
        &self,
        caller: &Caller,
        consent_id: &str,
        token_consent: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<crate::funds::FundsConfirmation, ConsentError> {
        caller.authorize(ConsentKind::DomesticPayment)?;
        let consent = self
            .owned(consent_id, &caller.client_id, ConsentKind::DomesticPayment)
            .await?;
        if token_consent != Some(consent_id) {
            return Err(ConsentError::OtherConsent);
        }
        match consent.status_at(now) {
            ConsentStatus::Authorised => {}
            other => return Err(ConsentError::InvalidStatus(other)),
        }
        let available = self.funds.funds_available(&consent, now).await?;
        Ok(crate::funds::FundsConfirmation { available, at: now })
    }

    /// The bank's hook for payment terms (default: none).
    pub fn with_payment_terms(
        mut self,
        terms: Arc<dyn crate::payment_terms::PaymentTermsProvider>,
    ) -> Self {
        self.payment_terms = terms;
        self
    }

    /// Limits account-access consents to the permissions the bank offers; any other is
    /// `UK.OBIE.Field.Invalid` at `Data.Permissions`.
    pub fn with_supported_permissions(mut self, permissions: Vec<Permission>) -> Self {
        self.supported_permissions = Some(permissions.into());
        self
    }

    /// Limits payment consents' `LocalInstrument` to the codes the bank supports (default:
    /// every OB code); any other is 400 `UK.OBIE.Unsupported.LocalInstrument`.
    pub fn with_local_instruments(mut self, codes: crate::LocalInstruments) -> Self {
        self.local_instruments = codes;
        self
    }

    /// POST `/{kind}-consents`: checks role and scope (403), the `x-idempotency-key` for
    /// payment consents (required, 1..=40 characters; other kinds ignore it), parses and checks
    /// the body, and stores the consent as AwaitingAuthorisation with its first audit row.
    /// Nothing is stored when any check fails. A payment consent re-posted with the same key
    /// and the same body (compared by canonical hash) returns the consent created first; the
    /// same key with another body is [`ConsentError::IdempotencyKeyReused`].
    pub async fn create(
        &self,
        caller: &Caller,
        kind: ConsentKind,
        body: &[u8],
        idempotency_key: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Created, ConsentError> {
        caller.authorize(kind)?;
        let key = match kind {
            ConsentKind::DomesticPayment => Some(check_idempotency_key(idempotency_key)?),
            ConsentKind::AccountAccess | ConsentKind::FundsConfirmation => None,
        };
        let details = match kind {
            ConsentKind::AccountAccess => {
                let details = AccountAccessDetails::parse(body, now)?;
                if let Some(supported) = &self.supported_permissions
                    && let Some(p) = details.permissions.iter().find(|p| !supported.contains(p))
                {
                    return Err(ConsentError::InvalidField {
                        path: "Data.Permissions".into(),
                        detail: format!("{} is not offered by this bank", p.as_str()),
                    });
                }
                ConsentDetails::AccountAccess(details)
            }
            ConsentKind::DomesticPayment => {
                let mut details = DomesticPaymentDetails::parse(body)?;
                details.terms = self.payment_terms.terms(&details.initiation, now);
                ConsentDetails::DomesticPayment(details)
            }
            ConsentKind::FundsConfirmation => {
                ConsentDetails::FundsConfirmation(FundsConfirmationDetails::parse(body, now)?)
            }
        };
        let hash = match key {
            Some(_) => Some(body_hash(&parse_body::<serde_json::Value>(body)?)),
            None => None,
        };
        if let (Some(key), Some(hash)) = (key, &hash)
            && let Some(existing) = self.replay(caller, kind, key, hash, Some(now)).await?
        {
            return Ok(Created {
                consent: existing,
                new: false,
            });
        }
        // Checked after the replay, like the cut-off: a retry of a consent created before the
        // bank narrowed its list answers with that consent.
        if let ConsentDetails::DomesticPayment(d) = &details
            && let Some(code) = d.local_instrument()
        {
            self.local_instruments
                .check("Data.Initiation.LocalInstrument", code)?;
        }
        // OB "CutOffDateTime Behaviour" (Reject): past the cut-off a new consent is refused at
        // once rather than stored to be rejected at authorisation (checked after the replay:
        // a retry of a consent created in time answers with it).
        if let ConsentDetails::DomesticPayment(d) = &details
            && d.terms
                .cut_off_date_time
                .is_some_and(|cut_off| now > cut_off)
        {
            return Err(ConsentError::CutOffPassed);
        }
        let now = whole_seconds(now);
        let consent = Consent {
            id: format!("{}{}", kind.id_prefix(), self.rng.uuid_v4()),
            client_id: caller.client_id.clone(),
            stored_status: ConsentStatus::AwaitingAuthorisation,
            psu_id: None,
            selected_accounts: Vec::new(),
            created_at: now,
            status_updated_at: now,
            details,
        };
        let record = consent.to_record(key.map(str::to_owned), hash.clone())?;
        let audit = ConsentAuditRecord {
            consent_id: consent.id.clone(),
            actor_kind: ActorKind::Tpp.as_str().into(),
            actor_id: caller.client_id.clone(),
            at: record.created_at,
            from_status: None,
            to_status: record.status.clone(),
            reason: None,
            customer: caller.customer.clone(),
        };
        match self.store.insert_consent(&record, &audit).await {
            Ok(()) => {
                tracing::info!(target: "bulwark::security", consent_id = %consent.id, client_id = %consent.client_id, kind = kind.as_str(), "consent created");
                Ok(Created { consent, new: true })
            }
            // Another node stored the same key first: answer as that request was answered.
            Err(StoreError::Conflict(_)) => match (key, &hash) {
                (Some(key), Some(hash)) => {
                    match self.replay(caller, kind, key, hash, None).await? {
                        Some(existing) => Ok(Created {
                            consent: existing,
                            new: false,
                        }),
                        None => Err(ConsentError::Corrupt("idempotency conflict".into())),
                    }
                }
                _ => Err(ConsentError::Corrupt("consent id collision".into())),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The consent an earlier request with the same idempotency key created, if the key is
    /// still valid: OB keys are valid for 24 hours, after which (`now` given) the key is
    /// released and the request creates a new consent.
    async fn replay(
        &self,
        caller: &Caller,
        kind: ConsentKind,
        key: &str,
        hash: &str,
        now: Option<OffsetDateTime>,
    ) -> Result<Option<Consent>, ConsentError> {
        let Some(existing) = self
            .store
            .find_consent_by_idempotency_key(&caller.client_id, kind.as_str(), key)
            .await?
        else {
            return Ok(None);
        };
        if let Some(now) = now {
            let expired_by = now
                .unix_timestamp()
                .saturating_sub(Self::IDEMPOTENCY_KEY_LIFETIME_SECS);
            if existing.created_at <= expired_by {
                self.store
                    .release_idempotency_key(&existing.id, key, expired_by)
                    .await?;
                return Ok(None);
            }
        }
        if existing.body_hash.as_deref() != Some(hash) {
            return Err(ConsentError::IdempotencyKeyReused);
        }
        Consent::from_record(existing).map(Some)
    }

    /// OB Read/Write: an `x-idempotency-key` is valid for 24 hours.
    const IDEMPOTENCY_KEY_LIFETIME_SECS: i64 = 24 * 3600;

    /// GET `/{kind}-consents/{ConsentId}`: the caller's own consent of that kind, as it reads
    /// at `now` (render with [`Consent::to_ob_json`]). A missing one, or one of another kind,
    /// is [`ConsentError::NotFound`]; another client's is [`ConsentError::OtherClient`].
    pub async fn get(
        &self,
        caller: &Caller,
        kind: ConsentKind,
        consent_id: &str,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        caller.authorize(kind)?;
        let consent = self.owned(consent_id, &caller.client_id, kind).await?;
        if self.deleted_by_tpp(&consent).await? {
            return Err(ConsentError::NotFound);
        }
        self.record_expiry(&consent, now).await;
        Ok(consent)
    }

    /// OB v3.1.10: a consent its TPP deleted is gone for that TPP (GET and DELETE answer 400
    /// `UK.OBIE.Resource.NotFound`), while the bank keeps the row and its audit trail. A TPP
    /// changes a consent's status only by DELETE, so a Revoked or Rejected consent whose last
    /// change was the TPP's is a deleted one.
    async fn deleted_by_tpp(&self, consent: &Consent) -> Result<bool, ConsentError> {
        if !matches!(
            consent.stored_status,
            ConsentStatus::Revoked | ConsentStatus::Rejected
        ) {
            return Ok(false);
        }
        let history = self.store.consent_history(&consent.id).await?;
        Ok(history
            .last()
            .is_some_and(|r| r.actor_kind == ActorKind::Tpp.as_str()))
    }

    /// DELETE `/account-access-consents/{id}` or `/funds-confirmation-consents/{id}`. The
    /// consent is kept with its audit trail and marked: Authorised becomes Revoked; a consent
    /// still AwaitingAuthorisation is withdrawn (Rejected, the lifecycle's only exit from
    /// that state); one already Rejected or Revoked (by its PSU, the bank) keeps its status
    /// and the TPP's deletion is recorded (OB's DELETE answers 204 whatever the status: TPPs
    /// are asked to clear consents they no longer use). Payment consents have no DELETE
    /// ([`ConsentError::WrongKind`]).
    pub async fn delete(
        &self,
        caller: &Caller,
        kind: ConsentKind,
        consent_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), ConsentError> {
        caller.authorize(kind)?;
        if kind == ConsentKind::DomesticPayment {
            return Err(ConsentError::WrongKind);
        }
        let consent = self.owned(consent_id, &caller.client_id, kind).await?;
        if self.deleted_by_tpp(&consent).await? {
            return Err(ConsentError::NotFound);
        }
        // An expired consent reads as Authorised on the wire (OB has no Expired), so its TPP
        // may delete it like an Authorised one: the stored status moves to Revoked.
        let (to, reason) = match consent.status_at(now) {
            ConsentStatus::Authorised | ConsentStatus::Expired => {
                (ConsentStatus::Revoked, "deleted by the TPP")
            }
            ConsentStatus::AwaitingAuthorisation => (
                ConsentStatus::Rejected,
                "deleted by the TPP before authorisation",
            ),
            ended @ (ConsentStatus::Rejected | ConsentStatus::Revoked) => {
                // Nothing to end: the deletion is an audit row on the status it has.
                return self
                    .write(
                        &consent,
                        ended,
                        &caller.actor(),
                        Some("deleted by the TPP after it ended"),
                        None,
                        now,
                    )
                    .await
                    .map(|_| ());
            }
            other => return Err(ConsentError::InvalidStatus(other)),
        };
        self.apply(&consent, to, &caller.actor(), Some(reason), None, now)
            .await
            .map(|_| ())
    }

    /// The consent if it exists, is of `kind` (else NotFound) and belongs to `client_id`
    /// (else OtherClient).
    pub(crate) async fn owned(
        &self,
        consent_id: &str,
        client_id: &str,
        kind: ConsentKind,
    ) -> Result<Consent, ConsentError> {
        let consent = self.load(consent_id).await?;
        if consent.kind() != kind {
            return Err(ConsentError::NotFound);
        }
        if consent.client_id != client_id {
            return Err(ConsentError::OtherClient);
        }
        Ok(consent)
    }

    /// The consent, whoever owns it; NotFound if missing.
    pub(crate) async fn load(&self, consent_id: &str) -> Result<Consent, ConsentError> {
        let record: ConsentRecord = self
            .store
            .get_consent(consent_id)
            .await?
            .ok_or(ConsentError::NotFound)?;
        Consent::from_record(record)
    }

    /// Records a lazily noticed expiry (Authorised -> Expired by System). Best effort: the
    /// read is correct without it, so a failure is only logged.
    pub(crate) async fn record_expiry(&self, consent: &Consent, now: OffsetDateTime) {
        if !consent.is_expired_at(now) {
            return;
        }
        let at = consent
            .status_updated_at(now)
            .max(consent.status_updated_at);
        let result = self
            .apply(
                consent,
                ConsentStatus::Expired,
                &Actor::system(),
                Some("ExpirationDateTime reached"),
                None,
                at,
            )
            .await;
        if let Err(e) = result {
            tracing::warn!(consent_id = %consent.id, error = %e, "recording consent expiry failed");
        }
    }
}

/// `x-idempotency-key`: required, 1..=40 characters, no surrounding whitespace.
pub fn check_idempotency_key(key: Option<&str>) -> Result<&str, ConsentError> {
    let key = key.ok_or(ConsentError::MissingHeader("x-idempotency-key"))?;
    let n = key.chars().count();
    if n == 0 || n > MAX_IDEMPOTENCY_KEY_LEN || key.trim() != key {
        return Err(ConsentError::InvalidHeader {
            name: "x-idempotency-key",
            detail: format!("must be 1..{MAX_IDEMPOTENCY_KEY_LEN} characters"),
        });
    }
    Ok(key)
}

/// Drops sub-second precision: the store keeps Unix seconds, so what is returned on creation
/// equals what is read back later.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}
