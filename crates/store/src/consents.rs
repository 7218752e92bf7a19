//! The consents aggregate: UK Open Banking v3.1 consent resources (CO-1) and their append-only
//! audit history (CO-2).
//!
//! The store does not interpret consents: kind, status and body are opaque to it. What it
//! guarantees is the part only a database can: a status change is a conditional update
//! (`WHERE id = $1 AND status = $2`), so two nodes racing cannot both move the same consent, and
//! the audit row of each change is written in the same transaction as the change.

use async_trait::async_trait;

use crate::{AuditEvent, SqlStore, StoreError};

/// A stored consent.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentRecord {
    /// The ConsentId.
    pub id: String,
    /// Which consent resource (`account-access`, `domestic-payment`, `funds-confirmation`).
    pub kind: String,
    /// The client (TPP application) that created it; the only one that may see it.
    pub client_id: String,
    /// The lifecycle status as stored (OB status names).
    pub status: String,
    /// The PSU who authorised or rejected it.
    pub psu_id: Option<String>,
    /// The validated request content (OB JSON).
    pub body: serde_json::Value,
    /// Accounts the PSU selected when authorising.
    pub selected_accounts: Vec<String>,
    /// The `x-idempotency-key` it was created with (payment consents).
    pub idempotency_key: Option<String>,
    /// Hash of the canonical request body, to tell a replay from a reused key.
    pub body_hash: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last status change, Unix seconds.
    pub status_updated_at: i64,
    /// ExpirationDateTime, Unix seconds.
    pub expires_at: Option<i64>,
}

/// A payment the bank accepted, as recorded for GW-1 (who may read it through the gateway).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmittedPayment {
    /// The payment id as the bank gave it (`Data.DomesticPaymentId`).
    pub payment_id: String,
    /// The client that made it; the only one whose reads are forwarded.
    pub client_id: String,
    /// The domestic payment consent it was made under.
    pub consent_id: String,
    /// When it was recorded, Unix seconds.
    pub recorded_at: i64,
}

/// What became of an operator's record of a payment (`bulwark payments record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorRecord {
    /// Recorded, with its audit row (and the consent consumed, when that was asked).
    Recorded(SubmittedPayment),
    /// Recorded already for the same client and consent: nothing written.
    AlreadyRecorded(SubmittedPayment),
    /// Recorded already for another client or consent (this record, which stands): nothing
    /// written, the consent untouched.
    RecordedElsewhere(SubmittedPayment),
    /// The consent no longer had the transition's `from_status`: nothing written.
    ConsentChanged,
    /// The consent has a payment recorded already (these, first recorded first) and a
    /// second was not allowed: nothing written.
    ConsentHasPayment(Vec<String>),
}

/// The payment submission that consumed a domestic payment consent at the gateway, as OB
/// idempotency needs it: the same key and body sent again within 24 hours is the same payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSubmission {
    /// The consent it consumed.
    pub consent_id: String,
    /// The client that sent it.
    pub client_id: String,
    /// Its `x-idempotency-key`.
    pub idempotency_key: String,
    /// SHA-256 (hex) of its canonical JSON body.
    pub body_hash: String,
    /// When it was sent, Unix seconds.
    pub submitted_at: i64,
}

/// The FAPI headers a TPP forwarded about its customer on the request behind an audit row
/// (`x-fapi-auth-date`, `x-fapi-customer-ip-address`; OB Read/Write v3.1.10 keeps them with
/// the consent), as sent after validation; empty for changes no TPP request caused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FapiCustomer {
    /// `x-fapi-auth-date`: when the PSU last logged in with the TPP (an HTTP-date).
    pub auth_date: Option<String>,
    /// `x-fapi-customer-ip-address`: the PSU's IP address.
    pub ip_address: Option<String>,
}

/// One row of a consent's append-only history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentAuditRecord {
    /// The consent.
    pub consent_id: String,
    /// Who acted: `TPP`, `PSU`, `Staff` or `System`.
    pub actor_kind: String,
    /// The actor's id (client id, PSU id, staff user, or a system component name).
    pub actor_id: String,
    /// When, Unix seconds.
    pub at: i64,
    /// Status before the change; `None` for the creation row.
    pub from_status: Option<String>,
    /// Status after the change.
    pub to_status: String,
    /// Why, when known.
    pub reason: Option<String>,
    /// The customer headers of the TPP request behind the change.
    pub customer: FapiCustomer,
}

/// A conditional status change with its audit row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentTransition {
    /// The consent.
    pub consent_id: String,
    /// The status the consent must have for the change to apply.
    pub from_status: String,
    /// The new status.
    pub to_status: String,
    /// When, Unix seconds.
    pub at: i64,
    /// Sets the PSU when given.
    pub psu_id: Option<String>,
    /// Replaces the selected accounts when given.
    pub selected_accounts: Option<Vec<String>>,
    /// Who acted.
    pub actor_kind: String,
    /// The actor's id.
    pub actor_id: String,
    /// Why, when known.
    pub reason: Option<String>,
    /// The customer headers of the TPP request behind the change.
    pub customer: FapiCustomer,
    /// When given, the change applies only while the consent's grant generation is this one
    /// (the bank's access revocation records the generation it ended: a re-authentication
    /// that opened a later one in between refuses the record, and the caller ends that too).
    pub grant_generation: Option<i64>,
}

/// Which time orders a staff search (newest first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsentOrder {
    /// By creation.
    #[default]
    Created,
    /// By the last status change.
    Updated,
}

/// Where a keyset page starts: after the row with this time (of the order) and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentCursor {
    /// The ordering time of the last row of the previous page, Unix seconds.
    pub at: i64,
    /// Its id (ties broken by id, descending).
    pub id: String,
}

/// Staff search filters (CO-5). Every filter is optional; results are newest first by
/// `order`, paginated by keyset (`after`), never by offset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsentQuery {
    /// Only this consent.
    pub consent_id: Option<String>,
    /// Only this stored status.
    pub status: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this client's consents.
    pub client_id: Option<String>,
    /// Only this PSU's consents.
    pub psu_id: Option<String>,
    /// Created at or after, Unix seconds.
    pub created_from: Option<i64>,
    /// Created before, Unix seconds.
    pub created_to: Option<i64>,
    /// Status changed at or after, Unix seconds.
    pub updated_from: Option<i64>,
    /// Status changed before, Unix seconds.
    pub updated_to: Option<i64>,
    /// The ordering time.
    pub order: ConsentOrder,
    /// The page after this row.
    pub after: Option<ConsentCursor>,
    /// Page size (at most 500).
    pub limit: u32,
    /// Filter on the status as it reads at this time (Unix seconds): an Authorised consent
    /// past its expiry is Expired, whether or not a read has recorded it yet.
    pub effective_at: Option<i64>,
}

/// Persistence of consents and their audit history.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Stores a new consent and its creation audit row in one transaction. A taken id or a
    /// taken (client_id, kind, idempotency_key) is [`StoreError::Conflict`] and stores nothing.
    async fn insert_consent(
        &self,
        consent: &ConsentRecord,
        audit: &ConsentAuditRecord,
    ) -> Result<(), StoreError>;
    /// Finds a consent by id.
    async fn get_consent(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError>;
    /// Finds the consent a client created with an idempotency key.
    async fn find_consent_by_idempotency_key(
        &self,
        client_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// Forgets the idempotency key of a consent created at or before `created_by` (OB: a key
    /// is valid for 24 hours), so the client may use it again. False when nothing matched.
    async fn release_idempotency_key(
        &self,
        consent_id: &str,
        key: &str,
        created_by: i64,
    ) -> Result<bool, StoreError>;
    /// Applies a status change only if the consent still has `from_status`, writing its audit
    /// row in the same transaction. False (and nothing written) when it did not apply.
    async fn transition_consent(&self, t: &ConsentTransition) -> Result<bool, StoreError>;
    /// A consent's history, oldest first.
    async fn consent_history(&self, id: &str) -> Result<Vec<ConsentAuditRecord>, StoreError>;
    /// Staff search, newest first.
    async fn search_consents(&self, q: &ConsentQuery) -> Result<Vec<ConsentRecord>, StoreError>;
    /// How many consents match `q` (its `after` and `limit` aside), counting at most `cap`
    /// (a count over millions of rows costs what it counts; the console says "cap+").
    async fn count_consents(&self, q: &ConsentQuery, cap: u64) -> Result<u64, StoreError>;
    /// Records a payment the bank accepted (its id as the bank gave it) as made by `client_id`
    /// under `consent_id`. Recording the same payment again changes nothing; false when the id
    /// is already recorded for another client or consent (the first record stands).
    async fn record_payment(
        &self,
        payment_id: &str,
        client_id: &str,
        consent_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// An operator's record of a payment the bank accepted, all or nothing (one
    /// transaction): the consent's move (`consume`, to Consumed) when given, the payment's
    /// record, and `audit`'s row in the audit trail. One consent pays once: unless
    /// `second_payment`, a consent with a payment recorded is refused, decided with the
    /// consent held (two operators recording two payments at once cannot both pass); when
    /// allowed, the row's reason ends "as a second payment (already: …)".
    async fn record_payment_by_operator(
        &self,
        payment: &SubmittedPayment,
        consume: Option<&ConsentTransition>,
        second_payment: bool,
        audit: &AuditEvent,
    ) -> Result<OperatorRecord, StoreError>;
    /// The client a recorded payment was made by.
    async fn payment_client(&self, payment_id: &str) -> Result<Option<String>, StoreError>;
    /// The ids of the payments recorded under a consent, by the second they were recorded in
    /// (then by id); one, when the bank keeps "one consent pays once".
    async fn payments_of_consent(&self, consent_id: &str) -> Result<Vec<String>, StoreError>;
    /// Remembers the submission that consumed its consent (replacing one a failed delivery
    /// left behind).
    async fn remember_submission(&self, s: &PaymentSubmission) -> Result<(), StoreError>;
    /// The submission that consumed `consent_id`, when one was remembered.
    async fn submission(&self, consent_id: &str) -> Result<Option<PaymentSubmission>, StoreError>;
    /// A recorded payment whole (the operator's view: `bulwark payments show`).
    async fn payment_record(
        &self,
        payment_id: &str,
    ) -> Result<Option<SubmittedPayment>, StoreError>;
}

const COLUMNS: &str = "id, kind, client_id, status, psu_id, body, selected_accounts, \
     idempotency_key, body_hash, created_at, status_updated_at, expires_at";

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

fn decode(row: &crate::db::Row) -> Result<ConsentRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let body: String = row.try_get("body")?;
    let accounts: String = row.try_get("selected_accounts")?;
    Ok(ConsentRecord {
        body: serde_json::from_str(&body)
            .map_err(|e| corrupt(format!("consent {id} body: {e}")))?,
        selected_accounts: serde_json::from_str(&accounts)
            .map_err(|e| corrupt(format!("consent {id} selected_accounts: {e}")))?,
        kind: row.try_get("kind")?,
        client_id: row.try_get("client_id")?,
        status: row.try_get("status")?,
        psu_id: row.try_get("psu_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        body_hash: row.try_get("body_hash")?,
        created_at: row.try_get("created_at")?,
        status_updated_at: row.try_get("status_updated_at")?,
        expires_at: row.try_get("expires_at")?,
        id,
    })
}

/// A recorded payment, read on the pool or inside a transaction.
async fn read_payment<'e>(
    on: impl Into<crate::db::On<'e>>,
    payment_id: &str,
) -> Result<Option<SubmittedPayment>, StoreError> {
    let row = crate::db::query(
        "SELECT payment_id, client_id, consent_id, created_at FROM submitted_payments \
         WHERE payment_id = $1",
    )
    .bind(payment_id)
    .fetch_optional(on)
    .await?;
    row.map(|r| {
        Ok(SubmittedPayment {
            payment_id: r.try_get("payment_id")?,
            client_id: r.try_get("client_id")?,
            consent_id: r.try_get("consent_id")?,
            recorded_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// The payment ids recorded under a consent, first recorded first, read on the pool or
/// inside a transaction.
async fn read_payments_of_consent<'e>(
    on: impl Into<crate::db::On<'e>>,
    consent_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = crate::db::query(
        "SELECT payment_id FROM submitted_payments WHERE consent_id = $1 \
         ORDER BY created_at, payment_id",
    )
    .bind(consent_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| r.try_get("payment_id").map_err(Into::into))
        .collect()
}

/// An operator's recording of a payment id that has a record already (`stored`, which stands).
fn already(stored: SubmittedPayment, asked: &SubmittedPayment) -> OperatorRecord {
    if stored.client_id == asked.client_id && stored.consent_id == asked.consent_id {
        OperatorRecord::AlreadyRecorded(stored)
    } else {
        OperatorRecord::RecordedElsewhere(stored)
    }
}

impl SqlStore {
    /// Holds a consent's row until `tx` ends (PostgreSQL: `FOR UPDATE`; SQLite's write
    /// transaction already excludes every other writer), so that the recordings of payments
    /// under it take turns.
    async fn hold_consent(
        &self,
        tx: &mut crate::db::Tx,
        consent_id: &str,
    ) -> Result<(), StoreError> {
        if self.backend() == crate::Backend::Postgres {
            crate::db::query("SELECT id FROM consents WHERE id = $1 FOR UPDATE")
                .bind(consent_id)
                .fetch_optional(tx)
                .await?;
        }
        Ok(())
    }
}

pub(crate) fn encode_accounts(accounts: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(accounts).map_err(|e| corrupt(e.to_string()))
}

async fn insert_audit(conn: &mut crate::db::Tx, a: &ConsentAuditRecord) -> Result<(), StoreError> {
    crate::db::query(
        "INSERT INTO consent_audit (consent_id, actor_kind, actor_id, at, from_status, to_status, reason, \
         customer_auth_date, customer_ip_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.consent_id)
    .bind(&a.actor_kind)
    .bind(&a.actor_id)
    .bind(a.at)
    .bind(&a.from_status)
    .bind(&a.to_status)
    .bind(&a.reason)
    .bind(&a.customer.auth_date)
    .bind(&a.customer.ip_address)
    .execute(conn)
    .await?;
    Ok(())
}

/// Applies a conditional status change and its audit row on an open transaction; false when
/// the consent no longer has `from_status` (the caller rolls back).
pub(crate) async fn apply_transition(
    conn: &mut crate::db::Tx,
    t: &ConsentTransition,
) -> Result<bool, StoreError> {
    let accounts = t
        .selected_accounts
        .as_deref()
        .map(encode_accounts)
        .transpose()?;
    // A record that keeps the status (a TPP deleting a consent that had already ended) keeps
    // the moment the status last changed too (the SET expressions read the row as it was).
    let done = crate::db::query(
        "UPDATE consents SET status = $1, \
         status_updated_at = CASE WHEN status = $1 THEN status_updated_at ELSE $2 END, \
         psu_id = COALESCE($3, psu_id), selected_accounts = COALESCE($4, selected_accounts) \
         WHERE id = $5 AND status = $6 AND grant_generation = COALESCE($7, grant_generation)",
    )
    .bind(&t.to_status)
    .bind(t.at)
    .bind(&t.psu_id)
    .bind(accounts)
    .bind(&t.consent_id)
    .bind(&t.from_status)
    .bind(t.grant_generation)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    insert_audit(
        conn,
        &ConsentAuditRecord {
            consent_id: t.consent_id.clone(),
            actor_kind: t.actor_kind.clone(),
            actor_id: t.actor_id.clone(),
            at: t.at,
            from_status: Some(t.from_status.clone()),
            to_status: t.to_status.clone(),
            reason: t.reason.clone(),
            customer: t.customer.clone(),
        },
    )
    .await?;
    Ok(true)
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn insert_consent(
        &self,
        c: &ConsentRecord,
        audit: &ConsentAuditRecord,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(&c.body).map_err(|e| corrupt(e.to_string()))?;
        let mut tx = self.db().begin().await?;
        crate::db::query(
            "INSERT INTO consents (id, kind, client_id, status, psu_id, body, selected_accounts, \
             idempotency_key, body_hash, created_at, status_updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.client_id)
        .bind(&c.status)
        .bind(&c.psu_id)
        .bind(body)
        .bind(encode_accounts(&c.selected_accounts)?)
        .bind(&c.idempotency_key)
        .bind(&c.body_hash)
        .bind(c.created_at)
        .bind(c.status_updated_at)
        .bind(c.expires_at)
        .execute(&mut tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "consent id or idempotency key already used"))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_consent(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        let row = crate::db::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn find_consent_by_idempotency_key(
        &self,
        client_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let row = crate::db::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents \
             WHERE client_id = $1 AND kind = $2 AND idempotency_key = $3"
        )))
        .bind(client_id)
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn release_idempotency_key(
        &self,
        consent_id: &str,
        key: &str,
        created_by: i64,
    ) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE consents SET idempotency_key = NULL \
             WHERE id = $1 AND idempotency_key = $2 AND created_at <= $3",
        )
        .bind(consent_id)
        .bind(key)
        .bind(created_by)
        .execute(&self.db())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn transition_consent(&self, t: &ConsentTransition) -> Result<bool, StoreError> {
        let mut tx = self.db().begin().await?;
        if !apply_transition(&mut tx, t).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn consent_history(&self, id: &str) -> Result<Vec<ConsentAuditRecord>, StoreError> {
        let rows = crate::db::query(
            "SELECT consent_id, actor_kind, actor_id, at, from_status, to_status, reason, \
             customer_auth_date, customer_ip_address FROM consent_audit WHERE consent_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.db())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ConsentAuditRecord {
                    consent_id: row.try_get("consent_id")?,
                    actor_kind: row.try_get("actor_kind")?,
                    actor_id: row.try_get("actor_id")?,
                    at: row.try_get("at")?,
                    from_status: row.try_get("from_status")?,
                    to_status: row.try_get("to_status")?,
                    reason: row.try_get("reason")?,
                    customer: FapiCustomer {
                        auth_date: row.try_get("customer_auth_date")?,
                        ip_address: row.try_get("customer_ip_address")?,
                    },
                })
            })
            .collect()
    }

    async fn search_consents(&self, q: &ConsentQuery) -> Result<Vec<ConsentRecord>, StoreError> {
        let (filter, mut args) = consent_filter(q, true);
        args.push(Arg::Int(i64::from(q.limit.clamp(1, 500))));
        let column = order_column(q.order);
        let sql = format!(
            "SELECT {COLUMNS} FROM consents {filter} \
             ORDER BY {column} DESC, id DESC LIMIT ${}",
            args.len()
        );
        let rows = bind_all(crate::db::query(sqlx::AssertSqlSafe(sql)), args)
            .fetch_all(&self.db())
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn count_consents(&self, q: &ConsentQuery, cap: u64) -> Result<u64, StoreError> {
        let (filter, mut args) = consent_filter(q, false);
        args.push(Arg::Int(i64::try_from(cap).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM consents {filter} LIMIT ${}) AS capped",
            args.len()
        );
        let row = bind_all(crate::db::query(sqlx::AssertSqlSafe(sql)), args)
            .fetch_one(&self.db())
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
    async fn record_payment(
        &self,
        payment_id: &str,
        client_id: &str,
        consent_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        // The consent is held while its payment is recorded, as an operator's recording
        // holds it (`record_payment_by_operator`): that one then sees this record, and a
        // caller reading the consent's payments after this sees the operator's.
        let mut tx = self.db().begin().await?;
        self.hold_consent(&mut tx, consent_id).await?;
        crate::db::query(
            "INSERT INTO submitted_payments (payment_id, client_id, consent_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING",
        )
        .bind(payment_id)
        .bind(client_id)
        .bind(consent_id)
        .bind(now)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        // The first record stands: whoever wrote it, it is the one to compare with.
        let stored = self.payment_record(payment_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "payment {payment_id} vanished after it was recorded"
            ))
        })?;
        Ok(stored.client_id == client_id && stored.consent_id == consent_id)
    }

    async fn record_payment_by_operator(
        &self,
        payment: &SubmittedPayment,
        consume: Option<&ConsentTransition>,
        second_payment: bool,
        audit: &AuditEvent,
    ) -> Result<OperatorRecord, StoreError> {
        let mut tx = self.db().begin().await?;
        if let Some(t) = consume
            && !apply_transition(&mut tx, t).await?
        {
            tx.rollback().await?;
            return Ok(OperatorRecord::ConsentChanged);
        }
        // Held until the commit, as the gateway's `record_payment` holds it: another
        // recording under the consent waits, then sees this one's record (or this one its).
        self.hold_consent(&mut tx, &payment.consent_id).await?;
        // The payment id first: recorded already (under this consent or another), the
        // first record stands whatever else holds.
        if let Some(stored) = read_payment(&mut tx, &payment.payment_id).await? {
            tx.rollback().await?;
            return Ok(already(stored, payment));
        }
        let earlier = read_payments_of_consent(&mut tx, &payment.consent_id).await?;
        if !earlier.is_empty() && !second_payment {
            tx.rollback().await?;
            return Ok(OperatorRecord::ConsentHasPayment(earlier));
        }
        // The trail says when the consent had payments already, as read here.
        let mut audit = audit.clone();
        if !earlier.is_empty() {
            audit.reason = Some(format!(
                "{} as a second payment (already: {})",
                audit.reason.unwrap_or_default(),
                earlier.join(", ")
            ));
        }
        let inserted = crate::db::query(
            "INSERT INTO submitted_payments (payment_id, client_id, consent_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING",
        )
        .bind(&payment.payment_id)
        .bind(&payment.client_id)
        .bind(&payment.consent_id)
        .bind(payment.recorded_at)
        .execute(&mut tx)
        .await?;
        if inserted.rows_affected() != 1 {
            // Recorded meanwhile under another consent (not held here): that record stands,
            // and nothing of this one is kept.
            tx.rollback().await?;
            let stored = self
                .payment_record(&payment.payment_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "payment {} vanished after it was recorded",
                        payment.payment_id
                    ))
                })?;
            return Ok(already(stored, payment));
        }
        crate::staff::insert_audit(&audit).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(OperatorRecord::Recorded(payment.clone()))
    }

    async fn remember_submission(&self, s: &PaymentSubmission) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO payment_submissions \
             (consent_id, client_id, idempotency_key, body_hash, submitted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (consent_id) DO UPDATE SET \
             client_id = excluded.client_id, idempotency_key = excluded.idempotency_key, \
             body_hash = excluded.body_hash, submitted_at = excluded.submitted_at",
        )
        .bind(&s.consent_id)
        .bind(&s.client_id)
        .bind(&s.idempotency_key)
        .bind(&s.body_hash)
        .bind(s.submitted_at)
        .execute(&self.db())
        .await?;
        Ok(())
    }

    async fn submission(&self, consent_id: &str) -> Result<Option<PaymentSubmission>, StoreError> {
        let row = crate::db::query(
            "SELECT consent_id, client_id, idempotency_key, body_hash, submitted_at \
             FROM payment_submissions WHERE consent_id = $1",
        )
        .bind(consent_id)
        .fetch_optional(&self.db())
        .await?;
        row.map(|r| {
            Ok(PaymentSubmission {
                consent_id: r.try_get("consent_id")?,
                client_id: r.try_get("client_id")?,
                idempotency_key: r.try_get("idempotency_key")?,
                body_hash: r.try_get("body_hash")?,
                submitted_at: r.try_get("submitted_at")?,
            })
        })
        .transpose()
    }

    async fn payment_record(
        &self,
        payment_id: &str,
    ) -> Result<Option<SubmittedPayment>, StoreError> {
        read_payment(&self.db(), payment_id).await
    }

    async fn payments_of_consent(&self, consent_id: &str) -> Result<Vec<String>, StoreError> {
        read_payments_of_consent(&self.db(), consent_id).await
    }

    async fn payment_client(&self, payment_id: &str) -> Result<Option<String>, StoreError> {
        let row =
            crate::db::query("SELECT client_id FROM submitted_payments WHERE payment_id = $1")
                .bind(payment_id)
                .fetch_optional(&self.db())
                .await?;
        row.map(|r| r.try_get("client_id"))
            .transpose()
            .map_err(Into::into)
    }
}

/// A bind parameter of a built query.
enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

fn bind_all<'q>(mut query: crate::db::Query, args: Vec<Arg<'q>>) -> crate::db::Query {
    for arg in args {
        query = match arg {
            Arg::Text(s) => query.bind(s),
            Arg::Int(i) => query.bind(i),
        };
    }
    query
}

fn order_column(order: ConsentOrder) -> &'static str {
    match order {
        ConsentOrder::Created => "created_at",
        ConsentOrder::Updated => "status_updated_at",
    }
}

/// The `WHERE` clause of a staff search and its parameters; `with_cursor` adds the keyset
/// condition (a count leaves it out).
fn consent_filter(q: &ConsentQuery, with_cursor: bool) -> (String, Vec<Arg<'_>>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    // The effective status: Authorised means unexpired; Expired includes Authorised rows
    // past their expiry.
    let mut status = q.status.as_deref();
    if let (Some(st), Some(at)) = (status, q.effective_at) {
        match st {
            "Authorised" => {
                args.push(Arg::Text("Authorised"));
                args.push(Arg::Int(at));
                conditions.push(format!(
                    "status = ${} AND (expires_at IS NULL OR expires_at > ${})",
                    args.len() - 1,
                    args.len()
                ));
                status = None;
            }
            "Expired" => {
                args.push(Arg::Text("Expired"));
                args.push(Arg::Text("Authorised"));
                args.push(Arg::Int(at));
                conditions.push(format!(
                    "(status = ${} OR (status = ${} AND expires_at <= ${}))",
                    args.len() - 2,
                    args.len() - 1,
                    args.len()
                ));
                status = None;
            }
            _ => {}
        }
    }
    let texts = [
        ("id", q.consent_id.as_deref()),
        ("status", status),
        ("kind", q.kind.as_deref()),
        ("client_id", q.client_id.as_deref()),
        ("psu_id", q.psu_id.as_deref()),
    ];
    for (column, value) in texts {
        if let Some(v) = value {
            args.push(Arg::Text(v));
            conditions.push(format!("{column} = ${}", args.len()));
        }
    }
    let ranges = [
        ("created_at", ">=", q.created_from),
        ("created_at", "<", q.created_to),
        ("status_updated_at", ">=", q.updated_from),
        ("status_updated_at", "<", q.updated_to),
    ];
    for (column, op, value) in ranges {
        if let Some(v) = value {
            args.push(Arg::Int(v));
            conditions.push(format!("{column} {op} ${}", args.len()));
        }
    }
    if let (true, Some(cursor)) = (with_cursor, &q.after) {
        let column = order_column(q.order);
        args.push(Arg::Int(cursor.at));
        args.push(Arg::Int(cursor.at));
        args.push(Arg::Text(&cursor.id));
        conditions.push(format!(
            "({column} < ${} OR ({column} = ${} AND id < ${}))",
            args.len() - 2,
            args.len() - 1,
            args.len()
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (filter, args)
}
