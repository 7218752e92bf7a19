//! The CO-2 lifecycle operations later flows call (PSU authorise / reject on the consent page,
//! revoke by PSU, TPP or staff, consume by a payment submission), CO-4 resource-request
//! validation, the TK-6 introspection check, and the CO-5 staff search and history.
//!
//! Every change is a conditional store update from the status it was decided on, with its
//! audit row in the same transaction; if another node changed the consent first, the change
//! is refused as an illegal transition from the status now stored.

use bulwark_store::{ConsentCursor, ConsentOrder, ConsentQuery, ConsentTransition};
use time::OffsetDateTime;

use crate::consent::{AuditEntry, Consent, ConsentDetails};
use crate::error::ConsentError;
use crate::model::{Actor, ConsentKind, ConsentStatus};
use crate::permissions::{Permission, ResourceApi};
use crate::service::{ConsentService, whole_seconds};

/// What a resource request may rely on once its consent validated (CO-4), for the gateway to
/// forward upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentContext {
    /// The consent.
    pub consent_id: String,
    /// Its kind.
    pub kind: ConsentKind,
    /// The client it belongs to.
    pub client_id: String,
    /// The PSU who authorised it.
    pub psu_id: Option<String>,
    /// The granted permissions (account-access consents; empty otherwise).
    pub permissions: Vec<Permission>,
    /// The accounts the PSU selected.
    pub selected_accounts: Vec<String>,
    /// Its ExpirationDateTime, if any.
    pub expires_at: Option<OffsetDateTime>,
    /// Transaction window start (account-access consents).
    pub transaction_from: Option<OffsetDateTime>,
    /// Transaction window end (account-access consents).
    pub transaction_to: Option<OffsetDateTime>,
}

/// Staff search filters (CO-5). Results are newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsentSearch {
    /// Only this consent.
    pub consent_id: Option<String>,
    /// Only this status (with `now`, as it reads then: an Authorised consent past expiry that
    /// nobody read since is still stored as Authorised, and reads as Expired).
    pub status: Option<ConsentStatus>,
    /// Only this kind.
    pub kind: Option<ConsentKind>,
    /// Only this client.
    pub client_id: Option<String>,
    /// Only this PSU.
    pub psu_id: Option<String>,
    /// Created at or after.
    pub created_from: Option<OffsetDateTime>,
    /// Created before.
    pub created_to: Option<OffsetDateTime>,
    /// Status changed at or after.
    pub updated_from: Option<OffsetDateTime>,
    /// Status changed before.
    pub updated_to: Option<OffsetDateTime>,
    /// Newest first by creation (default) or by the last status change.
    pub order: ConsentOrder,
    /// The page after this row (keyset pagination: the last row of the previous page).
    pub after: Option<ConsentCursor>,
    /// Page size, 1..=500 (0 means 50).
    pub limit: u32,
    /// Judge statuses as they read at this time (an Authorised consent past its expiry is
    /// Expired); `None` filters on the stored status.
    pub now: Option<OffsetDateTime>,
}

impl ConsentService {
    /// Applies `to` from the consent's stored status, checking CO-2 first. Returns the consent
    /// as it is after the change.
    pub(crate) async fn apply(
        &self,
        consent: &Consent,
        to: ConsentStatus,
        actor: &Actor,
        reason: Option<&str>,
        authorisation: Option<(&str, &[String])>,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let from = consent.stored_status;
        from.check_transition(to)?;
        if !consent.kind().has_status(to) {
            return Err(ConsentError::IllegalTransition { from, to });
        }
        self.write(consent, to, actor, reason, authorisation, now)
            .await
    }

    /// Writes `consent -> to` (a conditional update on the status read, with its audit row),
    /// once [`Self::apply`] or a compensating move has decided it may happen.
    pub(crate) async fn write(
        &self,
        consent: &Consent,
        to: ConsentStatus,
        actor: &Actor,
        reason: Option<&str>,
        authorisation: Option<(&str, &[String])>,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let from = consent.stored_status;
        let now = whole_seconds(now);
        let t = transition_of(consent, to, actor, reason, authorisation, now, None);
        if !self.store.transition_consent(&t).await? {
            // Lost a race: report against what is stored now.
            let current = self.load(&consent.id).await?;
            return Err(ConsentError::IllegalTransition {
                from: current.stored_status,
                to,
            });
        }
        log_transition(&t, actor);
        let mut after = consent.clone();
        after.stored_status = to;
        // A record that keeps the status keeps the moment it last changed (as stored).
        if to != from {
            after.status_updated_at = now;
        }
        if let Some((psu, accounts)) = authorisation {
            after.psu_id = Some(psu.to_owned());
            after.selected_accounts = accounts.to_vec();
        }
        Ok(after)
    }

    /// AZ-5: the consent a PSU is about to authorise, for the consent page. It must exist,
    /// belong to `client_id` (NotFound otherwise) and be AwaitingAuthorisation and unexpired,
    /// or, for re-authentication, an Authorised and unexpired account-access or
    /// funds-confirmation consent.
    pub async fn for_authorisation(
        &self,
        consent_id: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self.load(consent_id).await?;
        if consent.client_id != client_id {
            return Err(ConsentError::NotFound);
        }
        self.reject_after_cut_off(&consent, check_authorisable(&consent, now), now)
            .await?;
        Ok(consent)
    }

    /// OB "CutOffDateTime Behaviour" (Reject): a payment consent whose cut-off has passed is
    /// not authorised but Rejected, by the system, so its TPP reads why it will never be
    /// paid; `checked` (the authorisation check's verdict) is returned either way.
    async fn reject_after_cut_off(
        &self,
        consent: &Consent,
        checked: Result<(), ConsentError>,
        now: OffsetDateTime,
    ) -> Result<(), ConsentError> {
        if let Err(ConsentError::CutOffPassed) = &checked
            && let Err(e) = self
                .apply(
                    consent,
                    ConsentStatus::Rejected,
                    &Actor::system(),
                    Some("the payment's cut-off time has passed"),
                    None,
                    now,
                )
                .await
        {
            tracing::warn!(consent_id = %consent.id, error = %e, "a consent past its cut-off could not be marked Rejected");
        }
        checked
    }

    /// The PSU authorises (AwaitingAuthorisation -> Authorised), selecting accounts (at
    /// least one for an account-access consent). A consent whose ExpirationDateTime has
    /// passed cannot be authorised.
    pub async fn authorise(
        &self,
        consent_id: &str,
        psu_id: &str,
        selected_accounts: &[String],
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self.load(consent_id).await?;
        self.reject_after_cut_off(&consent, check_awaiting(&consent, now), now)
            .await?;
        if consent.kind() == ConsentKind::AccountAccess && selected_accounts.is_empty() {
            return Err(ConsentError::InvalidField {
                path: "selected_accounts".into(),
                detail: "select at least one account".into(),
            });
        }
        let mut accounts = selected_accounts.to_vec();
        accounts.sort();
        accounts.dedup();
        self.apply(
            &consent,
            ConsentStatus::Authorised,
            &Actor::psu(psu_id),
            None,
            Some((psu_id, &accounts)),
            now,
        )
        .await
    }

    /// The PSU (or the bank) rejects (AwaitingAuthorisation -> Rejected).
    pub async fn reject(
        &self,
        consent_id: &str,
        actor: &Actor,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self.load(consent_id).await?;
        self.apply(&consent, ConsentStatus::Rejected, actor, reason, None, now)
            .await
    }

    /// Revokes an Authorised consent (Authorised -> Revoked) by PSU, TPP or staff. An
    /// Authorised consent past its expiry is recorded as Expired and cannot be revoked.
    pub async fn revoke(
        &self,
        consent_id: &str,
        actor: &Actor,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self.load(consent_id).await?;
        self.refuse_if_expired(&consent, ConsentStatus::Revoked, now)
            .await?;
        self.apply(&consent, ConsentStatus::Revoked, actor, reason, None, now)
            .await
    }

    /// OB v3.1.10 "Access Revocation" (Account and Transaction API profile): the bank ends the
    /// TPP's access under an Authorised account-access consent, on the PSU's request through
    /// the bank. The status must stay as it is (Authorised: OB keeps `Revoked` for consents made
    /// before v3.1.4) and the TPP may ask the PSU to re-authenticate the same consent; what
    /// ends is every token issued under it, which the caller revokes with the grant. This
    /// records the revocation as an audit row that keeps the status (and its
    /// `StatusUpdateDateTime`). Other kinds are revoked with [`Self::revoke`].
    ///
    /// `ended_generation` is the grant generation whose tokens the caller has ended: the row
    /// is written only while it is still the consent's latest, so the history never says
    /// access was revoked while a re-authentication's later generation lives. `None` when a
    /// re-authentication opened a later one in between: the caller ends that one and asks
    /// again.
    pub async fn revoke_access(
        &self,
        consent_id: &str,
        actor: &Actor,
        reason: Option<&str>,
        ended_generation: i64,
        now: OffsetDateTime,
    ) -> Result<Option<Consent>, ConsentError> {
        let consent = self.load(consent_id).await?;
        self.refuse_if_expired(&consent, ConsentStatus::Authorised, now)
            .await?;
        if consent.kind() != ConsentKind::AccountAccess
            || consent.stored_status != ConsentStatus::Authorised
        {
            return Err(ConsentError::IllegalTransition {
                from: consent.stored_status,
                to: ConsentStatus::Authorised,
            });
        }
        let t = transition_of(
            &consent,
            ConsentStatus::Authorised,
            actor,
            reason,
            None,
            whole_seconds(now),
            Some(ended_generation),
        );
        if !self.store.transition_consent(&t).await? {
            let current = self.load(consent_id).await?;
            if current.stored_status == ConsentStatus::Authorised {
                return Ok(None);
            }
            return Err(ConsentError::IllegalTransition {
                from: current.stored_status,
                to: ConsentStatus::Authorised,
            });
        }
        log_transition(&t, actor);
        Ok(Some(consent))
    }

    /// A payment was made against a domestic-payment consent (Authorised -> Consumed), by
    /// the client that owns it.
    pub async fn consume(
        &self,
        consent_id: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self
            .owned(consent_id, client_id, ConsentKind::DomesticPayment)
            .await?;
        self.apply(
            &consent,
            ConsentStatus::Consumed,
            &Actor::tpp(client_id),
            Some("payment submitted"),
            None,
            now,
        )
        .await
    }

    /// A payment submission the bank certainly never received (the gateway could not reach
    /// it at all): the consumption made for it is undone (Consumed -> Authorised) so the TPP
    /// can submit again. Not a CO-2 lifecycle move: it compensates one that did not happen, it
    /// undoes only that consumption (the consent still Consumed by `client_id` at
    /// `consumed_at`, unchanged since), and the audit trail records it as the gateway's.
    pub async fn restore_undelivered(
        &self,
        consent_id: &str,
        client_id: &str,
        consumed_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self
            .owned(consent_id, client_id, ConsentKind::DomesticPayment)
            .await?;
        let from = consent.stored_status;
        if from != ConsentStatus::Consumed
            || consent.status_updated_at != whole_seconds(consumed_at)
        {
            return Err(ConsentError::IllegalTransition {
                from,
                to: ConsentStatus::Authorised,
            });
        }
        let gateway = Actor {
            id: "gateway".into(),
            ..Actor::system()
        };
        self.write(
            &consent,
            ConsentStatus::Authorised,
            &gateway,
            Some("payment submission never reached the bank; consumption undone"),
            None,
            now,
        )
        .await
    }

    /// Records the expiry of a consent read as Expired and refuses `to` from it.
    async fn refuse_if_expired(
        &self,
        consent: &Consent,
        to: ConsentStatus,
        now: OffsetDateTime,
    ) -> Result<(), ConsentError> {
        if consent.is_expired_at(now) {
            self.record_expiry(consent, now).await;
            return Err(ConsentError::IllegalTransition {
                from: ConsentStatus::Expired,
                to,
            });
        }
        Ok(())
    }

    /// CO-4: may `client_id` use consent `consent_id` for `api` (on `account_id`, for
    /// account-scoped requests) at `now`? Checks, in order: it exists and belongs to the
    /// client (NotFound, OtherClient), it is of the API's kind, it is Authorised and unexpired, its
    /// permissions cover the API, and the account is one the PSU selected.
    pub async fn validate_for_resource(
        &self,
        consent_id: &str,
        client_id: &str,
        api: ResourceApi,
        account_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<ConsentContext, ConsentError> {
        let consent = self.load(consent_id).await?;
        if consent.client_id != client_id {
            return Err(ConsentError::OtherClient);
        }
        if consent.kind() != api.consent_kind() {
            return Err(ConsentError::WrongKind);
        }
        let status = consent.status_at(now);
        if status != ConsentStatus::Authorised {
            self.record_expiry(&consent, now).await;
            return Err(ConsentError::NotAuthorised(status));
        }
        let (permissions, from, to) = match &consent.details {
            ConsentDetails::AccountAccess(d) => (
                d.permissions.clone(),
                d.transaction_from_date_time,
                d.transaction_to_date_time,
            ),
            ConsentDetails::DomesticPayment(_) | ConsentDetails::FundsConfirmation(_) => {
                (Vec::new(), None, None)
            }
        };
        if !api.covered_by(&permissions) {
            return Err(ConsentError::PermissionMissing(api.as_str()));
        }
        if let Some(account) = account_id
            && !consent.selected_accounts.iter().any(|a| a == account)
        {
            return Err(ConsentError::AccountNotSelected);
        }
        Ok(ConsentContext {
            expires_at: consent.expires_at(),
            consent_id: consent.id,
            kind: consent.details.kind(),
            client_id: consent.client_id,
            psu_id: consent.psu_id,
            permissions,
            selected_accounts: consent.selected_accounts,
            transaction_from: from,
            transaction_to: to,
        })
    }

    /// CO-3: a `/domestic-payments` submission body carries exactly the Initiation and Risk
    /// of its consent, which must be Authorised and the client's own. A consent in another
    /// status is [`ConsentError::InvalidStatus`] (400 `UK.OBIE.Resource.InvalidConsentStatus`,
    /// as the Payment Initiation API answers a payment-order against it); one after the
    /// consent's `CutOffDateTime` is [`ConsentError::CutOffPassed`].
    pub async fn validate_payment_submission(
        &self,
        consent_id: &str,
        client_id: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<ConsentContext, ConsentError> {
        let ctx = self
            .validate_for_resource(
                consent_id,
                client_id,
                ResourceApi::DomesticPayment,
                None,
                now,
            )
            .await
            .map_err(|e| match e {
                ConsentError::NotAuthorised(status) => ConsentError::InvalidStatus(status),
                other => other,
            })?;
        let consent = self.load(consent_id).await?;
        match &consent.details {
            ConsentDetails::DomesticPayment(d) => {
                // OB Payment Initiation API Profile, CutOffDateTime Behaviour "Reject": the
                // payment-order is rejected once the cut-off it was given has passed, as the
                // consent and its authorisation are; the consent stays Authorised.
                if d.terms
                    .cut_off_date_time
                    .is_some_and(|cut_off| now > cut_off)
                {
                    return Err(ConsentError::CutOffPassed);
                }
                d.check_submission(consent_id, body)?;
            }
            ConsentDetails::AccountAccess(_) | ConsentDetails::FundsConfirmation(_) => {
                return Err(ConsentError::WrongKind);
            }
        }
        Ok(ctx)
    }

    /// CO-4 for `POST /funds-confirmations`: the consent may be used (as
    /// [`Self::validate_for_resource`]) and the request's `Data.ConsentId` is that consent.
    pub async fn validate_funds_confirmation(
        &self,
        consent_id: &str,
        client_id: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<ConsentContext, ConsentError> {
        let ctx = self
            .validate_for_resource(
                consent_id,
                client_id,
                ResourceApi::FundsConfirmation,
                None,
                now,
            )
            .await?;
        crate::funds_confirmation::check_funds_request(consent_id, body)?;
        Ok(ctx)
    }

    /// GW-1: records a payment the bank accepted for a submission under `consent_id` by
    /// `client_id` (`payment_id` as the bank gave it), so that reads of it are forwarded for
    /// that client only. False when the bank gave an id already recorded for another client
    /// or consent (the first record stands).
    pub async fn record_payment(
        &self,
        payment_id: &str,
        client_id: &str,
        consent_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, ConsentError> {
        Ok(self
            .store
            .record_payment(payment_id, client_id, consent_id, now.unix_timestamp())
            .await?)
    }

    /// GW-1: the payments recorded under a consent, by the second they were recorded in.
    pub async fn payments_of(&self, consent_id: &str) -> Result<Vec<String>, ConsentError> {
        Ok(self.store.payments_of_consent(consent_id).await?)
    }

    /// GW-1: whether `payment_id` is a payment `client_id` made (recorded at its submission
    /// through the gateway).
    pub async fn is_payment_of(
        &self,
        payment_id: &str,
        client_id: &str,
    ) -> Result<bool, ConsentError> {
        Ok(self
            .store
            .payment_client(payment_id)
            .await?
            .is_some_and(|owner| owner == client_id))
    }

    /// TK-6: is the consent Authorised and unexpired at `now`? Read-only (no expiry is
    /// recorded on this hot path). A consent that does not exist is not authorised; a store
    /// failure is an error, never a "no": a code exchange or refresh that met a database
    /// outage must be retryable (503), not turned into a permanent `invalid_grant`.
    pub async fn is_authorised(
        &self,
        consent_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, ConsentError> {
        match self.load(consent_id).await {
            Ok(c) => Ok(c.status_at(now) == ConsentStatus::Authorised),
            Err(ConsentError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// CO-5: any consent by id, for staff (records a noticed expiry).
    pub async fn staff_get(
        &self,
        consent_id: &str,
        now: OffsetDateTime,
    ) -> Result<Consent, ConsentError> {
        let consent = self.load(consent_id).await?;
        self.record_expiry(&consent, now).await;
        Ok(consent)
    }

    /// CO-5: a consent's history, oldest first.
    pub async fn history(&self, consent_id: &str) -> Result<Vec<AuditEntry>, ConsentError> {
        self.store
            .consent_history(consent_id)
            .await?
            .into_iter()
            .map(AuditEntry::from_record)
            .collect()
    }

    /// CO-5: staff search, newest first.
    pub async fn search(&self, s: &ConsentSearch) -> Result<Vec<Consent>, ConsentError> {
        self.store
            .search_consents(&query(s))
            .await?
            .into_iter()
            .map(Consent::from_record)
            .collect()
    }

    /// CO-5: how many consents match `s` (its `after` and `limit` aside), at most `cap`.
    pub async fn count(&self, s: &ConsentSearch, cap: u64) -> Result<u64, ConsentError> {
        Ok(self.store.count_consents(&query(s), cap).await?)
    }
}

/// Every status change on the security log (and so in the audit trail), with its actor in
/// the field the trail reads it from.
fn log_transition(t: &ConsentTransition, actor: &Actor) {
    let (id, from, to) = (&t.consent_id, &t.from_status, &t.to_status);
    let reason = t.reason.as_deref().unwrap_or("");
    match actor.kind {
        crate::model::ActorKind::Tpp => {
            tracing::info!(target: "bulwark::security", consent_id = %id, client_id = %actor.id, from = %from, to = %to, reason, "consent status changed");
        }
        crate::model::ActorKind::Psu => {
            tracing::info!(target: "bulwark::security", consent_id = %id, psu = %actor.id, from = %from, to = %to, reason, "consent status changed");
        }
        crate::model::ActorKind::Staff => {
            tracing::info!(target: "bulwark::security", consent_id = %id, staff = %actor.id, from = %from, to = %to, reason, "consent status changed");
        }
        crate::model::ActorKind::System => {
            tracing::info!(target: "bulwark::security", consent_id = %id, from = %from, to = %to, reason, "consent status changed");
        }
    }
}

/// The store query of a staff search.
fn query(s: &ConsentSearch) -> ConsentQuery {
    ConsentQuery {
        consent_id: s.consent_id.clone(),
        status: s.status.map(|x| x.as_str().to_owned()),
        kind: s.kind.map(|k| k.as_str().to_owned()),
        client_id: s.client_id.clone(),
        psu_id: s.psu_id.clone(),
        created_from: s.created_from.map(OffsetDateTime::unix_timestamp),
        created_to: s.created_to.map(OffsetDateTime::unix_timestamp),
        updated_from: s.updated_from.map(OffsetDateTime::unix_timestamp),
        updated_to: s.updated_to.map(OffsetDateTime::unix_timestamp),
        order: s.order,
        after: s.after.clone(),
        limit: if s.limit == 0 { 50 } else { s.limit.min(500) },
        effective_at: s.now.map(OffsetDateTime::unix_timestamp),
    }
}

/// The conditional change `consent -> to` with its audit row, as the store applies it.
fn transition_of(
    consent: &Consent,
    to: ConsentStatus,
    actor: &Actor,
    reason: Option<&str>,
    authorisation: Option<(&str, &[String])>,
    now: OffsetDateTime,
    grant_generation: Option<i64>,
) -> ConsentTransition {
    ConsentTransition {
        consent_id: consent.id.clone(),
        from_status: consent.stored_status.as_str().into(),
        to_status: to.as_str().into(),
        at: now.unix_timestamp(),
        psu_id: authorisation.map(|(psu, _)| psu.to_owned()),
        selected_accounts: authorisation.map(|(_, accounts)| accounts.to_vec()),
        actor_kind: actor.kind.as_str().into(),
        actor_id: actor.id.clone(),
        reason: reason.map(str::to_owned),
        customer: actor.customer.clone(),
        grant_generation,
    }
}

/// The PSU's decision on the consent page (AZ-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Authorise, with the accounts the PSU selected.
    Authorise {
        /// Selected account ids (at least one for an account-access consent).
        accounts: Vec<String>,
    },
    /// Deny.
    Reject,
}

/// The transition a PSU's decision makes (CO-2), for a caller that commits it together with
/// other writes in one transaction (`authz`: with the authorization code). Checks the
/// lifecycle and the account rule; writes nothing. On an Authorised consent this is a
/// re-authentication (OB v3.1.10): only its own PSU may make it; authorising replaces the
/// selected accounts, declining leaves the consent as it was (an audit row records both).
pub fn decision_transition(
    consent: &Consent,
    psu_id: &str,
    decision: &Decision,
    now: OffsetDateTime,
) -> Result<ConsentTransition, ConsentError> {
    check_authorisable(consent, now)?;
    let reauthentication = consent.stored_status == ConsentStatus::Authorised;
    if reauthentication && consent.psu_id.as_deref() != Some(psu_id) {
        return Err(ConsentError::OtherPsu);
    }
    let now = whole_seconds(now).unix_timestamp();
    let base = ConsentTransition {
        consent_id: consent.id.clone(),
        from_status: consent.stored_status.as_str().into(),
        to_status: ConsentStatus::Rejected.as_str().into(),
        at: now,
        psu_id: Some(psu_id.to_string()),
        selected_accounts: None,
        actor_kind: crate::model::ActorKind::Psu.as_str().into(),
        actor_id: psu_id.to_string(),
        reason: None,
        customer: bulwark_store::FapiCustomer::default(),
        grant_generation: None,
    };
    match decision {
        Decision::Reject if reauthentication => Ok(ConsentTransition {
            to_status: ConsentStatus::Authorised.as_str().into(),
            reason: Some(crate::consent::REAUTHENTICATION_DECLINED.into()),
            ..base
        }),
        Decision::Reject => Ok(ConsentTransition {
            reason: Some("denied by the PSU".into()),
            ..base
        }),
        Decision::Authorise { accounts } => {
            if consent.kind() == ConsentKind::AccountAccess && accounts.is_empty() {
                return Err(ConsentError::InvalidField {
                    path: "selected_accounts".into(),
                    detail: "select at least one account".into(),
                });
            }
            // A payment is made from one account.
            if consent.kind() == ConsentKind::DomesticPayment && accounts.len() > 1 {
                return Err(ConsentError::InvalidField {
                    path: "selected_accounts".into(),
                    detail: "a payment is made from one account".into(),
                });
            }
            let mut accounts = accounts.clone();
            accounts.sort();
            accounts.dedup();
            Ok(ConsentTransition {
                to_status: ConsentStatus::Authorised.as_str().into(),
                selected_accounts: Some(accounts),
                reason: reauthentication.then(|| "re-authorised by the PSU".into()),
                ..base
            })
        }
    }
}

/// AwaitingAuthorisation and, if it has an ExpirationDateTime, not past it.
/// Awaiting authorisation and unexpired, or Authorised, unexpired and re-authorisable.
fn check_authorisable(consent: &Consent, now: OffsetDateTime) -> Result<(), ConsentError> {
    if consent.stored_status == ConsentStatus::Authorised
        && consent.kind().reauthorisable()
        && !consent.is_expired_at(now)
    {
        return Ok(());
    }
    check_awaiting(consent, now)
}

fn check_awaiting(consent: &Consent, now: OffsetDateTime) -> Result<(), ConsentError> {
    if consent.stored_status != ConsentStatus::AwaitingAuthorisation {
        return Err(ConsentError::IllegalTransition {
            from: consent.status_at(now),
            to: ConsentStatus::Authorised,
        });
    }
    if consent.expires_at().is_some_and(|exp| now >= exp) {
        return Err(ConsentError::ExpiredBeforeAuthorisation);
    }
    if let ConsentDetails::DomesticPayment(d) = &consent.details
        && d.terms
            .cut_off_date_time
            .is_some_and(|cut_off| now > cut_off)
    {
        return Err(ConsentError::CutOffPassed);
    }
    Ok(())
}
