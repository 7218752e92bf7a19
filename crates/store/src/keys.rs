//! The signing-keys aggregate: the server's private JWKs, shared by every node through the
//! database so they all sign with, and publish, the same keys (DS-2, OP-3).

use async_trait::async_trait;
use sqlx::Row;

use crate::{SqlStore, StoreError};

/// A stored signing key. `private_jwk` is secret material.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// `PS256` or `ES256`.
    pub alg: String,
    /// The private JWK as JSON.
    pub private_jwk: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When the key stopped being published, if it did.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Persistence of the server's signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key; [`StoreError::Conflict`] if the kid exists.
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Keys not retired, oldest first.
    async fn active_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Marks a key retired at `at`; false if unknown.
    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<bool, StoreError>;
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_jwk)
        .bind(key.created_at)
        .bind(key.retired_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_insert(e, "signing key kid exists"))?;
        Ok(())
    }

    async fn active_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_jwk, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredKey {
                    kid: row.try_get("kid")?,
                    alg: row.try_get("alg")?,
                    private_jwk: row.try_get("private_jwk")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect()
    }

    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
        )
        .bind(at)
        .bind(kid)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
