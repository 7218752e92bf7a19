//! The clients aggregate: registered TPP applications and their status.

use async_trait::async_trait;
use bulwark_core::{Client, ClientMetadata, ClientStatus};

use crate::{SqlStore, StoreError};

/// Persistence of registered clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client; [`StoreError::Conflict`] if the id is taken.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    /// Finds a client by id.
    async fn get_client(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Replaces a client's metadata; false if it does not exist.
    async fn update_client_metadata(
        &self,
        client_id: &str,
        metadata: &ClientMetadata,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Sets a client's status; false if it does not exist.
    async fn set_client_status(
        &self,
        client_id: &str,
        status: ClientStatus,
        now: i64,
    ) -> Result<bool, StoreError>;
}

fn encode(metadata: &ClientMetadata) -> Result<String, StoreError> {
    serde_json::to_string(metadata).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(row: &crate::db::Row) -> Result<Client, StoreError> {
    let client_id: String = row.try_get("client_id")?;
    let metadata: String = row.try_get("metadata")?;
    let status: String = row.try_get("status")?;
    let metadata: ClientMetadata = serde_json::from_str(&metadata)
        .map_err(|e| StoreError::Corrupt(format!("client {client_id} metadata: {e}")))?;
    let status = ClientStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("client {client_id} status {status:?}")))?;
    Ok(Client {
        client_id,
        metadata,
        status,
        client_id_issued_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO clients (client_id, metadata, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&client.client_id)
        .bind(encode(&client.metadata)?)
        .bind(client.status.as_str())
        .bind(client.client_id_issued_at)
        .bind(client.updated_at)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "client_id already registered"))?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = crate::db::query(
            "SELECT client_id, metadata, status, created_at, updated_at FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = crate::db::query(
            "SELECT client_id, metadata, status, created_at, updated_at FROM clients \
             ORDER BY created_at, client_id",
        )
        .fetch_all(&self.db())
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn update_client_metadata(
        &self,
        client_id: &str,
        metadata: &ClientMetadata,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE clients SET metadata = $1, updated_at = $2 WHERE client_id = $3",
        )
        .bind(encode(metadata)?)
        .bind(now)
        .bind(client_id)
        .execute(&self.db())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_client_status(
        &self,
        client_id: &str,
        status: ClientStatus,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE clients SET status = $1, updated_at = $2 WHERE client_id = $3",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(client_id)
        .execute(&self.db())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
