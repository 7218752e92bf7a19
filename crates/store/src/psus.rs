//! The demo PSU directory's persistence (AZ-6): PSUs with argon2 password hashes and their
//! accounts. A bank replaces the directory behind `authz`'s traits with its own; this is what
//! the embedded default and the tests run on.

use async_trait::async_trait;

use crate::{SqlStore, StoreError};

/// A stored PSU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsuRecord {
    /// Login name.
    pub username: String,
    /// Stable subject identifier (never the username, which a PSU may change).
    pub subject: String,
    /// The name the pages greet the PSU with.
    pub display_name: String,
    /// PHC string of the argon2 hash.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One of a PSU's accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsuAccountRecord {
    /// The PSU's subject.
    pub subject: String,
    /// The OB AccountId.
    pub account_id: String,
    /// Nickname shown on the consent page.
    pub name: String,
    /// OB SchemeName, e.g. `UK.OBIE.SortCodeAccountNumber`.
    pub scheme: String,
    /// OB Identification.
    pub identification: String,
    /// ISO 4217 currency.
    pub currency: String,
}

/// Persistence of the demo PSU directory.
#[async_trait]
pub trait PsuStore: Send + Sync {
    /// Adds a PSU; a taken username is a conflict.
    async fn insert_psu(&self, p: &PsuRecord) -> Result<(), StoreError>;
    /// Replaces a PSU's password hash; false when the PSU does not exist.
    async fn set_psu_password(&self, username: &str, hash: &str) -> Result<bool, StoreError>;
    /// A PSU by login name.
    async fn get_psu(&self, username: &str) -> Result<Option<PsuRecord>, StoreError>;
    /// A PSU by subject.
    async fn get_psu_by_subject(&self, subject: &str) -> Result<Option<PsuRecord>, StoreError>;
    /// Adds an account (idempotent on (subject, account_id)).
    async fn upsert_psu_account(&self, a: &PsuAccountRecord) -> Result<(), StoreError>;
    /// A PSU's accounts, ordered by account id.
    async fn psu_accounts(&self, subject: &str) -> Result<Vec<PsuAccountRecord>, StoreError>;
}

fn psu(row: &crate::db::Row) -> Result<PsuRecord, StoreError> {
    Ok(PsuRecord {
        username: row.try_get("username")?,
        subject: row.try_get("subject")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl PsuStore for SqlStore {
    async fn insert_psu(&self, p: &PsuRecord) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO psus (username, subject, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&p.username)
        .bind(&p.subject)
        .bind(&p.display_name)
        .bind(&p.password_hash)
        .bind(p.created_at)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "username already exists"))?;
        Ok(())
    }

    async fn set_psu_password(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        let done = crate::db::query("UPDATE psus SET password_hash = $1 WHERE username = $2")
            .bind(hash)
            .bind(username)
            .execute(&self.db())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_psu(&self, username: &str) -> Result<Option<PsuRecord>, StoreError> {
        let row = crate::db::query(
            "SELECT username, subject, display_name, password_hash, created_at FROM psus \
             WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(psu).transpose()
    }

    async fn get_psu_by_subject(&self, subject: &str) -> Result<Option<PsuRecord>, StoreError> {
        let row = crate::db::query(
            "SELECT username, subject, display_name, password_hash, created_at FROM psus \
             WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(psu).transpose()
    }

    async fn upsert_psu_account(&self, a: &PsuAccountRecord) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO psu_accounts (subject, account_id, name, scheme, identification, currency) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject, account_id) DO UPDATE SET \
             name = excluded.name, scheme = excluded.scheme, \
             identification = excluded.identification, currency = excluded.currency",
        )
        .bind(&a.subject)
        .bind(&a.account_id)
        .bind(&a.name)
        .bind(&a.scheme)
        .bind(&a.identification)
        .bind(&a.currency)
        .execute(&self.db())
        .await?;
        Ok(())
    }

    async fn psu_accounts(&self, subject: &str) -> Result<Vec<PsuAccountRecord>, StoreError> {
        let rows = crate::db::query(
            "SELECT subject, account_id, name, scheme, identification, currency FROM psu_accounts \
             WHERE subject = $1 ORDER BY account_id",
        )
        .bind(subject)
        .fetch_all(&self.db())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PsuAccountRecord {
                    subject: row.try_get("subject")?,
                    account_id: row.try_get("account_id")?,
                    name: row.try_get("name")?,
                    scheme: row.try_get("scheme")?,
                    identification: row.try_get("identification")?,
                    currency: row.try_get("currency")?,
                })
            })
            .collect()
    }
}
