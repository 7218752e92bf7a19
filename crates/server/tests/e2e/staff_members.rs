//! CO-5 / OP-6 in the staff console: the audit trail a journey and the refusals leave, and staff
//! members managed by admins (viewers cannot).

use bulwark_staff::StaffRole;

use crate::support::staff::{ADMIN_PASSWORD, audit_rows, authorised, logged_in, staff};
use crate::support::{Harness, both_backends};

both_backends!(
    /// OP-6: the audit rows of a whole journey (registration, consent, authorisation by the
    /// PSU, revocation by staff) are all there, in order, with their actors.
    op_6_a_journey_leaves_its_audit_rows_in_order,
    op_6_a_journey_leaves_its_audit_rows_in_order_on_postgres => journey_audit_case
);

async fn journey_audit_case(h: Harness) {
    let (t, consent_id, _, _) = authorised(&h).await;
    staff(&h, "alice", StaffRole::Admin).await;
    let mut b = logged_in(&h, "alice").await;
    let detail = b.get(&format!("/staff/consents/{consent_id}")).await;
    let csrf = detail.input("csrf");
    let done = b
        .post(
            &format!("/staff/consents/{consent_id}/revoke"),
            &[("csrf", &csrf), ("reason", "customer request")],
        )
        .await;
    assert_eq!(done.status, 303);
    let rows = audit_rows(&h, |e| e.subject.as_deref() == Some(consent_id.as_str()), 4).await;
    let steps: Vec<(&str, &str)> = rows
        .iter()
        .map(|e| (e.actor_kind.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("TPP", "consent created"),
            ("PSU", "consent authorised by the PSU"),
            ("Staff", "consent status changed"),
            ("Staff", "consent.revoke_access"),
        ]
    );
    assert_eq!(rows[0].actor_id, t.c.id);
    assert_eq!(rows[3].reason.as_deref(), Some("customer request"));
    let login = audit_rows(&h, |e| e.action == "staff.login", 1).await;
    assert!(login[0].seq < rows[2].seq, "logged in before acting");
    let seqs: Vec<i64> = rows.iter().map(|e| e.seq).collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted);
}

#[tokio::test]
async fn op_6_refusals_and_registrations_are_in_the_audit_trail() {
    let d = crate::support::Dcr::start().await;
    let registered = d.registered().await;
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    let rows = audit_rows(&d.h, |e| e.action == "client registered (DCR)", 1).await;
    assert_eq!(rows[0].actor_kind, "TPP");
    assert_eq!(rows[0].actor_id, client_id);
    // A refused client authentication (a replayed assertion) is a row with its reason.
    let c = d.as_client(&client_id);
    let assertion = c.assertion(&d.h);
    assert_eq!(c.token(&d.h, &assertion).await.0, 200);
    let replay = c.token(&d.h, &assertion).await;
    crate::support::assert_oauth_error(&replay, 401, "invalid_client");
    let refused = audit_rows(
        &d.h,
        |e| e.actor_id == client_id && e.reason.is_some() && e.action != "client registered (DCR)",
        1,
    )
    .await;
    assert!(!refused.is_empty());
    // An untrusted certificate at registration is a row too.
    let stranger = crate::support::Identity::self_made("stranger");
    let resp = d.register(Some(&stranger), &d.request()).await;
    assert_eq!(resp.0, 400);
    audit_rows(&d.h, |e| e.action.contains("certificate rejected"), 1).await;
}

#[tokio::test]
async fn co_5_admins_manage_staff_and_viewers_cannot() {
    let h = Harness::start(|_| {}).await;
    staff(&h, "alice", StaffRole::Admin).await;
    let mut admin = logged_in(&h, "alice").await;
    let page = admin.get("/staff/members").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("alice"));
    let csrf = page.input("csrf");
    // Add a viewer; a short password and a taken name are refused.
    let short = admin
        .post(
            "/staff/members",
            &[
                ("csrf", &csrf),
                ("username", "bob"),
                ("password", "short"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(short.status, 400);
    let added = admin
        .post(
            "/staff/members",
            &[
                ("csrf", &csrf),
                ("username", "bob"),
                ("password", ADMIN_PASSWORD),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let again = admin
        .post(
            "/staff/members",
            &[
                ("csrf", &csrf),
                ("username", "bob"),
                ("password", ADMIN_PASSWORD),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(again.status, 400);
    // bob logs in as a viewer: sees the list, cannot add, promote or remove.
    let mut bob = logged_in(&h, "bob").await;
    let list = bob.get("/staff/members").await;
    assert!(
        !list.body.contains("id=\"add-member\""),
        "no form for a viewer"
    );
    let bob_csrf = list.input("csrf");
    for (path, form) in [
        (
            "/staff/members",
            vec![
                ("username", "eve"),
                ("password", ADMIN_PASSWORD),
                ("role", "admin"),
            ],
        ),
        ("/staff/members/bob/role", vec![("role", "admin")]),
        ("/staff/members/alice/remove", vec![]),
    ] {
        let mut f = vec![("csrf", bob_csrf.as_str())];
        f.extend(form);
        assert_eq!(bob.post(path, &f).await.status, 403, "{path}");
    }
    // An admin cannot demote or remove themselves.
    assert_eq!(
        admin
            .post(
                "/staff/members/alice/role",
                &[("csrf", &csrf), ("role", "viewer")]
            )
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .post("/staff/members/alice/remove", &[("csrf", &csrf)])
            .await
            .status,
        400
    );
    // Promotion applies to bob's live session at once; removal ends it.
    let promoted = admin
        .post(
            "/staff/members/bob/role",
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(promoted.status, 303);
    assert!(
        bob.get("/staff/members")
            .await
            .body
            .contains("id=\"add-member\"")
    );
    let removed = admin
        .post("/staff/members/bob/remove", &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, 303);
    assert_eq!(
        bob.get("/staff/consents").await.status,
        303,
        "session ended"
    );
    let actions: Vec<String> = audit_rows(&h, |e| e.subject.as_deref() == Some("bob"), 3)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["staff.add", "staff.role", "staff.remove"]);
}

/// CO-5: every member an admin can add can be managed from the members page: the forms'
/// actions, resolved as a browser resolves them, reach that member. A name of dots alone would
/// resolve as a path step (`/staff/members/../role` is `/staff/role`), so it is refused.
#[tokio::test]
async fn co_5_every_member_added_can_be_managed_from_the_members_page() {
    let h = Harness::start(|_| {}).await;
    staff(&h, "alice", StaffRole::Admin).await;
    let mut admin = logged_in(&h, "alice").await;
    let csrf = admin.get("/staff/members").await.input("csrf");
    let add = |name: &'static str| {
        let mut admin = admin.clone();
        let csrf = csrf.clone();
        async move {
            admin
                .post(
                    "/staff/members",
                    &[
                        ("csrf", &csrf),
                        ("username", name),
                        ("password", ADMIN_PASSWORD),
                        ("role", "viewer"),
                    ],
                )
                .await
        }
    };
    for name in [".", ".."] {
        let refused = add(name).await;
        assert_eq!(refused.status, 400, "{name}: {}", refused.body);
    }
    let name = "j.doe@bank-1.example";
    assert_eq!(add(name).await.status, 303);
    // Follow the page's own forms for that member, as a browser would.
    let page_url = reqwest::Url::parse(&h.url("/staff/members")).unwrap();
    let action = |page: &str, ends: &str| {
        let marker = format!("{ends}\">");
        let end = page.find(&marker).unwrap_or_else(|| panic!("{page}"));
        let start = page[..end].rfind("action=\"").unwrap() + "action=\"".len();
        page_url
            .join(&page[start..end + ends.len()])
            .unwrap()
            .path()
            .to_string()
    };
    let page = admin.get("/staff/members").await;
    let promote = action(&page.body, "/role");
    let promoted = admin
        .post(&promote, &[("csrf", &csrf), ("role", "admin")])
        .await;
    assert_eq!(promoted.status, 303, "{promote}: {}", promoted.body);
    let page = admin.get("/staff/members").await;
    let remove = action(&page.body, "/remove");
    let removed = admin.post(&remove, &[("csrf", &csrf)]).await;
    assert_eq!(removed.status, 303, "{remove}: {}", removed.body);
    let actions: Vec<String> = audit_rows(&h, |e| e.subject.as_deref() == Some(name), 3)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["staff.add", "staff.role", "staff.remove"]);
}

/// CO-5 hardening: changes to who can do what (a new admin, a role, a TPP's suspension) need a
/// sign-in within the last 15 minutes. A session kept alive by activity beyond that (an
/// unattended or stolen browser) is told to sign in again and changes nothing; after signing
/// in again the same change goes through.
#[tokio::test]
async fn co_5_access_changes_need_a_recent_sign_in() {
    let h = Harness::start(|_| {}).await;
    let (t, _, _, _) = authorised(&h).await;
    staff(&h, "alice", StaffRole::Admin).await;
    let mut admin = logged_in(&h, "alice").await;
    // Active all along (never idle 15 minutes), but signed in 20 minutes ago.
    h.clock.advance(600);
    assert_eq!(admin.get("/staff/members").await.status, 200);
    h.clock.advance(600);
    let page = admin.get("/staff/members").await;
    let csrf = page.input("csrf");
    let add = [
        ("csrf", csrf.as_str()),
        ("username", "mallory"),
        ("password", ADMIN_PASSWORD),
        ("role", "admin"),
    ];
    let refused = admin.post("/staff/members", &add).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("sign in again"), "{}", refused.body);
    assert!(!admin.get("/staff/members").await.body.contains("mallory"));
    let client = format!("/staff/clients/{}", t.c.id);
    let detail = admin.get(&client).await;
    let suspend = admin
        .post(
            &format!("{client}/status"),
            &[
                ("csrf", &detail.input("csrf")),
                ("active", "false"),
                ("reason", "fraud report 4412"),
            ],
        )
        .await;
    assert_eq!(suspend.status, 403, "{}", suspend.body);
    assert!(admin.get(&client).await.body.contains("Active"));

    let mut again = logged_in(&h, "alice").await;
    let csrf = again.get("/staff/members").await.input("csrf");
    let add = [
        ("csrf", csrf.as_str()),
        ("username", "mallory"),
        ("password", ADMIN_PASSWORD),
        ("role", "viewer"),
    ];
    assert_eq!(again.post("/staff/members", &add).await.status, 303);
}

/// OP-6: refusals are audited at most 50 a second per kind, so a flood of anonymous
/// `invalid_client` answers (a form with no client authentication at all, from anyone) does
/// not become a database write per request; state changes are never dropped.
#[tokio::test]
async fn op_6_a_flood_of_anonymous_invalid_client_is_not_a_write_per_request() {
    let h = Harness::start(|_| {}).await;
    let client = crate::support::http_client(&h.dev_ca, None);
    for _ in 0..120 {
        let resp = client
            .post(h.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    fifty_recorded(&h, "invalid_client answered").await;
}

/// The clock stands still: the refusals of `action` all fell in one second, whose first 50
/// are recorded, and no more come later.
async fn fifty_recorded(h: &Harness, action: &str) {
    let recorded = audit_rows(h, |e| e.action == action, 50).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = audit_rows(h, |e| e.action == action, 50).await;
    assert_eq!(
        (recorded.len(), after.len()),
        (50, 50),
        "audit rows of {action} in one second"
    );
}

/// OP-6 for the staff console's failed logins, which anyone can cause with a cookie and a
/// form of their own choosing: held to the same cap as every other refusal (50 a second), not
/// a row per request.
#[tokio::test]
async fn op_6_a_flood_of_failed_staff_logins_is_not_a_write_per_request() {
    let h = Harness::start(|_| {}).await;
    let client = crate::support::http_client(&h.dev_ca, None);
    for _ in 0..80 {
        let resp = client
            .post(h.url("/staff/login"))
            .header("cookie", "__Host-bulwark_staff_login=x")
            .form(&[("csrf", "x"), ("username", "alice"), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert!(
            [401, 429].contains(&resp.status().as_u16()),
            "{}",
            resp.status()
        );
    }
    fifty_recorded(&h, "staff.login_failed").await;
}
