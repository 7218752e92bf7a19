//! CO-1, CO-3, CERT-7: creating, reading and deleting consents through the consent service
//! over a real SqlStore, every case on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[macro_use]
mod common;

use bulwark_certs::PspRole;
use bulwark_consent::{
    Actor, ActorKind, Caller, ConsentError, ConsentKind, ConsentStatus, ResourceApi,
};
use bulwark_store::ConsentStore;
use common::*;
use serde_json::{Value, json};

both_backends!(
    co_1_account_access_create_get_delete,
    co_1_a_consent_that_ended_can_be_deleted_by_its_tpp,
    ob_an_idempotent_retry_after_the_cut_off_answers_the_consent,
    co_1_domestic_payment_create_get_and_no_delete,
    co_1_funds_confirmation_create_get_delete,
    co_3_invalid_account_access_requests_store_nothing,
    co_3_invalid_payment_requests_store_nothing,
    co_1_idempotency_same_body_same_consent_other_body_error,
    co_3_local_instrument_is_checked_after_the_idempotency_replay,
    hardening_idempotency_key_is_valid_for_24_hours,
    co_1_concurrent_idempotent_creates_store_one_consent,
    co_1_other_clients_consent_is_not_found,
    cert_7_role_and_scope_mismatches_are_403_and_store_nothing,
    ob_payment_terms_come_from_the_bank_hook_and_cut_off_ends_authorisation,
);

/// The bank's tariff: a cut-off 100 s after creation, execution and settlement expected, one
/// charge.
struct Tariff;

impl bulwark_consent::PaymentTermsProvider for Tariff {
    fn terms(
        &self,
        _initiation: &Value,
        now: time::OffsetDateTime,
    ) -> bulwark_consent::PaymentTerms {
        bulwark_consent::PaymentTerms {
            cut_off_date_time: Some(now + time::Duration::seconds(100)),
            expected_execution_date_time: Some(now + time::Duration::seconds(200)),
            expected_settlement_date_time: Some(now + time::Duration::seconds(300)),
            charges: vec![bulwark_consent::Charge {
                charge_bearer: "BorneByDebtor".into(),
                charge_type: "UK.OBIE.CHAPSOut".into(),
                amount: json!({"Amount": "1.88", "Currency": "GBP"}),
            }],
        }
    }
}

/// ob_payment_terms (OB fidelity 18): the bank's hook supplies CutOffDateTime, the expected
/// dates and Charges, stored with the consent and answered; past the cut-off the consent can
/// no longer be authorised.
async fn ob_payment_terms_come_from_the_bank_hook_and_cut_off_ends_authorisation(env: Env) {
    let svc = bulwark_consent::ConsentService::new(std::sync::Arc::new(env.store.clone()))
        .with_payment_terms(std::sync::Arc::new(Tariff));
    let c = caller("client-a", PISP);
    let create = |key: &'static str| {
        let svc = svc.clone();
        let c = c.clone();
        async move {
            svc.create(
                &c,
                ConsentKind::DomesticPayment,
                pay_body("10.00", "GBP").to_string().as_bytes(),
                Some(key),
                at(0),
            )
            .await
            .unwrap()
            .consent
        }
    };
    let consent = create("terms-1").await;
    let json = consent.to_ob_json("https://bank/x", at(1));
    assert_eq!(json["Data"]["CutOffDateTime"], iso(100));
    assert_eq!(json["Data"]["ExpectedExecutionDateTime"], iso(200));
    assert_eq!(json["Data"]["ExpectedSettlementDateTime"], iso(300));
    assert_eq!(json["Data"]["Charges"][0]["Type"], "UK.OBIE.CHAPSOut");
    assert_eq!(json["Data"]["Charges"][0]["Amount"]["Amount"], "1.88");
    // Read back from the store: the terms were kept.
    let got = svc
        .get(&c, ConsentKind::DomesticPayment, &consent.id, at(2))
        .await
        .unwrap();
    assert_eq!(
        got.to_ob_json("https://bank/x", at(2))["Data"]["CutOffDateTime"],
        iso(100)
    );
    // Before the cut-off it can be authorised; after it, not.
    svc.authorise(&consent.id, "psu-1", &[], at(50))
        .await
        .unwrap();
    // The payment-order too is rejected once the cut-off passed (OB Payment Initiation API
    // Profile, "Reject the Payment-Order"), and the consent stays Authorised; before it, the
    // submission is accepted.
    let body = pay_body("10.00", "GBP");
    let submission =
        json!({"Data": {"ConsentId": consent.id, "Initiation": body["Data"]["Initiation"]},
                            "Risk": body["Risk"]})
        .to_string();
    let err = svc
        .validate_payment_submission(&consent.id, "client-a", submission.as_bytes(), at(101))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::CutOffPassed), "{err:?}");
    assert_ob(&err, 400, "UK.OBIE.Rules.AfterCutOffDateTime");
    let kept = env.store.get_consent(&consent.id).await.unwrap().unwrap();
    assert_eq!(kept.status, "Authorised");
    svc.validate_payment_submission(&consent.id, "client-a", submission.as_bytes(), at(100))
        .await
        .unwrap();
    let late = create("terms-2").await;
    let err = svc
        .authorise(&late.id, "psu-1", &[], at(101))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::CutOffPassed), "{err:?}");
    assert_ob(&err, 400, "UK.OBIE.Rules.AfterCutOffDateTime");
    // OB "CutOffDateTime Behaviour" (Reject): the consent is Rejected, by the system.
    let rejected = env.store.get_consent(&late.id).await.unwrap().unwrap();
    assert_eq!(rejected.status, "Rejected");
    assert_eq!(
        env.history(&late.id).await.last().unwrap().2,
        ActorKind::System
    );

    // A bank whose cut-off for this payment has already passed refuses the consent at once.
    let late_bank = bulwark_consent::ConsentService::new(std::sync::Arc::new(env.store.clone()))
        .with_payment_terms(std::sync::Arc::new(PastCutOff));
    let before = env.stored().await;
    let err = late_bank
        .create(
            &c,
            ConsentKind::DomesticPayment,
            pay_body("10.00", "GBP").to_string().as_bytes(),
            Some("terms-3"),
            at(0),
        )
        .await
        .unwrap_err();
    assert_ob(&err, 400, "UK.OBIE.Rules.AfterCutOffDateTime");
    assert_eq!(env.stored().await, before, "nothing stored");
}

/// A bank whose cut-off for every payment is at `at(50)`.
struct CutOffAt50;

impl bulwark_consent::PaymentTermsProvider for CutOffAt50 {
    fn terms(
        &self,
        _initiation: &Value,
        _now: time::OffsetDateTime,
    ) -> bulwark_consent::PaymentTerms {
        bulwark_consent::PaymentTerms {
            cut_off_date_time: Some(at(50)),
            ..Default::default()
        }
    }
}

/// A retry, after the cut-off, of a payment consent created before it answers with that
/// consent (idempotency first); a new one is refused.
async fn ob_an_idempotent_retry_after_the_cut_off_answers_the_consent(env: Env) {
    let svc = bulwark_consent::ConsentService::new(std::sync::Arc::new(env.store.clone()))
        .with_payment_terms(std::sync::Arc::new(CutOffAt50));
    let c = caller("client-a", PISP);
    let body = pay_body("10.00", "GBP").to_string();
    let first = svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("k-1"),
            at(40),
        )
        .await
        .unwrap();
    let retry = svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("k-1"),
            at(60),
        )
        .await
        .unwrap();
    assert!(!retry.new);
    assert_eq!(retry.consent.id, first.consent.id);
    let late = svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("k-2"),
            at(60),
        )
        .await
        .unwrap_err();
    assert_ob(&late, 400, "UK.OBIE.Rules.AfterCutOffDateTime");
}

/// A bank whose cut-off for today has passed.
struct PastCutOff;

impl bulwark_consent::PaymentTermsProvider for PastCutOff {
    fn terms(
        &self,
        _initiation: &Value,
        now: time::OffsetDateTime,
    ) -> bulwark_consent::PaymentTerms {
        bulwark_consent::PaymentTerms {
            cut_off_date_time: Some(now - time::Duration::seconds(1)),
            ..Default::default()
        }
    }
}

async fn co_1_account_access_create_get_delete(env: Env) {
    let c = caller("client-a", AISP);
    let created = env
        .svc
        .create(
            &c,
            ConsentKind::AccountAccess,
            aac_body().to_string().as_bytes(),
            None,
            at(0),
        )
        .await
        .unwrap();
    assert!(created.new);
    let id = created.consent.id.clone();
    assert!(id.starts_with("aac-"));
    let got = env
        .svc
        .get(&c, ConsentKind::AccountAccess, &id, at(1))
        .await
        .unwrap();
    assert_eq!(got, created.consent);
    let body = got.to_ob_json("https://bank/aisp/account-access-consents/x", at(1));
    assert_eq!(body["Data"]["ConsentId"], id.as_str());
    assert_eq!(body["Data"]["Status"], "AwaitingAuthorisation");
    assert_eq!(body["Data"]["CreationDateTime"], iso(0));
    assert_eq!(body["Data"]["StatusUpdateDateTime"], iso(0));
    assert_eq!(body["Data"]["ExpirationDateTime"], iso(86_400));
    assert_eq!(body["Data"]["Permissions"].as_array().unwrap().len(), 4);
    assert_eq!(body["Risk"], json!({}));
    assert_eq!(
        body["Links"]["Self"],
        "https://bank/aisp/account-access-consents/x"
    );
    assert_eq!(body["Meta"]["TotalPages"], 1);
    env.svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(5))
        .await
        .unwrap();
    env.svc
        .delete(&c, ConsentKind::AccountAccess, &id, at(6))
        .await
        .unwrap();
    // ob_soft_delete: gone for the TPP (GET and DELETE are 400 NotFound), kept for the bank.
    let got = env
        .svc
        .get(&c, ConsentKind::AccountAccess, &id, at(7))
        .await
        .unwrap_err();
    assert_ob(&got, 400, "UK.OBIE.Resource.NotFound");
    let kept = env.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(kept.status, "Revoked");
    let again = env
        .svc
        .delete(&c, ConsentKind::AccountAccess, &id, at(8))
        .await
        .unwrap_err();
    assert_ob(&again, 400, "UK.OBIE.Resource.NotFound");
    assert_eq!(
        env.history(&id).await,
        [
            (None, ConsentStatus::AwaitingAuthorisation, ActorKind::Tpp),
            (
                Some(ConsentStatus::AwaitingAuthorisation),
                ConsentStatus::Authorised,
                ActorKind::Psu
            ),
            (
                Some(ConsentStatus::Authorised),
                ConsentStatus::Revoked,
                ActorKind::Tpp
            ),
        ]
    );
    // A consent of another kind with this id does not exist.
    let err = env
        .svc
        .get(
            &caller("client-a", ALL_ROLES),
            ConsentKind::FundsConfirmation,
            &id,
            at(9),
        )
        .await
        .unwrap_err();
    assert_ob(&err, 400, "UK.OBIE.Resource.NotFound");
}

async fn co_1_domestic_payment_create_get_and_no_delete(env: Env) {
    let c = caller("client-a", PISP);
    let body = pay_body("165.88", "GBP");
    let created = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.to_string().as_bytes(),
            Some("idem-1"),
            at(0),
        )
        .await
        .unwrap();
    let id = created.consent.id.clone();
    assert!(id.starts_with("pdc-"));
    let got = env
        .svc
        .get(&c, ConsentKind::DomesticPayment, &id, at(1))
        .await
        .unwrap();
    let json = got.to_ob_json("https://bank/pisp/domestic-payment-consents/x", at(1));
    assert_eq!(json["Data"]["Initiation"], body["Data"]["Initiation"]);
    assert_eq!(json["Risk"], body["Risk"]);
    assert_eq!(json["Data"]["Status"], "AwaitingAuthorisation");
    let err = env
        .svc
        .delete(&c, ConsentKind::DomesticPayment, &id, at(2))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::WrongKind));
    assert_eq!(env.history(&id).await.len(), 1);
}

async fn co_1_funds_confirmation_create_get_delete(env: Env) {
    let c = caller("client-a", CBPII);
    let id = env
        .create(&c, ConsentKind::FundsConfirmation, &cof_body())
        .await;
    assert!(id.starts_with("fcc-"));
    let got = env
        .svc
        .get(&c, ConsentKind::FundsConfirmation, &id, at(1))
        .await
        .unwrap();
    let json = got.to_ob_json("https://bank/cbpii/funds-confirmation-consents/x", at(1));
    assert_eq!(
        json["Data"]["DebtorAccount"],
        cof_body()["Data"]["DebtorAccount"]
    );
    assert_eq!(json["Data"]["ExpirationDateTime"], iso(86_400));
    assert!(json.get("Risk").is_none());
    env.svc.authorise(&id, "psu-1", &[], at(2)).await.unwrap();
    env.svc
        .delete(&c, ConsentKind::FundsConfirmation, &id, at(3))
        .await
        .unwrap();
    let got = env
        .svc
        .get(&c, ConsentKind::FundsConfirmation, &id, at(4))
        .await
        .unwrap_err();
    assert_ob(&got, 400, "UK.OBIE.Resource.NotFound");
    let kept = env.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(kept.status, "Revoked");
}

async fn co_3_invalid_account_access_requests_store_nothing(env: Env) {
    let c = caller("client-a", AISP);
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut b = aac_body();
    b["Data"]["Permissions"] = json!(["ReadAccountsBasic", "ReadMinds"]);
    cases.push((b, "UK.OBIE.Field.Invalid"));
    let mut b = aac_body();
    b["Data"]["Permissions"] = json!(["ReadTransactionsDetail"]);
    cases.push((b, "UK.OBIE.Field.Invalid"));
    let mut b = aac_body();
    b["Data"]["Permissions"] = json!(["ReadTransactionsDebits", "ReadBalances"]);
    cases.push((b, "UK.OBIE.Field.Invalid"));
    // ob_permissions: ReadAccountsBasic or ReadAccountsDetail is required (v3.1.10 AIS profile).
    let mut b = aac_body();
    b["Data"]["Permissions"] = json!(["ReadBalances"]);
    cases.push((b, "UK.OBIE.Field.Invalid"));
    let mut b = aac_body();
    b["Data"]["ExpirationDateTime"] = json!(iso(-1));
    cases.push((b, "UK.OBIE.Field.InvalidDate"));
    let mut b = aac_body();
    b["Data"]["TransactionFromDateTime"] = json!(iso(10));
    b["Data"]["TransactionToDateTime"] = json!(iso(5));
    cases.push((b, "UK.OBIE.Field.InvalidDate"));
    let mut b = aac_body();
    b["Data"].as_object_mut().unwrap().remove("Permissions");
    cases.push((b, "UK.OBIE.Field.Missing"));
    for (body, code) in cases {
        let err = env
            .svc
            .create(
                &c,
                ConsentKind::AccountAccess,
                body.to_string().as_bytes(),
                None,
                at(0),
            )
            .await
            .unwrap_err();
        assert_ob(&err, 400, code);
    }
    assert_eq!(env.stored().await, 0);
}

async fn co_3_invalid_payment_requests_store_nothing(env: Env) {
    let c = caller("client-a", PISP);
    for (amount, currency) in [
        ("0", "GBP"),
        ("0.00", "GBP"),
        ("-1.00", "GBP"),
        ("1.2.3", "GBP"),
        ("1.123456", "GBP"),
        ("1.00", "gbp"),
        ("1.00", "GBPX"),
    ] {
        let err = env
            .svc
            .create(
                &c,
                ConsentKind::DomesticPayment,
                pay_body(amount, currency).to_string().as_bytes(),
                Some("k1"),
                at(0),
            )
            .await
            .unwrap_err();
        assert_ob(&err, 400, "UK.OBIE.Field.Invalid");
    }
    let body = pay_body("1.00", "GBP").to_string();
    let err = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            None,
            at(0),
        )
        .await
        .unwrap_err();
    assert_ob(&err, 400, "UK.OBIE.Header.Missing");
    let long = "k".repeat(41);
    for bad in ["", long.as_str()] {
        let err = env
            .svc
            .create(
                &c,
                ConsentKind::DomesticPayment,
                body.as_bytes(),
                Some(bad),
                at(0),
            )
            .await
            .unwrap_err();
        assert_ob(&err, 400, "UK.OBIE.Header.Invalid");
    }
    assert_eq!(env.stored().await, 0);
    // The key of a refused request stays free: the first valid use creates the consent.
    let ok = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("k1"),
            at(0),
        )
        .await
        .unwrap();
    assert!(ok.new);
}

async fn co_1_idempotency_same_body_same_consent_other_body_error(env: Env) {
    let c = caller("client-a", PISP);
    let body = pay_body("10.00", "GBP");
    let first = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.to_string().as_bytes(),
            Some("idem"),
            at(0),
        )
        .await
        .unwrap();
    // Same JSON with members reordered and other whitespace is the same body.
    let reordered = format!(
        "{{ \"Risk\": {},\n \"Data\": {} }}",
        body["Risk"], body["Data"]
    );
    let replay = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            reordered.as_bytes(),
            Some("idem"),
            at(30),
        )
        .await
        .unwrap();
    assert!(!replay.new);
    assert_eq!(replay.consent, first.consent);
    let other = pay_body("10.01", "GBP").to_string();
    let err = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            other.as_bytes(),
            Some("idem"),
            at(31),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::IdempotencyKeyReused));
    assert_ob(&err, 400, "UK.OBIE.Header.Invalid");
    assert_eq!(env.stored().await, 1);
    // Another client may use the same key.
    let b = env
        .svc
        .create(
            &caller("client-b", PISP),
            ConsentKind::DomesticPayment,
            other.as_bytes(),
            Some("idem"),
            at(32),
        )
        .await
        .unwrap();
    assert!(b.new);
    assert_ne!(b.consent.id, first.consent.id);
    assert_eq!(env.stored().await, 2);
}

/// OB LocalInstrument: a code outside the bank's list is 400
/// `UK.OBIE.Unsupported.LocalInstrument`, storing nothing, after the idempotency replay: a
/// TPP retrying (same key and body) a consent created before the bank narrowed its list gets
/// that consent, where a new one with the code is refused.
async fn co_3_local_instrument_is_checked_after_the_idempotency_replay(env: Env) {
    let c = caller("client-a", PISP);
    let mut body = pay_body("10.00", "GBP");
    body["Data"]["Initiation"]["LocalInstrument"] = json!("UK.OBIE.CHAPS");
    let body = body.to_string();
    let create = |svc: &bulwark_consent::ConsentService, key: &'static str| {
        let (svc, c, body) = (svc.clone(), c.clone(), body.clone());
        async move {
            svc.create(
                &c,
                ConsentKind::DomesticPayment,
                body.as_bytes(),
                Some(key),
                at(0),
            )
            .await
        }
    };
    let first = create(&env.svc, "li-1").await.unwrap();
    assert!(first.new);
    let narrowed = env.svc.clone().with_local_instruments(
        bulwark_consent::LocalInstruments::parse(&["UK.OBIE.FPS".into()]).unwrap(),
    );
    let retry = create(&narrowed, "li-1").await.unwrap();
    assert!(!retry.new);
    assert_eq!(retry.consent.id, first.consent.id);
    let err = create(&narrowed, "li-2").await.unwrap_err();
    assert_ob(&err, 400, "UK.OBIE.Unsupported.LocalInstrument");
    assert_eq!(env.stored().await, 1);
}

async fn co_1_other_clients_consent_is_not_found(env: Env) {
    let id = env.authorised_aac(Some(86_400)).await;
    let b = caller("client-b", ALL_ROLES);
    let missing = env
        .svc
        .get(&b, ConsentKind::AccountAccess, "aac-missing", at(20))
        .await
        .unwrap_err();
    let other = env
        .svc
        .get(&b, ConsentKind::AccountAccess, &id, at(20))
        .await
        .unwrap_err();
    // ob_status_codes (OB v3.1.10): an unknown id is 400 NotFound, another TPP's consent 403.
    assert_ob(&missing, 400, "UK.OBIE.Resource.NotFound");
    assert_ob(&other, 403, "UK.OBIE.Resource.ConsentMismatch");
    let del = env
        .svc
        .delete(&b, ConsentKind::AccountAccess, &id, at(20))
        .await
        .unwrap_err();
    assert_ob(&del, 403, "UK.OBIE.Resource.ConsentMismatch");
    let v = env
        .svc
        .validate_for_resource(&id, "client-b", ResourceApi::Accounts, None, at(20))
        .await
        .unwrap_err();
    assert_ob(&v, 403, "UK.OBIE.Resource.ConsentMismatch");
    let p = env
        .svc
        .for_authorisation(&id, "client-b", at(20))
        .await
        .unwrap_err();
    assert!(matches!(p, ConsentError::NotFound));
    // Nothing changed.
    assert_eq!(env.history(&id).await.len(), 2);
}

async fn cert_7_role_and_scope_mismatches_are_403_and_store_nothing(env: Env) {
    let bodies = [
        (ConsentKind::AccountAccess, aac_body()),
        (ConsentKind::DomesticPayment, pay_body("1.00", "GBP")),
        (ConsentKind::FundsConfirmation, cof_body()),
    ];
    let wrong_roles: [(ConsentKind, &[PspRole]); 6] = [
        (ConsentKind::AccountAccess, PISP),
        (ConsentKind::AccountAccess, CBPII),
        (ConsentKind::DomesticPayment, AISP),
        (ConsentKind::DomesticPayment, CBPII),
        (ConsentKind::FundsConfirmation, AISP),
        (ConsentKind::FundsConfirmation, PISP),
    ];
    for (kind, roles) in wrong_roles {
        let body = &bodies.iter().find(|(k, _)| *k == kind).unwrap().1;
        let err = env
            .svc
            .create(
                &caller("client-a", roles),
                kind,
                body.to_string().as_bytes(),
                Some("k"),
                at(0),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConsentError::RoleMissing(_)),
            "{kind:?} {err}"
        );
        assert_ob(&err, 403, "UK.OBIE.Header.Invalid");
    }
    for (kind, body) in &bodies {
        // No eIDAS identity at all.
        let anon = Caller::new("client-a", None, "accounts payments fundsconfirmations");
        let err = env
            .svc
            .create(&anon, *kind, body.to_string().as_bytes(), Some("k"), at(0))
            .await
            .unwrap_err();
        assert!(matches!(err, ConsentError::NoTppIdentity), "{err}");
        assert_ob(&err, 403, "UK.OBIE.Header.Invalid");
        // Right role, token without the API's scope.
        let others: Vec<&str> = ["accounts", "payments", "fundsconfirmations"]
            .into_iter()
            .filter(|s| *s != kind.scope())
            .collect();
        let c = Caller::new(
            "client-a",
            Some(identity(ALL_ROLES)),
            &format!("openid {}", others.join(" ")),
        );
        let err = env
            .svc
            .create(&c, *kind, body.to_string().as_bytes(), Some("k"), at(0))
            .await
            .unwrap_err();
        assert!(matches!(err, ConsentError::ScopeMissing(_)), "{err}");
        assert_ob(&err, 403, "UK.OBIE.Header.Invalid");
        // A PSD2 statement without roles.
        let err = env
            .svc
            .create(
                &caller("client-a", &[]),
                *kind,
                body.to_string().as_bytes(),
                Some("k"),
                at(0),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ConsentError::RoleMissing(_)), "{err}");
        assert_ob(&err, 403, "UK.OBIE.Header.Invalid");
    }
    assert_eq!(env.stored().await, 0);
    // GET and DELETE check the role too.
    let id = env.authorised_aac(None).await;
    let pisp = caller("client-a", PISP);
    let err = env
        .svc
        .get(&pisp, ConsentKind::AccountAccess, &id, at(20))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::RoleMissing(_)), "{err}");
    assert_ob(&err, 403, "UK.OBIE.Header.Invalid");
    let err = env
        .svc
        .delete(&pisp, ConsentKind::AccountAccess, &id, at(20))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::RoleMissing(_)), "{err}");
    assert_ob(&err, 403, "UK.OBIE.Header.Invalid");
    assert_eq!(env.history(&id).await.len(), 2);
}

/// The same payment consent posted twice at once (a TPP retry reaching two nodes): both
/// answers name one consent, and only one is stored.
async fn co_1_concurrent_idempotent_creates_store_one_consent(env: Env) {
    let c = caller("client-a", PISP);
    let body = pay_body("7.50", "GBP").to_string();
    let node2 = bulwark_consent::ConsentService::new(std::sync::Arc::new(env.store.clone()));
    let (x, y) = tokio::join!(
        env.svc.create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("race"),
            at(0)
        ),
        node2.create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("race"),
            at(0)
        )
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.consent.id, y.consent.id);
    assert!(x.new ^ y.new);
    assert_eq!(env.stored().await, 1);
    assert_eq!(env.history(&x.consent.id).await.len(), 1);
}

/// OB: an `x-idempotency-key` is valid for 24 hours (up to the second before they are over);
/// from then on the same key creates a new consent (with another body too) instead of
/// replaying or refusing.
async fn hardening_idempotency_key_is_valid_for_24_hours(env: Env) {
    let c = caller("client-a", PISP);
    let body = pay_body("10.00", "GBP").to_string();
    let first = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("day-key"),
            at(0),
        )
        .await
        .unwrap();
    let within = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            body.as_bytes(),
            Some("day-key"),
            at(24 * 3600 - 1),
        )
        .await
        .unwrap();
    assert!(!within.new);
    let other = pay_body("20.00", "GBP").to_string();
    let later = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            other.as_bytes(),
            Some("day-key"),
            at(24 * 3600),
        )
        .await
        .unwrap();
    assert!(later.new);
    assert_ne!(later.consent.id, first.consent.id);
    // The key now names the new consent.
    let replay = env
        .svc
        .create(
            &c,
            ConsentKind::DomesticPayment,
            other.as_bytes(),
            Some("day-key"),
            at(24 * 3600 + 5),
        )
        .await
        .unwrap();
    assert_eq!(replay.consent.id, later.consent.id);
    assert_eq!(env.stored().await, 2);
}

/// OB: DELETE answers 204 whatever the consent's status. A consent the PSU rejected, or the
/// bank revoked, keeps its status; the TPP's deletion is an audit row, and the consent is
/// gone for the TPP afterwards (400 NotFound), kept for the bank.
async fn co_1_a_consent_that_ended_can_be_deleted_by_its_tpp(env: Env) {
    let c = caller("client-a", AISP);
    let create = |n: i64| {
        let env = &env;
        let c = &c;
        async move {
            env.svc
                .create(
                    c,
                    ConsentKind::AccountAccess,
                    aac_body().to_string().as_bytes(),
                    None,
                    at(n),
                )
                .await
                .unwrap()
                .consent
                .id
        }
    };
    let rejected = create(0).await;
    env.svc
        .reject(&rejected, &Actor::psu("psu-1"), Some("declined"), at(1))
        .await
        .unwrap();
    let revoked = create(2).await;
    env.svc
        .authorise(&revoked, "psu-1", &["acc-1".into()], at(3))
        .await
        .unwrap();
    env.svc
        .revoke(&revoked, &Actor::staff("ops-1"), Some("fraud"), at(4))
        .await
        .unwrap();
    for (id, status) in [(&rejected, "Rejected"), (&revoked, "Revoked")] {
        env.svc
            .delete(&c, ConsentKind::AccountAccess, id, at(5))
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        let gone = env
            .svc
            .get(&c, ConsentKind::AccountAccess, id, at(6))
            .await
            .unwrap_err();
        assert_ob(&gone, 400, "UK.OBIE.Resource.NotFound");
        let again = env
            .svc
            .delete(&c, ConsentKind::AccountAccess, id, at(7))
            .await
            .unwrap_err();
        assert_ob(&again, 400, "UK.OBIE.Resource.NotFound");
        let kept = env.store.get_consent(id).await.unwrap().unwrap();
        assert_eq!(kept.status, status);
        assert_ne!(
            kept.status_updated_at,
            at(5).unix_timestamp(),
            "the moment it ended is kept"
        );
        assert_eq!(env.history(id).await.last().unwrap().2, ActorKind::Tpp);
    }
}
