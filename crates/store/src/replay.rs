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
    /// Its grant generation (claim `grant_generation`); none on a token issued before
    /// generations existed, or an application token.
    pub grant_generation: Option<i64>,
}

/// A revocation of the grant behind a consent (RFC 7009 2.1, RFC 6749 4.1.2, CO-5): the
/// access tokens issued under it up to a grant generation, so a re-authentication's later
/// generation stays valid however close in time it follows.
#[derive(Clone, Copy, Debug)]
pub struct GrantRevocation<'a> {
    /// The consent whose grant is revoked.
    pub consent_id: &'a str,
    /// The client it was issued to.
    pub client_id: &'a str,
    /// The last generation revoked: a token carrying this one or an earlier one is revoked.
    pub generation_until: i64,
    /// A token carrying no generation (issued before generations existed) is revoked when
    /// issued at or before this, Unix seconds.
    pub issued_until: i64,
    /// When the last token it revokes has expired, Unix seconds (the record goes then).
    pub expires_at: i64,
}

/// A grant's revocation as a look-up reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GrantWatermark {
    /// Tokens issued at or before this are revoked when generations cannot judge them.
    pub issued_until: i64,
    /// The last generation revoked; none when every revocation of the grant was written
    /// before generations existed.
    pub generation_until: Option<i64>,
}

impl GrantWatermark {
    /// Whether the revocation reaches `token`: by its generation when both have one, else by
    /// its `iat`.
    pub(crate) fn covers(&self, token_generation: Option<i64>, issued_at: i64) -> bool {
        match (token_generation, self.generation_until) {
            (Some(generation), Some(until)) => generation <= until,
            _ => issued_at <= self.issued_until,
        }
    }
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
    /// Revokes the access tokens of a consent's grant up to a generation (RFC 7009 2.1),
    /// remembered until the last of them has expired. Another revocation of the grant moves
    /// each bound forward, never back.
    async fn revoke_grant(&self, revocation: &GrantRevocation<'_>) -> Result<(), StoreError>;
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

    async fn revoke_grant(&self, r: &GrantRevocation<'_>) -> Result<(), StoreError> {
        // A row written before generations existed (NULL) takes the generation now.
        crate::db::query(
            "INSERT INTO revoked_grants (consent_id, client_id, issued_until, expires_at, \
             generation_until) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (consent_id) DO UPDATE SET \
             issued_until = CASE WHEN excluded.issued_until > revoked_grants.issued_until \
             THEN excluded.issued_until ELSE revoked_grants.issued_until END, \
             expires_at = CASE WHEN excluded.expires_at > revoked_grants.expires_at \
             THEN excluded.expires_at ELSE revoked_grants.expires_at END, \
             generation_until = CASE WHEN revoked_grants.generation_until IS NULL \
             OR excluded.generation_until > revoked_grants.generation_until \
             THEN excluded.generation_until ELSE revoked_grants.generation_until END",
        )
        .bind(r.consent_id)
        .bind(r.client_id)
        .bind(r.issued_until)
        .bind(r.expires_at)
        .bind(r.generation_until)
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
                grant_generation: token.grant_generation,
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

#[cfg(test)]
mod tests {
    use super::GrantWatermark;

    /// CO-5: a token's generation decides when both the token and the revocation have one;
    /// otherwise (a token issued, or a revocation written, before generations existed) its
    /// `iat` against the watermark does.
    #[test]
    fn co_5_a_grant_watermark_judges_by_generation_when_both_have_one() {
        let both = GrantWatermark {
            issued_until: 100,
            generation_until: Some(2),
        };
        assert!(both.covers(Some(2), 500));
        assert!(both.covers(Some(1), 500));
        assert!(!both.covers(Some(3), 100));
        assert!(both.covers(None, 100));
        assert!(!both.covers(None, 101));
        let legacy = GrantWatermark {
            issued_until: 100,
            generation_until: None,
        };
        assert!(legacy.covers(Some(9), 100));
        assert!(!legacy.covers(Some(0), 101));
    }
}
