//! AZ-4: a form sent twice. A double click sends the decision (or the login that pays) again
//! before the first answer arrives; the browser drops that first answer, which carried the
//! code. The second gets the same redirect, opened with the browser's own secret (the database
//! keeps it sealed), so the TPP still receives its code; nothing is decided twice. Another
//! browser, or a form without the page's CSRF token, finds the interaction over.

use bulwark_store::{ConsentStore, PsuStore};

use crate::support::consents::{AISP, as_tpp};
use crate::support::journey::{FlowTpp, psu, response_params};
use crate::support::{Harness, both_backends};

async fn az_4_a_decision_sent_twice_gets_the_same_redirect_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-twice", None).await;
    let (user, password, accounts, _) = psu(&h, "twice").await;
    for decision in ["authorise", "deny"] {
        let consent_id = t.consent(&h).await;
        let (mut b, ia) = t.start_in_browser(&h, &t.fapi2_params(&consent_id)).await;
        let logged = b.login(&ia, &user, &password).await;
        assert_eq!(logged.status, 303, "{}", logged.body);
        let page = b.get(&ia).await;
        let csrf = page.input("csrf");
        let mut form = vec![("csrf", csrf.as_str()), ("decision", decision)];
        if decision == "authorise" {
            form.push(("account", accounts[0].as_str()));
        }
        // The same browser, before the first answer came back.
        let before = b.clone();
        let mut again = before.clone();
        let first = b.post(&format!("{ia}/decision"), &form).await;
        assert_eq!(first.status, 303, "{}", first.body);
        let history = h.store.consent_history(&consent_id).await.unwrap().len();

        let second = again.post(&format!("{ia}/decision"), &form).await;
        assert_eq!(second.status, 303, "{}", second.body);
        assert_eq!(second.location(), first.location());
        assert!(second.ends_interaction(), "the interaction is over");
        assert_eq!(
            h.store.consent_history(&consent_id).await.unwrap().len(),
            history,
            "nothing is decided twice"
        );

        // Not without the page's CSRF token, not from another browser.
        let mut forged = form.clone();
        forged[0] = ("csrf", "not-the-page-token");
        let refused = before
            .clone()
            .post(&format!("{ia}/decision"), &forged)
            .await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        let mut stranger = crate::support::journey::Browser::new(&h);
        let refused = stranger.post(&format!("{ia}/decision"), &form).await;
        assert_eq!(
            refused.status, 400,
            "over for anyone else: {}",
            refused.body
        );
        assert!(!refused.body.contains("code="), "{}", refused.body);

        let params = response_params(&first.location());
        match decision {
            "authorise" => {
                // The one code works once, whichever answer delivered it.
                let code = &params["code"];
                assert_eq!(t.exchange(&h, code).await.0, 200);
                assert_eq!(t.exchange(&h, code).await.0, 400);
                let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
                assert_eq!(stored.status, "Authorised");
            }
            _ => {
                assert_eq!(params["error"], "access_denied");
                let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
                assert_eq!(stored.status, "Rejected");
            }
        }
    }
}
both_backends!(
    az_4_a_decision_sent_twice_gets_the_same_redirect,
    az_4_a_decision_sent_twice_gets_the_same_redirect_on_postgres
        => az_4_a_decision_sent_twice_gets_the_same_redirect_case
);

/// OB CEG: "Log in and pay" clicked twice. The login that paid answers the second click with
/// the same redirect; the second does not count as a login attempt of its own.
async fn az_4_log_in_and_pay_sent_twice_gets_the_same_redirect_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-pay-twice", None).await;
    let (user, password, accounts, subject) = psu(&h, "pay-twice").await;
    let own = PsuStore::psu_accounts(&h.store, &subject).await.unwrap();
    let mine = own.iter().find(|a| a.account_id == accounts[0]).unwrap();
    let consent_id = t
        .payment_consent_from(&h, "12.50", (&mine.scheme, &mine.identification))
        .await;
    let params = t.fapi2_params_with_scope(&consent_id, "openid payments");
    let (mut b, ia) = t.start_in_browser(&h, &params).await;
    let page = b.get(&ia).await;
    assert!(page.body.contains("Log in and pay"), "{}", page.body);
    let csrf = page.input("csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("username", user.as_str()),
        ("password", password.as_str()),
    ];
    let mut again = b.clone();
    let first = b.post(&format!("{ia}/login"), &form).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(
        response_params(&first.location()).contains_key("code"),
        "{}",
        first.location()
    );
    let second = again.post(&format!("{ia}/login"), &form).await;
    assert_eq!(second.status, 303, "{}", second.body);
    assert_eq!(second.location(), first.location());
    assert!(
        !second
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-bulwark_session=")),
        "the resent form logs nobody in"
    );
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    // Not a login attempt: the user's counter is as the one good login left it (cleared).
    assert_eq!(failures(&h, &format!("user:{user}")).await, 0);
}

/// The login failures counted on a throttle key.
async fn failures(h: &Harness, key: &str) -> u32 {
    let seen = std::sync::Mutex::new(0);
    bulwark_store::ThrottleStore::step_login_failures(&h.store, &[key], 900, &|current| {
        *seen.lock().unwrap() = current.first().map_or(0, |r| r.failures);
        None
    })
    .await
    .unwrap();
    seen.into_inner().unwrap()
}
both_backends!(
    az_4_log_in_and_pay_sent_twice_gets_the_same_redirect,
    az_4_log_in_and_pay_sent_twice_gets_the_same_redirect_on_postgres
        => az_4_log_in_and_pay_sent_twice_gets_the_same_redirect_case
);

/// RFC 6749 4.1.2.1 / RFC 9126 4: a request the client has had its answer to is spent. After
/// Cancel on the login page (`access_denied`), the same `request_uri` opens nothing, and the
/// same browser logging in on the old page gets the same `access_denied`, not a code.
async fn az_1_a_request_answered_with_an_error_is_spent_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-spent", None).await;
    let (user, password, _, _) = psu(&h, "spent").await;
    let consent_id = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let query = [
        ("client_id", t.c.id.as_str()),
        ("request_uri", uri.as_str()),
    ];
    let mut b = crate::support::journey::Browser::new(&h);
    let ia = b.start(&query).await;
    let page = b.get(&ia).await;
    let csrf = page.input("csrf");
    let mut old_tab = b.clone();
    let cancelled = b
        .post(
            &format!("{ia}/decision"),
            &[("csrf", csrf.as_str()), ("decision", "deny")],
        )
        .await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    assert!(cancelled.ends_interaction());
    assert_eq!(
        response_params(&cancelled.location())["error"],
        "access_denied"
    );

    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let reopened = crate::support::journey::Browser::new(&h)
        .get(&format!("/authorize?{q}"))
        .await;
    assert_eq!(reopened.status, 400, "{}", reopened.body);
    assert!(reopened.headers.get("location").is_none());

    let login = old_tab
        .post(
            &format!("{ia}/login"),
            &[
                ("csrf", csrf.as_str()),
                ("username", user.as_str()),
                ("password", password.as_str()),
            ],
        )
        .await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.location(), cancelled.location());
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
}
both_backends!(
    az_1_a_request_answered_with_an_error_is_spent,
    az_1_a_request_answered_with_an_error_is_spent_on_postgres
        => az_1_a_request_answered_with_an_error_is_spent_case
);

/// RFC 9126 4: a pushed request `/authorize` answers with an error redirect before any page
/// (`prompt=none` with no login to use, a scope the consent's kind does not take, a consent no
/// longer awaiting authorisation) is spent with that answer: opening it again is an error page,
/// not a second redirect, and the consent is left as it was.
async fn az_1_an_error_redirect_before_any_page_spends_the_request_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-answered", None).await;
    let login_required = t.consent(&h).await;
    let mut prompt_none = t.fapi2_params(&login_required);
    prompt_none.push(("prompt".into(), "none".into()));
    let payment = t.payment_consent(&h, "10.50").await;
    let revoked = t.consent(&h).await;
    let deleted = as_tpp(&h, &t.c, &t.app_token)
        .delete(&format!("{AISP}/{revoked}"))
        .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    let withdrawn = h.store.get_consent(&revoked).await.unwrap().unwrap().status;
    for (params, consent_id, error, status) in [
        (
            prompt_none,
            &login_required,
            "login_required",
            "AwaitingAuthorisation",
        ),
        (
            t.fapi2_params(&payment),
            &payment,
            "invalid_scope",
            "AwaitingAuthorisation",
        ),
        (
            t.fapi2_params(&revoked),
            &revoked,
            "invalid_request",
            withdrawn.as_str(),
        ),
    ] {
        let pushed = t.push(&h, &params).await;
        assert_eq!(pushed.0, 201, "{:?}", pushed.2);
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", t.c.id.as_str()),
                ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
            ])
            .finish();
        let first = crate::support::journey::Browser::new(&h)
            .get(&format!("/authorize?{q}"))
            .await;
        assert_eq!(first.status, 303, "{error}: {}", first.body);
        assert_eq!(response_params(&first.location())["error"], error);
        let again = crate::support::journey::Browser::new(&h)
            .get(&format!("/authorize?{q}"))
            .await;
        assert_eq!(again.status, 400, "{error}: {}", again.body);
        assert!(again.headers.get("location").is_none(), "{error}");
        let stored = h.store.get_consent(consent_id).await.unwrap().unwrap();
        assert_eq!(stored.status, status, "{error}");
    }
}
both_backends!(
    az_1_an_error_redirect_before_any_page_spends_the_request,
    az_1_an_error_redirect_before_any_page_spends_the_request_on_postgres
        => az_1_an_error_redirect_before_any_page_spends_the_request_case
);

/// The double click at full speed: both requests of the same form run at once. Whichever
/// finishes the interaction, the other answers with the same redirect (not `access_denied`
/// for a consent that is no longer awaiting authorisation, not an error page).
async fn az_4_a_decision_sent_twice_at_once_gets_one_answer_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-at-once", None).await;
    let (user, password, accounts, _) = psu(&h, "at-once").await;
    for _ in 0..3 {
        let consent_id = t.consent(&h).await;
        let (mut b, ia) = t.start_in_browser(&h, &t.fapi2_params(&consent_id)).await;
        let logged = b.login(&ia, &user, &password).await;
        assert_eq!(logged.status, 303, "{}", logged.body);
        let csrf = b.get(&ia).await.input("csrf");
        let form = [
            ("csrf", csrf.as_str()),
            ("decision", "authorise"),
            ("account", accounts[0].as_str()),
        ];
        let mut again = b.separate(&h);
        // Both connections open before the race.
        assert_eq!(again.get(&ia).await.status, 200);
        let path = format!("{ia}/decision");
        let (one, two) = tokio::join!(b.post(&path, &form), again.post(&path, &form));
        assert_eq!(one.status, 303, "{}", one.body);
        assert_eq!(two.status, 303, "{}", two.body);
        assert_eq!(one.location(), two.location());
        assert!(
            response_params(&one.location()).contains_key("code"),
            "{}",
            one.location()
        );
        assert_eq!(
            h.store.consent_history(&consent_id).await.unwrap().len(),
            2,
            "created, then authorised once"
        );
    }
}
both_backends!(
    az_4_a_decision_sent_twice_at_once_gets_one_answer,
    az_4_a_decision_sent_twice_at_once_gets_one_answer_on_postgres
        => az_4_a_decision_sent_twice_at_once_gets_one_answer_case
);
