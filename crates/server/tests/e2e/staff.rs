//! CO-5 / OP-6: the bank staff console over real TLS with a cookie-keeping client: login (CSRF,
//! throttling, cookie attributes, page headers), sessions (idle timeout, logout), consent
//! search and detail, revocation with a reason (the TPP's tokens die at once), roles (a
//! viewer cannot act), client suspension, the audit trail, and the console on its own
//! listener. The browser version is `tests/staff_browser.rs`.

use bulwark_staff::StaffRole;
use bulwark_store::ConsentStore;

use crate::support::consents::{AISP, as_tpp};
use crate::support::journey::{Browser, FlowTpp, authorise_once, psu, response_params};
use crate::support::staff::{
    ADMIN_PASSWORD, assert_page_headers, audit_rows, authorised, install, logged_in, staff,
};
use crate::support::{Harness, both_backends, introspect};

both_backends!(
    /// An admin finds an account-access consent, sees it in words with its history and
    /// tokens, revokes its access with a reason (OB v3.1.10 "Access Revocation"): the TPP's
    /// access token introspects inactive at once and its refresh token is refused, while the
    /// consent stays Authorised with its StatusUpdateDateTime, as the TPP reads it; the staff
    /// member and the reason are in the consent's history and the audit trail.
    co_5_admin_revokes_a_consent_and_its_tokens_die,
    co_5_admin_revokes_a_consent_and_its_tokens_die_on_postgres => revoke_case
);

async fn revoke_case(h: Harness) {
    let (t, consent_id, access, refresh) = authorised(&h).await;
    assert_eq!(introspect(&h, &t.c, &access).await["active"], true);
    staff(&h, "alice", StaffRole::Admin).await;
    let mut b = logged_in(&h, "alice").await;

    let list = b
        .get(&format!("/staff/consents?consent_id={consent_id}"))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_page_headers(&list);
    assert!(list.body.contains("1 consent<"), "{}", list.body);
    assert!(list.body.contains(&consent_id));
    let by_status = b
        .get("/staff/consents?status=Authorised&kind=account-access")
        .await;
    assert!(by_status.body.contains(&consent_id));
    let none = b.get("/staff/consents?status=Revoked").await;
    assert!(none.body.contains("0 consents"), "{}", none.body);
    let bad = b.get("/staff/consents?created_from=yesterday").await;
    assert_eq!(bad.status, 400);

    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_page_headers(&detail);
    assert!(detail.body.contains("Authorised"));
    assert!(
        detail.body.contains("1 refresh token issued, 1 usable"),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("Your account balance"),
        "the consent in words"
    );
    assert!(detail.body.contains("Revoke access"), "{}", detail.body);
    let csrf = detail.input("csrf");
    let read_before = as_tpp(&h, &t.c, &t.app_token)
        .get(&format!("{AISP}/{consent_id}"))
        .await;
    assert_eq!(read_before.status, 200, "{:?}", read_before.body);

    let history_before = h.store.consent_history(&consent_id).await.unwrap().len();
    // No reason, no revocation; no CSRF token, no revocation.
    let path = format!("/staff/consents/{consent_id}/revoke");
    let refused = b.post(&path, &[("csrf", &csrf), ("reason", " ")]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // WCAG 3.3.1: the page says it is an error, and the Reason field points at it.
    assert!(
        refused.body.contains("<title>Error: Consent"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("aria-describedby=\"page-error\"")
            && refused.body.contains("id=\"page-error\""),
        "{}",
        refused.body
    );
    let refused = b.post(&path, &[("reason", "customer asked")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // A revocation leaves the status Authorised, so what the refusals left is read where a
    // revocation shows: the TPP's token and the consent's history.
    assert_eq!(introspect(&h, &t.c, &access).await["active"], true);
    assert_eq!(
        h.store.consent_history(&consent_id).await.unwrap().len(),
        history_before,
        "nothing in the consent's history"
    );

    let done = b
        .post(
            &path,
            &[("csrf", &csrf), ("reason", "customer asked by phone")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location().ends_with("?done=access-ended"));
    let after = b.get(&done.location()).await;
    assert!(after.body.contains("Access was revoked"), "{}", after.body);
    assert!(
        after.body.contains("revoked by alice on"),
        "the page says access is revoked although the status reads Authorised: {}",
        after.body
    );
    assert!(
        after.body.contains("customer asked by phone"),
        "in the history"
    );
    assert!(
        after.body.contains("0 usable"),
        "the refresh token is gone: {}",
        after.body
    );
    // The status must remain unchanged, so the TPP reads what it read before.
    let read_after = as_tpp(&h, &t.c, &t.app_token)
        .get(&format!("{AISP}/{consent_id}"))
        .await;
    assert_eq!(read_after.status, 200, "{:?}", read_after.body);
    assert_eq!(read_after.body["Data"]["Status"], "Authorised");
    assert_eq!(
        read_after.body["Data"]["StatusUpdateDateTime"],
        read_before.body["Data"]["StatusUpdateDateTime"]
    );

    assert_eq!(introspect(&h, &t.c, &access).await["active"], false);
    let refreshed = t
        .token(
            &h,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(refreshed.0, 400, "{:?}", refreshed.2);
    assert_eq!(refreshed.2["error"], "invalid_grant");

    let history = h.store.consent_history(&consent_id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (
            last.actor_kind.as_str(),
            last.actor_id.as_str(),
            last.to_status.as_str()
        ),
        ("Staff", "alice", "Authorised")
    );
    assert_eq!(last.from_status.as_deref(), Some("Authorised"));
    assert_eq!(last.reason.as_deref(), Some("customer asked by phone"));
    // Audit events are written off the request path: wait for them.
    let events = audit_rows(&h, |e| e.action == "consent.revoke_access", 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject.as_deref(), Some(consent_id.as_str()));
    let audit = b.get("/staff/audit?action=consent.revoke_access").await;
    assert!(audit.body.contains(&consent_id), "{}", audit.body);
}

both_backends!(
    /// OB v3.1.10 "Access Revocation": after the bank revoked access, the TPP asks the PSU to
    /// re-authenticate the same consent; the new code gives tokens that work at once (in the
    /// revocation's very second, within the clock skew), while the ones issued before the
    /// revocation stay dead. Awaiting and payment consents: withdrawn, and
    /// never revoked once Authorised.
    co_5_access_revoked_by_the_bank_is_restored_by_re_authentication,
    co_5_access_revoked_by_the_bank_is_restored_by_re_authentication_on_postgres => reauthentication_case
);

async fn reauthentication_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-reauth-staff", None).await;
    let consent_id = t.consent(&h).await;
    let (user, password, accounts, _) = psu(&h, "reauth-staff").await;
    let (status, first) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[0])).await;
    assert_eq!(status, 303);
    let before = t.exchange(&h, &first["code"]).await;
    assert_eq!(before.0, 200, "{:?}", before.2);
    let old_access = before.2["access_token"].as_str().unwrap().to_string();
    // A code issued just before the revocation, exchanged after it.
    let (status, pending) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[0])).await;
    assert_eq!(status, 303);

    staff(&h, "rita", StaffRole::Admin).await;
    let mut b = logged_in(&h, "rita").await;
    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    let csrf = detail.input("csrf");
    let done = b
        .post(
            &format!("/staff/consents/{consent_id}/revoke"),
            &[("csrf", &csrf), ("reason", "customer revoked in branch")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(introspect(&h, &t.c, &old_access).await["active"], false);

    // In the same second, well within the clock skew (no time passes from here on): the code
    // issued before the revocation is gone (its grant generation was revoked), and the old
    // grant's refresh token is refused.
    let late = t.exchange(&h, &pending["code"]).await;
    assert_eq!(late.0, 400, "{:?}", late.2);
    assert_eq!(late.2["error"], "invalid_grant");
    let old_refresh = before.2["refresh_token"].as_str().unwrap();
    let refused = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", old_refresh),
            ],
        )
        .await;
    assert_eq!(refused.0, 400, "{:?}", refused.2);
    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    assert!(
        detail.body.contains("id=\"access-revoked\""),
        "revoked: {}",
        detail.body
    );
    // A re-authentication the PSU declines leaves the access ended, and the console says so.
    let (status, declined) = authorise_once(&h, &t, &consent_id, &user, &password, None).await;
    assert_eq!(status, 303);
    assert_eq!(declined["error"], "access_denied");
    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    assert!(
        detail.body.contains("id=\"access-revoked\""),
        "declined since: {}",
        detail.body
    );
    // The PSU re-authenticates at once: a new grant generation, whose tokens are valid though
    // issued in the revocation's second.
    let (status, again) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[1])).await;
    assert_eq!(status, 303);
    assert!(again.contains_key("code"), "{again:?}");
    let after = t.exchange(&h, &again["code"]).await;
    assert_eq!(after.0, 200, "{:?}", after.2);
    let new_access = after.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, new_access).await["active"], true);
    assert_eq!(introspect(&h, &t.c, &old_access).await["active"], false);
    let refreshed = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", after.2["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let refreshed_access = refreshed.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, refreshed_access).await["active"], true);
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.selected_accounts, vec![accounts[1].clone()]);
    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    assert!(
        !detail.body.contains("id=\"access-revoked\""),
        "re-authenticated since: {}",
        detail.body
    );

    // A consent still awaiting authorisation is withdrawn.
    let waiting = t.consent(&h).await;
    let detail = b.get(&format!("/staff/consents/{waiting}")).await;
    assert!(detail.body.contains("Revoke consent"), "{}", detail.body);
    let done = b
        .post(
            &format!("/staff/consents/{waiting}/revoke"),
            &[("csrf", &csrf), ("reason", "customer asked")],
        )
        .await;
    assert!(done.location().ends_with("?done=withdrawn"));
    let stored = h.store.get_consent(&waiting).await.unwrap().unwrap();
    assert_eq!(stored.status, "Rejected");
    let answer = b
        .post(
            &format!("/staff/consents/{waiting}/revoke"),
            &[("csrf", &csrf), ("reason", "again")],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
}

/// CO-5: a console form carrying another staff member's CSRF token is refused and changes
/// nothing; an Authorised payment consent offers no revocation, and a forged one is refused
/// with its tokens left alive (payments are never revoked once authorised); a session in use
/// all day long still ends at its absolute lifetime (8 hours after the login).
#[tokio::test]
async fn co_5_forged_forms_authorised_payments_and_old_sessions_are_refused() {
    let h = Harness::start(|_| {}).await;
    let (t, consent_id, access, _) = authorised(&h).await;
    staff(&h, "amber", StaffRole::Admin).await;
    staff(&h, "basil", StaffRole::Admin).await;
    let mut amber = logged_in(&h, "amber").await;
    let mut basil = logged_in(&h, "basil").await;
    let basil_csrf = basil.get("/staff/consents").await.input("csrf");
    let amber_csrf = amber
        .get(&format!("/staff/consents/{consent_id}"))
        .await
        .input("csrf");
    assert_ne!(amber_csrf, basil_csrf);
    let forged = amber
        .post(
            &format!("/staff/consents/{consent_id}/revoke"),
            &[("csrf", &basil_csrf), ("reason", "forged")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(introspect(&h, &t.c, &access).await["active"], true);
    let history = h.store.consent_history(&consent_id).await.unwrap();
    assert!(
        history.iter().all(|e| e.actor_kind != "Staff"),
        "{history:?}"
    );

    let (user, password, accounts, _) = psu(&h, "payer").await;
    let payment = t.payment_consent(&h, "10.00").await;
    let (mut psu_browser, ia) = t
        .start_in_browser(&h, &t.fapi2_params_with_scope(&payment, "openid payments"))
        .await;
    psu_browser.login(&ia, &user, &password).await;
    let done = psu_browser.decide(&ia, "authorise", &[&accounts[0]]).await;
    let code = response_params(&done.location())["code"].clone();
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let payment_access = tokens.2["access_token"].as_str().unwrap();
    let detail = amber.get(&format!("/staff/consents/{payment}")).await;
    assert_eq!(detail.status, 200);
    assert!(!detail.body.contains("id=\"revoke\""), "{}", detail.body);
    let refused = amber
        .post(
            &format!("/staff/consents/{payment}/revoke"),
            &[("csrf", &amber_csrf), ("reason", "customer asked")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        introspect(&h, &t.c, payment_access).await["active"],
        true,
        "its tokens live"
    );
    let stored = h.store.get_consent(&payment).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");

    // In use every 800 s (inside the idle timeout) for the whole 8 hours, then one second more.
    for _ in 0..36 {
        h.clock.advance(800);
        assert_eq!(amber.get("/staff/consents").await.status, 200);
    }
    h.clock.advance(1);
    let ended = amber.get("/staff/consents").await;
    assert_eq!(ended.status, 303);
    assert_eq!(ended.location(), "/staff/login");
}

#[tokio::test]
async fn co_5_a_viewer_cannot_revoke_or_suspend() {
    let h = Harness::start(|_| {}).await;
    let (t, consent_id, access, _) = authorised(&h).await;
    staff(&h, "victor", StaffRole::Viewer).await;
    let mut b = logged_in(&h, "victor").await;
    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    assert_eq!(detail.status, 200);
    assert!(!detail.body.contains("id=\"revoke\""), "no revoke button");
    // The logout form carries the session's CSRF token: use it to forge the revoke form.
    let csrf = detail.input("csrf");
    let refused = b
        .post(
            &format!("/staff/consents/{consent_id}/revoke"),
            &[("csrf", &csrf), ("reason", "trying")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // An error is the console's own page (its layout, a title saying it is an error, words
    // for staff), not the customer's ("no payment has been made").
    let missing = b.get("/staff/consents/aac-no-such-consent").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(
        missing.body.contains("<title>Error: Staff console"),
        "{}",
        missing.body
    );
    assert!(missing.body.contains("Skip to main content"));
    assert!(!missing.body.contains("no payment has been made"));
    // With the console's navigation, the consents section current, and the logout form: the
    // session is known, so staff go on from the error page.
    assert!(
        missing
            .body
            .contains("<a href=\"/staff/consents\" aria-current=\"page\">Consents</a>")
            && missing.body.contains("<a href=\"/staff/audit\">Audit</a>")
            && missing.body.contains("action=\"/staff/logout\""),
        "{}",
        missing.body
    );
    assert_eq!(missing.input("csrf"), csrf, "the logout form's token");
    // WCAG 1.3.1: the history table has a caption and column headers with their scope.
    assert!(
        detail
            .body
            .contains("<caption class=\"sr-only\">Status history</caption>")
    );
    assert!(detail.body.contains("<th scope=\"col\">When</th>"));
    assert!(
        !detail.body.contains("<th>"),
        "every header cell has its scope"
    );
    let refused = b
        .post(
            &format!("/staff/clients/{}/status", t.c.id),
            &[("csrf", &csrf), ("active", "false"), ("reason", "trying")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(introspect(&h, &t.c, &access).await["active"], true);
    assert_eq!(
        h.store
            .get_consent(&consent_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "Authorised"
    );
}

#[tokio::test]
async fn co_5_login_is_protected_and_sessions_end() {
    let h = Harness::start(|c| c.staff.login_free_failures = 3).await;
    staff(&h, "alice", StaffRole::Admin).await;

    // Not logged in: every console page leads to the login.
    let mut b = Browser::new(&h);
    for path in [
        "/staff",
        "/staff/consents",
        "/staff/clients",
        "/staff/audit",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 303, "{path}");
    }
    let form = b.get("/staff/login").await;
    assert_page_headers(&form);
    let set = form.headers["set-cookie"].to_str().unwrap();
    assert!(set.contains("SameSite=Strict") && set.contains("HttpOnly") && set.contains("Secure"));

    // The login form's token must come back with its cookie; and a browser that never loaded
    // the form (no login cookie) sending an empty token matches nothing either.
    let mut fresh = Browser::new(&h);
    for (browser, csrf) in [(&mut b, "guess"), (&mut fresh, "")] {
        let refused = browser
            .post(
                "/staff/login",
                &[
                    ("csrf", csrf),
                    ("username", "alice"),
                    ("password", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(refused.status, 403, "{csrf:?}");
    }
    // Wrong password and unknown user read the same.
    let mut answers = Vec::new();
    for user in ["alice", "nobody"] {
        let csrf = b.get("/staff/login").await.input("csrf");
        let p = b
            .post(
                "/staff/login",
                &[
                    ("csrf", &csrf),
                    ("username", user),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        assert_eq!(p.status, 401);
        // WCAG 3.3.1: the title says there is an error, and the error is tied to both fields.
        assert!(p.body.contains("<title>Error: Staff login"), "{}", p.body);
        assert_eq!(
            p.body
                .matches("aria-invalid=\"true\" aria-describedby=\"login-error\"")
                .count(),
            2,
            "{}",
            p.body
        );
        answers.push(p.body.contains("wrong username or password"));
    }
    assert_eq!(answers, [true, true]);
    // A third failure for alice starts the throttle: even the right password waits.
    let csrf = b.get("/staff/login").await.input("csrf");
    b.post(
        "/staff/login",
        &[
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", "nope nope nope"),
        ],
    )
    .await;
    let csrf = b.get("/staff/login").await.input("csrf");
    let slowed = b
        .post(
            "/staff/login",
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(slowed.status, 429, "{}", slowed.body);
    let failures = audit_rows(&h, |e| e.action == "staff.login_failed", 4).await;
    assert_eq!(failures.len(), 4);

    // After the wait, a login gives a Strict, HttpOnly, Secure session cookie on /staff.
    h.clock.advance(3600);
    let mut b = Browser::new(&h);
    let csrf = b.get("/staff/login").await.input("csrf");
    let done = b
        .post(
            "/staff/login",
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let cookie = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-bulwark_staff="))
        .unwrap();
    for attr in ["Path=/;", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(b.get("/staff/consents").await.status, 200);
    // Idle past the timeout: the session is over.
    h.clock.advance(901);
    assert_eq!(b.get("/staff/consents").await.status, 303);

    // Logout ends the session at once (with the form's CSRF token only).
    let mut b = logged_in(&h, "alice").await;
    let page = b.get("/staff/clients").await;
    let csrf = page.input("csrf");
    assert_eq!(b.post("/staff/logout", &[]).await.status, 403);
    assert_eq!(
        b.post("/staff/logout", &[("csrf", &csrf)]).await.status,
        303
    );
    assert_eq!(b.get("/staff/clients").await.status, 303);
}

#[tokio::test]
async fn co_5_suspending_a_client_stops_it_and_activating_restores_it() {
    let h = Harness::start(|_| {}).await;
    let (t, consent_id, _, _) = authorised(&h).await;
    let consent_path = format!("{AISP}/{consent_id}");
    assert_eq!(
        as_tpp(&h, &t.c, &t.app_token)
            .get(&consent_path)
            .await
            .status,
        200
    );
    staff(&h, "alice", StaffRole::Admin).await;
    let mut b = logged_in(&h, "alice").await;
    let list = b.get("/staff/clients").await;
    assert!(list.body.contains(&t.c.id), "{}", list.body);
    let path = format!("/staff/clients/{}", t.c.id);
    let detail = b.get(&path).await;
    assert!(detail.body.contains("Active"));
    assert!(
        detail.body.contains("registered by the bank"),
        "{}",
        detail.body
    );
    let csrf = detail.input("csrf");
    let no_reason = b
        .post(
            &format!("{path}/status"),
            &[("csrf", &csrf), ("active", "false")],
        )
        .await;
    assert_eq!(no_reason.status, 400);
    let done = b
        .post(
            &format!("{path}/status"),
            &[
                ("csrf", &csrf),
                ("active", "false"),
                ("reason", "fraud report 4411"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(b.get(&done.location()).await.body.contains("Suspended"));
    // The client gets no token, and its tokens are no longer honoured.
    let refused = t.c.token(&h, &t.c.assertion(&h)).await;
    assert!(refused.0 == 400 || refused.0 == 401, "{:?}", refused.2);
    assert_eq!(refused.2["error"], "invalid_client");
    let api = as_tpp(&h, &t.c, &t.app_token).get(&consent_path).await;
    assert_eq!(api.status, 401, "{:?}", api.body);

    let done = b
        .post(
            &format!("{path}/status"),
            &[("csrf", &csrf), ("active", "true"), ("reason", "cleared")],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(t.c.token(&h, &t.c.assertion(&h)).await.0, 200);
    assert_eq!(
        as_tpp(&h, &t.c, &t.app_token)
            .get(&consent_path)
            .await
            .status,
        200
    );
    let actions: Vec<String> = audit_rows(
        &h,
        |e| e.subject.as_deref() == Some(t.c.id.as_str()) && e.action.starts_with("client."),
        2,
    )
    .await
    .into_iter()
    .map(|e| e.action)
    .collect();
    assert_eq!(
        actions,
        ["client.suspend", "client.activate"],
        "oldest first"
    );
}

#[tokio::test]
async fn co_5_the_console_can_have_its_own_listener() {
    install();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let pki = std::sync::Arc::new(crate::support::TestPki::new("Staff QTSP"));
    let h = Harness::start_shared(dir, pki, None, |c| {
        c.staff.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut b = Browser::new(&h);
    assert_eq!(
        b.get("/staff/login").await.status,
        404,
        "not on the main listener"
    );
    let addr = h.staff_addr.expect("a staff listener");
    let staff_url = format!("https://localhost:{}", addr.port());
    let mut b = Browser::at(&h, &staff_url);
    let page = b.get("/staff/login").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(b.get("/static/bulwark.css").await.status, 200);
    assert_eq!(b.get("/token").await.status, 404, "only the console there");
}

#[tokio::test]
async fn co_5_client_detail_shows_the_registration_and_its_certificate() {
    let d = crate::support::Dcr::start().await;
    let registered = d.registered().await;
    let client_id = registered["client_id"].as_str().unwrap();
    staff(&d.h, "alice", StaffRole::Viewer).await;
    let mut b = logged_in(&d.h, "alice").await;
    let page = b.get(&format!("/staff/clients/{client_id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for expected in [
        "dynamic registration",
        "sw-tpp-1",
        "AISP, PISP",
        "PSP_PI, PSP_AI (eidas)",
        "CN=tpp.example",
        "0015800001041RHAAY",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    assert!(
        !page.body.contains("id=\"set-status\""),
        "a viewer gets no form"
    );
}
