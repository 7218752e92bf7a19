//! CO-4 / OB PISP: a payment consent whose Initiation names the DebtorAccount is authorised only
//! by a PSU who holds that account (then it is the consent's selected account, which the gateway
//! forwards); a PSU who does not is answered `access_denied` and the consent is Rejected, as the
//! OB payment-consent rules say. Such a complete payment order is authorised by the login
//! itself, on a page showing the payment (OB CEG: no further step after authentication). A
//! payment chosen on the page is made from exactly one account.

use bulwark_store::{ConsentStore, PsuStore};
use serde_json::{Value, json};

use crate::support::consents::pay_body;
use crate::support::journey::{FlowTpp, psu, response_params};
use crate::support::{Harness, both_backends};

/// Pushes a payments request for `consent_id`, logs `user` in and decides with `accounts`;
/// a payment order complete with its account is decided by the login itself (OB CEG: no
/// further step), and that answer is returned.
async fn decide(
    h: &Harness,
    t: &FlowTpp,
    consent_id: &str,
    (user, password): (&str, &str),
    accounts: &[&str],
) -> crate::support::journey::Page {
    let params = t.fapi2_params_with_scope(consent_id, "openid payments");
    let (mut b, ia) = t.start_in_browser(h, &params).await;
    let login_page = b.get(&ia).await;
    let logged = b.login(&ia, user, password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let by_login = logged
        .location()
        .starts_with(crate::support::journey::REDIRECT);
    // A complete order (a named account) is decided by the login, and its page says so.
    assert_eq!(by_login, accounts.is_empty(), "{}", logged.location());
    assert_eq!(
        by_login,
        login_page.body.contains("Log in and pay") && login_page.body.contains("Pay from"),
        "{}",
        login_page.body
    );
    if by_login {
        assert!(logged.ends_interaction(), "the interaction is over");
        return logged;
    }
    b.decide(&ia, "authorise", accounts).await
}

async fn co_4_a_named_debtor_account_must_be_the_psus_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-debtor", None).await;
    let (user, password, accounts, subject) = psu(&h, "debtor").await;
    let own = PsuStore::psu_accounts(&h.store, &subject).await.unwrap();
    let mine = own.iter().find(|a| a.account_id == accounts[0]).unwrap();

    // Named in the short scheme form, the PSU's own account: authorised, and selected.
    let short_scheme = mine.scheme.trim_start_matches("UK.OBIE.").to_string();
    let consent_id = t
        .payment_consent_from(&h, "25.00", (&short_scheme, &mine.identification))
        .await;
    let done = decide(&h, &t, &consent_id, (&user, &password), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        done.location()
            .starts_with(crate::support::journey::REDIRECT),
        "straight back to the PISP after the login: {}",
        done.location()
    );
    assert!(response_params(&done.location()).contains_key("code"));
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.selected_accounts, vec![mine.account_id.clone()]);

    // Someone else's account: access_denied, the consent Rejected, no code.
    let consent_id = t
        .payment_consent_from(
            &h,
            "25.00",
            ("UK.OBIE.SortCodeAccountNumber", "40400411112222"),
        )
        .await;
    let done = decide(&h, &t, &consent_id, (&user, &password), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let params = response_params(&done.location());
    assert_eq!(params["error"], "access_denied");
    assert!(!params.contains_key("code"));
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Rejected");
    assert!(stored.selected_accounts.is_empty(), "no accounts recorded");

    // No debtor named: the PSU picks exactly one account to pay from.
    let consent_id = t.payment_consent(&h, "5.00").await;
    let two: Vec<&str> = accounts.iter().take(2).map(String::as_str).collect();
    assert_eq!(two.len(), 2, "the demo PSU has two accounts");
    let retry = decide(&h, &t, &consent_id, (&user, &password), &two).await;
    assert_eq!(retry.status, 400, "asked again: {}", retry.body);
    assert!(retry.body.contains("one account"), "{}", retry.body);
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
    assert!(stored.selected_accounts.is_empty(), "no accounts recorded");
}
both_backends!(
    co_4_a_named_debtor_account_must_be_the_psus,
    co_4_a_named_debtor_account_must_be_the_psus_on_postgres
        => co_4_a_named_debtor_account_must_be_the_psus_case
);

/// OB CEG / CO-4: the accounts a payment can be paid from are those in its currency. A euro
/// payment offers the PSU (two sterling accounts) none: the page says so and offers no
/// Authorise; a forged decision naming a sterling account is refused and changes nothing.
async fn co_4_only_accounts_in_the_payments_currency_are_offered_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-currency", None).await;
    let (user, password, accounts, _) = psu(&h, "currency").await;
    let mut body: Value = pay_body("25.00");
    body["Data"]["Initiation"]["InstructedAmount"]["Currency"] = json!("EUR");
    let consent_id = t.payment_consent_with(&h, &body).await;
    let params = t.fapi2_params_with_scope(&consent_id, "openid payments");
    let (mut b, ia) = t.start_in_browser(&h, &params).await;
    let logged = b.login(&ia, &user, &password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let page = b.get(&ia).await;
    assert!(
        page.body
            .contains("no account this payment can be made from"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("value=\"authorise\""), "{}", page.body);
    let forged = b
        .post(
            &format!("{ia}/decision"),
            &[
                ("csrf", page.input("csrf").as_str()),
                ("decision", "authorise"),
                ("account", accounts[0].as_str()),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
    assert!(stored.selected_accounts.is_empty(), "no accounts recorded");
}
both_backends!(
    co_4_only_accounts_in_the_payments_currency_are_offered,
    co_4_only_accounts_in_the_payments_currency_are_offered_on_postgres
        => co_4_only_accounts_in_the_payments_currency_are_offered_case
);

/// A bank that charges £1.88 for every payment, borne by the debtor, and expects to pay it
/// on 7 December 2026.
struct Charges;

impl bulwark_consent::PaymentTermsProvider for Charges {
    fn terms(
        &self,
        _initiation: &Value,
        _now: time::OffsetDateTime,
    ) -> bulwark_consent::PaymentTerms {
        bulwark_consent::PaymentTerms {
            expected_execution_date_time: time::OffsetDateTime::from_unix_timestamp(1_796_634_000)
                .ok(),
            charges: vec![bulwark_consent::Charge {
                charge_bearer: "BorneByDebtor".into(),
                charge_type: "UK.OBIE.CHAPSOut".into(),
                amount: json!({"Amount": "1.88", "Currency": "GBP"}),
            }],
            ..Default::default()
        }
    }
}

/// OB CEG: a complete payment order is authorised by the login, so the login page shows all
/// the consent page would: the account paid from, the bank's charge and expected date.
#[tokio::test]
async fn co_4_a_complete_order_shows_its_charges_before_the_login_pays_it() {
    let h = Harness::start_with_bank(
        bulwark_server::BankSystems {
            payment_terms: Some(std::sync::Arc::new(Charges)),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let t = FlowTpp::register(&h, "tpp-charges", None).await;
    let (user, password, accounts, subject) = psu(&h, "charged").await;
    let own = PsuStore::psu_accounts(&h.store, &subject).await.unwrap();
    let mine = own.iter().find(|a| a.account_id == accounts[0]).unwrap();
    let consent_id = t
        .payment_consent_from(&h, "25.00", (&mine.scheme, &mine.identification))
        .await;
    let params = t.fapi2_params_with_scope(&consent_id, "openid payments");
    let (mut b, ia) = t.start_in_browser(&h, &params).await;
    let page = b.get(&ia).await;
    for shown in [
        "Log in and pay",
        "Pay from",
        "£1.88, paid by you",
        "Expected payment date",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    let done = b.login(&ia, &user, &password).await;
    assert!(
        response_params(&done.location()).contains_key("code"),
        "{}",
        done.location()
    );
}

/// CO-4 / OB CBPII: a consent that names its account (a funds confirmation's DebtorAccount) is
/// authorised for that account only. A decision form that chooses accounts for it (the PSU's
/// other account, which the page never offered) is refused and changes nothing; the PSU's
/// confirmation without a choice then authorises the named account, and only it.
async fn co_4_a_consent_naming_its_account_refuses_a_decision_choosing_accounts_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-cbpii-choice", None).await;
    let (user, password, accounts, subject) = psu(&h, "cbpii-choice").await;
    let own = PsuStore::psu_accounts(&h.store, &subject).await.unwrap();
    let named = own.iter().find(|a| a.account_id == accounts[0]).unwrap();
    let consent_id = t.funds_consent_for(&h, named).await;
    let params = t.fapi2_params_with_scope(&consent_id, "openid fundsconfirmations");
    let (mut b, ia) = t.start_in_browser(&h, &params).await;
    let logged = b.login(&ia, &user, &password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);

    let forged = b.decide(&ia, "authorise", &[&accounts[1]]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
    assert!(stored.selected_accounts.is_empty(), "no accounts recorded");

    let done = b.decide(&ia, "authorise", &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(response_params(&done.location()).contains_key("code"));
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.selected_accounts, vec![named.account_id.clone()]);
}
both_backends!(
    co_4_a_consent_naming_its_account_refuses_a_decision_choosing_accounts,
    co_4_a_consent_naming_its_account_refuses_a_decision_choosing_accounts_on_postgres
        => co_4_a_consent_naming_its_account_refuses_a_decision_choosing_accounts_case
);
