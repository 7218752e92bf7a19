//! Dynamic registrations (RFC 7591, RFC 7592, DCR-4): a client registered through `/register`
//! together with the SHA-256 hash of its registration access token. The client row and the
//! registration row are written, changed and deleted in one transaction, so a failure never
//! leaves one without the other.

use async_trait::async_trait;
use bulwark_core::{Client, ClientMetadata, ClientStatus};

use crate::authorization::claim_in;
use crate::{AuditEvent, JtiClaim, SqlStore, StoreError};

/// What the store keeps about a dynamic registration besides the client itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The registered client.
    pub client_id: String,
    /// SHA-256 of the registration access token (the token itself is never stored).
    pub token_hash: String,
    /// The SSA's `software_id`; a re-registration must be for the same software.
    pub software_id: String,
    /// The organisation the SSA named (JSON, owned by the `dcr` crate), against which the
    /// transport certificate of management requests is checked.
    pub organisation: String,
    /// The transport certificate of the (last) registration request (JSON, owned by the
    /// `dcr` crate), when recorded.
    pub certificate: Option<String>,
    /// Registration time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// How a registration write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationWrite {
    /// Written, with the request's jti claimed.
    Written,
    /// The request's jti was already claimed (a replay): nothing written.
    Replayed,
    /// No such registration (an update): nothing written.
    Missing,
    /// A client of the same software is suspended (a new registration): nothing written.
    /// Registering again must not undo the bank's suspension.
    SoftwareSuspended,
}

/// Persistence of dynamic registrations.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Claims the registration request's `jti` and stores a new client and its registration,
    /// all in one transaction (a refused or failed write leaves the jti unspent);
    /// [`StoreError::Conflict`] if the client id is taken, and
    /// [`RegistrationWrite::SoftwareSuspended`] if a client of the same `software_id` is
    /// suspended (then nothing is written).
    async fn insert_registered_client(
        &self,
        client: &Client,
        registration: &Registration,
        claim: Option<&JtiClaim>,
    ) -> Result<RegistrationWrite, StoreError>;
    /// The registration of a client, if it was registered dynamically.
    async fn get_registration(&self, client_id: &str) -> Result<Option<Registration>, StoreError>;
    /// Claims the request's `jti` and replaces the client's metadata and the registration's
    /// organisation and certificate, in one transaction.
    async fn update_registered_client(
        &self,
        client_id: &str,
        metadata: &ClientMetadata,
        organisation: &str,
        certificate: Option<&str>,
        now: i64,
        claim: Option<&JtiClaim>,
    ) -> Result<RegistrationWrite, StoreError>;
    /// Deletes the client and its registration, and ends what it held (RFC 7592 section 2.3:
    /// the server "SHOULD immediately invalidate all existing authorization grants"), all in
    /// one transaction at `now`, which also appends `audit` to the audit trail (OP-6: the
    /// deletion and its row are both kept or both lost); `None` if there was no such
    /// registration (then nothing changes and nothing is appended). See [`ClientDeletion`]
    /// for what ends.
    async fn delete_registered_client(
        &self,
        client_id: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<Option<ClientDeletion>, StoreError>;
}

/// What ended with a deleted registration, in the same transaction as the deletion.
///
/// - Its consents awaiting authorisation are Rejected, its Authorised (or expired)
///   account-access and funds-confirmation consents Revoked, as its own `DELETE` of each
///   would have (audited as the TPP, with the reason [`CLIENT_DELETED`]). An Authorised payment
///   consent keeps its status: OB has no revocation for it, and a deleted client pays nothing.
/// - Its refresh tokens are revoked; its codes not yet exchanged, its pushed requests and its
///   PSUs' interactions are deleted.
///
/// Its access tokens need no watermark: every check (introspection, the resource guard, the
/// gateway) refuses a token whose client no longer exists (at once on the node that deleted
/// it, within `client_cache_secs` on the others and at the gateway), and a registered client's
/// id (a UUID) is never issued again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientDeletion {
    /// Consents withdrawn before authorisation (now Rejected).
    pub consents_rejected: u64,
    /// Authorised account-access and funds-confirmation consents (now Revoked).
    pub consents_revoked: u64,
    /// Refresh tokens revoked.
    pub refresh_tokens_revoked: u64,
}

/// The reason recorded on each consent a deleted registration ends.
pub const CLIENT_DELETED: &str = "the TPP deleted its registration (RFC 7592)";

fn encode(metadata: &ClientMetadata) -> Result<String, StoreError> {
    serde_json::to_string(metadata).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl RegistrationStore for SqlStore {
    async fn insert_registered_client(
        &self,
        client: &Client,
        registration: &Registration,
        claim: Option<&JtiClaim>,
    ) -> Result<RegistrationWrite, StoreError> {
        let mut tx = self.db().begin().await?;
        if let Some(claim) = claim
            && !claim_in(&mut tx, claim).await?
        {
            tx.rollback().await?;
            return Ok(RegistrationWrite::Replayed);
        }
        // In the same transaction as the insert: a suspension that committed first is seen.
        let suspended = crate::db::query(
            "SELECT 1 AS one FROM registrations r JOIN clients c ON c.client_id = r.client_id \
             WHERE r.software_id = $1 AND c.status = $2 LIMIT 1",
        )
        .bind(&registration.software_id)
        .bind(ClientStatus::Suspended.as_str())
        .fetch_optional(&mut tx)
        .await?;
        if suspended.is_some() {
            tx.rollback().await?;
            return Ok(RegistrationWrite::SoftwareSuspended);
        }
        crate::db::query(
            "INSERT INTO clients (client_id, metadata, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&client.client_id)
        .bind(encode(&client.metadata)?)
        .bind(client.status.as_str())
        .bind(client.client_id_issued_at)
        .bind(client.updated_at)
        .execute(&mut tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "client_id already registered"))?;
        crate::db::query(
            "INSERT INTO registrations \
             (client_id, token_hash, software_id, organisation, certificate, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&registration.client_id)
        .bind(&registration.token_hash)
        .bind(&registration.software_id)
        .bind(&registration.organisation)
        .bind(&registration.certificate)
        .bind(registration.created_at)
        .bind(registration.updated_at)
        .execute(&mut tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "client_id already registered"))?;
        tx.commit().await?;
        Ok(RegistrationWrite::Written)
    }

    async fn get_registration(&self, client_id: &str) -> Result<Option<Registration>, StoreError> {
        let row = crate::db::query(
            "SELECT client_id, token_hash, software_id, organisation, certificate, created_at, \
             updated_at FROM registrations WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.db())
        .await?;
        row.map(|row| {
            Ok(Registration {
                client_id: row.try_get("client_id")?,
                token_hash: row.try_get("token_hash")?,
                software_id: row.try_get("software_id")?,
                organisation: row.try_get("organisation")?,
                certificate: row.try_get("certificate")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    async fn update_registered_client(
        &self,
        client_id: &str,
        metadata: &ClientMetadata,
        organisation: &str,
        certificate: Option<&str>,
        now: i64,
        claim: Option<&JtiClaim>,
    ) -> Result<RegistrationWrite, StoreError> {
        let mut tx = self.db().begin().await?;
        if let Some(claim) = claim
            && !claim_in(&mut tx, claim).await?
        {
            tx.rollback().await?;
            return Ok(RegistrationWrite::Replayed);
        }
        let reg = crate::db::query(
            "UPDATE registrations SET organisation = $1, certificate = COALESCE($2, certificate), \
             updated_at = $3 WHERE client_id = $4",
        )
        .bind(organisation)
        .bind(certificate)
        .bind(now)
        .bind(client_id)
        .execute(&mut tx)
        .await?;
        let client = crate::db::query(
            "UPDATE clients SET metadata = $1, updated_at = $2 WHERE client_id = $3",
        )
        .bind(encode(metadata)?)
        .bind(now)
        .bind(client_id)
        .execute(&mut tx)
        .await?;
        if reg.rows_affected() != 1 || client.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(RegistrationWrite::Missing);
        }
        tx.commit().await?;
        Ok(RegistrationWrite::Written)
    }

    async fn delete_registered_client(
        &self,
        client_id: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<Option<ClientDeletion>, StoreError> {
        // A deadlock with a refresh-token rotation (PostgreSQL aborts one of the two): the
        // whole deletion again, as the rotation retries on its side.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .delete_registered_client_once(client_id, now, audit)
                .await
            {
                Err(e) if attempt < 4 && e.is_retryable_conflict() => continue,
                done => return done,
            }
        }
    }
}

impl SqlStore {
    /// One attempt of [`RegistrationStore::delete_registered_client`].
    async fn delete_registered_client_once(
        &self,
        client_id: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<Option<ClientDeletion>, StoreError> {
        let mut tx = self.db().begin().await?;
        let reg = crate::db::query("DELETE FROM registrations WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut tx)
            .await?;
        if reg.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        crate::db::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut tx)
            .await?;
        // In the order a PSU's decision takes its locks (interaction, pushed request,
        // consent, then the code it writes) and a code exchange its own (the consent, shared,
        // then the code, then the refresh token it writes), so neither deadlocks with this on
        // PostgreSQL: one waits for the other, then sees what it committed. The unexpired rows
        // only (the expiry indexes bound the scans); the purge takes the rest, which nothing
        // can use any more.
        for sql in [
            "DELETE FROM authz_interactions WHERE expires_at >= $2 AND client_id = $1",
            "DELETE FROM pushed_requests WHERE expires_at >= $2 AND client_id = $1",
        ] {
            crate::db::query(sql)
                .bind(client_id)
                .bind(now)
                .execute(&mut tx)
                .await?;
        }
        let consents_rejected = end_consents(
            &mut tx,
            client_id,
            now,
            "AwaitingAuthorisation",
            "Rejected",
            ALL,
        )
        .await?;
        let mut consents_revoked = 0;
        // A consent expired on record is Revoked too, as the TPP's own DELETE would.
        for from in ["Authorised", "Expired"] {
            consents_revoked +=
                end_consents(&mut tx, client_id, now, from, "Revoked", REVOCABLE).await?;
        }
        crate::db::query(
            "DELETE FROM authorization_codes WHERE expires_at >= $2 AND client_id = $1 \
             AND used_at IS NULL",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut tx)
        .await?;
        // By consent (indexed), not by client: every refresh token is bound to one consent of
        // its client. A redemption that won a code committed its token before the DELETE above
        // went on (it waited for it), so the first pass sees it; a rotation holding a token
        // makes a pass wait for it, and the successor it committed is revoked by the next pass
        // (each statement reads anew under READ COMMITTED).
        let mut refresh_tokens_revoked = 0;
        for _ in 0..8 {
            let done = crate::db::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL \
                 AND consent_id IN (SELECT id FROM consents WHERE client_id = $1)",
            )
            .bind(client_id)
            .bind(now)
            .execute(&mut tx)
            .await?;
            if done.rows_affected() == 0 {
                break;
            }
            refresh_tokens_revoked += done.rows_affected();
        }
        crate::staff::insert_audit(audit).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(ClientDeletion {
            consents_rejected,
            consents_revoked,
            refresh_tokens_revoked,
        }))
    }
}

/// Every consent kind.
const ALL: &str = "'account-access', 'domestic-payment', 'funds-confirmation'";
/// The kinds OB lets end by revocation (an Authorised payment consent is never revoked).
const REVOCABLE: &str = "'account-access', 'funds-confirmation'";

/// Moves the deleted client's consents of `kinds` from status `from` to `to`, each with its
/// audit row (the TPP as actor, [`CLIENT_DELETED`] as reason), on the open transaction; how
/// many. The audit rows are written for exactly the rows the UPDATE changed (RETURNING): under
/// READ COMMITTED a PSU's decision committed in between must not be audited as this.
/// `from`, `to` and `kinds` are constants of this module, never input.
async fn end_consents(
    tx: &mut crate::db::Tx,
    client_id: &str,
    now: i64,
    from: &'static str,
    to: &'static str,
    kinds: &'static str,
) -> Result<u64, StoreError> {
    let ended = crate::db::query(sqlx::AssertSqlSafe(format!(
        "UPDATE consents SET status = '{to}', status_updated_at = $2 \
         WHERE client_id = $1 AND status = '{from}' AND kind IN ({kinds}) RETURNING id"
    )))
    .bind(client_id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for row in &ended {
        let id: String = row.try_get("id")?;
        crate::db::query(
            "INSERT INTO consent_audit (consent_id, actor_kind, actor_id, at, from_status, \
             to_status, reason) VALUES ($1, 'TPP', $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(client_id)
        .bind(now)
        .bind(from)
        .bind(to)
        .bind(CLIENT_DELETED)
        .execute(&mut *tx)
        .await?;
    }
    Ok(u64::try_from(ended.len()).unwrap_or(u64::MAX))
}
