//! The staff console's pages (CO-5): one context struct per template under `templates/staff_*`,
//! and the plain view structs the handlers fill from `bulwark_staff`'s answers. Rendering and
//! the security headers are `pages::render`'s, shared with the PSU pages.

use askama::Template;
use bulwark_consent::ConsentSummary;

/// The navigation of a logged-in page.
pub struct Nav {
    /// Who is logged in.
    pub username: String,
    /// Their role.
    pub role: String,
    /// The session's CSRF token (the logout form).
    pub csrf: String,
    /// The current section (`consents`, `clients`, `audit`).
    pub current: &'static str,
}

/// The staff login page.
#[derive(Template)]
#[template(path = "staff_login.html")]
pub struct StaffLoginPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Always `None` (not logged in).
    pub nav: Option<Nav>,
    /// The login form's CSRF token (double-submitted with its cookie).
    pub csrf: String,
    /// Prefilled username.
    pub username: String,
    /// Error message.
    pub error: Option<String>,
}

/// The console's error page (its own layout and words for staff, not the customer's).
#[derive(Template)]
#[template(path = "staff_error.html")]
pub struct StaffErrorPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title (starts with "Error:").
    pub title: String,
    /// Always `None`: an error page offers no navigation it cannot vouch for.
    pub nav: Option<Nav>,
    /// What went wrong, in words for staff.
    pub message: String,
    /// A reference naming the log line.
    pub reference: String,
}

/// The consent search form's current values and choices.
pub struct ConsentFilters {
    /// Consent id.
    pub consent_id: String,
    /// Status value ("" for any).
    pub status: String,
    /// Status choices (value, label).
    pub status_options: Vec<(&'static str, &'static str)>,
    /// Kind value ("" for any).
    pub kind: String,
    /// Kind choices (value, label).
    pub kind_options: Vec<(&'static str, &'static str)>,
    /// Client id.
    pub client_id: String,
    /// PSU id.
    pub psu_id: String,
    /// Dates (YYYY-MM-DD).
    pub created_from: String,
    /// Dates (YYYY-MM-DD).
    pub created_to: String,
    /// Dates (YYYY-MM-DD).
    pub updated_from: String,
    /// Dates (YYYY-MM-DD).
    pub updated_to: String,
    /// `created` or `updated`.
    pub sort: String,
}

/// One consent in a list.
pub struct ConsentRow {
    /// Consent id.
    pub id: String,
    /// Kind in words.
    pub kind: String,
    /// Status as it reads now.
    pub status: String,
    /// Client id.
    pub client_id: String,
    /// PSU subject, or "-".
    pub psu: String,
    /// Creation time.
    pub created: String,
    /// Last status change.
    pub updated: String,
}

/// The consent search page.
#[derive(Template)]
#[template(path = "staff_consents.html")]
pub struct StaffConsentsPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Navigation.
    pub nav: Option<Nav>,
    /// The form.
    pub filters: ConsentFilters,
    /// A filter that could not be read.
    pub error: Option<String>,
    /// This page's rows.
    pub rows: Vec<ConsentRow>,
    /// How many match ("10000+" past the cap).
    pub total: String,
    /// True when exactly one matches.
    pub one: bool,
    /// The next page's query string.
    pub next: Option<String>,
}

/// One history row.
pub struct HistoryRow {
    /// When.
    pub at: String,
    /// Who (kind and id).
    pub actor: String,
    /// From status, or "-".
    pub from: String,
    /// To status.
    pub to: String,
    /// Reason, or "".
    pub reason: String,
}

/// A consent's detail view.
pub struct ConsentView {
    /// Consent id.
    pub id: String,
    /// Kind in words.
    pub kind: String,
    /// Status as it reads now.
    pub status: String,
    /// Client id.
    pub client_id: String,
    /// Client name.
    pub client_name: String,
    /// PSU, or "-".
    pub psu: String,
    /// Creation time.
    pub created: String,
    /// Last status change.
    pub updated: String,
    /// The consent in words.
    pub summary: ConsentSummary,
    /// Selected account ids.
    pub accounts: Vec<String>,
    /// Tokens issued under it, in words.
    pub tokens: String,
    /// History, oldest first.
    pub history: Vec<HistoryRow>,
    /// Whether the revoke form is shown.
    pub revocable: bool,
    /// "Access revoked by ... on ...": the bank ended the TPP's access and the PSU has not
    /// re-authenticated since (the status still reads Authorised).
    pub access_revoked: Option<String>,
    /// Whether revoking ends the TPP's access while the consent stays Authorised (an
    /// Authorised account-access consent, OB "Access Revocation"), which the form says.
    pub ends_access_only: bool,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The consent page.
#[derive(Template)]
#[template(path = "staff_consent.html")]
pub struct StaffConsentPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Navigation.
    pub nav: Option<Nav>,
    /// The consent.
    pub c: ConsentView,
    /// Error message.
    pub error: Option<String>,
    /// Confirmation message.
    pub notice: Option<String>,
}

/// One client in a list.
pub struct ClientRow {
    /// Client id.
    pub id: String,
    /// Client name.
    pub name: String,
    /// Organisation.
    pub organisation: String,
    /// Software id.
    pub software: String,
    /// Roles.
    pub roles: String,
    /// Authentication method.
    pub auth: String,
    /// Active or Suspended.
    pub status: String,
    /// Registration time.
    pub registered: String,
}

/// The client list.
#[derive(Template)]
#[template(path = "staff_clients.html")]
pub struct StaffClientsPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Navigation.
    pub nav: Option<Nav>,
    /// The clients.
    pub rows: Vec<ClientRow>,
}

/// One audit event row.
pub struct EventRow {
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub subject: String,
    /// Why.
    pub reason: String,
    /// Request id or address.
    pub request: String,
}

/// A client's detail view.
pub struct ClientView {
    /// Client id.
    pub id: String,
    /// Client name.
    pub name: String,
    /// Active or Suspended.
    pub status: String,
    /// True when active.
    pub active: bool,
    /// Organisation.
    pub organisation: String,
    /// Software id.
    pub software: String,
    /// Roles.
    pub roles: String,
    /// Authentication method.
    pub auth: String,
    /// Certificate subject (the registration's transport certificate, or the
    /// tls_client_auth subject), or "-".
    pub subject: String,
    /// PSD2 roles in the registration's certificate, and its profile, or "-".
    pub cert_roles: String,
    /// Registration time.
    pub registered: String,
    /// "dynamic registration" or "registered by the bank".
    pub registration: String,
    /// Its newest consents.
    pub consents: Vec<ConsentRow>,
    /// How many consents it has ("10000+" past the cap).
    pub consent_total: String,
    /// Its newest events.
    pub events: Vec<EventRow>,
    /// Whether the status form is shown.
    pub can_act: bool,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The client page.
#[derive(Template)]
#[template(path = "staff_client.html")]
pub struct StaffClientPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Navigation.
    pub nav: Option<Nav>,
    /// The client.
    pub c: ClientView,
    /// Error message.
    pub error: Option<String>,
    /// Confirmation message.
    pub notice: Option<String>,
}

/// The audit filter form's values.
pub struct AuditFilters {
    /// Action.
    pub action: String,
    /// Actor id.
    pub actor: String,
    /// Subject.
    pub subject: String,
    /// Since (YYYY-MM-DD).
    pub since: String,
}

/// The audit page.
#[derive(Template)]
#[template(path = "staff_audit.html")]
pub struct StaffAuditPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Navigation.
    pub nav: Option<Nav>,
    /// The form.
    pub filters: AuditFilters,
    /// The events.
    pub rows: Vec<EventRow>,
    /// The next page's query string.
    pub next: Option<String>,
}

/// One staff member in the list.
pub struct MemberRow {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: String,
    /// When added.
    pub since: String,
    /// True for the member looking at the page (no forms on their own row).
    pub is_self: bool,
}

/// The staff page.
#[derive(Template)]
#[template(path = "staff_members.html")]
pub struct StaffMembersPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// Navigation.
    pub nav: Option<Nav>,
    /// The members.
    pub rows: Vec<MemberRow>,
    /// Whether the forms are shown.
    pub can_act: bool,
    /// The session's CSRF token.
    pub csrf: String,
    /// Error message.
    pub error: Option<String>,
    /// Confirmation message.
    pub notice: Option<String>,
}
