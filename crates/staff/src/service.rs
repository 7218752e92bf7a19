//! Staff accounts, login and sessions. A session is a random cookie value whose SHA-256 alone
//! is stored, with a CSRF token for the session's forms; it ends on logout, after
//! `idle_timeout_secs` without use, and `session_lifetime_secs` after the login. Failed logins
//! slow down per user and per address, and every login, failure and logout is an audit event.

use std::sync::Arc;

use bulwark_authz::{
    LoginThrottle, MAX_PASSWORD, MAX_USERNAME, address_key, constant_eq, hash_password,
    plausible_login, secret_hash, verify_password,
};
use bulwark_clients::ClientDirectory;
use bulwark_consent::ConsentService;
use bulwark_core::Rng;
use bulwark_store::{AuditEvent, StaffRecord, StaffSessionRecord, Store, StoreError};
use bulwark_token::TokenService;

use crate::{StaffError, StaffRole, StaffSettings};

/// Where the console's audit events go before the store: the server's audit queue, so they
/// stay in order with the security events the same request logged. Gives the event back when
/// it cannot take it (then it is written directly).
pub type AuditQueue = Arc<dyn Fn(AuditEvent) -> Option<AuditEvent> + Send + Sync>;

/// The action of a refused staff login's audit row: a refusal anyone can cause without
/// credentials, which the queue holds to the cap on recorded refusals (and never writes from
/// the request) rather than recording every one.
pub const LOGIN_FAILED: &str = "staff.login_failed";

/// The console's rules over the store, the consent service and the client directory.
pub struct StaffService {
    pub(crate) store: Arc<dyn Store>,
    queue: Option<AuditQueue>,
    pub(crate) consents: Arc<ConsentService>,
    pub(crate) directory: Arc<ClientDirectory>,
    /// Ends the tokens of a consent the bank revokes.
    pub(crate) tokens: Arc<TokenService>,
    pub(crate) rng: Arc<dyn Rng>,
    settings: StaffSettings,
    throttle: LoginThrottle,
    /// A hash verified for unknown users, so they cost what a wrong password costs.
    decoy: String,
}

impl std::fmt::Debug for StaffService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A session just opened: the cookie value (shown once, never stored) and its CSRF token.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The cookie value.
    pub token: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A live session: who, with which role, and the CSRF token its forms carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSession {
    /// The staff member.
    pub username: String,
    /// Their role now (read on every request, so a change applies at once).
    pub role: StaffRole,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// When the staff member signed in (Unix seconds).
    pub signed_in_at: i64,
    /// The stored key of the session.
    token_hash: String,
}

/// How recent a sign-in must be for changes to who can do what (adding, promoting or removing
/// staff, suspending or reactivating a TPP): an unattended or stolen session, kept alive by
/// activity, cannot make them.
pub const RECENT_SIGN_IN_SECS: i64 = 900;

impl StaffSession {
    /// Refuses `csrf` unless it is the session's.
    pub fn check_csrf(&self, csrf: Option<&str>) -> Result<(), StaffError> {
        match csrf {
            Some(token) if constant_eq(token, &self.csrf) => Ok(()),
            _ => {
                tracing::warn!(target: "bulwark::security", staff = %self.username, reason = "csrf", "staff form refused");
                Err(StaffError::Csrf)
            }
        }
    }

    /// Refuses unless the staff member signed in within [`RECENT_SIGN_IN_SECS`] of `now`.
    pub fn require_recent_sign_in(&self, now: i64) -> Result<(), StaffError> {
        if now.saturating_sub(self.signed_in_at) <= RECENT_SIGN_IN_SECS {
            Ok(())
        } else {
            tracing::warn!(target: "bulwark::security", staff = %self.username, reason = "sign_in_again", "staff action refused");
            Err(StaffError::SignInAgain)
        }
    }

    /// Refuses unless the role may act (revoke, suspend, activate).
    pub fn require_admin(&self) -> Result<(), StaffError> {
        if self.role.can_act() {
            Ok(())
        } else {
            tracing::warn!(target: "bulwark::security", staff = %self.username, reason = "role", "staff action refused");
            Err(StaffError::Forbidden(self.role.as_str()))
        }
    }
}

impl StaffService {
    /// The console over its collaborators.
    pub fn new(
        store: Arc<dyn Store>,
        consents: Arc<ConsentService>,
        directory: Arc<ClientDirectory>,
        tokens: Arc<TokenService>,
        rng: Arc<dyn Rng>,
        settings: StaffSettings,
    ) -> Result<Self, StaffError> {
        let decoy = hash_password(&rng.token(16), rng.as_ref())?;
        Ok(Self {
            throttle: LoginThrottle::new(settings.login_free_failures, store.clone()),
            queue: None,
            store,
            consents,
            directory,
            tokens,
            rng,
            settings,
            decoy,
        })
    }

    /// Adds a staff member (see [`add_staff`]).
    pub async fn add_staff(
        &self,
        username: &str,
        password: &str,
        role: StaffRole,
        now: i64,
    ) -> Result<(), StaffError> {
        add_staff(
            self.store.as_ref(),
            self.rng.as_ref(),
            username,
            password,
            role,
            now,
        )
        .await
    }

    /// Checks credentials and opens a session. Failures say nothing about whether the user
    /// exists, cost the same time either way, and slow down after
    /// `login_free_failures` per user and per `address`.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: &str,
        now: i64,
    ) -> Result<NewSession, StaffError> {
        let addr_key = format!("staff-addr:{}", address_key(address));
        // No one has such a name (or password): a failed attempt from this address, checked
        // and counted on the address only, so a waiting address is told to wait here too.
        if !plausible_login(username, password) {
            if let Err(wait) = self.throttle.begin(&[&addr_key], now).await? {
                return Err(StaffError::Throttled(wait));
            }
            return Err(StaffError::BadCredentials);
        }
        let user_key = format!("staff-user:{username}");
        // The attempt counts as a failure until it succeeds (checked and counted at once), so
        // parallel guesses cannot all pass the throttle before the first failure is recorded.
        if let Err(wait) = self.throttle.begin(&[&user_key, &addr_key], now).await? {
            self.audit_login_failure(username, address, "throttled", now)
                .await?;
            return Err(StaffError::Throttled(wait));
        }
        let user = self.store.get_staff(username).await?;
        let hash = user
            .as_ref()
            .map_or(self.decoy.clone(), |u| u.password_hash.clone());
        let given = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || verify_password(&given, &hash))
            .await
            .map_err(|e| StaffError::Internal(format!("password check: {e}")))?;
        let Some(user) = user.filter(|_| matches) else {
            self.audit_login_failure(username, address, "bad_credentials", now)
                .await?;
            return Err(StaffError::BadCredentials);
        };
        self.throttle.succeeded(&user_key, &addr_key).await?;
        let session = NewSession {
            token: self.rng.token(32),
            csrf: self.rng.token(24),
        };
        self.store
            .insert_staff_session(&StaffSessionRecord {
                token_hash: secret_hash(&session.token),
                username: user.username.clone(),
                csrf: session.csrf.clone(),
                created_at: now,
                last_seen: now,
            })
            .await?;
        self.record(&AuditEvent {
            seq: 0,
            at: now,
            actor_kind: "Staff".into(),
            actor_id: user.username,
            action: "staff.login".into(),
            subject: None,
            reason: None,
            request_id: Some(address.to_owned()),
        })
        .await?;
        Ok(session)
    }

    async fn audit_login_failure(
        &self,
        username: &str,
        address: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StaffError> {
        // Recorded in the audit trail just below; logged off the security target so the
        // trail does not hold it twice.
        tracing::warn!(target: "bulwark::staff", username, address, reason, "staff login refused");
        self.record(&AuditEvent {
            seq: 0,
            at: now,
            actor_kind: "Staff".into(),
            actor_id: username.to_owned(),
            action: LOGIN_FAILED.into(),
            subject: None,
            reason: Some(reason.to_owned()),
            request_id: Some(address.to_owned()),
        })
        .await
    }

    /// The live session of cookie value `token`, its use recorded; `Unauthenticated` when
    /// there is none or it ended (idle, absolute lifetime, the staff member removed).
    pub async fn session(&self, token: &str, now: i64) -> Result<StaffSession, StaffError> {
        if token.is_empty() || token.len() > 128 {
            return Err(StaffError::Unauthenticated);
        }
        let token_hash = secret_hash(token);
        let Some(record) = self.store.get_staff_session(&token_hash).await? else {
            return Err(StaffError::Unauthenticated);
        };
        let idle = now - record.last_seen > self.settings.idle_timeout_secs;
        let old = now - record.created_at > self.settings.session_lifetime_secs;
        let user = self.store.get_staff(&record.username).await?;
        let role = user.as_ref().and_then(|u| StaffRole::parse(&u.role));
        let (Some(role), false, false) = (role, idle, old) else {
            self.store.delete_staff_session(&token_hash).await?;
            return Err(StaffError::Unauthenticated);
        };
        if !self.store.touch_staff_session(&token_hash, now).await? {
            return Err(StaffError::Unauthenticated);
        }
        Ok(StaffSession {
            username: record.username,
            role,
            csrf: record.csrf,
            signed_in_at: record.created_at,
            token_hash,
        })
    }

    /// Ends a session (the form must carry its CSRF token).
    pub async fn logout(
        &self,
        session: &StaffSession,
        csrf: Option<&str>,
        now: i64,
    ) -> Result<(), StaffError> {
        session.check_csrf(csrf)?;
        self.store.delete_staff_session(&session.token_hash).await?;
        self.record(&AuditEvent {
            seq: 0,
            at: now,
            actor_kind: "Staff".into(),
            actor_id: session.username.clone(),
            action: "staff.logout".into(),
            subject: None,
            reason: None,
            request_id: None,
        })
        .await
    }

    /// Sends the console's audit events through `queue` (see [`AuditQueue`]).
    pub fn with_audit_queue(mut self, queue: AuditQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Appends an audit event: through the queue when there is one and it has room, else
    /// directly.
    pub(crate) async fn record(&self, event: &AuditEvent) -> Result<(), StaffError> {
        let event = match &self.queue {
            Some(queue) => match queue(event.clone()) {
                None => return Ok(()),
                Some(back) => back,
            },
            None => event.clone(),
        };
        Ok(self.store.append_audit(&event).await?)
    }

    /// The session settings (for cookie lifetimes).
    pub fn settings(&self) -> &StaffSettings {
        &self.settings
    }
}

/// Adds a staff member (`bulwark staff add`): a printable username of at most 128 characters,
/// a password of at least 12; the addition is an audit event.
pub async fn add_staff(
    store: &dyn Store,
    rng: &dyn Rng,
    username: &str,
    password: &str,
    role: StaffRole,
    now: i64,
) -> Result<(), StaffError> {
    insert_staff(store, rng, username, password, role, now).await?;
    store
        .append_audit(&AuditEvent {
            seq: 0,
            at: now,
            actor_kind: "System".into(),
            actor_id: "cli".into(),
            action: "staff.add".into(),
            subject: Some(username.to_owned()),
            reason: Some(format!("role {role}")),
            request_id: None,
        })
        .await?;
    Ok(())
}

/// Stores a new staff member after checking the username and password.
pub(crate) async fn insert_staff(
    store: &dyn Store,
    rng: &dyn Rng,
    username: &str,
    password: &str,
    role: StaffRole,
    now: i64,
) -> Result<(), StaffError> {
    // Usernames appear in page URLs (`/staff/members/{username}/role`) and audit rows: a
    // small alphabet that needs no escaping in a path segment, and not dots alone: a browser
    // resolves `.` and `..` as path steps (RFC 3986 5.2.4; the WHATWG URL standard treats
    // `%2E` as a dot too, so escaping would not help), and the console could not act on
    // such a member.
    if username.is_empty()
        || username.len() > MAX_USERNAME
        || username.chars().all(|c| c == '.')
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
    {
        return Err(StaffError::BadRequest(
            "a username of 1 to 128 letters, digits, '.', '_', '@', '-', not dots alone".into(),
        ));
    }
    if password.chars().count() < 12 || password.len() > MAX_PASSWORD {
        return Err(StaffError::BadRequest(
            "a staff password needs at least 12 characters".into(),
        ));
    }
    let record = StaffRecord {
        username: username.to_owned(),
        password_hash: hash_password(password, rng)?,
        role: role.as_str().to_owned(),
        created_at: now,
    };
    store.insert_staff(&record).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            StaffError::BadRequest(format!("a staff member named {username} already exists"))
        }
        other => other.into(),
    })
}
