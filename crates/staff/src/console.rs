//! What the console shows and does: consent search (keyset pages with counts), a consent with
//! its history and the refresh tokens issued under it, revocation with a mandatory reason,
//! clients and their suspension, and the audit trail. Every action needs an admin session and
//! its CSRF token, and is an audit event.

use bulwark_consent::{
    AuditEntry, Consent, ConsentCursor, ConsentKind, ConsentSearch, ConsentStatus, ConsentSummary,
    describe,
};
use bulwark_core::{Client, ClientStatus};
use bulwark_store::{AuditEvent, AuditQuery, Registration};
use time::OffsetDateTime;

use crate::{StaffError, StaffService, StaffSession};

/// Consent counts stop here: counting costs what it counts, and a page says "10000+".
pub const COUNT_CAP: u64 = 10_000;

/// The longest reason accepted for an action.
const MAX_REASON: usize = 500;

/// One page of a consent search.
#[derive(Clone, Debug)]
pub struct ConsentPage {
    /// The consents of this page, newest first.
    pub consents: Vec<Consent>,
    /// How many consents match the filters in all, up to [`COUNT_CAP`].
    pub total: u64,
    /// True when more than [`COUNT_CAP`] match (`total` is then the cap).
    pub more: bool,
    /// Where the next page starts, when there is one.
    pub next: Option<ConsentCursor>,
}

/// The refresh tokens issued under a consent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    /// Issued (and not yet purged).
    pub issued: usize,
    /// Of those, still usable (not revoked, not expired).
    pub active: usize,
    /// When the newest was issued, Unix seconds (each use of a rotating token issues one).
    pub last_issued: Option<i64>,
}

/// A consent as the detail page shows it.
#[derive(Clone, Debug)]
pub struct ConsentDetail {
    /// The consent.
    pub consent: Consent,
    /// Its status as it reads now (an Authorised consent past its expiry is Expired).
    pub status: ConsentStatus,
    /// The consent in words.
    pub summary: ConsentSummary,
    /// Its full history, oldest first.
    pub history: Vec<AuditEntry>,
    /// The client that created it, if it still exists.
    pub client: Option<Client>,
    /// The refresh tokens issued under it.
    pub refresh: RefreshSummary,
    /// Whether an admin may revoke it now.
    pub revocable: bool,
    /// Whether revoking it ends the TPP's access while it stays Authorised (an Authorised
    /// account-access consent, OB "Access Revocation") rather than changing its status.
    pub ends_access_only: bool,
    /// When the bank last revoked the TPP's access under this Authorised consent, and who,
    /// if its PSU has not re-authenticated it since (OB "Access Revocation": the status says
    /// Authorised, so the page says this instead).
    pub access_revoked: Option<AuditEntry>,
}

/// A client as the detail page shows it.
#[derive(Clone, Debug)]
pub struct ClientDetail {
    /// The client.
    pub client: Client,
    /// Its dynamic registration, when it registered itself.
    pub registration: Option<Registration>,
    /// Its consents (the newest, up to 50) and how many there are.
    pub consents: ConsentPage,
    /// Its audit events (the newest, up to 50).
    pub events: Vec<AuditEvent>,
}

fn reason(text: Option<&str>) -> Result<String, StaffError> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(StaffError::BadRequest("a reason is required".into()));
    }
    if text.chars().count() > MAX_REASON || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(StaffError::BadRequest(format!(
            "the reason must be at most {MAX_REASON} characters of text"
        )));
    }
    Ok(text.to_owned())
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

impl StaffService {
    /// A page of consents matching `search` (statuses as they read at `now`).
    pub async fn consents(
        &self,
        _session: &StaffSession,
        search: &ConsentSearch,
        now: OffsetDateTime,
    ) -> Result<ConsentPage, StaffError> {
        let search = ConsentSearch {
            now: Some(now),
            limit: if search.limit == 0 {
                50
            } else {
                search.limit.min(200)
            },
            ..search.clone()
        };
        let consents = self.consents.search(&search).await?;
        let counted = self.consents.count(&search, COUNT_CAP + 1).await?;
        let (total, more) = (counted.min(COUNT_CAP), counted > COUNT_CAP);
        let next = (consents.len() == search.limit as usize)
            .then(|| consents.last())
            .flatten()
            .map(|c| ConsentCursor {
                at: match search.order {
                    bulwark_consent::ConsentOrder::Created => unix(c.created_at),
                    bulwark_consent::ConsentOrder::Updated => unix(c.status_updated_at),
                },
                id: c.id.clone(),
            });
        Ok(ConsentPage {
            consents,
            total,
            more,
            next,
        })
    }

    /// A consent with everything the detail page shows.
    pub async fn consent(
        &self,
        session: &StaffSession,
        consent_id: &str,
        now: OffsetDateTime,
    ) -> Result<ConsentDetail, StaffError> {
        let consent = self.consents.staff_get(consent_id, now).await?;
        let history = self.consents.history(consent_id).await?;
        let client = self.store.get_client(&consent.client_id).await?;
        let tokens = self.store.refresh_tokens_of_consent(consent_id).await?;
        let refresh = RefreshSummary {
            issued: tokens.len(),
            active: tokens
                .iter()
                .filter(|t| t.revoked_at.is_none() && t.expires_at > unix(now))
                .count(),
            last_issued: tokens.iter().map(|t| t.issued_at).max(),
        };
        let status = consent.status_at(now);
        let revocable = session.role.can_act() && revocable(&consent, status);
        let access_revoked = (status == ConsentStatus::Authorised)
            .then(|| access_revoked(&history))
            .flatten();
        let ends_access_only = revocable
            && status == ConsentStatus::Authorised
            && consent.kind() == ConsentKind::AccountAccess;
        Ok(ConsentDetail {
            access_revoked,
            ends_access_only,
            summary: describe(&consent),
            consent,
            status,
            history,
            client,
            refresh,
            revocable,
        })
    }

    /// Revokes a consent on the bank's side with a mandatory reason; the staff member and the
    /// reason land in the consent's audit row and the audit trail.
    ///
    /// - Awaiting authorisation: withdrawn (Rejected).
    /// - An Authorised account-access consent: OB v3.1.10 "Access Revocation". The status stays
    ///   Authorised (as the TPP reads it too), every token issued under the consent ends at once
    ///   (refresh tokens, and access tokens by the grant generations revoked, which
    ///   introspection, the resource guard and the gateway read), and the TPP may ask the PSU
    ///   to re-authenticate the same consent, whose new tokens (a later generation) are valid
    ///   at once.
    /// - An Authorised funds-confirmation consent: Revoked (OB keeps that status for it), its
    ///   tokens ended the same way.
    /// - Payment consents are never revoked once Authorised (see [`revocable`]).
    pub async fn revoke_consent(
        &self,
        session: &StaffSession,
        csrf: Option<&str>,
        consent_id: &str,
        why: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Revocation, StaffError> {
        session.check_csrf(csrf)?;
        session.require_admin()?;
        let why = reason(why)?;
        let consent = self.consents.staff_get(consent_id, now).await?;
        let actor = bulwark_consent::Actor::staff(&session.username);
        let status = consent.status_at(now);
        if !revocable(&consent, status) {
            return Err(StaffError::BadRequest(format!(
                "this {} consent is {status}: it cannot be revoked",
                consent.kind().as_str()
            )));
        }
        // The tokens end first: should that fail, nothing says access was revoked while it
        // was not (ending them again is harmless).
        let (revocation, action) = match status {
            ConsentStatus::AwaitingAuthorisation => {
                self.consents
                    .reject(consent_id, &actor, Some(&why), now)
                    .await?;
                (Revocation::Withdrawn, "consent.revoke")
            }
            _ if consent.kind() == ConsentKind::AccountAccess => {
                self.end_access(consent_id, &consent.client_id, &actor, &why, now)
                    .await?;
                (Revocation::AccessEnded, "consent.revoke_access")
            }
            _ => {
                self.tokens
                    .end_access(consent_id, &consent.client_id)
                    .await?;
                self.consents
                    .revoke(consent_id, &actor, Some(&why), now)
                    .await?;
                (Revocation::Revoked, "consent.revoke")
            }
        };
        self.record(&AuditEvent {
            seq: 0,
            at: unix(now),
            actor_kind: "Staff".into(),
            actor_id: session.username.clone(),
            action: action.into(),
            subject: Some(consent_id.to_owned()),
            reason: Some(why),
            request_id: None,
        })
        .await?;
        tracing::info!(target: "bulwark::staff", staff = %session.username, consent_id, action, "consent revoked by staff");
        Ok(revocation)
    }

    /// OB "Access Revocation" of an Authorised account-access consent: ends the tokens of
    /// every grant generation opened so far, then records the revocation in the consent's
    /// history, but only while no re-authentication has opened a later generation since; when
    /// one has (its PSU's decision committed in between), its tokens are ended too and the
    /// record tried again, so the history never says access was revoked while tokens live.
    async fn end_access(
        &self,
        consent_id: &str,
        client_id: &str,
        actor: &bulwark_consent::Actor,
        why: &str,
        now: OffsetDateTime,
    ) -> Result<(), StaffError> {
        for _ in 0..REVOCATION_ATTEMPTS {
            let ended = self.tokens.end_access(consent_id, client_id).await?;
            if self
                .consents
                .revoke_access(consent_id, actor, Some(why), ended, now)
                .await?
                .is_some()
            {
                return Ok(());
            }
        }
        Err(StaffError::Conflict(
            "the consent's PSU kept re-authenticating it while its access was being revoked; \
             its tokens so far are ended, revoke again to record it"
                .into(),
        ))
    }

    /// Every client, newest registration first.
    pub async fn clients(&self, _session: &StaffSession) -> Result<Vec<Client>, StaffError> {
        let mut clients = self.store.list_clients().await?;
        clients.sort_by(|a, b| {
            b.client_id_issued_at
                .cmp(&a.client_id_issued_at)
                .then_with(|| a.client_id.cmp(&b.client_id))
        });
        Ok(clients)
    }

    /// A client with its registration, consents and audit events.
    pub async fn client(
        &self,
        session: &StaffSession,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<ClientDetail, StaffError> {
        let client = self
            .store
            .get_client(client_id)
            .await?
            .ok_or(StaffError::NotFound)?;
        let registration = self.store.get_registration(client_id).await?;
        let consents = self
            .consents(
                session,
                &ConsentSearch {
                    client_id: Some(client_id.to_owned()),
                    ..ConsentSearch::default()
                },
                now,
            )
            .await?;
        let events = self
            .store
            .list_audit(&AuditQuery {
                subject: Some(client_id.to_owned()),
                limit: 50,
                ..AuditQuery::default()
            })
            .await?;
        Ok(ClientDetail {
            client,
            registration,
            consents,
            events,
        })
    }

    /// Suspends (`active` false) or reactivates a client with a mandatory reason. Effective
    /// at once on this node and within `tokens.client_cache_secs` on the others: a suspended
    /// client gets no tokens, and its tokens and registration management are refused.
    pub async fn set_client_status(
        &self,
        session: &StaffSession,
        csrf: Option<&str>,
        client_id: &str,
        active: bool,
        why: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StaffError> {
        session.check_csrf(csrf)?;
        session.require_admin()?;
        session.require_recent_sign_in(now.unix_timestamp())?;
        let why = reason(why)?;
        let status = if active {
            ClientStatus::Active
        } else {
            ClientStatus::Suspended
        };
        if !self
            .store
            .set_client_status(client_id, status, unix(now))
            .await?
        {
            return Err(StaffError::NotFound);
        }
        self.directory.invalidate(client_id);
        let action = if active {
            "client.activate"
        } else {
            "client.suspend"
        };
        self.record(&AuditEvent {
            seq: 0,
            at: unix(now),
            actor_kind: "Staff".into(),
            actor_id: session.username.clone(),
            action: action.into(),
            subject: Some(client_id.to_owned()),
            reason: Some(why),
            request_id: None,
        })
        .await?;
        tracing::info!(target: "bulwark::staff", staff = %session.username, client_id, action, "client status changed by staff");
        Ok(())
    }

    /// The audit trail, newest first.
    pub async fn audit(
        &self,
        _session: &StaffSession,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StaffError> {
        let query = AuditQuery {
            limit: if query.limit == 0 {
                100
            } else {
                query.limit.min(500)
            },
            oldest_first: false,
            ..query.clone()
        };
        Ok(self.store.list_audit(&query).await?)
    }
}

/// May the bank revoke this consent now? Awaiting ones are withdrawn; Authorised ones have
/// their access ended (account access) or are revoked (funds confirmation); payment consents
/// are never revoked once Authorised (OB: a PSU cannot revoke an authorised payment order).
fn revocable(consent: &Consent, status: ConsentStatus) -> bool {
    match status {
        ConsentStatus::AwaitingAuthorisation => true,
        ConsentStatus::Authorised => consent.kind().reauthorisable(),
        _ => false,
    }
}

/// How many times an access revocation ends a later grant generation a re-authentication
/// opened while it was being recorded, before it says so (each attempt needs a PSU's
/// decision to commit in the few milliseconds between two statements).
const REVOCATION_ATTEMPTS: usize = 3;

/// The bank's last access revocation of an Authorised consent, unless its PSU authorised it
/// again after it (a declined re-authentication leaves the access ended). The history's order
/// is the order of effect: the revocation's row is written only while the generation it ended
/// is the consent's latest ([`StaffService::revoke_consent`]).
fn access_revoked(history: &[AuditEntry]) -> Option<AuditEntry> {
    let last = history.iter().rposition(AuditEntry::is_access_revocation)?;
    let reauthorised = history[last + 1..]
        .iter()
        .any(AuditEntry::is_reauthorisation);
    (!reauthorised).then(|| history[last].clone())
}

/// What a bank-side revocation did, for the page that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// A consent awaiting authorisation was withdrawn (now Rejected).
    Withdrawn,
    /// An account-access consent's tokens were ended; it stays Authorised and its PSU may
    /// re-authenticate it.
    AccessEnded,
    /// The consent is Revoked and its tokens ended.
    Revoked,
}

/// Events for an export (`bulwark audit export`): oldest first from `since`, after
/// `after_seq`, at most `limit`.
pub async fn export_audit(
    store: &dyn bulwark_store::Store,
    since: Option<i64>,
    after_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, StaffError> {
    Ok(store
        .list_audit(&AuditQuery {
            since,
            after_seq,
            limit,
            oldest_first: true,
            ..AuditQuery::default()
        })
        .await?)
}
