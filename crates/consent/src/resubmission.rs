//! OB idempotency of payment submissions at the gateway (Read/Write API profile,
//! "Idempotency"): a TPP whose answer to a payment submission was lost sends the same
//! submission again, with the same `x-idempotency-key`, and must get the payment that was made,
//! not a refusal. The consent was consumed by the first submission, so the second is
//! recognised by its key and body (remembered when the consent was consumed) and forwarded again
//! without consuming anything; the bank answers it with the payment it made for that key.

use bulwark_store::PaymentSubmission;
use time::OffsetDateTime;

use crate::error::ConsentError;
use crate::lifecycle::ConsentContext;
use crate::model::{ConsentKind, ConsentStatus};
use crate::service::ConsentService;
use crate::wire::{body_hash, parse_body};

/// How long the same submission is forwarded again (OB: an idempotency key lives 24 hours).
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 24 * 60 * 60;

/// The canonical hash of a submission body, or `None` when it is not JSON or is ambiguous (a
/// member sent twice: parsers disagree on which counts, so such a body is never vouched for).
fn submission_hash(body: &[u8]) -> Option<String> {
    parse_body::<serde_json::Value>(body)
        .ok()
        .map(|v| body_hash(&v))
}

impl ConsentService {
    /// Whether a submission with an idempotency key was remembered for the consumption of
    /// `consent_id` at `consumed_at`: then that consumption is never undone, even when its
    /// delivery failed at connect, because the same submission may have been sent again and
    /// forwarded meanwhile; the TPP sends it again with its key instead.
    pub async fn has_remembered_submission(
        &self,
        consent_id: &str,
        consumed_at: OffsetDateTime,
    ) -> Result<bool, ConsentError> {
        Ok(self
            .store
            .submission(consent_id)
            .await?
            .is_some_and(|s| s.submitted_at == consumed_at.unix_timestamp()))
    }

    /// Remembers the submission (`key`, `body`) whose consumption of `consent_id` happened at
    /// `consumed_at` (the consent's StatusUpdateDateTime as Consumed), so the same one sent
    /// again is recognised ([`Self::resubmission`]) for that consumption only.
    pub async fn remember_submission(
        &self,
        consent_id: &str,
        client_id: &str,
        key: &str,
        body: &[u8],
        consumed_at: OffsetDateTime,
    ) -> Result<(), ConsentError> {
        let Some(hash) = submission_hash(body) else {
            return Ok(());
        };
        self.store
            .remember_submission(&PaymentSubmission {
                consent_id: consent_id.to_string(),
                client_id: client_id.to_string(),
                idempotency_key: key.to_string(),
                body_hash: hash,
                submitted_at: consumed_at.unix_timestamp(),
            })
            .await?;
        Ok(())
    }

    /// The consent's context when `body` with `key` is the submission that consumed
    /// `consent_id`, sent again by the same `client_id` within [`IDEMPOTENCY_WINDOW_SECS`]:
    /// it is forwarded again and consumes nothing. `None` for anything else (another key,
    /// another body, another client, too late, a consent not consumed), which is refused as
    /// a submission against a consent that is not Authorised.
    pub async fn resubmission(
        &self,
        consent_id: &str,
        client_id: &str,
        key: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<ConsentContext>, ConsentError> {
        let Some(hash) = submission_hash(body) else {
            return Ok(None);
        };
        let Some(first) = self.store.submission(consent_id).await? else {
            return Ok(None);
        };
        let age = now.unix_timestamp().saturating_sub(first.submitted_at);
        let same = first.client_id == client_id
            && first.idempotency_key == key
            && first.body_hash == hash
            && (0..=IDEMPOTENCY_WINDOW_SECS).contains(&age);
        if !same {
            return Ok(None);
        }
        let consent = self
            .owned(consent_id, client_id, ConsentKind::DomesticPayment)
            .await?;
        // The consumption it made, not an earlier one a restored consent left behind.
        if consent.stored_status != ConsentStatus::Consumed
            || consent.status_updated_at.unix_timestamp() != first.submitted_at
        {
            return Ok(None);
        }
        Ok(Some(ConsentContext {
            expires_at: consent.expires_at(),
            consent_id: consent.id,
            kind: ConsentKind::DomesticPayment,
            client_id: consent.client_id,
            psu_id: consent.psu_id,
            permissions: Vec::new(),
            selected_accounts: consent.selected_accounts,
            transaction_from: None,
            transaction_to: None,
        }))
    }
}
