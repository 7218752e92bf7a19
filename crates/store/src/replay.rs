//! Single-use records and token revocation (CA-1 jti, TK-7): each is a row claimed with a
//! unique key, so a replay is refused on every node sharing the database (OP-3).

use async_trait::async_trait;

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
        let (reply, answer) = tokio::sync::oneshot::channel();
        let claim = crate::batch::Claim {
            namespace: namespace.to_string(),
            jti: jti.to_string(),
            expires_at,
            reply,
        };
        self.claims
            .send(claim)
            .await
            .map_err(|_| StoreError::Batch("the claim batcher stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Batch("the claim batcher stopped".into()))?
    }

    async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .bind(now)
        .execute(&self.db())
        .await?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.lookups
            .send(crate::batch::Lookup {
                jti: jti.to_string(),
                reply,
            })
            .await
            .map_err(|_| StoreError::Batch("the revocation batcher stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Batch("the revocation batcher stopped".into()))?
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let a = crate::db::query("DELETE FROM used_jtis WHERE expires_at < $1")
            .bind(now)
            .execute(&self.db())
            .await?;
        let b = crate::db::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.db())
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}
