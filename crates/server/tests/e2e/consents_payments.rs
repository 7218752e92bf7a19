//! OB v3.1.10 Payment Initiation, what the bank's own systems answer through Bulwark:
//! `GET /domestic-payment-consents/{ConsentId}/funds-confirmation` (mandatory; the PSU's token
//! for the consent, once Authorised; the bank's `FundsCheck` answers) and the
//! "CutOffDateTime Behaviour" (Reject) with the bank's `PaymentTermsProvider`.

use std::sync::Arc;

use async_trait::async_trait;
use bulwark_consent::{
    Consent, ConsentDetails, ConsentError, FundsCheck, PaymentTerms, PaymentTermsProvider,
};
use bulwark_store::ConsentStore;
use serde_json::Value;
use time::OffsetDateTime;

use crate::support::Harness;
use crate::support::consents::{PISP, call, pay_body};
use crate::support::journey::{Browser, FlowTpp, psu, response_params};

/// A bank whose PSUs can pay up to 100.00 from any account.
struct UpTo100;

#[async_trait]
impl FundsCheck for UpTo100 {
    async fn funds_available(
        &self,
        consent: &Consent,
        _now: OffsetDateTime,
    ) -> Result<Option<bool>, ConsentError> {
        let ConsentDetails::DomesticPayment(d) = &consent.details else {
            return Ok(None);
        };
        let amount: f64 = d.initiation["InstructedAmount"]["Amount"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or(f64::MAX);
        Ok(Some(amount <= 100.0))
    }
}

/// A bank whose cut-off for a payment is 30 seconds after its consent is requested.
struct CutOffIn30s;

impl PaymentTermsProvider for CutOffIn30s {
    fn terms(&self, _initiation: &Value, now: OffsetDateTime) -> PaymentTerms {
        PaymentTerms {
            cut_off_date_time: Some(now + time::Duration::seconds(30)),
            ..Default::default()
        }
    }
}

/// The PAR parameters of a payment authorization for `consent_id`.
fn payment_params(t: &FlowTpp, consent_id: &str) -> Vec<(String, String)> {
    t.fapi2_params_with_scope(consent_id, "openid payments")
}

/// The PSU `user` authorises `consent_id` from their first account; the access token.
async fn authorised(
    h: &Harness,
    t: &FlowTpp,
    consent_id: &str,
    user: &(String, String, Vec<String>, String),
) -> String {
    let pushed = t.push(h, &payment_params(t, consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let mut b = Browser::new(h);
    let ia = b
        .start(&[
            ("client_id", &t.c.id),
            ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(b.login(&ia, &user.0, &user.1).await.status, 303);
    let done = b.decide(&ia, "authorise", &[&user.2[0]]).await;
    let code = response_params(&done.location())["code"].clone();
    let tokens = t.exchange(h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    tokens.2["access_token"].as_str().unwrap().to_string()
}

async fn funds(
    h: &Harness,
    t: &FlowTpp,
    consent_id: &str,
    token: &str,
) -> crate::support::consents::Answer {
    call(
        h,
        Some(&t.c.identity),
        reqwest::Method::GET,
        &format!("{PISP}/{consent_id}/funds-confirmation"),
        Some(token),
        None,
        &[(
            "x-fapi-interaction-id",
            "3f1b7c1e-58a0-4b0a-9a55-2d6a1f0c9e11",
        )],
    )
    .await
}

/// The funds confirmation answers the bank's check for an Authorised consent, with the PSU's
/// token for that consent only: not with the application token, not with the token of
/// another consent, not once the consent is Consumed.
#[tokio::test]
async fn ob_funds_confirmation_of_an_authorised_payment_consent() {
    let h = Harness::start_with_bank(
        bulwark_server::BankSystems {
            funds: Some(Arc::new(UpTo100)),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let t = FlowTpp::register(&h, "tpp-pisp", None).await;
    let payer = psu(&h, "payer").await;
    let small = t.payment_consent(&h, "10.50").await;
    let large = t.payment_consent(&h, "500.00").await;

    let with_app_token = funds(&h, &t, &small, &t.app_token).await;
    assert_eq!(with_app_token.status, 403, "{:?}", with_app_token.body);
    assert!(
        with_app_token.body["Errors"][0]["ErrorCode"].is_string(),
        "an OB error: {:?}",
        with_app_token.body
    );

    let small_token = authorised(&h, &t, &small, &payer).await;
    let yes = funds(&h, &t, &small, &small_token).await;
    assert_eq!(yes.status, 200, "{:?}", yes.body);
    assert_eq!(
        yes.body["Data"]["FundsAvailableResult"]["FundsAvailable"],
        true
    );
    assert!(yes.body["Data"]["FundsAvailableResult"]["FundsAvailableDateTime"].is_string());
    assert!(
        yes.body["Links"]["Self"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "/domestic-payment-consents/{small}/funds-confirmation"
            ))
    );
    assert_eq!(
        yes.headers["x-fapi-interaction-id"],
        "3f1b7c1e-58a0-4b0a-9a55-2d6a1f0c9e11"
    );
    assert_eq!(yes.headers["cache-control"], "no-store");

    let large_token = authorised(&h, &t, &large, &payer).await;
    let no = funds(&h, &t, &large, &large_token).await;
    assert_eq!(no.status, 200, "{:?}", no.body);
    assert_eq!(
        no.body["Data"]["FundsAvailableResult"]["FundsAvailable"],
        false
    );

    let crossed = funds(&h, &t, &large, &small_token).await;
    assert_eq!(crossed.status, 403, "{:?}", crossed.body);
    assert_eq!(
        crossed.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.ConsentMismatch"
    );

    // Once the payment is made (the consent Consumed), there is nothing left to confirm funds
    // for, even with the consent's own token.
    let consumed = bulwark_store::ConsentTransition {
        consent_id: small.clone(),
        from_status: "Authorised".into(),
        to_status: "Consumed".into(),
        at: crate::support::now(),
        psu_id: None,
        selected_accounts: None,
        actor_kind: "TPP".into(),
        actor_id: "tpp-pisp".into(),
        reason: Some("payment submitted".into()),
        customer: bulwark_store::FapiCustomer::default(),
        grant_generation: None,
    };
    assert!(h.store.transition_consent(&consumed).await.unwrap());
    let after_payment = funds(&h, &t, &small, &small_token).await;
    assert_eq!(after_payment.status, 400, "{:?}", after_payment.body);
    assert_eq!(
        after_payment.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.InvalidConsentStatus"
    );
}

/// OB "CutOffDateTime Behaviour" (Reject): a consent whose cut-off passes before the PSU
/// authorises it is Rejected by the system and the TPP's redirect gets `access_denied`;
/// the PSU never sees a consent page for it.
#[tokio::test]
async fn ob_a_payment_consent_past_its_cut_off_is_rejected_at_authorisation() {
    let h = Harness::start_with_bank(
        bulwark_server::BankSystems {
            payment_terms: Some(Arc::new(CutOffIn30s)),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let t = FlowTpp::register(&h, "tpp-pisp", None).await;
    let consent = t.payment_consent(&h, "10.50").await;
    h.clock.advance(31);
    let pushed = t.push(&h, &payment_params(&t, &consent)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let page = Browser::new(&h)
        .get(&format!(
            "/authorize?client_id=tpp-pisp&request_uri={}",
            form_urlencoded::byte_serialize(pushed.2["request_uri"].as_str().unwrap().as_bytes())
                .collect::<String>()
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let r = response_params(&page.location());
    assert_eq!(r["error"], "access_denied");
    assert_eq!(r["state"], "af0ifjsldkj");
    let stored = h.store.get_consent(&consent).await.unwrap().unwrap();
    assert_eq!(stored.status, "Rejected");
    assert!(stored.selected_accounts.is_empty(), "no accounts recorded");
    let history = h.store.consent_history(&consent).await.unwrap();
    assert_eq!(history.last().unwrap().actor_kind, "System");
}

/// The cut-off passing while the PSU is on our pages: the consent page, or the decision, sends
/// the browser back to the TPP with `access_denied` and its state; the consent is Rejected.
#[tokio::test]
async fn ob_a_cut_off_passing_during_the_consent_step_goes_back_to_the_tpp() {
    let h = Harness::start_with_bank(
        bulwark_server::BankSystems {
            payment_terms: Some(Arc::new(CutOffIn30s)),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let t = FlowTpp::register(&h, "tpp-pisp", None).await;
    let payer = psu(&h, "payer").await;
    for at_decision in [false, true] {
        let consent = t.payment_consent(&h, "10.50").await;
        let pushed = t.push(&h, &payment_params(&t, &consent)).await;
        assert_eq!(pushed.0, 201, "{:?}", pushed.2);
        let mut b = Browser::new(&h);
        let ia = b
            .start(&[
                ("client_id", "tpp-pisp"),
                ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(b.login(&ia, &payer.0, &payer.1).await.status, 303);
        let answer = if at_decision {
            let page = b.get(&ia).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let csrf = page.input("csrf");
            h.clock.advance(31);
            b.post(
                &format!("{ia}/decision"),
                &[
                    ("csrf", &csrf),
                    ("decision", "authorise"),
                    ("account", &payer.2[0]),
                ],
            )
            .await
        } else {
            h.clock.advance(31);
            b.get(&ia).await
        };
        assert_eq!(answer.status, 303, "{}", answer.body);
        let r = response_params(&answer.location());
        assert_eq!(r["error"], "access_denied", "{at_decision}");
        assert_eq!(r["state"], "af0ifjsldkj");
        assert!(!r.contains_key("code"));
        let stored = h.store.get_consent(&consent).await.unwrap().unwrap();
        assert_eq!(stored.status, "Rejected");
        assert!(stored.selected_accounts.is_empty(), "no accounts recorded");
    }
}

/// CO-3: a payment consent's details cannot change once created: PUT and PATCH on it are 405
/// (OB defines neither), and the consent reads as it was created.
#[tokio::test]
async fn co_3_a_payment_consent_cannot_be_changed() {
    let h = Harness::start(|_| {}).await;
    let t = FlowTpp::register(&h, "tpp-immutable", None).await;
    let id = t.payment_consent(&h, "10.00").await;
    let path = format!("{PISP}/{id}");
    let read = || {
        call(
            &h,
            Some(&t.c.identity),
            reqwest::Method::GET,
            &path,
            Some(&t.app_token),
            None,
            &[],
        )
    };
    let before = read().await;
    assert_eq!(before.status, 200, "{:?}", before.body);
    let mut changed = pay_body("9999.00");
    changed["Data"]["ConsentId"] = id.as_str().into();
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH] {
        let r = call(
            &h,
            Some(&t.c.identity),
            method.clone(),
            &path,
            Some(&t.app_token),
            Some(&changed),
            &[("x-idempotency-key", "immutable-2")],
        )
        .await;
        assert_eq!(r.status, 405, "{method}: {:?}", r.body);
    }
    let after = read().await;
    assert_eq!(after.status, 200, "{:?}", after.body);
    assert_eq!(after.body["Data"], before.body["Data"]);
}
