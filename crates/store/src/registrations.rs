//! Dynamic registrations (RFC 7591, RFC 7592, DCR-4): a client registered through `/register`
//! together with the SHA-256 hash of its registration access token. The client row and the
//! registration row are written, changed and deleted in one transaction, so a failure never
//! leaves one without the other.

use async_trait::async_trait;
use bulwark_core::{Client, ClientMetadata, ClientStatus};

use crate::authorization::claim_in;
use crate::{JtiClaim, SqlStore, StoreError};

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
    /// Deletes the client and its registration in one transaction; false if there was none.
    async fn delete_registered_client(&self, client_id: &str) -> Result<bool, StoreError>;
}

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

    async fn delete_registered_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.db().begin().await?;
        let reg = crate::db::query("DELETE FROM registrations WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut tx)
            .await?;
        if reg.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        crate::db::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
