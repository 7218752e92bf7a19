//! GW-1 payment submissions when the bank cannot be reached: the consent was consumed before
//! forwarding (a consent pays once); when the submission certainly never reached the bank
//! (connection refused) that consumption is undone, so the TPP can submit again, and the audit
//! trail says the gateway did it.

use serde_json::json;

use crate::support::gateway::{gateway_with, payment_journey};
use crate::support::{Harness, both_backends, http_client};

async fn gw_1_an_undelivered_payment_leaves_its_consent_authorised_case(h: Harness) {
    // Nothing listens on the discard port: every forward is refused at connect.
    let base = gateway_with(&h, |c| {
        c["routes"] = json!([{"method": "POST", "path": "/open-banking/v3.1/pisp/domestic-payments",
            "upstream": "http://127.0.0.1:9", "api": "domestic-payments", "payment_submission": true}]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-down", "gwdown", "12.00").await;
    let consent = crate::support::consents::pay_body("12.00");
    let body = json!({"Data": {"ConsentId": consent_id, "Initiation": consent["Data"]["Initiation"]},
                      "Risk": consent["Risk"]});
    let submit = || {
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let status = |h: &Harness| {
        let id = consent_id.clone();
        let store = h.store.clone();
        async move {
            bulwark_store::ConsentStore::get_consent(&store, &id)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };

    let first = submit().await.unwrap();
    assert_eq!(first.status().as_u16(), 502);
    assert_eq!(status(&h).await, "Authorised", "the consumption was undone");
    let history = bulwark_store::ConsentStore::consent_history(&h.store, &consent_id)
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.from_status.as_deref(), last.to_status.as_str()),
        (Some("Consumed"), "Authorised")
    );
    assert_eq!(
        (last.actor_kind.as_str(), last.actor_id.as_str()),
        ("System", "gateway")
    );
    // The TPP may submit again (the bank is still down: the same answer, the same outcome).
    let again = submit().await.unwrap();
    assert_eq!(again.status().as_u16(), 502);
    assert_eq!(status(&h).await, "Authorised");
}

both_backends!(
    gw_1_an_undelivered_payment_leaves_its_consent_authorised,
    gw_1_an_undelivered_payment_leaves_its_consent_authorised_on_postgres
        => gw_1_an_undelivered_payment_leaves_its_consent_authorised_case
);
