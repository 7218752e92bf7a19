//! GW-1 payment submissions when the bank cannot be reached: the consent was consumed before
//! forwarding (a consent pays once); when the submission certainly never reached the bank
//! (connection refused) that consumption is undone, so the TPP can submit again, and the audit
//! trail says the gateway did it. A payment is read only by the client that made it.

use serde_json::json;

use crate::support::gateway::{
    admin_metrics, free_admin_addr, gateway_with, get, payment_journey, reason,
};
use crate::support::{Harness, both_backends, http_client};

async fn gw_1_an_undelivered_payment_leaves_its_consent_authorised_case(h: Harness) {
    // Nothing listens on the discard port: every forward is refused at connect.
    let base = gateway_with(&h, |c| {
        c["routes"] = json!([{"method": "POST", "path": "/open-banking/v3.1/pisp/domestic-payments",
            "upstream": "http://127.0.0.1:9", "api": "domestic-payments", "payment_submission": true,
            "idempotent_upstream": true}]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-down", "gwdown", "12.00").await;
    let body = submission_of(&consent_id, "12.00");
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
    // Sent with an idempotency key, the consumption is kept even though the bank was not
    // reached: the same submission may be sent again (and forwarded) meanwhile. The TPP sends
    // it again with its key: forwarded again (502 here), never a second consumption; another
    // key is a second payment of a consumed consent (400).
    let keyed = |key: &'static str| {
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("x-idempotency-key", key)
            .body(body.to_string())
            .send()
    };
    assert_eq!(keyed("down-key").await.unwrap().status().as_u16(), 502);
    assert_eq!(status(&h).await, "Consumed", "kept: it was sent with a key");
    assert_eq!(keyed("down-key").await.unwrap().status().as_u16(), 502);
    assert_eq!(keyed("other-key").await.unwrap().status().as_u16(), 400);
    assert_eq!(status(&h).await, "Consumed");
}

both_backends!(
    gw_1_an_undelivered_payment_leaves_its_consent_authorised,
    gw_1_an_undelivered_payment_leaves_its_consent_authorised_on_postgres
        => gw_1_an_undelivered_payment_leaves_its_consent_authorised_case
);

/// GW-1 (OWASP API1, object-level authorisation): a payment is read only by the client that
/// made it. The gateway records the `DomesticPaymentId` the bank gives an accepted submission
/// for the client and consent, and forwards `GET /domestic-payments/{DomesticPaymentId}` and
/// `.../payment-details` for that client only: another TPP, or an id the gateway never saw,
/// gets 400 (UK.OBIE.Resource.NotFound) and the bank is not asked.
async fn gw_1_a_payment_is_read_only_by_the_client_that_made_it_case(h: Harness) {
    let base = gateway_with(&h, |c| {
        let bank = c["routes"][0]["upstream"].clone();
        let pay = "/open-banking/v3.1/pisp/domestic-payments";
        c["routes"] = json!([
            {"method": "POST", "path": pay, "upstream": bank, "api": "domestic-payments",
             "payment_submission": true},
            {"method": "GET", "path": format!("{pay}/{{DomesticPaymentId}}"), "upstream": bank,
             "api": "domestic-payments", "token": "application", "payment_param": "DomesticPaymentId"},
            {"method": "GET", "path": format!("{pay}/{{DomesticPaymentId}}/payment-details"),
             "upstream": bank, "api": "domestic-payments", "token": "application",
             "payment_param": "DomesticPaymentId"}
        ]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-payer", "gwpayer", "21.00").await;
    let body = submission_of(&consent_id, "21.00");
    let send = || {
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("x-idempotency-key", "read-key")
            .body(body.to_string())
            .send()
    };
    let submitted = send().await.unwrap();
    assert_eq!(submitted.status().as_u16(), 201);
    // Without `idempotent_upstream` on the route, the same submission sent again is a second
    // payment of a consumed consent, whatever its key.
    let again = send().await.unwrap();
    assert_eq!(again.status().as_u16(), 400);
    let submitted: serde_json::Value = submitted.json().await.unwrap();
    let payment_id = submitted["Data"]["DomesticPaymentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(submitted["Data"]["ConsentId"], consent_id.as_str());

    // Payment reads take the client's application token (client_credentials).
    let own = t.app_token.clone();
    let other = crate::support::journey::FlowTpp::register(&h, "tpp-gw-snoop", None).await;
    let snoop = other.app_token.clone();
    let read = format!("/open-banking/v3.1/pisp/domestic-payments/{payment_id}");
    let details = format!("{read}/payment-details");

    let mine = get(&h, &base, &t.c.identity, Some(&own), &read, &[]).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(mine.body["Data"]["DomesticPaymentId"], payment_id.as_str());
    let mine = get(&h, &base, &t.c.identity, Some(&own), &details, &[]).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(
        mine.body["Data"]["PaymentStatus"][0]["PaymentTransactionId"],
        payment_id.as_str()
    );

    for path in [&read, &details] {
        let theirs = get(&h, &base, &other.c.identity, Some(&snoop), path, &[]).await;
        assert_eq!(theirs.status, 400, "{:?}", theirs.body);
        assert_eq!(
            theirs.body["Errors"][0]["ErrorCode"],
            "UK.OBIE.Resource.NotFound"
        );
        // The gateway's own refusal: the bank was not asked.
        assert_eq!(
            reason(&theirs),
            "no such payment for this client",
            "{:?}",
            theirs.body
        );
    }
    let unknown = get(
        &h,
        &base,
        &t.c.identity,
        Some(&own),
        "/open-banking/v3.1/pisp/domestic-payments/not-a-payment-of-ours",
        &[],
    )
    .await;
    assert_eq!(unknown.status, 400, "{:?}", unknown.body);
    assert_eq!(reason(&unknown), "no such payment for this client");
}

both_backends!(
    gw_1_a_payment_is_read_only_by_the_client_that_made_it,
    gw_1_a_payment_is_read_only_by_the_client_that_made_it_on_postgres
        => gw_1_a_payment_is_read_only_by_the_client_that_made_it_case
);

/// Runs `bulwark payments ARGS` against the harness's database: Ok(stdout JSON) or Err(stderr).
async fn payments_cli(h: &Harness, args: &[&str]) -> Result<serde_json::Value, String> {
    let mut cmd = crate::support::process::bulwark(h.data_dir());
    cmd.env("BULWARK_DATABASE__URL", &h.db_url)
        .env("BULWARK_DATA_DIR", h.data_dir())
        .arg("payments")
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    match out.status.success() {
        true => Ok(serde_json::from_slice(&out.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// GW-1 repair: a payment the gateway never saw accepted (made before it was put in front of
/// the bank, or one whose recording failed) is refused on read until an operator records it
/// with `bulwark payments record`, which takes the client from the consent, refuses a consent
/// that cannot have been paid and a payment already recorded elsewhere (the first record
/// stands), and leaves a row in the audit trail. Afterwards only that client reads it.
async fn gw_1_an_operator_records_a_payment_the_gateway_did_not_see_case(h: Harness) {
    use bulwark_store::{AuditQuery, AuditStore, ConsentStore};
    let mut bank = String::new();
    let base = gateway_with(&h, |c| {
        bank = c["routes"][0]["upstream"].as_str().unwrap().to_string();
        let pay = "/open-banking/v3.1/pisp/domestic-payments";
        c["routes"] = json!([
            {"method": "GET", "path": format!("{pay}/{{DomesticPaymentId}}"), "upstream": bank,
             "api": "domestic-payments", "token": "application", "payment_param": "DomesticPaymentId"}
        ]);
    })
    .await;
    let (t, _token, consent_id) = payment_journey(&h, "tpp-gw-early", "gwearly", "33.00").await;
    // The payment reaches the bank by another way than the gateway.
    let body = submission_of(&consent_id, "33.00");
    let made = reqwest::Client::new()
        .post(format!("{bank}/open-banking/v3.1/pisp/domestic-payments"))
        .header("x-bulwark-client-id", &t.c.id)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let made: serde_json::Value = made.json().await.unwrap();
    let payment_id = made["Data"]["DomesticPaymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let read = format!("/open-banking/v3.1/pisp/domestic-payments/{payment_id}");
    let before = get(&h, &base, &t.c.identity, Some(&t.app_token), &read, &[]).await;
    assert_eq!(before.status, 400, "{:?}", before.body);
    assert_eq!(reason(&before), "no such payment for this client");
    let err = payments_cli(&h, &["show", &payment_id]).await.unwrap_err();
    assert!(err.contains("is not recorded"), "{err}");

    // Refused, recording nothing: an unknown consent, a consent its PSU never authorised, an
    // id no log line should carry.
    let awaiting = t.payment_consent(&h, "5.00").await;
    for (payment, consent, expected) in [
        (payment_id.as_str(), "no-such-consent", "no consent"),
        (
            payment_id.as_str(),
            awaiting.as_str(),
            "has not authorised it",
        ),
        ("pay\u{1b}[2J", consent_id.as_str(), "control character"),
    ] {
        let args = ["record", "--payment-id", payment, "--consent-id", consent];
        let err = payments_cli(&h, &args).await.unwrap_err();
        assert!(err.contains(expected), "{consent}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert_eq!(h.store.payment_record(payment).await.unwrap(), None);
    }

    let args = [
        "record",
        "--payment-id",
        &payment_id,
        "--consent-id",
        &consent_id,
    ];
    let status = || async {
        h.store
            .get_consent(&consent_id)
            .await
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(
        status().await,
        "Authorised",
        "the gateway never saw the payment"
    );
    let recorded = payments_cli(&h, &args).await.unwrap();
    // A consent pays once: the operator's record consumed it, in the audit of the consent.
    assert_eq!(status().await, "Consumed");
    let history = h.store.consent_history(&consent_id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.actor_kind.as_str(), last.actor_id.as_str()),
        ("System", "bulwark payments record")
    );
    assert_eq!(
        recorded["client_id"],
        t.c.id.as_str(),
        "the consent's client"
    );
    assert_eq!(recorded["consent_id"], consent_id.as_str());
    assert_eq!(
        payments_cli(&h, &["show", &payment_id]).await.unwrap(),
        recorded
    );
    let mine = get(&h, &base, &t.c.identity, Some(&t.app_token), &read, &[]).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(mine.body["Data"]["DomesticPaymentId"], payment_id.as_str());
    let trail = h
        .store
        .list_audit(&AuditQuery {
            action: Some("payment.record".into()),
            subject: Some(payment_id.clone()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(trail[0].reason.as_deref().unwrap().contains(&t.c.id));

    // Recording it again is harmless; under another TPP's paid consent it is refused, and
    // that TPP still cannot read it.
    assert_eq!(payments_cli(&h, &args).await.unwrap(), recorded);
    // One consent pays once: a second payment under it is refused, and not recorded.
    let err = payments_cli(
        &h,
        &[
            "record",
            "--payment-id",
            "pay-second",
            "--consent-id",
            &consent_id,
        ],
    )
    .await
    .unwrap_err();
    assert!(err.contains("already has payment"), "{err}");
    assert_eq!(h.store.payment_record("pay-second").await.unwrap(), None);
    // ... unless the operator says the bank made it (its idempotency failed): then it is
    // recorded for the same client, and the audit row says it is a second payment.
    let second = payments_cli(
        &h,
        &[
            "record",
            "--payment-id",
            "pay-second",
            "--consent-id",
            &consent_id,
            "--second-payment",
        ],
    )
    .await
    .unwrap();
    assert_eq!(second["client_id"], t.c.id.as_str());
    assert_eq!(
        h.store
            .payments_of_consent(&consent_id)
            .await
            .unwrap()
            .len(),
        2
    );
    let trail = h
        .store
        .list_audit(&bulwark_store::AuditQuery {
            subject: Some("pay-second".into()),
            limit: 10,
            ..bulwark_store::AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(
        trail[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("second payment"),
        "{trail:?}"
    );
    let (other, _, other_consent) = payment_journey(&h, "tpp-gw-claimer", "gwclaim", "34.00").await;
    let args = [
        "record",
        "--payment-id",
        &payment_id,
        "--consent-id",
        &other_consent,
    ];
    let err = payments_cli(&h, &args).await.unwrap_err();
    assert!(err.contains("already recorded for client"), "{err}");
    assert_eq!(
        h.store
            .get_consent(&other_consent)
            .await
            .unwrap()
            .unwrap()
            .status,
        "Authorised",
        "refused before anything changed: the other consent is not consumed"
    );
    assert_eq!(
        h.store
            .payment_client(&payment_id)
            .await
            .unwrap()
            .as_deref(),
        Some(t.c.id.as_str()),
        "the first record stands"
    );
    let theirs = get(
        &h,
        &base,
        &other.c.identity,
        Some(&other.app_token),
        &read,
        &[],
    )
    .await;
    assert_eq!(theirs.status, 400, "{:?}", theirs.body);
}

both_backends!(
    gw_1_an_operator_records_a_payment_the_gateway_did_not_see,
    gw_1_an_operator_records_a_payment_the_gateway_did_not_see_on_postgres
        => gw_1_an_operator_records_a_payment_the_gateway_did_not_see_case
);

/// The payment submission route to `bank`, re-forwarding a resent submission (the bank is
/// idempotent on `x-idempotency-key`).
fn idempotent_submission_route(bank: &serde_json::Value) -> serde_json::Value {
    json!({"method": "POST", "path": "/open-banking/v3.1/pisp/domestic-payments",
           "upstream": bank, "api": "domestic-payments", "payment_submission": true,
           "idempotent_upstream": true})
}

/// The submission of the payment `payment_journey` consented to for `amount`.
fn submission_of(consent_id: &str, amount: &str) -> serde_json::Value {
    let consent = crate::support::consents::pay_body(amount);
    json!({"Data": {"ConsentId": consent_id, "Initiation": consent["Data"]["Initiation"]},
           "Risk": consent["Risk"]})
}

/// GW-1, OB idempotency: a TPP whose answer was lost sends the same payment submission again
/// with the same `x-idempotency-key`: the gateway forwards it again without consuming anything
/// and the bank answers with the payment it made (201, the same DomesticPaymentId). Another
/// key, no key, or another body is a second payment of a consumed consent: 400
/// `UK.OBIE.Resource.InvalidConsentStatus`, not forwarded.
async fn gw_1_a_payment_sent_again_with_its_idempotency_key_gets_the_same_payment_case(h: Harness) {
    let base = gateway_with(&h, |c| {
        let bank = c["routes"][0]["upstream"].clone();
        c["routes"] = json!([idempotent_submission_route(&bank)]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-again", "gwagain", "44.00").await;
    let body = submission_of(&consent_id, "44.00");
    let submit = |key: Option<&str>, body: &serde_json::Value| {
        let mut req = http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            req = req.header("x-idempotency-key", key);
        }
        async move {
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    // RFC 9110 7.6.1: a header `Connection` names is dropped before the bank, so the key the
    // gateway judged the submission by would not reach it (and every resubmission would be a
    // new payment to a bank that does not insist on one): refused, nothing consumed.
    for named in ["x-idempotency-key", "keep-alive, Authorization"] {
        let hop = http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("x-idempotency-key", "pay-key-1")
            .header("connection", named)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(hop.status(), 400, "{named}");
        let refused: serde_json::Value = hop.json().await.unwrap();
        assert_eq!(refused["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid");
    }
    let (status, first) = submit(Some("pay-key-1"), &body).await;
    assert_eq!(status, 201, "{first:?}");
    let payment_id = first["Data"]["DomesticPaymentId"].as_str().unwrap();
    let (status, again) = submit(Some("pay-key-1"), &body).await;
    assert_eq!(status, 201, "{again:?}");
    assert_eq!(
        again["Data"]["DomesticPaymentId"], payment_id,
        "the same payment"
    );

    let mut other = body.clone();
    other["Data"]["Initiation"]["RemittanceInformation"]["Reference"] = json!("Other");
    for (key, body) in [
        (Some("pay-key-2"), &body),
        (None, &body),
        (Some("pay-key-1"), &other),
    ] {
        let (status, refused) = submit(key, body).await;
        assert_eq!(status, 400, "{key:?}: {refused:?}");
        assert_eq!(
            refused["Errors"][0]["ErrorCode"],
            "UK.OBIE.Resource.InvalidConsentStatus"
        );
    }
    // One payment consumed the consent once, and one is recorded.
    use bulwark_store::ConsentStore;
    let history = h.store.consent_history(&consent_id).await.unwrap();
    let consumed = history.iter().filter(|e| e.to_status == "Consumed").count();
    assert_eq!(consumed, 1, "{history:?}");
    assert_eq!(
        h.store.payments_of_consent(&consent_id).await.unwrap(),
        [payment_id]
    );
    assert_eq!(
        h.store.payment_client(payment_id).await.unwrap().as_deref(),
        Some(t.c.id.as_str())
    );
}

both_backends!(
    gw_1_a_payment_sent_again_with_its_idempotency_key_gets_the_same_payment,
    gw_1_a_payment_sent_again_with_its_idempotency_key_gets_the_same_payment_on_postgres
        => gw_1_a_payment_sent_again_with_its_idempotency_key_gets_the_same_payment_case
);

/// A bank whose idempotency fails: every submission it receives makes a new payment. Also
/// returns how many it received.
async fn forgetful_bank() -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let made = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let received = made.clone();
    let app = axum::Router::new().fallback(move || {
        let n = made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        async move {
            (
                axum::http::StatusCode::CREATED,
                axum::Json(
                    json!({"Data": {"DomesticPaymentId": format!("forgetful-{n}"),
                                           "Status": "AcceptedSettlementInProcess"}}),
                ),
            )
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

/// GW-1, one consent pays once: a resent submission (same key and body, OB idempotency) that
/// the bank answers with another payment than the first is passed on and recorded for the TPP
/// (it is its payment), next to the first; the gateway reports the bank on the security log
/// and counts it (`gateway_payments_beyond_one_per_consent_total`). A submission under
/// another key is refused and never reaches the bank.
async fn gw_1_a_bank_answering_a_resend_with_another_payment_is_recorded_case(h: Harness) {
    let (bank, received) = forgetful_bank().await;
    let admin_addr = free_admin_addr();
    let base = gateway_with(&h, |c| {
        c["admin_listen"] = json!(admin_addr.to_string());
        c["routes"] = json!([idempotent_submission_route(&json!(bank))]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-forget", "gwforget", "45.00").await;
    let body = submission_of(&consent_id, "45.00");
    let submit = |key: &'static str| {
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("x-idempotency-key", key)
            .body(body.to_string())
            .send()
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = submit("forget-key-1").await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let answer: serde_json::Value = r.json().await.unwrap();
        ids.push(
            answer["Data"]["DomesticPaymentId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids, ["forgetful-1", "forgetful-2"]);
    let refused = submit("forget-key-2").await.unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(
        received.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the refused submission never reached the bank"
    );
    use bulwark_store::ConsentStore;
    let mut recorded = h.store.payments_of_consent(&consent_id).await.unwrap();
    recorded.sort();
    assert_eq!(recorded, ids);
    let metrics = admin_metrics(admin_addr).await;
    let counted = metrics
        .lines()
        .filter(|l| {
            l.starts_with("gateway_payments_beyond_one_per_consent_total")
                && l.contains("route=\"POST /open-banking/v3.1/pisp/domestic-payments\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    assert!(counted >= 1.0, "{metrics}");
    for id in &ids {
        assert_eq!(
            h.store.payment_client(id).await.unwrap().as_deref(),
            Some(t.c.id.as_str())
        );
    }
}

both_backends!(
    gw_1_a_bank_answering_a_resend_with_another_payment_is_recorded,
    gw_1_a_bank_answering_a_resend_with_another_payment_is_recorded_on_postgres
        => gw_1_a_bank_answering_a_resend_with_another_payment_is_recorded_case
);

/// A bank that takes `delay` to answer a submission with the payment `id`; also returns how
/// many it received.
async fn slow_bank(
    delay: std::time::Duration,
    id: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let made = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let received = made.clone();
    let app = axum::Router::new().fallback(move || {
        made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            (
                axum::http::StatusCode::CREATED,
                axum::Json(json!({"Data": {"DomesticPaymentId": id,
                                           "Status": "AcceptedSettlementInProcess"}})),
            )
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

/// GW-1: a TPP that goes away while the bank is making its payment (its client timed out)
/// does not stop the gateway half-way: once the consent is consumed the submission runs to
/// its end, so the payment the bank made is recorded for the client and readable by it.
async fn gw_1_a_payment_whose_client_went_away_is_still_recorded_case(h: Harness) {
    let (bank, received) = slow_bank(std::time::Duration::from_millis(1500), "slow-1").await;
    let base = gateway_with(&h, |c| {
        let pay = "/open-banking/v3.1/pisp/domestic-payments";
        c["routes"] = json!([
            idempotent_submission_route(&json!(bank)),
            {"method": "GET", "path": format!("{pay}/{{DomesticPaymentId}}"), "upstream": bank,
             "api": "domestic-payments", "token": "application", "payment_param": "DomesticPaymentId"}
        ]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-gone", "gwgone", "46.00").await;
    let body = submission_of(&consent_id, "46.00");
    let gave_up = http_client(&h.dev_ca, Some(&t.c.identity))
        .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("x-idempotency-key", "gone-key")
        .timeout(std::time::Duration::from_millis(300))
        .body(body.to_string())
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the client gave up before the bank answered"
    );
    use bulwark_store::ConsentStore;
    let mut recorded = Vec::new();
    for _ in 0..50 {
        recorded = h.store.payments_of_consent(&consent_id).await.unwrap();
        if !recorded.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        recorded,
        ["slow-1"],
        "the payment the bank made is recorded"
    );
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        h.store.payment_client("slow-1").await.unwrap().as_deref(),
        Some(t.c.id.as_str())
    );
    let read = get(
        &h,
        &base,
        &t.c.identity,
        Some(&t.app_token),
        "/open-banking/v3.1/pisp/domestic-payments/slow-1",
        &[],
    )
    .await;
    // The bank's own answer (this bank answers every request 201), not the gateway's
    // refusal of a payment it never recorded (400 UK.OBIE.Resource.NotFound).
    assert_eq!(read.status, 201, "{:?}", read.body);
    assert_eq!(read.body["Data"]["DomesticPaymentId"], "slow-1");
}

both_backends!(
    gw_1_a_payment_whose_client_went_away_is_still_recorded,
    gw_1_a_payment_whose_client_went_away_is_still_recorded_on_postgres
        => gw_1_a_payment_whose_client_went_away_is_still_recorded_case
);

/// GW-1, OB idempotency: an `x-idempotency-key` that is not one (over 40 characters, empty,
/// not visible ASCII) is refused (400 `UK.OBIE.Header.Invalid`) before
/// the consent is consumed or the bank is asked; the bank would refuse it after, leaving the
/// PSU's consent spent. The same submission with a good key then pays.
async fn gw_1_a_malformed_idempotency_key_is_refused_before_the_consent_is_consumed_case(
    h: Harness,
) {
    let (bank, received) = forgetful_bank().await;
    let base = gateway_with(&h, |c| {
        c["routes"] = json!([idempotent_submission_route(&json!(bank))]);
    })
    .await;
    let (t, token, consent_id) = payment_journey(&h, "tpp-gw-badkey", "gwbadkey", "47.00").await;
    let body = submission_of(&consent_id, "47.00");
    let submit = |key: reqwest::header::HeaderValue| {
        http_client(&h.dev_ca, Some(&t.c.identity))
            .post(format!("{base}/open-banking/v3.1/pisp/domestic-payments"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("x-idempotency-key", key)
            .body(body.to_string())
            .send()
    };
    let long = "k".repeat(41);
    for key in [
        reqwest::header::HeaderValue::from_str(&long).unwrap(),
        reqwest::header::HeaderValue::from_static(""),
        reqwest::header::HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
    ] {
        let refused = submit(key.clone()).await.unwrap();
        assert_eq!(refused.status().as_u16(), 400, "{key:?}");
        let said: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(
            said["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid",
            "{key:?}"
        );
        let consent = bulwark_store::ConsentStore::get_consent(&h.store, &consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(consent.status, "Authorised", "{key:?}");
    }
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 0);
    let paid = submit(reqwest::header::HeaderValue::from_static("good-key"))
        .await
        .unwrap();
    assert_eq!(paid.status().as_u16(), 201);
}

both_backends!(
    gw_1_a_malformed_idempotency_key_is_refused_before_the_consent_is_consumed,
    gw_1_a_malformed_idempotency_key_is_refused_before_the_consent_is_consumed_on_postgres
        => gw_1_a_malformed_idempotency_key_is_refused_before_the_consent_is_consumed_case
);
