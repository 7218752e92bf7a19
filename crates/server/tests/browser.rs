//! AZ-6: the PSU pages in a real headless Chromium (Debian's `chromium` + `chromedriver`),
//! driven over WebDriver: the whole journey with Authorise, one with Deny, a wrong password, a
//! tampered and a replayed form, and a payment consent showing its amount. Every page is kept
//! as a screenshot under `target/browser-artifacts/`.
//!
//! Needs `chromedriver` on PATH. Without it the tests print that they skipped; under `CI=true`
//! a missing driver is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
#![allow(dead_code, unused_imports, unused_macros)]

#[path = "e2e/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[path = "chrome/mod.rs"]
mod chrome;

use chrome::Chrome;
use fantoccini::Locator;
use serde_json::json;
use support::Harness;
use support::journey::{FlowTpp, psu, response_params};

/// The TPP's redirect target: an https page on another origin (the development certificate
/// is for `localhost`), so the consent page's `form-action` must allow the TPP's origin.
async fn tpp_callback(h: &Harness) -> String {
    let hits = Arc::new(std::sync::Mutex::new(0));
    let doc = Arc::new(std::sync::Mutex::new(json!({"tpp": "callback received"})));
    let jwks_url = support::serve_json(h.data_dir(), doc, hits).await;
    // The JSON server answers every path under /jwks; the callback is `/jwks` with a query.
    jwks_url
}

/// The browser journey up to the consent page; returns the TPP.
async fn to_consent_page(
    h: &Harness,
    chrome: &mut Chrome,
    id: &str,
    consent: impl std::future::Future<Output = String>,
    t: &FlowTpp,
    scope: &str,
) -> String {
    let _ = id;
    let consent_id = consent.await;
    let params = t.fapi2_params_with_scope(&consent_id, scope);
    let pushed = t.push(h, &params).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let url = format!(
        "{}?client_id={}&request_uri={}",
        h.url("/authorize"),
        t.c.id,
        form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    );
    chrome.client.goto(&url).await.unwrap();
    consent_id
}

async fn log_in(chrome: &mut Chrome, user: &str, password: &str) {
    assert!(chrome.text().await.contains("Log in to Bulwark Bank"));
    chrome.shot("login").await;
    chrome.fill("#username", user).await;
    chrome.fill("#password", password).await;
    chrome.submit("#log-in").await;
}

#[tokio::test]
async fn az_6_browser_journey_authorise() {
    let Some(mut chrome) = Chrome::start("authorise").await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let cb = tpp_callback(&h).await;
    let t = FlowTpp::register_with(&h, "tpp-browser", None, &cb).await;
    let (user, password, accounts, _) = psu(&h, "browser-alex").await;
    to_consent_page(
        &h,
        &mut chrome,
        "tpp-browser",
        t.consent(&h),
        &t,
        "openid accounts",
    )
    .await;
    log_in(&mut chrome, &user, &password).await;
    let text = chrome.text().await;
    assert!(
        text.contains("tpp-browser Money App is asking for"),
        "{text}"
    );
    // OB CEG: what is shared, by data cluster, each opening on its permissions.
    assert!(text.contains("Your Account Details"), "{text}");
    assert!(
        !text.contains("Your account balance"),
        "closed at first: {text}"
    );
    assert!(text.contains("Logged in as Alex Customer"));
    chrome.click(".cluster > summary").await;
    let text = chrome.text().await;
    assert!(text.contains("Your account balance"), "{text}");
    chrome.shot("consent").await;
    chrome.choose(&accounts[0]).await;
    chrome.submit("button[value=authorise]").await;
    let url = chrome.wait_for_url(&cb).await;
    chrome.shot_foreign("back-at-tpp").await;
    let params = response_params(&url);
    assert_eq!(params["iss"], "https://localhost:8443");
    let tokens = t.exchange(&h, &params["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    chrome.finish().await;
}

#[tokio::test]
async fn az_6_browser_deny() {
    let Some(mut chrome) = Chrome::start("deny").await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let cb = tpp_callback(&h).await;
    let t = FlowTpp::register_with(&h, "tpp-deny", None, &cb).await;
    let (user, password, _, _) = psu(&h, "browser-deny").await;
    let consent_id = to_consent_page(
        &h,
        &mut chrome,
        "tpp-deny",
        t.consent(&h),
        &t,
        "openid accounts",
    )
    .await;
    log_in(&mut chrome, &user, &password).await;
    chrome.shot("consent").await;
    chrome.submit("button[value=deny]").await;
    let url = chrome.wait_for_url(&cb).await;
    assert_eq!(response_params(&url)["error"], "access_denied");
    let stored = bulwark_store::ConsentStore::get_consent(&h.store, &consent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, "Rejected");
    chrome.finish().await;
}

#[tokio::test]
async fn az_6_browser_wrong_password() {
    let Some(mut chrome) = Chrome::start("wrong-password").await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let t = FlowTpp::register(&h, "tpp-pw", None).await;
    let (user, _, _, _) = psu(&h, "browser-pw").await;
    to_consent_page(
        &h,
        &mut chrome,
        "tpp-pw",
        t.consent(&h),
        &t,
        "openid accounts",
    )
    .await;
    log_in(&mut chrome, &user, "wrong-password").await;
    // The answer page may still be on its way when the click returns (argon2 on a busy core).
    let alert = chrome
        .client
        .wait()
        .for_element(Locator::Css("[role=alert]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        alert.contains("The username or password is not right"),
        "{alert}"
    );
    // The username is kept, the password is not.
    let kept = chrome
        .client
        .find(Locator::Css("#username"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some(user.as_str()));
    chrome.shot("wrong-password").await;
    chrome.finish().await;
}

#[tokio::test]
async fn az_6_browser_tampered_and_replayed_forms() {
    let Some(mut chrome) = Chrome::start("replay").await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let cb = tpp_callback(&h).await;
    let t = FlowTpp::register_with(&h, "tpp-replay", None, &cb).await;
    let (user, password, accounts, _) = psu(&h, "browser-replay").await;
    let consent_id = to_consent_page(
        &h,
        &mut chrome,
        "tpp-replay",
        t.consent(&h),
        &t,
        "openid accounts",
    )
    .await;
    log_in(&mut chrome, &user, &password).await;
    // A forged token in the form (what a cross-site form would carry) is refused.
    chrome
        .client
        .execute(
            "document.querySelector('input[name=csrf]').value = 'forged';",
            vec![],
        )
        .await
        .unwrap();
    chrome.choose(&accounts[0]).await;
    chrome.submit("button[value=authorise]").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = chrome.text().await;
    assert!(
        text.contains("this form was not sent from the page we showed you"),
        "{text}"
    );
    chrome.shot("forged-form").await;
    let stored = bulwark_store::ConsentStore::get_consent(&h.store, &consent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
    // The real form still works; going back and sending it again finds the interaction over.
    chrome.client.back().await.unwrap();
    chrome.client.refresh().await.unwrap();
    chrome.choose(&accounts[0]).await;
    chrome.submit("button[value=authorise]").await;
    chrome.wait_for_url(&cb).await;
    chrome.client.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = chrome.text().await;
    assert!(text.contains("expired or was already completed"), "{text}");
    chrome.shot("replayed-form").await;
    chrome.finish().await;
}

#[tokio::test]
async fn az_6_browser_payment_consent_shows_the_amount() {
    let Some(mut chrome) = Chrome::start("payment").await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let cb = tpp_callback(&h).await;
    let t = FlowTpp::register_with(&h, "tpp-pay", None, &cb).await;
    let (user, password, accounts, _) = psu(&h, "browser-pay").await;
    to_consent_page(
        &h,
        &mut chrome,
        "tpp-pay",
        t.payment_consent(&h, "1165.8"),
        &t,
        "openid payments",
    )
    .await;
    log_in(&mut chrome, &user, &password).await;
    let amount = chrome
        .client
        .find(Locator::Css(".amount"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(amount, "£1,165.80");
    let text = chrome.text().await;
    assert!(text.contains("ACME Inc"), "{text}");
    assert!(
        text.contains("Sort code 08-08-00, account 21325698"),
        "{text}"
    );
    chrome.shot("payment-consent").await;
    chrome.choose(&accounts[1]).await;
    chrome.submit("button[value=authorise]").await;
    let url = chrome.wait_for_url(&cb).await;
    assert!(response_params(&url).contains_key("code"));
    chrome.finish().await;
}

/// AZ-6 / OB CEG in Chromium (whose CSP `form-action` also governs the redirect that follows a
/// form): Cancel on the login page goes back to the TPP with `access_denied`, the consent
/// untouched; a payment order complete with its account is paid by "Log in and pay", straight
/// back to the TPP with a code.
#[tokio::test]
async fn az_6_browser_cancel_and_log_in_and_pay() {
    let Some(mut chrome) = Chrome::start("login-actions").await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let cb = tpp_callback(&h).await;
    let t = FlowTpp::register_with(&h, "tpp-login-actions", None, &cb).await;
    let (user, password, accounts, subject) = psu(&h, "browser-login-actions").await;
    let consent_id = to_consent_page(
        &h,
        &mut chrome,
        "tpp-login-actions",
        t.consent(&h),
        &t,
        "openid accounts",
    )
    .await;
    assert!(chrome.text().await.contains("Cancel and go back"));
    chrome.shot("login-with-cancel").await;
    chrome.submit("#cancel").await;
    let url = chrome.wait_for_url(&cb).await;
    assert_eq!(response_params(&url)["error"], "access_denied");
    let stored = bulwark_store::ConsentStore::get_consent(&h.store, &consent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status, "AwaitingAuthorisation",
        "nobody was authenticated"
    );

    // A complete payment order: the PSU's own account named as the DebtorAccount.
    let account = bulwark_store::PsuStore::psu_accounts(&h.store, &subject)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.account_id == accounts[0])
        .unwrap();
    let payment = t
        .payment_consent_from(&h, "42.00", (&account.scheme, &account.identification))
        .await;
    to_consent_page(
        &h,
        &mut chrome,
        "tpp-login-actions",
        async { payment },
        &t,
        "openid payments",
    )
    .await;
    let text = chrome.text().await;
    assert!(
        text.contains("£42.00") && text.contains("Log in and pay"),
        "{text}"
    );
    chrome.shot("log-in-and-pay").await;
    chrome.fill("#username", &user).await;
    chrome.fill("#password", &password).await;
    chrome.submit("#log-in").await;
    let url = chrome.wait_for_url(&cb).await;
    assert!(response_params(&url).contains_key("code"), "{url}");
    chrome.finish().await;
}

/// The audit every screenshot runs can fail: a page with an unlabelled field and no language
/// gets its violations, and an empty data table what axe-core cannot decide (so the pages'
/// empty reports are the pages' doing).
#[tokio::test]
async fn az_6_the_accessibility_audit_reports_violations() {
    let Some(chrome) = Chrome::start("audit").await else {
        return;
    };
    chrome
        .client
        .goto(
            "data:text/html,<html><body><p style='color:%23bbb'>Faint</p><input type=text>\
               <table><caption>Empty</caption><thead><tr><th scope=col>When</th></tr></thead>\
               <tbody></tbody></table></body></html>",
        )
        .await
        .unwrap();
    let Some(report) = chrome.audit_report("hostile").await else {
        chrome.finish().await;
        return;
    };
    let ids = |kind: &str| -> Vec<String> {
        report[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    let violations = ids("violations");
    for rule in [
        "html-has-lang",
        "label",
        "color-contrast",
        "landmark-one-main",
    ] {
        assert!(
            violations.iter().any(|v| v == rule),
            "{rule} not in {violations:?}"
        );
    }
    // What axe cannot decide is reported too (and fails a Bulwark page): a data table
    // without a data cell.
    let incomplete = ids("incomplete");
    assert!(
        incomplete.iter().any(|v| v == "th-has-data-cells"),
        "{incomplete:?}"
    );
    chrome.finish().await;
}

/// The customer's pages at a phone's width pass the same audit: the login, an account-access
/// consent with its accounts, and a payment consent.
#[tokio::test]
async fn az_6_browser_pages_on_a_phone_pass_the_accessibility_audit() {
    let Some(mut chrome) = Chrome::start_sized("phone", (390, 844)).await else {
        return;
    };
    let h = Harness::start(|_| {}).await;
    let cb = tpp_callback(&h).await;
    let t = FlowTpp::register_with(&h, "tpp-phone", None, &cb).await;
    let (user, password, _, _) = psu(&h, "phone-alex").await;
    to_consent_page(
        &h,
        &mut chrome,
        "tpp-phone",
        t.consent(&h),
        &t,
        "openid accounts",
    )
    .await;
    log_in(&mut chrome, &user, &password).await;
    assert!(chrome.text().await.contains("is asking for"));
    chrome.click(".cluster > summary").await;
    chrome.shot("consent").await;
    to_consent_page(
        &h,
        &mut chrome,
        "tpp-phone",
        t.payment_consent(&h, "1165.8"),
        &t,
        "openid payments",
    )
    .await;
    // Without a remembered session (the default), the second authorization logs in again.
    log_in(&mut chrome, &user, &password).await;
    assert!(chrome.text().await.contains("ACME Inc"));
    chrome.shot("payment-consent").await;
    chrome.finish().await;
}
