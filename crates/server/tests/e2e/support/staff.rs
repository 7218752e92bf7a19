//! The staff console as the e2e suites drive it: a staff member added, logged in over real TLS,
//! the console's page headers checked, a consent authorised to act on, the audit rows read.

use bulwark_staff::StaffRole;
use bulwark_store::{AuditQuery, AuditStore};

use super::Harness;
use super::journey::{Browser, FlowTpp, Page, fapi2_code};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub async fn staff(h: &Harness, username: &str, role: StaffRole) {
    bulwark_staff::add_staff(
        &h.store,
        &bulwark_core::SystemRng,
        username,
        ADMIN_PASSWORD,
        role,
        h.clock_now(),
    )
    .await
    .unwrap();
}

/// A browser logged in to the console as `username`.
pub async fn logged_in(h: &Harness, username: &str) -> Browser {
    let mut b = Browser::new(h);
    let form = b.get("/staff/login").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.input("csrf");
    let done = b
        .post(
            "/staff/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/staff/consents");
    b
}

pub fn assert_page_headers(p: &Page) {
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(p.headers["cache-control"], "no-store");
    assert_eq!(p.headers["x-frame-options"], "DENY");
    assert!(!p.body.contains("<script"), "no script on staff pages");
}

/// An account-access consent authorised through the whole journey, with the TPP's tokens.
pub async fn authorised(h: &Harness) -> (FlowTpp, String, String, String) {
    let t = FlowTpp::register(h, "tpp-staff", None).await;
    let (code, consent_id, _) = fapi2_code(h, &t, "alex").await;
    let tokens = t.exchange(h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let access = tokens.2["access_token"].as_str().unwrap().to_string();
    let refresh = tokens.2["refresh_token"].as_str().unwrap().to_string();
    (t, consent_id, access, refresh)
}

pub fn install() {
    crate::support::install_crypto();
}

/// The audit trail's rows with `pred`, waiting briefly for the writer (events are appended
/// off the request path).
pub async fn audit_rows(
    h: &Harness,
    pred: impl Fn(&bulwark_store::AuditEvent) -> bool,
    at_least: usize,
) -> Vec<bulwark_store::AuditEvent> {
    for _ in 0..50 {
        let mut rows = h
            .store
            .list_audit(&AuditQuery {
                limit: 1000,
                oldest_first: true,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        rows.retain(|e| pred(e));
        if rows.len() >= at_least {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    panic!("fewer than {at_least} matching audit rows");
}
