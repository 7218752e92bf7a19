//! The bank staff console's persistence (CO-5): staff users with argon2 password hashes and
//! roles, their sessions (by token hash), and the append-only audit trail of security events
//! (OP-6) that the console lists and `bulwark audit export` writes out.

use async_trait::async_trait;

use crate::{SqlStore, StoreError};

/// A member of the bank's staff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffRecord {
    /// Login name.
    pub username: String,
    /// PHC string of the argon2 hash.
    pub password_hash: String,
    /// `viewer` or `admin`.
    pub role: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A logged-in staff session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSessionRecord {
    /// SHA-256 (hex) of the session cookie's value.
    pub token_hash: String,
    /// Whose session.
    pub username: String,
    /// The CSRF token every form of the session carries.
    pub csrf: String,
    /// Unix seconds (the absolute lifetime counts from here).
    pub created_at: i64,
    /// Unix seconds of the last request (the idle timeout counts from here).
    pub last_seen: i64,
}

/// One security event: who did what to what, when, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the trail (assigned on append; 0 before). A row appended by the
    /// transaction of the change it records (a consent's, a payment recording's, a DCR
    /// deletion's) takes its place at that commit, possibly before events of the same moment
    /// still queued for the writer: `at` is the time it happened.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// `Staff`, `TPP`, `PSU` or `System`.
    pub actor_kind: String,
    /// The staff user, client id, PSU subject or component.
    pub actor_id: String,
    /// What happened (`staff.login`, `consent.revoke`, `client.suspend`, ...).
    pub action: String,
    /// What it happened to (a consent id, a client id), when anything.
    pub subject: Option<String>,
    /// Why, or the refusal reason.
    pub reason: Option<String>,
    /// The request's `x-fapi-interaction-id` or reference, when known.
    pub request_id: Option<String>,
}

/// Filters of the audit trail, newest first, keyset-paginated on `seq`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At or after, Unix seconds.
    pub since: Option<i64>,
    /// Only this actor id.
    pub actor_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this subject.
    pub subject: Option<String>,
    /// Only events with a smaller `seq` (the next page, newest first).
    pub before_seq: Option<i64>,
    /// Only events with a larger `seq` (the next page, oldest first).
    pub after_seq: Option<i64>,
    /// Page size (at most 1000).
    pub limit: u32,
    /// Oldest first (exports), instead of newest first.
    pub oldest_first: bool,
}

/// Persistence of staff users and sessions.
#[async_trait]
pub trait StaffStore: Send + Sync {
    /// Adds a staff user; a taken username is a conflict.
    async fn insert_staff(&self, s: &StaffRecord) -> Result<(), StoreError>;
    /// A staff user by login name.
    async fn get_staff(&self, username: &str) -> Result<Option<StaffRecord>, StoreError>;
    /// Every staff user, by name.
    async fn list_staff(&self) -> Result<Vec<StaffRecord>, StoreError>;
    /// Changes a staff user's role; false when there is no such user.
    async fn set_staff_role(&self, username: &str, role: &str) -> Result<bool, StoreError>;
    /// Removes a staff user and their sessions; false when there was none.
    async fn delete_staff(&self, username: &str) -> Result<bool, StoreError>;
    /// Stores a new session.
    async fn insert_staff_session(&self, s: &StaffSessionRecord) -> Result<(), StoreError>;
    /// A session by token hash.
    async fn get_staff_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StaffSessionRecord>, StoreError>;
    /// Moves a session's `last_seen`; false when it no longer exists.
    async fn touch_staff_session(&self, token_hash: &str, at: i64) -> Result<bool, StoreError>;
    /// Ends a session (logout, timeout).
    async fn delete_staff_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Deletes the sessions that ended unseen: begun before `created_before` (past their
    /// lifetime) or last seen before `seen_before` (idle too long). Returns how many went.
    async fn purge_staff_sessions(
        &self,
        created_before: i64,
        seen_before: i64,
    ) -> Result<u64, StoreError>;
}

/// The append-only audit trail (OP-6).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event (its `seq` is ignored and assigned).
    async fn append_audit(&self, e: &AuditEvent) -> Result<(), StoreError>;
    /// Appends events in their order, all or none (one transaction): the audit writer's
    /// batch of what queued while it wrote the last one, one commit instead of one each.
    async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Events matching `q`.
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

fn staff(row: &crate::db::Row) -> Result<StaffRecord, StoreError> {
    Ok(StaffRecord {
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl StaffStore for SqlStore {
    async fn insert_staff(&self, s: &StaffRecord) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO staff_users (username, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&s.username)
        .bind(&s.password_hash)
        .bind(&s.role)
        .bind(s.created_at)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "staff username already exists"))?;
        Ok(())
    }

    async fn get_staff(&self, username: &str) -> Result<Option<StaffRecord>, StoreError> {
        let row = crate::db::query(
            "SELECT username, password_hash, role, created_at FROM staff_users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(staff).transpose()
    }

    async fn list_staff(&self) -> Result<Vec<StaffRecord>, StoreError> {
        let rows = crate::db::query(
            "SELECT username, password_hash, role, created_at FROM staff_users ORDER BY username",
        )
        .fetch_all(&self.db())
        .await?;
        rows.iter().map(staff).collect()
    }

    async fn set_staff_role(&self, username: &str, role: &str) -> Result<bool, StoreError> {
        let done = crate::db::query("UPDATE staff_users SET role = $1 WHERE username = $2")
            .bind(role)
            .bind(username)
            .execute(&self.db())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_staff(&self, username: &str) -> Result<bool, StoreError> {
        let mut tx = self.db().begin().await?;
        crate::db::query("DELETE FROM staff_sessions WHERE username = $1")
            .bind(username)
            .execute(&mut tx)
            .await?;
        let done = crate::db::query("DELETE FROM staff_users WHERE username = $1")
            .bind(username)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_staff_session(&self, s: &StaffSessionRecord) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO staff_sessions (token_hash, username, csrf, created_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.token_hash)
        .bind(&s.username)
        .bind(&s.csrf)
        .bind(s.created_at)
        .bind(s.last_seen)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "session token collision"))?;
        Ok(())
    }

    async fn get_staff_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StaffSessionRecord>, StoreError> {
        let row = crate::db::query(
            "SELECT token_hash, username, csrf, created_at, last_seen FROM staff_sessions \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.db())
        .await?;
        row.map(|r| {
            Ok(StaffSessionRecord {
                token_hash: r.try_get("token_hash")?,
                username: r.try_get("username")?,
                csrf: r.try_get("csrf")?,
                created_at: r.try_get("created_at")?,
                last_seen: r.try_get("last_seen")?,
            })
        })
        .transpose()
    }

    async fn touch_staff_session(&self, token_hash: &str, at: i64) -> Result<bool, StoreError> {
        let done =
            crate::db::query("UPDATE staff_sessions SET last_seen = $1 WHERE token_hash = $2")
                .bind(at)
                .bind(token_hash)
                .execute(&self.db())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_staff_session(&self, token_hash: &str) -> Result<(), StoreError> {
        crate::db::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.db())
            .await?;
        Ok(())
    }

    async fn purge_staff_sessions(
        &self,
        created_before: i64,
        seen_before: i64,
    ) -> Result<u64, StoreError> {
        let gone =
            crate::db::query("DELETE FROM staff_sessions WHERE created_at < $1 OR last_seen < $2")
                .bind(created_before)
                .bind(seen_before)
                .execute(&self.db())
                .await?;
        Ok(gone.rows_affected())
    }
}

/// The statement that appends one audit event.
pub(crate) fn insert_audit(e: &AuditEvent) -> crate::db::Query {
    crate::db::query(
        "INSERT INTO audit_events (at, actor_kind, actor_id, action, subject, reason, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.at)
    .bind(&e.actor_kind)
    .bind(&e.actor_id)
    .bind(&e.action)
    .bind(&e.subject)
    .bind(&e.reason)
    .bind(&e.request_id)
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        insert_audit(e).execute(&self.db()).await?;
        Ok(())
    }

    async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        match events {
            [] => return Ok(()),
            [one] => return self.append_audit(one).await,
            _ => {}
        }
        let mut tx = self.db().begin().await?;
        for e in events {
            insert_audit(e).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        enum Arg<'a> {
            Text(&'a str),
            Int(i64),
        }
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(since) = q.since {
            args.push(Arg::Int(since));
            conditions.push(format!("at >= ${}", args.len()));
        }
        for (column, value) in [
            ("actor_id", q.actor_id.as_deref()),
            ("action", q.action.as_deref()),
            ("subject", q.subject.as_deref()),
        ] {
            if let Some(v) = value {
                args.push(Arg::Text(v));
                conditions.push(format!("{column} = ${}", args.len()));
            }
        }
        if let Some(before) = q.before_seq {
            args.push(Arg::Int(before));
            conditions.push(format!("seq < ${}", args.len()));
        }
        if let Some(after) = q.after_seq {
            args.push(Arg::Int(after));
            conditions.push(format!("seq > ${}", args.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        args.push(Arg::Int(i64::from(q.limit.clamp(1, 1000))));
        let order = if q.oldest_first { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT seq, at, actor_kind, actor_id, action, subject, reason, request_id \
             FROM audit_events {filter} ORDER BY seq {order} LIMIT ${}",
            args.len()
        );
        let mut query = crate::db::query(sqlx::AssertSqlSafe(sql));
        for arg in args {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.db()).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor_kind: r.try_get("actor_kind")?,
                    actor_id: r.try_get("actor_id")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    reason: r.try_get("reason")?,
                    request_id: r.try_get("request_id")?,
                })
            })
            .collect()
    }
}
