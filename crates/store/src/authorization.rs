//! The authorization aggregate (AZ-1, AZ-5, TK-2, TK-3): pushed requests, PSU interactions,
//! authorization codes, refresh tokens and PSU browser sessions.
//!
//! The store does not interpret the requests it keeps (they are JSON text to it). What it
//! guarantees is what only the database can: a pushed request is taken once (DELETE ...
//! RETURNING), a code is redeemed once (conditional UPDATE), and the consent decision, the
//! interaction's end and the code are one transaction, so a PSU's "Authorise" either issues a
//! code with an Authorised consent or changes nothing.

use async_trait::async_trait;

use crate::consents::apply_transition;
use crate::{ConsentTransition, SqlStore, StoreError};

/// A pushed authorization request (RFC 9126) as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedRequest {
    /// The `request_uri` handed to the client.
    pub request_uri: String,
    /// The client that pushed it; only it may use it.
    pub client_id: String,
    /// The validated request (JSON text).
    pub request: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// One PSU's walk through login and consent for one validated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Random id (in the page URLs).
    pub id: String,
    /// SHA-256 of the browser-binding cookie, so only the browser that started it continues it.
    pub browser_hash: String,
    /// The CSRF token every form of this interaction carries.
    pub csrf: String,
    /// The client.
    pub client_id: String,
    /// The consent the request names (AZ-5).
    pub consent_id: String,
    /// The validated request (JSON text).
    pub request: String,
    /// The pushed request it came from, consumed when the interaction finishes.
    pub request_uri: Option<String>,
    /// The PSU, once logged in.
    pub psu_id: Option<String>,
    /// The PSU's display name (the pages greet them without another look-up).
    pub psu_name: Option<String>,
    /// When the PSU authenticated, Unix seconds.
    pub auth_time: Option<i64>,
    /// The authentication context reached.
    pub acr: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Once finished: the redirect it ended with, sealed to the browser that finished it
    /// (`bulwark_core::seal`); `None` while it runs.
    pub outcome: Option<String>,
}

/// An authorization code as stored (the code itself only as its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The consent it carries.
    pub consent_id: String,
    /// What the code grants (JSON text: redirect_uri, PKCE challenge, scope, PSU, nonce, ...).
    pub grant_data: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// When it was exchanged, if it was.
    pub used_at: Option<i64>,
    /// The access token issued from it (jti), for revocation on reuse.
    pub issued_jti: Option<String>,
    /// That token's expiry.
    pub issued_exp: Option<i64>,
    /// The refresh token issued from it (hash).
    pub refresh_hash: Option<String>,
    /// The consent's grant generation the code opened: the store assigns it when the code is
    /// stored with the PSU's decision (the value given then is not used).
    pub grant_generation: i64,
}

/// A refresh token as stored (hash only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The client it is bound to.
    pub client_id: String,
    /// The consent it is bound to.
    pub consent_id: String,
    /// What it grants (JSON text).
    pub grant_data: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Set once revoked.
    pub revoked_at: Option<i64>,
    /// The grant generation of the code it descends from (its access tokens carry it).
    pub grant_generation: i64,
}

/// What a code exchange records when it wins the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redemption {
    /// The code's hash.
    pub code_hash: String,
    /// Now, Unix seconds.
    pub now: i64,
    /// The access token's jti.
    pub issued_jti: String,
    /// The access token's expiry.
    pub issued_exp: i64,
    /// The refresh token to store with it, if one is issued.
    pub refresh: Option<RefreshRecord>,
    /// A client assertion's `jti` to claim in the same transaction (one write per exchange).
    pub assertion: Option<JtiClaim>,
}

/// A single-use identifier to claim (namespace, value, until).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JtiClaim {
    /// The replay namespace.
    pub namespace: String,
    /// The identifier.
    pub jti: String,
    /// Until when, Unix seconds.
    pub expires_at: i64,
}

/// Claims `claim` inside `tx` (a write that must not happen without it, or it without the
/// write): false when it was claimed before.
pub(crate) async fn claim_in(tx: &mut crate::db::Tx, claim: &JtiClaim) -> Result<bool, StoreError> {
    let fresh = crate::db::query(
        "INSERT INTO used_jtis (namespace, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace, jti) DO NOTHING",
    )
    .bind(&claim.namespace)
    .bind(&claim.jti)
    .bind(claim.expires_at)
    .execute(tx)
    .await?;
    Ok(fresh.rows_affected() == 1)
}

/// How a code exchange's transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// The code is now used; the refresh token and the assertion's jti are stored.
    Won,
    /// Another exchange used the code first, or the code has expired (nothing written).
    CodeTaken,
    /// The client assertion's jti was already used (nothing written).
    AssertionReplayed,
    /// The code's consent no longer stands: not Authorised (revoked, or expired by a
    /// transition), or past its ExpirationDateTime (`expires_at`) at the exchange's `now`.
    /// Nothing written, the code unspent.
    ConsentGone,
}

/// A PSU browser session (single sign-on across authorizations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsuSession {
    /// SHA-256 of the session cookie.
    pub session_hash: String,
    /// The PSU.
    pub subject: String,
    /// The PSU's display name.
    pub display_name: String,
    /// When the PSU authenticated.
    pub auth_time: i64,
    /// The authentication context reached.
    pub acr: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Persistence of the authorization flow's artefacts.
#[async_trait]
pub trait AuthorizationStore: Send + Sync {
    /// Stores a pushed request.
    async fn insert_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError>;
    /// Claims a client assertion's `jti` and stores the pushed request in one transaction (one
    /// write per push). False, and nothing written, when the `jti` was already used.
    async fn push_with_claim(
        &self,
        r: &PushedRequest,
        assertion: &JtiClaim,
    ) -> Result<bool, StoreError>;
    /// An unexpired pushed request (it stays until an interaction using it finishes, or
    /// `/authorize` answers it with an error and spends it).
    async fn get_pushed_request(
        &self,
        request_uri: &str,
        now: i64,
    ) -> Result<Option<PushedRequest>, StoreError>;
    /// Spends a pushed request the client has had its answer to without an interaction (an
    /// error redirect from `/authorize`): RFC 9126 4, a `request_uri` is answered once. False
    /// when it was already spent (another request answered it first).
    async fn spend_pushed_request(&self, request_uri: &str) -> Result<bool, StoreError>;

    /// Starts an interaction.
    async fn insert_interaction(&self, i: &Interaction) -> Result<(), StoreError>;
    /// An unexpired interaction, running or finished.
    async fn get_interaction(&self, id: &str, now: i64) -> Result<Option<Interaction>, StoreError>;
    /// Records the PSU's login on the interaction (false when it has finished or gone).
    async fn set_interaction_login(
        &self,
        id: &str,
        psu_id: &str,
        psu_name: &str,
        auth_time: i64,
        acr: &str,
    ) -> Result<bool, StoreError>;
    /// Ends an interaction with its answer to the client, in one transaction: the interaction
    /// is marked finished with its sealed `outcome` (it must still be running; its request is
    /// dropped), its pushed request deleted (it must still exist: a `request_uri` completes
    /// once), the PSU's decision on the consent applied with its audit row (none when the
    /// customer cancelled before deciding), and the code stored when one is issued. False, and
    /// nothing written, when the interaction had finished, its pushed request was already used
    /// or the consent had moved.
    async fn finish_interaction(
        &self,
        interaction_id: &str,
        consent: Option<&ConsentTransition>,
        code: Option<&CodeRecord>,
        outcome: &str,
    ) -> Result<bool, StoreError>;

    /// A code by its hash (used or not).
    async fn get_code(&self, code_hash: &str) -> Result<Option<CodeRecord>, StoreError>;
    /// Claims the assertion's jti, marks the code used and records what was issued from it,
    /// storing the refresh token, all in one transaction; nothing is written unless all of it
    /// is.
    async fn redeem_code(&self, r: &Redemption) -> Result<Redeemed, StoreError>;

    /// A refresh token by its hash.
    async fn get_refresh_token(&self, hash: &str) -> Result<Option<RefreshRecord>, StoreError>;
    /// Rotation (TK-3, FAPI 2.0 SP 5.3.2.1), in one transaction: stores `new` as the successor
    /// of the live token `old_hash`, which stays usable until `new` is first used (a client
    /// that lost the response retries with it); using a successor retires its predecessor, and
    /// a retry retires the successor it got before. False, and nothing written, when
    /// `old_hash` is not live.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Revokes one refresh token (idempotent).
    async fn revoke_refresh_token(&self, hash: &str, now: i64) -> Result<(), StoreError>;
    /// The consent's latest grant generation: the one its last stored code opened (0 before
    /// any, or for an unknown consent).
    async fn grant_generation(&self, consent_id: &str) -> Result<i64, StoreError>;
    /// Discards a consent's authorization codes not yet exchanged (unexpired at `now`) of
    /// grant generations up to `generation_until`, so none can be redeemed after the bank
    /// ended the access they grant; used codes stay (a second use is still recognised as a
    /// reuse). Returns how many went.
    async fn discard_unused_codes_of_consent(
        &self,
        consent_id: &str,
        generation_until: i64,
        now: i64,
    ) -> Result<u64, StoreError>;
    /// Revokes a consent's refresh tokens of grant generations up to `generation_until`.
    async fn revoke_refresh_tokens_of_consent(
        &self,
        consent_id: &str,
        generation_until: i64,
        now: i64,
    ) -> Result<u64, StoreError>;
    /// The refresh tokens issued under a consent (still stored: not yet purged), newest first.
    async fn refresh_tokens_of_consent(
        &self,
        consent_id: &str,
    ) -> Result<Vec<RefreshRecord>, StoreError>;

    /// Starts a PSU session.
    async fn insert_psu_session(&self, s: &PsuSession) -> Result<(), StoreError>;
    /// An unexpired PSU session.
    async fn get_psu_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<PsuSession>, StoreError>;
    /// Ends a PSU session.
    async fn delete_psu_session(&self, session_hash: &str) -> Result<(), StoreError>;

    /// Deletes expired pushed requests (but not one an unexpired interaction started from),
    /// interactions, codes (a used one once the access token it issued has expired too, and
    /// no refresh token of its grant lives),
    /// refresh tokens and sessions older than `now`.
    async fn purge_authorization(&self, now: i64) -> Result<u64, StoreError>;
}

const INTERACTION_COLUMNS: &str = "id, browser_hash, csrf, client_id, consent_id, request, \
     request_uri, psu_id, psu_name, auth_time, acr, expires_at, outcome";
const CODE_COLUMNS: &str = "code_hash, client_id, consent_id, grant_data, expires_at, used_at, \
     issued_jti, issued_exp, refresh_hash, grant_generation";
const REFRESH_COLUMNS: &str = "token_hash, client_id, consent_id, grant_data, issued_at, \
     expires_at, revoked_at, grant_generation";

/// The grant generation a new code opens: the next one, and above any a revocation recorded
/// (see `finish_interaction`).
const NEXT_GENERATION: &str = "1 + CASE \
     WHEN grant_generation >= COALESCE((SELECT generation_until FROM revoked_grants \
     WHERE revoked_grants.consent_id = consents.id), 0) THEN grant_generation \
     ELSE (SELECT generation_until FROM revoked_grants \
     WHERE revoked_grants.consent_id = consents.id) END";

fn interaction(row: &crate::db::Row) -> Result<Interaction, StoreError> {
    Ok(Interaction {
        id: row.try_get("id")?,
        browser_hash: row.try_get("browser_hash")?,
        csrf: row.try_get("csrf")?,
        client_id: row.try_get("client_id")?,
        consent_id: row.try_get("consent_id")?,
        request: row.try_get("request")?,
        request_uri: row.try_get("request_uri")?,
        psu_id: row.try_get("psu_id")?,
        psu_name: row.try_get("psu_name")?,
        auth_time: row.try_get("auth_time")?,
        acr: row.try_get("acr")?,
        expires_at: row.try_get("expires_at")?,
        outcome: row.try_get("outcome")?,
    })
}

fn code(row: &crate::db::Row) -> Result<CodeRecord, StoreError> {
    Ok(CodeRecord {
        code_hash: row.try_get("code_hash")?,
        client_id: row.try_get("client_id")?,
        consent_id: row.try_get("consent_id")?,
        grant_data: row.try_get("grant_data")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        issued_jti: row.try_get("issued_jti")?,
        issued_exp: row.try_get("issued_exp")?,
        refresh_hash: row.try_get("refresh_hash")?,
        grant_generation: row.try_get("grant_generation")?,
    })
}

fn refresh(row: &crate::db::Row) -> Result<RefreshRecord, StoreError> {
    Ok(RefreshRecord {
        token_hash: row.try_get("token_hash")?,
        client_id: row.try_get("client_id")?,
        consent_id: row.try_get("consent_id")?,
        grant_data: row.try_get("grant_data")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        grant_generation: row.try_get("grant_generation")?,
    })
}

/// Stores a refresh token; `replaces` names the token it was rotated from (usable until this
/// one is first used).
async fn insert_refresh(
    conn: &mut crate::db::Tx,
    r: &RefreshRecord,
    replaces: Option<&str>,
) -> Result<(), StoreError> {
    crate::db::query(
        "INSERT INTO refresh_tokens (token_hash, client_id, consent_id, grant_data, issued_at, \
         expires_at, revoked_at, replaces, grant_generation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&r.token_hash)
    .bind(&r.client_id)
    .bind(&r.consent_id)
    .bind(&r.grant_data)
    .bind(r.issued_at)
    .bind(r.expires_at)
    .bind(r.revoked_at)
    .bind(replaces)
    .bind(r.grant_generation)
    .execute(conn)
    .await
    .map_err(|e| StoreError::from_insert(e, "refresh token already exists"))?;
    Ok(())
}

impl SqlStore {
    /// One attempt of [`AuthorizationStore::rotate_refresh_token`].
    async fn rotate_once(
        &self,
        old_hash: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db().begin().await?;
        // The presented token must be live (the no-op update holds its row until commit, and
        // RETURNING gives the value as it stands); if it was itself rotated into, this is its
        // first use, and the token it replaced retires now.
        let live = crate::db::query(
            "UPDATE refresh_tokens SET replaces = replaces \
             WHERE token_hash = $1 AND revoked_at IS NULL RETURNING replaces",
        )
        .bind(old_hash)
        .fetch_optional(&mut tx)
        .await?;
        let Some(live) = live else {
            tx.rollback().await?;
            return Ok(false);
        };
        let predecessor: Option<String> = live.try_get("replaces")?;
        if let Some(predecessor) = predecessor {
            crate::db::query(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE token_hash = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(predecessor)
            .execute(&mut tx)
            .await?;
            crate::db::query("UPDATE refresh_tokens SET replaces = NULL WHERE token_hash = $1")
                .bind(old_hash)
                .execute(&mut tx)
                .await?;
        }
        // A retry with this token: the successor it got before, never used, is the lost one.
        crate::db::query(
            "UPDATE refresh_tokens SET revoked_at = $1, replaces = NULL \
             WHERE replaces = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(old_hash)
        .execute(&mut tx)
        .await?;
        insert_refresh(&mut tx, new, Some(old_hash)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// [`AuthorizationStore::finish_interaction`] on PostgreSQL, where each statement is a
    /// round trip: the writes are one statement in the transaction (three round trips where a
    /// statement per write takes eight). The pushed request's deletion runs on the finished
    /// interaction's row, the consent's update only when both applied (a `request_uri` already
    /// used leaves the consent untouched and unlocked), the audit row and the code on the
    /// consent's row; the statement answers how many rows each part touched, and anything
    /// short of all of them rolls back. The consent's row is updated once: the decision and the
    /// generation the code opens (one statement cannot update a row twice). Its parameters are
    /// numbered the same in every shape; a shape leaves those of the parts it has not unused.
    async fn finish_in_one_statement(
        &self,
        interaction_id: &str,
        transition: Option<&ConsentTransition>,
        code: Option<&CodeRecord>,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        const DECIDED: &str = "status = $3, \
             status_updated_at = CASE WHEN status = $3 THEN status_updated_at ELSE $4 END, \
             psu_id = COALESCE($5, psu_id), selected_accounts = COALESCE($6, selected_accounts)";
        const DECIDABLE: &str =
            "id = $7 AND status = $8 AND grant_generation = COALESCE($9, grant_generation)";
        let moved = match (transition, code) {
            (None, None) => None,
            (Some(_), None) => Some(format!("UPDATE consents SET {DECIDED} WHERE {DECIDABLE}")),
            (Some(_), Some(_)) => Some(format!(
                "UPDATE consents SET {DECIDED}, grant_generation = {NEXT_GENERATION} \
                 WHERE {DECIDABLE}"
            )),
            (None, Some(_)) => Some(format!(
                "UPDATE consents SET grant_generation = {NEXT_GENERATION} WHERE id = $17"
            )),
        };
        let mut sql = String::from(
            "WITH finished AS (UPDATE authz_interactions SET outcome = $2, request = '' \
             WHERE id = $1 AND outcome IS NULL RETURNING request_uri), \
             spent AS (DELETE FROM pushed_requests \
             WHERE request_uri = (SELECT request_uri FROM finished) RETURNING 1)",
        );
        if let Some(moved) = &moved {
            sql.push_str(&format!(
                ", moved AS ({moved} AND EXISTS (SELECT 1 FROM finished \
                 WHERE request_uri IS NULL OR EXISTS (SELECT 1 FROM spent)) \
                 RETURNING grant_generation)"
            ));
        }
        if transition.is_some() {
            sql.push_str(
                ", audited AS (INSERT INTO consent_audit (consent_id, actor_kind, actor_id, at, \
                 from_status, to_status, reason, customer_auth_date, customer_ip_address) \
                 SELECT $7, $10, $11, $4, $8, $3, $12, $13, $14 FROM moved)",
            );
        }
        if code.is_some() {
            sql.push_str(&format!(
                ", issued AS (INSERT INTO authorization_codes ({CODE_COLUMNS}) \
                 SELECT $15, $16, $17, $18, $19, $20, $21, $22, $23, grant_generation FROM moved)"
            ));
        }
        sql.push_str(&format!(
            " SELECT (SELECT count(*) FROM finished) AS finished, \
             (SELECT count(*) FROM finished WHERE request_uri IS NOT NULL) AS pushed, \
             (SELECT count(*) FROM spent) AS spent, {} AS moved",
            if moved.is_some() {
                "(SELECT count(*) FROM moved)"
            } else {
                "1::bigint"
            }
        ));
        let accounts = transition
            .and_then(|t| t.selected_accounts.as_deref())
            .map(crate::consents::encode_accounts)
            .transpose()?;
        let mut tx = self.db().begin().await?;
        let row = crate::db::query(sqlx::AssertSqlSafe(sql))
            .bind(interaction_id)
            .bind(outcome)
            .bind(transition.map(|t| &t.to_status))
            .bind(transition.map(|t| t.at))
            .bind(transition.and_then(|t| t.psu_id.as_ref()))
            .bind(accounts)
            .bind(transition.map(|t| &t.consent_id))
            .bind(transition.map(|t| &t.from_status))
            .bind(transition.and_then(|t| t.grant_generation))
            .bind(transition.map(|t| &t.actor_kind))
            .bind(transition.map(|t| &t.actor_id))
            .bind(transition.and_then(|t| t.reason.as_ref()))
            .bind(transition.and_then(|t| t.customer.auth_date.as_ref()))
            .bind(transition.and_then(|t| t.customer.ip_address.as_ref()))
            .bind(code.map(|c| &c.code_hash))
            .bind(code.map(|c| &c.client_id))
            .bind(code.map(|c| &c.consent_id))
            .bind(code.map(|c| &c.grant_data))
            .bind(code.map(|c| c.expires_at))
            .bind(code.and_then(|c| c.used_at))
            .bind(code.and_then(|c| c.issued_jti.as_ref()))
            .bind(code.and_then(|c| c.issued_exp))
            .bind(code.and_then(|c| c.refresh_hash.as_ref()))
            .fetch_one(&mut tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "authorization code already exists"))?;
        let count = |name: &str| -> Result<i64, StoreError> { Ok(row.try_get(name)?) };
        let all_applied =
            count("finished")? == 1 && count("spent")? == count("pushed")? && count("moved")? == 1;
        if !all_applied {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// [`AuthorizationStore::redeem_code`] on PostgreSQL: one statement, so one round trip
    /// where a transaction takes five. Each write hangs on the code's: the assertion's `jti`
    /// and the refresh token are inserted from the row the spend returns, and a `jti` already
    /// used is a unique violation that undoes the whole statement (the code unspent). A code
    /// that is not won claims nothing, so a replayed assertion presented with a code already
    /// taken (or whose consent is gone) reads as that, where SQLite, claiming first, answers
    /// `AssertionReplayed`; the caller claims the assertion on those paths and refuses the
    /// replay there, so the client gets the same answer from both.
    async fn redeem_in_one_statement(&self, r: &Redemption) -> Result<Redeemed, StoreError> {
        let claim = r.assertion.as_ref();
        let refresh = r.refresh.as_ref();
        // The consent is read by the spend and held (FOR SHARE): a revocation that committed
        // before is seen, one still to come waits for this statement, then revokes the refresh
        // token stored here with the consent's others. Without the lock, a refresh token
        // inserted after a revocation's sweep would outlive the consent. The consent stands
        // while Authorised and before its `expires_at` (ExpirationDateTime to the second,
        // rounded down: up to a second earlier than `Consent::status_at`, never later).
        let spent = crate::db::query(
            "WITH won AS (UPDATE authorization_codes SET used_at = $1, issued_jti = $2, \
             issued_exp = $3, refresh_hash = $4 WHERE code_hash = $5 AND used_at IS NULL \
             AND expires_at > $1 AND EXISTS (SELECT 1 FROM consents \
             WHERE consents.id = authorization_codes.consent_id \
             AND consents.status = 'Authorised' AND (consents.expires_at IS NULL \
             OR consents.expires_at > $1) FOR SHARE) RETURNING code_hash), \
             claimed AS (INSERT INTO used_jtis (namespace, jti, expires_at) \
             SELECT $6, $7, $8 FROM won WHERE $7 IS NOT NULL RETURNING 1), \
             stored AS (INSERT INTO refresh_tokens (token_hash, client_id, consent_id, \
             grant_data, issued_at, expires_at, revoked_at, replaces, grant_generation) \
             SELECT $4, $9, $10, $11, $12, $13, $14, NULL, $15 FROM won WHERE $4 IS NOT NULL \
             RETURNING 1) \
             SELECT count(*) AS won FROM won",
        )
        .bind(r.now)
        .bind(&r.issued_jti)
        .bind(r.issued_exp)
        .bind(refresh.map(|t| &t.token_hash))
        .bind(&r.code_hash)
        .bind(claim.map(|c| &c.namespace))
        .bind(claim.map(|c| &c.jti))
        .bind(claim.map(|c| c.expires_at))
        .bind(refresh.map(|t| &t.client_id))
        .bind(refresh.map(|t| &t.consent_id))
        .bind(refresh.map(|t| &t.grant_data))
        .bind(refresh.map(|t| t.issued_at))
        .bind(refresh.map(|t| t.expires_at))
        .bind(refresh.and_then(|t| t.revoked_at))
        .bind(refresh.map(|t| t.grant_generation))
        .fetch_one(&self.db())
        .await;
        let won: i64 = match spent {
            Ok(row) => row.try_get("won")?,
            Err(sqlx::Error::Database(e))
                if e.is_unique_violation() && e.table() == Some("used_jtis") =>
            {
                return Ok(Redeemed::AssertionReplayed);
            }
            Err(e) => return Err(StoreError::from_insert(e, "refresh token already exists")),
        };
        if won == 0 {
            return self.why_not_redeemed(&r.code_hash, r.now).await;
        }
        Ok(Redeemed::Won)
    }

    /// Why a redemption changed nothing (read after it, a rare path): the code was
    /// already used (a reuse), or its consent no longer stands at `now` (not Authorised, or
    /// past its ExpirationDateTime); a code that ran out at that very second, its consent
    /// standing, reads as taken, as it did before.
    async fn why_not_redeemed(&self, code_hash: &str, now: i64) -> Result<Redeemed, StoreError> {
        let row = crate::db::query(
            "SELECT a.used_at, c.status, c.expires_at FROM authorization_codes a \
             LEFT JOIN consents c ON c.id = a.consent_id WHERE a.code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.db())
        .await?;
        let Some(row) = row else {
            return Ok(Redeemed::CodeTaken);
        };
        let used: Option<i64> = row.try_get(0)?;
        let status: Option<String> = row.try_get(1)?;
        let expires_at: Option<i64> = row.try_get(2)?;
        let stands =
            status.as_deref() == Some("Authorised") && expires_at.is_none_or(|exp| exp > now);
        Ok(if used.is_none() && !stands {
            Redeemed::ConsentGone
        } else {
            Redeemed::CodeTaken
        })
    }
}

#[async_trait]
impl AuthorizationStore for SqlStore {
    async fn insert_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO pushed_requests (request_uri, client_id, request, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.request_uri)
        .bind(&r.client_id)
        .bind(&r.request)
        .bind(r.expires_at)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "request_uri already exists"))?;
        Ok(())
    }

    async fn push_with_claim(
        &self,
        r: &PushedRequest,
        assertion: &JtiClaim,
    ) -> Result<bool, StoreError> {
        if self.backend() == crate::Backend::Postgres {
            // One statement, one round trip (a statement is its own transaction): the pushed
            // request is stored only from the claim's row, so a replay writes neither.
            let pushed = crate::db::query(
                "WITH claimed AS (INSERT INTO used_jtis (namespace, jti, expires_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (namespace, jti) DO NOTHING RETURNING 1) \
                 INSERT INTO pushed_requests (request_uri, client_id, request, expires_at) \
                 SELECT $4, $5, $6, $7 FROM claimed",
            )
            .bind(&assertion.namespace)
            .bind(&assertion.jti)
            .bind(assertion.expires_at)
            .bind(&r.request_uri)
            .bind(&r.client_id)
            .bind(&r.request)
            .bind(r.expires_at)
            .execute(&self.db())
            .await
            .map_err(|e| StoreError::from_insert(e, "request_uri already exists"))?;
            return Ok(pushed.rows_affected() == 1);
        }
        let mut tx = self.db().begin().await?;
        if !claim_in(&mut tx, assertion).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        crate::db::query(
            "INSERT INTO pushed_requests (request_uri, client_id, request, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.request_uri)
        .bind(&r.client_id)
        .bind(&r.request)
        .bind(r.expires_at)
        .execute(&mut tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "request_uri already exists"))?;
        tx.commit().await?;
        Ok(true)
    }

    async fn get_pushed_request(
        &self,
        request_uri: &str,
        now: i64,
    ) -> Result<Option<PushedRequest>, StoreError> {
        let row = crate::db::query(
            "SELECT request_uri, client_id, request, expires_at FROM pushed_requests \
             WHERE request_uri = $1 AND expires_at > $2",
        )
        .bind(request_uri)
        .bind(now)
        .fetch_optional(&self.db())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PushedRequest {
            request_uri: row.try_get("request_uri")?,
            client_id: row.try_get("client_id")?,
            request: row.try_get("request")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn spend_pushed_request(&self, request_uri: &str) -> Result<bool, StoreError> {
        let spent = crate::db::query("DELETE FROM pushed_requests WHERE request_uri = $1")
            .bind(request_uri)
            .execute(&self.db())
            .await?;
        Ok(spent.rows_affected() == 1)
    }

    async fn insert_interaction(&self, i: &Interaction) -> Result<(), StoreError> {
        crate::db::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO authz_interactions ({INTERACTION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )))
        .bind(&i.id)
        .bind(&i.browser_hash)
        .bind(&i.csrf)
        .bind(&i.client_id)
        .bind(&i.consent_id)
        .bind(&i.request)
        .bind(&i.request_uri)
        .bind(&i.psu_id)
        .bind(&i.psu_name)
        .bind(i.auth_time)
        .bind(&i.acr)
        .bind(i.expires_at)
        .bind(&i.outcome)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "interaction id already exists"))?;
        Ok(())
    }

    async fn get_interaction(&self, id: &str, now: i64) -> Result<Option<Interaction>, StoreError> {
        let row = crate::db::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM authz_interactions WHERE id = $1 AND expires_at > $2"
        )))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(interaction).transpose()
    }

    async fn set_interaction_login(
        &self,
        id: &str,
        psu_id: &str,
        psu_name: &str,
        auth_time: i64,
        acr: &str,
    ) -> Result<bool, StoreError> {
        let done = crate::db::query(
            "UPDATE authz_interactions SET psu_id = $1, psu_name = $2, auth_time = $3, acr = $4 \
             WHERE id = $5 AND outcome IS NULL",
        )
        .bind(psu_id)
        .bind(psu_name)
        .bind(auth_time)
        .bind(acr)
        .bind(id)
        .execute(&self.db())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_interaction(
        &self,
        interaction_id: &str,
        consent: Option<&ConsentTransition>,
        code: Option<&CodeRecord>,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        if self.backend() == crate::Backend::Postgres
            && consent
                .zip(code)
                .is_none_or(|(t, c)| t.consent_id == c.consent_id)
        {
            return self
                .finish_in_one_statement(interaction_id, consent, code, outcome)
                .await;
        }
        let mut tx = self.db().begin().await?;
        let gone = crate::db::query(
            "UPDATE authz_interactions SET outcome = $2, request = '' \
             WHERE id = $1 AND outcome IS NULL RETURNING request_uri",
        )
        .bind(interaction_id)
        .bind(outcome)
        .fetch_optional(&mut tx)
        .await?;
        let Some(gone) = gone else {
            tx.rollback().await?;
            return Ok(false);
        };
        let request_uri: Option<String> = gone.try_get("request_uri")?;
        if let Some(uri) = request_uri {
            let used = crate::db::query("DELETE FROM pushed_requests WHERE request_uri = $1")
                .bind(uri)
                .execute(&mut tx)
                .await?;
            if used.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        if let Some(consent) = consent
            && !apply_transition(&mut tx, consent).await?
        {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(c) = code {
            // The code opens the consent's next grant generation: a revocation of the grant
            // that read an earlier one does not reach what this code issues. It starts above
            // any generation a revocation recorded, so a `consents` row restored from an older
            // backup cannot open a generation already revoked.
            let opened = crate::db::query(sqlx::AssertSqlSafe(format!(
                "UPDATE consents SET grant_generation = {NEXT_GENERATION} \
                 WHERE id = $1 RETURNING grant_generation"
            )))
            .bind(&c.consent_id)
            .fetch_optional(&mut tx)
            .await?;
            let Some(opened) = opened else {
                tx.rollback().await?;
                return Ok(false);
            };
            let generation: i64 = opened.try_get(0)?;
            crate::db::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO authorization_codes ({CODE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            )))
            .bind(&c.code_hash)
            .bind(&c.client_id)
            .bind(&c.consent_id)
            .bind(&c.grant_data)
            .bind(c.expires_at)
            .bind(c.used_at)
            .bind(&c.issued_jti)
            .bind(c.issued_exp)
            .bind(&c.refresh_hash)
            .bind(generation)
            .execute(&mut tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "authorization code already exists"))?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn get_code(&self, code_hash: &str) -> Result<Option<CodeRecord>, StoreError> {
        let row = crate::db::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1"
        )))
        .bind(code_hash)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(code).transpose()
    }

    async fn redeem_code(&self, r: &Redemption) -> Result<Redeemed, StoreError> {
        if self.backend() == crate::Backend::Postgres {
            return self.redeem_in_one_statement(r).await;
        }
        let mut tx = self.db().begin().await?;
        if let Some(claim) = &r.assertion
            && !claim_in(&mut tx, claim).await?
        {
            tx.rollback().await?;
            return Ok(Redeemed::AssertionReplayed);
        }
        // The consent is read by the statement that spends the code, as on PostgreSQL
        // (`redeem_in_one_statement`); SQLite has one writer at a time, so a revocation still
        // to come waits for this commit without a lock.
        let won = crate::db::query(
            "UPDATE authorization_codes SET used_at = $1, issued_jti = $2, issued_exp = $3, \
             refresh_hash = $4 WHERE code_hash = $5 AND used_at IS NULL AND expires_at > $1 \
             AND EXISTS (SELECT 1 FROM consents WHERE consents.id = authorization_codes.consent_id \
             AND consents.status = 'Authorised' AND (consents.expires_at IS NULL \
             OR consents.expires_at > $1))",
        )
        .bind(r.now)
        .bind(&r.issued_jti)
        .bind(r.issued_exp)
        .bind(r.refresh.as_ref().map(|t| t.token_hash.clone()))
        .bind(&r.code_hash)
        .execute(&mut tx)
        .await?;
        if won.rows_affected() != 1 {
            tx.rollback().await?;
            return self.why_not_redeemed(&r.code_hash, r.now).await;
        }
        if let Some(t) = &r.refresh {
            insert_refresh(&mut tx, t, None).await?;
        }
        tx.commit().await?;
        Ok(Redeemed::Won)
    }

    async fn get_refresh_token(&self, hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        let row = crate::db::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"
        )))
        .bind(hash)
        .fetch_optional(&self.db())
        .await?;
        row.as_ref().map(refresh).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Rotations of a token and of its successor, and a consent's revocation, lock the same
        // rows in different orders; PostgreSQL breaks such a deadlock by failing one of them,
        // which then runs again.
        let mut attempt = 0;
        loop {
            match self.rotate_once(old_hash, new, now).await {
                Err(e) if e.is_retryable_conflict() && attempt < 3 => attempt += 1,
                result => return result,
            }
        }
    }

    async fn revoke_refresh_token(&self, hash: &str, now: i64) -> Result<(), StoreError> {
        crate::db::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(hash)
        .execute(&self.db())
        .await?;
        Ok(())
    }

    async fn grant_generation(&self, consent_id: &str) -> Result<i64, StoreError> {
        let row = crate::db::query("SELECT grant_generation FROM consents WHERE id = $1")
            .bind(consent_id)
            .fetch_optional(&self.db())
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    async fn discard_unused_codes_of_consent(
        &self,
        consent_id: &str,
        generation_until: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        // Unexpired codes only: the expiry index bounds the scan to the last minute's codes.
        // A redemption holding a code's row (PostgreSQL) makes this wait, then skip the code it
        // used; the refresh token that redemption wrote is revoked after this, by the caller.
        let done = crate::db::query(
            "DELETE FROM authorization_codes WHERE expires_at >= $1 AND consent_id = $2 \
             AND used_at IS NULL AND grant_generation <= $3",
        )
        .bind(now)
        .bind(consent_id)
        .bind(generation_until)
        .execute(&self.db())
        .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_refresh_tokens_of_consent(
        &self,
        consent_id: &str,
        generation_until: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        // Under READ COMMITTED (PostgreSQL), a rotation holding its old token's row lock makes
        // this statement wait, then skip that row; the successor it inserts is committed after
        // this statement's snapshot and escapes it. Another pass sees it. Each rotation needs a
        // live token, so the passes end; the bound only guards against a fault.
        let mut revoked = 0;
        for _ in 0..8 {
            let done = match crate::db::query(
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE consent_id = $2 \
                 AND revoked_at IS NULL AND grant_generation <= $3",
            )
            .bind(now)
            .bind(consent_id)
            .bind(generation_until)
            .execute(&self.db())
            .await
            {
                Ok(done) => done,
                Err(e) => {
                    let e = StoreError::from(e);
                    // A deadlock with a rotation (see `rotate_refresh_token`): another pass.
                    if e.is_retryable_conflict() {
                        continue;
                    }
                    return Err(e);
                }
            };
            if done.rows_affected() == 0 {
                break;
            }
            revoked += done.rows_affected();
        }
        Ok(revoked)
    }

    async fn refresh_tokens_of_consent(
        &self,
        consent_id: &str,
    ) -> Result<Vec<RefreshRecord>, StoreError> {
        let rows = crate::db::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE consent_id = $1 \
             ORDER BY issued_at DESC LIMIT 1000"
        )))
        .bind(consent_id)
        .fetch_all(&self.db())
        .await?;
        rows.iter().map(refresh).collect()
    }

    async fn insert_psu_session(&self, s: &PsuSession) -> Result<(), StoreError> {
        crate::db::query(
            "INSERT INTO psu_sessions (session_hash, subject, display_name, auth_time, acr, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.session_hash)
        .bind(&s.subject)
        .bind(&s.display_name)
        .bind(s.auth_time)
        .bind(&s.acr)
        .bind(s.expires_at)
        .execute(&self.db())
        .await
        .map_err(|e| StoreError::from_insert(e, "session already exists"))?;
        Ok(())
    }

    async fn get_psu_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<PsuSession>, StoreError> {
        let row = crate::db::query(
            "SELECT session_hash, subject, display_name, auth_time, acr, expires_at \
             FROM psu_sessions WHERE session_hash = $1 AND expires_at > $2",
        )
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.db())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PsuSession {
            session_hash: row.try_get("session_hash")?,
            subject: row.try_get("subject")?,
            display_name: row.try_get("display_name")?,
            auth_time: row.try_get("auth_time")?,
            acr: row.try_get("acr")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn delete_psu_session(&self, session_hash: &str) -> Result<(), StoreError> {
        crate::db::query("DELETE FROM psu_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.db())
            .await?;
        Ok(())
    }

    async fn purge_authorization(&self, now: i64) -> Result<u64, StoreError> {
        // A pushed request outlives its own expiry while an authorization started from it is
        // still under way: completing that one deletes it (single use, RFC 9126 4), and a
        // PSU who takes longer than the request_uri's minute must still be able to finish.
        let pushed = crate::db::query(
            "DELETE FROM pushed_requests WHERE expires_at < $1 AND request_uri NOT IN \
             (SELECT request_uri FROM authz_interactions \
              WHERE request_uri IS NOT NULL AND expires_at >= $1)",
        )
        .bind(now)
        .execute(&self.db())
        .await?;
        let mut gone = pushed.rows_affected();
        // TK-2: a used code is kept while the access token it issued lives, and while a
        // refresh token of its grant does, so a second use in that time is still recognised
        // as a reuse and revokes the grant (the refresh token and what it refreshes).
        let codes = crate::db::query(
            "DELETE FROM authorization_codes WHERE expires_at < $1 \
             AND (used_at IS NULL OR issued_exp IS NULL OR issued_exp < $1) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r \
             WHERE r.consent_id = authorization_codes.consent_id \
             AND r.grant_generation = authorization_codes.grant_generation \
             AND r.revoked_at IS NULL AND r.expires_at >= $1)",
        )
        .bind(now)
        .execute(&self.db())
        .await?;
        gone += codes.rows_affected();
        for table in [
            "authz_interactions",
            "refresh_tokens",
            "psu_sessions",
            "login_failures",
        ] {
            let done = crate::db::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE expires_at < $1"
            )))
            .bind(now)
            .execute(&self.db())
            .await?;
            gone += done.rows_affected();
        }
        Ok(gone)
    }
}
