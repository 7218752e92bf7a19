//! The bank staff console's rules (CO-5, OP-6), without HTTP: the server's `/staff` pages turn
//! requests into calls on [`StaffService`] and its answers into pages.
//!
//! - Staff accounts with argon2 password hashes (the PSU login's hashing and throttling) and
//!   two roles: [`StaffRole::Viewer`] reads everything, [`StaffRole::Admin`] also revokes
//!   consents and suspends or activates clients.
//! - Sessions known by the hash of their cookie only, with an idle timeout and an absolute
//!   lifetime, and one CSRF token per session that every state-changing call must present.
//! - The console's reads (consent search with keyset pages and counts, a consent with its
//!   history and the refresh tokens issued under it, clients) and its actions, each an
//!   append-only audit event with the staff member and the mandatory reason.

mod console;
mod error;
mod members;
mod role;
mod service;
mod settings;

pub use console::{
    COUNT_CAP, ClientDetail, ConsentDetail, ConsentPage, RefreshSummary, Revocation, export_audit,
};
pub use error::StaffError;
pub use role::StaffRole;
pub use service::{AuditQueue, LOGIN_FAILED, NewSession, StaffService, StaffSession, add_staff};
pub use settings::StaffSettings;
