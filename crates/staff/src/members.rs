//! Managing the staff themselves (admins only): list, add with an initial password, change a
//! role, remove. An admin cannot demote or remove themselves, so the console always keeps the
//! admin who is using it; every change is an audit event.

use bulwark_store::{AuditEvent, StaffRecord};

use crate::service::insert_staff;
use crate::{StaffError, StaffRole, StaffService, StaffSession};

impl StaffService {
    /// Every staff member, by name (any role may see who has access).
    pub async fn members(&self, _session: &StaffSession) -> Result<Vec<StaffRecord>, StaffError> {
        Ok(self.store.list_staff().await?)
    }

    /// Adds a staff member with an initial password (admins only).
    pub async fn add_member(
        &self,
        session: &StaffSession,
        csrf: Option<&str>,
        username: &str,
        password: &str,
        role: StaffRole,
        now: i64,
    ) -> Result<(), StaffError> {
        session.check_csrf(csrf)?;
        session.require_admin()?;
        session.require_recent_sign_in(now)?;
        insert_staff(
            self.store.as_ref(),
            self.rng.as_ref(),
            username,
            password,
            role,
            now,
        )
        .await?;
        self.member_event(session, "staff.add", username, &format!("role {role}"), now)
            .await
    }

    /// Changes a member's role (admins only; not one's own).
    pub async fn set_member_role(
        &self,
        session: &StaffSession,
        csrf: Option<&str>,
        username: &str,
        role: StaffRole,
        now: i64,
    ) -> Result<(), StaffError> {
        session.check_csrf(csrf)?;
        session.require_admin()?;
        session.require_recent_sign_in(now)?;
        if username == session.username {
            return Err(StaffError::BadRequest(
                "you cannot change your own role; ask another admin".into(),
            ));
        }
        if !self.store.set_staff_role(username, role.as_str()).await? {
            return Err(StaffError::NotFound);
        }
        self.member_event(
            session,
            "staff.role",
            username,
            &format!("role {role}"),
            now,
        )
        .await
    }

    /// Removes a member and ends their sessions (admins only; not oneself).
    pub async fn remove_member(
        &self,
        session: &StaffSession,
        csrf: Option<&str>,
        username: &str,
        now: i64,
    ) -> Result<(), StaffError> {
        session.check_csrf(csrf)?;
        session.require_admin()?;
        session.require_recent_sign_in(now)?;
        if username == session.username {
            return Err(StaffError::BadRequest(
                "you cannot remove yourself; ask another admin".into(),
            ));
        }
        if !self.store.delete_staff(username).await? {
            return Err(StaffError::NotFound);
        }
        self.member_event(session, "staff.remove", username, "removed", now)
            .await
    }

    async fn member_event(
        &self,
        session: &StaffSession,
        action: &str,
        username: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StaffError> {
        self.record(&AuditEvent {
            seq: 0,
            at: now,
            actor_kind: "Staff".into(),
            actor_id: session.username.clone(),
            action: action.into(),
            subject: Some(username.to_owned()),
            reason: Some(reason.to_owned()),
            request_id: None,
        })
        .await
    }
}
