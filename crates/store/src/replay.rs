//! Single-use records and token revocation (CA-1 jti, TK-7): each is a row claimed with a
//! unique key, so a replay is refused on every node sharing the database (OP-3).

use async_trait::async_trait;
use sqlx::Row;

use crate::{SqlStore, StoreError};

/// Claims single-use identifiers and records revoked tokens.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Claims `jti` within `namespace` until `expires_at`. Ok(false) if it was already used.
    async fn claim_jti(
        &self,
        namespace: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Records an access token as revoked until its expiry (idempotent).
    async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// True if the token with this jti was revoked.
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Deletes records whose expiry is before `now`; returns how many went.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

#[async_trait]
impl ReplayStore for SqlStore {
    async fn claim_jti(
        &self,
        namespace: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO used_jtis (namespace, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (namespace, jti) DO NOTHING",
        )
        .bind(namespace)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n > 0)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM used_jtis WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}
