//! Single-use records and token revocation (CA-1 jti, TK-7): each is a row claimed with a
//! unique key, so a replay is refused on every node sharing the database (OP-3).

use async_trait::async_trait;

use crate::{SqlStore, StoreError};

/// What a revocation look-up needs of an access token.
#[derive(Clone, Copy, Debug)]
pub struct IssuedToken<'a> {
    /// The token's `jti`.
    pub jti: &'a str,
    /// The consent (grant) it was issued under; none for an application token.
    pub consent_id: Option<&'a str>,
    /// Its `iat`.
    pub issued_at: i64,
}

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
    /// Revokes every access token of the grant behind `consent_id` issued at or before
    /// `issued_until` (RFC 7009 2.1), remembered until `expires_at`, when the last of them has
    /// expired. Another revocation of the grant moves either bound forward, never back.
    async fn revoke_grant(
        &self,
        consent_id: &str,
        client_id: &str,
        issued_until: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// True if the token was revoked: by its `jti`, or with its grant.
    async fn is_token_revoked(&self, token: &IssuedToken<'_>) -> Result<bool, StoreError>;
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

    async fn revoke_grant(
        &self,
        consent_id: &str,
        client_id: &str,
        issued_until: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO revoked_grants (consent_id, client_id, issued_until, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (consent_id) DO UPDATE SET \
             issued_until = CASE WHEN excluded.issued_until > revoked_grants.issued_until \
             THEN excluded.issued_until ELSE revoked_grants.issued_until END, \
             expires_at = CASE WHEN excluded.expires_at > revoked_grants.expires_at \
             THEN excluded.expires_at ELSE revoked_grants.expires_at END",
        )
        .bind(consent_id)
        .bind(client_id)
        .bind(issued_until)
        .bind(expires_at)
        .execute(&self.db())
        .await?;
        Ok(())
    }

    async fn is_token_revoked(&self, token: &IssuedToken<'_>) -> Result<bool, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.lookups
            .send(crate::batch::Lookup {
                jti: token.jti.to_string(),
                consent_id: token.consent_id.map(str::to_string),
                issued_at: token.issued_at,
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
        let c = crate::db::query("DELETE FROM revoked_grants WHERE expires_at < $1")
            .bind(now)
            .execute(&self.db())
            .await?;
        Ok(a.rows_affected() + b.rows_affected() + c.rows_affected())
    }
}
