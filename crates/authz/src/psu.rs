//! AZ-6: who the PSUs are and which accounts they hold, behind two traits a bank replaces
//! with its own (its customer directory, its core banking system). The demo implementation
//! keeps PSUs in the database with argon2id password hashes.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use bulwark_core::Rng;
use bulwark_store::{PsuAccountRecord, PsuRecord, PsuStore};

use crate::AuthzError;

/// The `acr` a password login reaches in the demo directory. A bank's directory reports what
/// its own authentication reached.
pub const DEMO_ACR: &str = "urn:openbanking:psd2:sca";

/// A PSU as the pages need them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Psu {
    /// Stable subject identifier.
    pub subject: String,
    /// The name the pages greet them with.
    pub display_name: String,
    /// The authentication context the login reached.
    pub acr: String,
}

/// One of a PSU's accounts, as the consent page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The OB AccountId.
    pub id: String,
    /// Nickname.
    pub name: String,
    /// OB SchemeName.
    pub scheme: String,
    /// OB Identification.
    pub identification: String,
    /// ISO 4217 currency.
    pub currency: String,
}

/// Authenticates PSUs.
#[async_trait]
pub trait PsuDirectory: Send + Sync {
    /// Checks credentials. `None` for an unknown user and for a wrong password alike, in
    /// about the same time.
    async fn authenticate(&self, username: &str, password: &str)
    -> Result<Option<Psu>, AuthzError>;
    /// A PSU by subject (a remembered session).
    async fn find(&self, subject: &str) -> Result<Option<Psu>, AuthzError>;
}

/// Lists a PSU's accounts.
#[async_trait]
pub trait AccountDirectory: Send + Sync {
    /// The PSU's accounts.
    async fn accounts(&self, subject: &str) -> Result<Vec<Account>, AuthzError>;
}

/// The demo directory: PSUs and accounts in the database.
pub struct StoredPsuDirectory {
    store: Arc<dyn PsuStore>,
    /// A hash of a random password, verified when the user does not exist so that an unknown
    /// user costs the same time as a wrong password.
    decoy: String,
}

impl std::fmt::Debug for StoredPsuDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPsuDirectory").finish_non_exhaustive()
    }
}

/// An argon2id hash (PHC string) of `password` with the crate's default parameters
/// (m = 19 MiB, t = 2, p = 1: OWASP's recommendation) and a salt from `rng`.
pub fn hash_password(password: &str, rng: &dyn Rng) -> Result<String, AuthzError> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthzError::Internal(format!("argon2: {e}")))
}

/// Checks `password` against an argon2 PHC string (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

impl StoredPsuDirectory {
    /// A directory over the store.
    pub fn new(store: Arc<dyn PsuStore>, rng: &dyn Rng) -> Result<Self, AuthzError> {
        let decoy = hash_password(&rng.token(16), rng)?;
        Ok(Self { store, decoy })
    }

    /// Adds a PSU (`bulwark psu add`, the embedded default's demo PSU).
    pub async fn add(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        rng: &dyn Rng,
        now: i64,
    ) -> Result<PsuRecord, AuthzError> {
        if username.is_empty() || username.len() > 128 || password.len() < 8 {
            return Err(AuthzError::BadRequest(
                "a username (at most 128 characters) and a password of at least 8 characters are needed".into(),
            ));
        }
        let record = PsuRecord {
            username: username.to_string(),
            subject: format!("psu-{}", rng.uuid_v4()),
            display_name: display_name.to_string(),
            password_hash: hash_password(password, rng)?,
            created_at: now,
        };
        self.store.insert_psu(&record).await.map_err(|e| match e {
            bulwark_store::StoreError::Conflict(_) => {
                AuthzError::BadRequest(format!("a PSU named {username} already exists"))
            }
            other => other.into(),
        })?;
        Ok(record)
    }

    /// Gives a PSU demo accounts: a current account and a savings account in GBP.
    pub async fn seed_accounts(&self, subject: &str, rng: &dyn Rng) -> Result<(), AuthzError> {
        let mut digits = [0u8; 16];
        rng.fill(&mut digits);
        let number = |offset: usize| -> String {
            digits[offset..offset + 8]
                .iter()
                .map(|b| char::from(b'0' + b % 10))
                .collect()
        };
        for (suffix, name, account) in [
            ("1", "Current account", number(0)),
            ("2", "Savings", number(8)),
        ] {
            self.store
                .upsert_psu_account(&PsuAccountRecord {
                    subject: subject.to_string(),
                    account_id: format!("{}-{suffix}", &subject[subject.len().saturating_sub(8)..]),
                    name: name.into(),
                    scheme: "UK.OBIE.SortCodeAccountNumber".into(),
                    identification: format!("404142{account}"),
                    currency: "GBP".into(),
                })
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl PsuDirectory for StoredPsuDirectory {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Psu>, AuthzError> {
        let found = self.store.get_psu(username).await?;
        let hash = found
            .as_ref()
            .map(|p| p.password_hash.clone())
            .unwrap_or_else(|| self.decoy.clone());
        let password = password.to_string();
        // argon2 is deliberately slow: off the async workers.
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| AuthzError::Internal(e.to_string()))?;
        Ok(match (ok, found) {
            (true, Some(p)) => Some(Psu {
                subject: p.subject,
                display_name: p.display_name,
                acr: DEMO_ACR.into(),
            }),
            _ => None,
        })
    }

    async fn find(&self, subject: &str) -> Result<Option<Psu>, AuthzError> {
        Ok(self.store.get_psu_by_subject(subject).await?.map(|p| Psu {
            subject: p.subject,
            display_name: p.display_name,
            acr: DEMO_ACR.into(),
        }))
    }
}

#[async_trait]
impl AccountDirectory for StoredPsuDirectory {
    async fn accounts(&self, subject: &str) -> Result<Vec<Account>, AuthzError> {
        Ok(self
            .store
            .psu_accounts(subject)
            .await?
            .into_iter()
            .map(|a| Account {
                id: a.account_id,
                name: a.name,
                scheme: a.scheme,
                identification: a.identification,
                currency: a.currency,
            })
            .collect())
    }
}
