//! The signing-keys aggregate: the server's private JWKs, shared by every node through the
//! database so they all sign with, and publish, the same keys (DS-2, OP-3). A key's life is
//! three moments: published at creation, signing from `activates_at`, unpublished at
//! `retired_at`; each node derives the key's state from them and its clock.

use async_trait::async_trait;

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
    /// Creation time (first published), Unix seconds.
    pub created_at: i64,
    /// From when the key signs, Unix seconds (before that it is only published).
    pub activates_at: i64,
    /// When the key stops (or stopped) being published, if that is decided.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Persistence of the server's signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key; [`StoreError::Conflict`] if the kid exists.
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Keys still published at `now` (not retired, or retiring later), in signing order:
    /// by creation, then kid (of the active keys, the newest rotation signs; an earlier
    /// rotation's key that activates later never takes over).
    async fn published_signing_keys(&self, now: i64) -> Result<Vec<StoredKey>, StoreError>;
    /// Every key ever stored, retired ones included, in signing order (`bulwark keys list`).
    async fn all_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Rotation in one transaction: every other key of `next.alg` that would stay published
    /// past `retire_others_at` is set to retire then, and `next` is stored.
    async fn rotate_signing_key(
        &self,
        next: &StoredKey,
        retire_others_at: i64,
    ) -> Result<(), StoreError>;
    /// Marks a key retired at `at` (which may be in the future); false if unknown or already
    /// retired.
    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<bool, StoreError>;
    /// The secret every node shares under `name`: `candidate` if none was stored yet (the
    /// first node to ask stores it), otherwise the one stored, so concurrent first starts
    /// agree.
    async fn shared_secret(
        &self,
        name: &str,
        candidate: &str,
        now: i64,
    ) -> Result<String, StoreError>;
}

fn from_row(row: &crate::db::Row) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        private_jwk: row.try_get("private_jwk")?,
        created_at: row.try_get("created_at")?,
        activates_at: row.try_get("activates_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

fn insert_query(key: &StoredKey) -> crate::db::Query {
    crate::db::query(
        "INSERT INTO signing_keys (kid, alg, private_jwk, created_at, activates_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.private_jwk)
    .bind(key.created_at)
    .bind(key.activates_at)
    .bind(key.retired_at)
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        insert_query(key)
            .execute(&self.db())
            .await
            .map_err(|e| StoreError::from_insert(e, "signing key kid exists"))?;
        Ok(())
    }

    async fn published_signing_keys(&self, now: i64) -> Result<Vec<StoredKey>, StoreError> {
        let rows = crate::db::query(
            "SELECT kid, alg, private_jwk, created_at, activates_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at, kid",
        )
        .bind(now)
        .fetch_all(&self.db())
        .await?;
        rows.iter().map(from_row).collect()
    }

    async fn all_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = crate::db::query(
            "SELECT kid, alg, private_jwk, created_at, activates_at, retired_at FROM signing_keys \
             ORDER BY created_at, kid",
        )
        .fetch_all(&self.db())
        .await?;
        rows.iter().map(from_row).collect()
    }

    async fn rotate_signing_key(
        &self,
        next: &StoredKey,
        retire_others_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.db().begin().await?;
        // Signing order is creation order: the next key must sort after every key it
        // replaces even when it is made in the same second as they were (seconds resolution).
        let newest: Option<i64> = crate::db::query("SELECT MAX(created_at) FROM signing_keys")
            .fetch_one(&mut tx)
            .await?
            .try_get(0)?;
        let mut next = next.clone();
        if let Some(newest) = newest {
            next.created_at = next.created_at.max(newest.saturating_add(1));
        }
        let next = &next;
        crate::db::query(
            "UPDATE signing_keys SET retired_at = $1 \
             WHERE alg = $2 AND kid <> $3 AND (retired_at IS NULL OR retired_at > $1)",
        )
        .bind(retire_others_at)
        .bind(&next.alg)
        .bind(&next.kid)
        .execute(&mut tx)
        .await?;
        insert_query(next)
            .execute(&mut tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "signing key kid exists"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE signing_keys SET retired_at = $1 \
             WHERE kid = $2 AND (retired_at IS NULL OR retired_at > $1)",
        )
        .bind(at)
        .bind(kid)
        .execute(&self.db())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn shared_secret(
        &self,
        name: &str,
        candidate: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        crate::db::query(
            "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.db())
        .await?;
        let row = crate::db::query("SELECT value FROM shared_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.db())
            .await?;
        Ok(row.try_get("value")?)
    }
}
