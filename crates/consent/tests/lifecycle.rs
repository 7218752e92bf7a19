//! CO-2, CO-3, CO-4, CO-5, TK-6: lifecycle transitions and their audit rows, expiry on read,
//! resource-request validation, payment submission, staff search and introspection, every case
//! on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[macro_use]
mod common;

use bulwark_consent::{
    Actor, ActorKind, ConsentError, ConsentKind, ConsentSearch, ConsentStatus, ResourceApi,
};
use bulwark_store::ConsentStore;
use common::*;
use serde_json::{Value, json};

both_backends!(
    co_2_every_legal_transition_is_audited,
    co_2_every_illegal_transition_is_refused_without_audit,
    co_2_expiry_is_evaluated_on_read_and_recorded_lazily,
    co_2_delete_before_authorisation_withdraws,
    co_4_resource_request_validation,
    co_3_payment_submission_must_match_and_consumes_once,
    co_5_staff_search_and_history,
    tk_6_is_authorised_follows_the_lifecycle,
    op_3_two_nodes_racing_cannot_both_transition,
    ob_9_payment_consents_cannot_be_revoked_once_authorised,
    co_4_a_funds_confirmation_names_its_own_consent,
    co_5_access_revocation_keeps_the_status_and_its_time,
    co_3_the_submission_that_consumed_a_consent_is_recognised_for_24_hours,
);

/// OB idempotency: the submission that consumed a payment consent, sent again with the same
/// `x-idempotency-key` and the same body (members in any order) by the same client within 24
/// hours, is recognised and consumes nothing; another key, body or client, a later moment, or
/// a consent that is no longer Consumed is not.
async fn co_3_the_submission_that_consumed_a_consent_is_recognised_for_24_hours(env: Env) {
    let a = caller("client-a", PISP);
    let body = pay_body("42.00", "GBP");
    let id = env.create(&a, ConsentKind::DomesticPayment, &body).await;
    env.svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(2))
        .await
        .unwrap();
    let sent = json!({"Data": {"ConsentId": id, "Initiation": body["Data"]["Initiation"]},
                      "Risk": body["Risk"]});
    let good = sent.to_string();
    env.svc.consume(&id, "client-a", at(4)).await.unwrap();
    let again = |client: &'static str, key: &'static str, body: String, t: i64| {
        let (svc, id) = (env.svc.clone(), id.clone());
        async move {
            svc.resubmission(&id, client, key, body.as_bytes(), at(t))
                .await
                .unwrap()
        }
    };
    // Nothing remembered: nothing recognised.
    assert!(again("client-a", "k-1", good.clone(), 5).await.is_none());
    env.svc
        .remember_submission(&id, "client-a", "k-1", good.as_bytes(), at(4))
        .await
        .unwrap();
    let ctx = again("client-a", "k-1", good.clone(), 5).await.unwrap();
    assert_eq!(ctx.consent_id, id);
    assert_eq!(ctx.psu_id.as_deref(), Some("psu-1"));
    assert_eq!(ctx.selected_accounts, vec!["acc-1".to_string()]);
    // The same members in another order are the same body.
    let reordered = json!({"Risk": body["Risk"],
                           "Data": {"Initiation": body["Data"]["Initiation"], "ConsentId": id}});
    assert!(
        again("client-a", "k-1", reordered.to_string(), 6)
            .await
            .is_some()
    );
    let window = bulwark_consent::resubmission::IDEMPOTENCY_WINDOW_SECS;
    assert!(
        again("client-a", "k-1", good.clone(), 4 + window)
            .await
            .is_some()
    );
    assert!(
        again("client-a", "k-1", good.clone(), 5 + window)
            .await
            .is_none()
    );
    assert!(again("client-a", "k-2", good.clone(), 6).await.is_none());
    assert!(again("client-b", "k-1", good.clone(), 6).await.is_none());
    let mut other = sent.clone();
    other["Data"]["Initiation"]["InstructedAmount"]["Amount"] = json!("43.00");
    assert!(
        again("client-a", "k-1", other.to_string(), 6)
            .await
            .is_none()
    );
    assert!(
        again("client-a", "k-1", "not json".into(), 6)
            .await
            .is_none()
    );
    // A member sent twice (the last one the consented value) is never vouched for: parsers
    // disagree on which one counts.
    let mallory = r#""CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"99999999999999","Name":"Mallory"},"CreditorAccount":"#;
    let doubled = good.replacen("\"CreditorAccount\":", mallory, 1);
    assert!(doubled.contains("Mallory"), "{doubled}");
    assert!(again("client-a", "k-1", doubled, 6).await.is_none());
    // Nothing was consumed again: one Consumed in the history.
    let consumed = env
        .history(&id)
        .await
        .iter()
        .filter(|(_, to, _)| *to == ConsentStatus::Consumed)
        .count();
    assert_eq!(consumed, 1);
}

/// CO-4 / OB Confirmation of Funds: `POST /funds-confirmations` carries `Data.ConsentId`,
/// which must be the token's consent (400 ConsentMismatch at `Data.ConsentId`); a body
/// without it is a field error; the consent must be Authorised like any other.
async fn co_4_a_funds_confirmation_names_its_own_consent(env: Env) {
    let a = caller("client-a", ALL_ROLES);
    let id = env
        .create(&a, ConsentKind::FundsConfirmation, &cof_body())
        .await;
    let other = env
        .create(&a, ConsentKind::FundsConfirmation, &cof_body())
        .await;
    let request = |consent: &str| {
        json!({"Data": {"ConsentId": consent, "Reference": "Purchase01",
            "InstructedAmount": {"Amount": "20.00", "Currency": "GBP"}}})
        .to_string()
    };
    let check = |body: String, t| {
        let svc = env.svc.clone();
        let id = id.clone();
        async move {
            svc.validate_funds_confirmation(&id, "client-a", body.as_bytes(), at(t))
                .await
        }
    };
    let e = check(request(&id), 1).await.unwrap_err();
    assert_ob(&e, 403, "UK.OBIE.Resource.InvalidConsentStatus");
    env.svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(2))
        .await
        .unwrap();
    let e = check(request(&other), 3).await.unwrap_err();
    assert!(matches!(e, ConsentError::RequestMismatch { .. }), "{e}");
    assert_ob(&e, 400, "UK.OBIE.Resource.ConsentMismatch");
    assert_eq!(e.to_ob().to_json()["Errors"][0]["Path"], "Data.ConsentId");
    let e = check(json!({"Data": {"Reference": "x"}}).to_string(), 3)
        .await
        .unwrap_err();
    assert_eq!(e.to_ob().status, 400, "{e}");
    let ctx = check(request(&id), 3).await.unwrap();
    assert_eq!(ctx.consent_id, id);
}

/// CO-5 / OB v3.1.10 "Access Revocation": the bank ending access under an Authorised
/// account-access consent keeps its status and StatusUpdateDateTime, with an audit row
/// recording who and why; other kinds, other statuses and an expired consent are refused
/// without an audit row.
async fn co_5_access_revocation_keeps_the_status_and_its_time(env: Env) {
    let id = env.authorised_aac(Some(1000)).await;
    let before = env.store.get_consent(&id).await.unwrap().unwrap();
    let after = env
        .svc
        .revoke_access(
            &id,
            &Actor::staff("alice"),
            Some("customer asked"),
            0,
            at(20),
        )
        .await
        .unwrap()
        .expect("generation 0 is the consent's latest");
    assert_eq!(after.stored_status, ConsentStatus::Authorised);
    let stored = env.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.status_updated_at, before.status_updated_at);
    assert_eq!(
        after.status_updated_at.unix_timestamp(),
        before.status_updated_at
    );
    let history = env.svc.history(&id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.actor, Actor::staff("alice"));
    assert_eq!(
        (last.from, last.to),
        (Some(ConsentStatus::Authorised), ConsentStatus::Authorised)
    );
    assert_eq!(last.reason.as_deref(), Some("customer asked"));
    let rows = history.len();
    // A generation that is not the consent's latest (a re-authentication opened another
    // since the caller ended it): no record, the caller ends that one and asks again.
    assert_eq!(
        env.svc
            .revoke_access(&id, &Actor::staff("bob"), Some("stale"), 1, at(21))
            .await
            .unwrap(),
        None
    );
    assert_eq!(env.svc.history(&id).await.unwrap().len(), rows);

    let a = caller("client-a", ALL_ROLES);
    let awaiting = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    let funds = env
        .create(&a, ConsentKind::FundsConfirmation, &cof_body())
        .await;
    env.svc
        .authorise(&funds, "psu-1", &["acc-1".into()], at(2))
        .await
        .unwrap();
    for refused in [&awaiting, &funds] {
        let rows_before = env.svc.history(refused).await.unwrap().len();
        let e = env
            .svc
            .revoke_access(refused, &Actor::staff("alice"), Some("x"), 0, at(21))
            .await
            .unwrap_err();
        assert!(matches!(e, ConsentError::IllegalTransition { .. }), "{e}");
        assert_eq!(env.svc.history(refused).await.unwrap().len(), rows_before);
    }
    let e = env
        .svc
        .revoke_access(&id, &Actor::staff("alice"), Some("late"), 0, at(1000))
        .await
        .unwrap_err();
    assert!(matches!(e, ConsentError::IllegalTransition { .. }), "{e}");
    assert_eq!(
        env.svc
            .history(&id)
            .await
            .unwrap()
            .iter()
            .filter(|h| h.reason.as_deref() == Some("late"))
            .count(),
        0
    );
    // The expiry is recorded (by the system), nothing by the refused revocation.
    let history = env.svc.history(&id).await.unwrap();
    assert_eq!(history.len(), rows + 1, "{history:?}");
    let last = history.last().unwrap();
    assert_eq!(last.actor.kind, ActorKind::System);
    assert_eq!(
        (last.from, last.to),
        (Some(ConsentStatus::Authorised), ConsentStatus::Expired)
    );
}

/// ob_9: OB's domestic-payment consent has no Revoked status: once Authorised, neither the
/// bank's staff nor the PSU can revoke it (only the payment consumes it), and the refusal
/// leaves no audit row.
async fn ob_9_payment_consents_cannot_be_revoked_once_authorised(env: Env) {
    let a = caller("client-a", PISP);
    let id = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("42.00", "GBP"))
        .await;
    env.svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(2))
        .await
        .unwrap();
    let before = env.history(&id).await;
    for actor in [Actor::staff("alice"), Actor::psu("psu-1"), Actor::system()] {
        let err = env
            .svc
            .revoke(&id, &actor, Some("customer request"), at(3))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConsentError::IllegalTransition {
                    from: ConsentStatus::Authorised,
                    to: ConsentStatus::Revoked
                }
            ),
            "{err}"
        );
        assert_ob(&err, 400, "UK.OBIE.Resource.InvalidConsentStatus");
    }
    assert_eq!(
        env.history(&id).await,
        before,
        "no audit row for a refused revocation"
    );
    let got = env.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(got.status, "Authorised");
    // The payment still consumes it.
    env.svc.consume(&id, "client-a", at(4)).await.unwrap();
    // An account-access consent is never Consumed.
    let aac = env.authorised_aac(None).await;
    let aac_history = env.history(&aac).await;
    assert!(matches!(
        env.svc.consume(&aac, "client-a", at(5)).await,
        Err(ConsentError::NotFound)
    ));
    assert_eq!(env.history(&aac).await, aac_history);
    let got = env.store.get_consent(&aac).await.unwrap().unwrap();
    assert_eq!(got.status, "Authorised");
}

async fn co_2_every_legal_transition_is_audited(env: Env) {
    use ConsentStatus as S;
    let a = caller("client-a", ALL_ROLES);
    // AwaitingAuthorisation -> Authorised -> Revoked (staff, with reason).
    let id = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    let c = env
        .svc
        .authorise(
            &id,
            "psu-1",
            &["acc-2".into(), "acc-1".into(), "acc-1".into()],
            at(10),
        )
        .await
        .unwrap();
    assert_eq!(c.stored_status, S::Authorised);
    assert_eq!(c.psu_id.as_deref(), Some("psu-1"));
    assert_eq!(c.selected_accounts, ["acc-1", "acc-2"]);
    env.svc
        .revoke(
            &id,
            &Actor::staff("alice"),
            Some("customer request"),
            at(20),
        )
        .await
        .unwrap();
    let h = env.svc.history(&id).await.unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!((h[2].from, h[2].to), (Some(S::Authorised), S::Revoked));
    assert_eq!(h[2].actor, Actor::staff("alice"));
    assert_eq!(h[2].reason.as_deref(), Some("customer request"));
    assert_eq!(h[2].at, at(20));
    assert_eq!(h[1].actor, Actor::psu("psu-1"));
    assert_eq!(h[0].actor, Actor::tpp("client-a"));
    // AwaitingAuthorisation -> Rejected.
    let id = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    env.svc
        .reject(&id, &Actor::psu("psu-1"), Some("denied"), at(10))
        .await
        .unwrap();
    assert_eq!(
        env.history(&id).await,
        [
            (None, S::AwaitingAuthorisation, ActorKind::Tpp),
            (Some(S::AwaitingAuthorisation), S::Rejected, ActorKind::Psu)
        ]
    );
    // Authorised -> Consumed.
    let id = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("5.00", "EUR"))
        .await;
    env.svc.authorise(&id, "psu-1", &[], at(10)).await.unwrap();
    env.svc.consume(&id, "client-a", at(11)).await.unwrap();
    assert_eq!(
        env.history(&id).await[2],
        (Some(S::Authorised), S::Consumed, ActorKind::Tpp)
    );
    // Authorised -> Expired (recorded when read past the expiry).
    let id = env.authorised_aac(Some(100)).await;
    env.svc.staff_get(&id, at(200)).await.unwrap();
    let h = env.svc.history(&id).await.unwrap();
    assert_eq!(
        (h[2].from, h[2].to, h[2].actor.kind),
        (Some(S::Authorised), S::Expired, ActorKind::System)
    );
    assert_eq!(h[2].at, at(100));
    // Authorised -> Revoked by the PSU.
    let id = env.authorised_aac(None).await;
    env.svc
        .revoke(&id, &Actor::psu("psu-1"), None, at(30))
        .await
        .unwrap();
    assert_eq!(
        env.history(&id).await[2],
        (Some(S::Authorised), S::Revoked, ActorKind::Psu)
    );
    // Expired -> Revoked: a lapsed consent (its expiry recorded) deleted by its TPP, which
    // still sees it as Authorised (OB has no Expired).
    let id = env.authorised_aac(Some(100)).await;
    env.svc.staff_get(&id, at(200)).await.unwrap();
    env.svc
        .delete(&a, ConsentKind::AccountAccess, &id, at(210))
        .await
        .unwrap();
    let h = env.svc.history(&id).await.unwrap();
    let steps: Vec<_> = h[2..]
        .iter()
        .map(|e| (e.from, e.to, e.actor.kind))
        .collect();
    assert_eq!(
        steps,
        [
            (Some(S::Authorised), S::Expired, ActorKind::System),
            (Some(S::Expired), S::Revoked, ActorKind::Tpp)
        ]
    );
}

async fn co_2_every_illegal_transition_is_refused_without_audit(env: Env) {
    use ConsentStatus as S;
    let a = caller("client-a", ALL_ROLES);
    // Reach every status with a payment consent (the only kind that can be Consumed) and
    // account-access ones for Revoked and Expired.
    let awaiting = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("1.00", "GBP"))
        .await;
    let authorised = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("2.00", "GBP"))
        .await;
    env.svc
        .authorise(&authorised, "psu-1", &[], at(1))
        .await
        .unwrap();
    let rejected = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("3.00", "GBP"))
        .await;
    env.svc
        .reject(&rejected, &Actor::psu("psu-1"), None, at(1))
        .await
        .unwrap();
    // A payment consent is never Revoked (ob_9): reach Revoked with an account-access one.
    let revoked = env.authorised_aac(None).await;
    env.svc
        .revoke(&revoked, &Actor::staff("s"), Some("r"), at(20))
        .await
        .unwrap();
    let consumed = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("5.00", "GBP"))
        .await;
    env.svc
        .authorise(&consumed, "psu-1", &[], at(1))
        .await
        .unwrap();
    env.svc.consume(&consumed, "client-a", at(2)).await.unwrap();
    let expired = env.authorised_aac(Some(50)).await;
    env.svc.staff_get(&expired, at(60)).await.unwrap();

    let cases: [(&str, S, &[S]); 6] = [
        (
            &awaiting,
            S::AwaitingAuthorisation,
            &[S::Revoked, S::Consumed],
        ),
        (&authorised, S::Authorised, &[S::Authorised, S::Rejected]),
        (
            &rejected,
            S::Rejected,
            &[S::Authorised, S::Rejected, S::Revoked, S::Consumed],
        ),
        (
            &revoked,
            S::Revoked,
            &[S::Authorised, S::Rejected, S::Revoked],
        ),
        (
            &consumed,
            S::Consumed,
            &[S::Authorised, S::Rejected, S::Revoked, S::Consumed],
        ),
        // Expired -> Revoked is legal: OB shows an expired consent as Authorised and its TPP
        // may delete it.
        (&expired, S::Expired, &[S::Authorised, S::Rejected]),
    ];
    for (id, from, targets) in cases {
        let before = env.history(id).await;
        for to in targets {
            let r = match to {
                S::Authorised => {
                    env.svc
                        .authorise(id, "psu-1", &["acc-1".into()], at(100))
                        .await
                }
                S::Rejected => {
                    env.svc
                        .reject(id, &Actor::psu("psu-1"), None, at(100))
                        .await
                }
                S::Revoked => env.svc.revoke(id, &Actor::staff("s"), None, at(100)).await,
                S::Consumed => env.svc.consume(id, "client-a", at(100)).await,
                S::AwaitingAuthorisation | S::Expired => unreachable!(),
            };
            let err = r.unwrap_err();
            assert!(
                matches!(err, ConsentError::IllegalTransition { from: f, to: t } if f == from && t == *to),
                "{from} -> {to}: {err}"
            );
            assert_ob(&err, 400, "UK.OBIE.Resource.InvalidConsentStatus");
        }
        assert_eq!(
            env.history(id).await,
            before,
            "no audit row for refused changes of {id}"
        );
    }
}

async fn co_2_expiry_is_evaluated_on_read_and_recorded_lazily(env: Env) {
    let a = caller("client-a", AISP);
    let id = env.authorised_aac(Some(100)).await;
    // Before the instant: Authorised. From it on: Expired, even before anything was recorded.
    assert!(env.svc.is_authorised(&id, at(99)).await.unwrap());
    assert!(!env.svc.is_authorised(&id, at(100)).await.unwrap());
    let rec = env.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(rec.status, "Authorised");
    let got = env
        .svc
        .get(&a, ConsentKind::AccountAccess, &id, at(150))
        .await
        .unwrap();
    assert_eq!(got.status_at(at(150)), ConsentStatus::Expired);
    // ob_no_expired_status_on_the_wire: OB's enums have no Expired; it reads as Authorised,
    // updated at the expiry instant, while every use is refused.
    let json = got.to_ob_json("https://x", at(150));
    assert_eq!(json["Data"]["Status"], "Authorised");
    assert_eq!(json["Data"]["StatusUpdateDateTime"], iso(100));
    let refused = env
        .svc
        .validate_for_resource(&id, "client-a", ResourceApi::Accounts, None, at(150))
        .await
        .unwrap_err();
    assert_ob(&refused, 403, "UK.OBIE.Resource.InvalidConsentStatus");
    // The read recorded it, once.
    let rec = env.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(rec.status, "Expired");
    let again = env
        .svc
        .get(&a, ConsentKind::AccountAccess, &id, at(160))
        .await
        .unwrap();
    assert_eq!(env.history(&id).await.len(), 3);
    // Read again once the expiry is recorded: the same answer.
    let json_again = again.to_ob_json("https://x", at(160));
    assert_eq!(json_again["Data"]["Status"], "Authorised");
    assert_eq!(json_again["Data"]["StatusUpdateDateTime"], iso(100));
    // ob_delete_expired: it reads Authorised, so its TPP may delete it: 204, then gone.
    env.svc
        .delete(&a, ConsentKind::AccountAccess, &id, at(170))
        .await
        .unwrap();
    let gone = env
        .svc
        .get(&a, ConsentKind::AccountAccess, &id, at(171))
        .await
        .unwrap_err();
    assert_ob(&gone, 400, "UK.OBIE.Resource.NotFound");
    // An awaiting consent past its expiry can no longer be authorised.
    let mut body = aac_body();
    body["Data"]["ExpirationDateTime"] = json!(iso(30));
    let late = env.create(&a, ConsentKind::AccountAccess, &body).await;
    let err = env
        .svc
        .authorise(&late, "psu-1", &["acc-1".into()], at(31))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConsentError::ExpiredBeforeAuthorisation),
        "{err}"
    );
    assert_ob(&err, 400, "UK.OBIE.Resource.InvalidConsentStatus");
    assert_eq!(env.history(&late).await.len(), 1);
}

async fn co_2_delete_before_authorisation_withdraws(env: Env) {
    let a = caller("client-a", AISP);
    let id = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    env.svc
        .delete(&a, ConsentKind::AccountAccess, &id, at(5))
        .await
        .unwrap();
    let h = env.svc.history(&id).await.unwrap();
    assert_eq!(
        (h[1].from, h[1].to),
        (
            Some(ConsentStatus::AwaitingAuthorisation),
            ConsentStatus::Rejected
        )
    );
    assert_eq!(h[1].actor, Actor::tpp("client-a"));
    assert!(h[1].reason.is_some());
    let err = env
        .svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(6))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsentError::IllegalTransition { .. }));
}

async fn co_4_resource_request_validation(env: Env) {
    let a = caller("client-a", ALL_ROLES);
    let awaiting = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    let ok = env.authorised_aac(Some(1000)).await;
    let v = |id: String, client: &'static str, api, account: Option<&'static str>, t| {
        let svc = env.svc.clone();
        async move {
            svc.validate_for_resource(&id, client, api, account, at(t))
                .await
        }
    };
    // Not authorised.
    let e = v(
        awaiting.clone(),
        "client-a",
        ResourceApi::Accounts,
        None,
        20,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        e,
        ConsentError::NotAuthorised(ConsentStatus::AwaitingAuthorisation)
    ));
    assert_ob(&e, 403, "UK.OBIE.Resource.InvalidConsentStatus");
    // Expired (a consent of its own: the read records the expiry).
    let short = env.authorised_aac(Some(1000)).await;
    let e = v(short, "client-a", ResourceApi::Accounts, None, 1000)
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        ConsentError::NotAuthorised(ConsentStatus::Expired)
    ));
    // Other client.
    let e = v(ok.clone(), "client-b", ResourceApi::Accounts, None, 20)
        .await
        .unwrap_err();
    assert_ob(&e, 403, "UK.OBIE.Resource.ConsentMismatch");
    // Account not selected.
    let e = v(
        ok.clone(),
        "client-a",
        ResourceApi::Balances,
        Some("acc-9"),
        20,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ConsentError::AccountNotSelected));
    assert_ob(&e, 403, "UK.OBIE.Resource.ConsentMismatch");
    // Permission missing (the consent has no beneficiaries or statements permission).
    for api in [
        ResourceApi::Beneficiaries,
        ResourceApi::Statements,
        ResourceApi::PartyPsu,
    ] {
        let e = v(ok.clone(), "client-a", api, Some("acc-1"), 20)
            .await
            .unwrap_err();
        assert!(matches!(e, ConsentError::PermissionMissing(_)), "{api:?}");
        assert_ob(&e, 403, "UK.OBIE.Resource.ConsentMismatch");
    }
    // Wrong kind of consent for the API: an account-access consent pays nothing and
    // confirms no funds.
    for api in [ResourceApi::DomesticPayment, ResourceApi::FundsConfirmation] {
        let e = v(ok.clone(), "client-a", api, None, 20).await.unwrap_err();
        assert!(matches!(e, ConsentError::WrongKind), "{api:?}");
        assert_ob(&e, 403, "UK.OBIE.Resource.ConsentMismatch");
    }
    // OK, with the context the gateway forwards.
    for api in [
        ResourceApi::Accounts,
        ResourceApi::Balances,
        ResourceApi::Transactions,
    ] {
        let ctx = v(ok.clone(), "client-a", api, Some("acc-2"), 20)
            .await
            .unwrap();
        assert_eq!(ctx.consent_id, ok);
        assert_eq!(ctx.psu_id.as_deref(), Some("psu-1"));
        assert_eq!(ctx.selected_accounts, ["acc-1", "acc-2"]);
        assert_eq!(ctx.expires_at, Some(at(1000)));
        assert_eq!(ctx.transaction_to, Some(at(0)));
    }
    let ctx = v(ok.clone(), "client-a", ResourceApi::Accounts, None, 20)
        .await
        .unwrap();
    assert_eq!(ctx.kind, ConsentKind::AccountAccess);
    // Funds confirmation.
    let fc = env
        .create(&a, ConsentKind::FundsConfirmation, &cof_body())
        .await;
    env.svc.authorise(&fc, "psu-1", &[], at(5)).await.unwrap();
    let ctx = v(
        fc.clone(),
        "client-a",
        ResourceApi::FundsConfirmation,
        None,
        20,
    )
    .await
    .unwrap();
    assert_eq!(ctx.kind, ConsentKind::FundsConfirmation);
    let e = v(fc, "client-a", ResourceApi::Balances, None, 20)
        .await
        .unwrap_err();
    assert!(matches!(e, ConsentError::WrongKind));
}

async fn co_3_payment_submission_must_match_and_consumes_once(env: Env) {
    let a = caller("client-a", PISP);
    let body = pay_body("42.00", "GBP");
    let id = env.create(&a, ConsentKind::DomesticPayment, &body).await;
    let submission = |init: &Value| {
        json!({"Data": {"ConsentId": id, "Initiation": init}, "Risk": body["Risk"]}).to_string()
    };
    let good = submission(&body["Data"]["Initiation"]);
    let e = env
        .svc
        .validate_payment_submission(&id, "client-a", good.as_bytes(), at(1))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        ConsentError::InvalidStatus(ConsentStatus::AwaitingAuthorisation)
    ));
    assert_ob(&e, 400, "UK.OBIE.Resource.InvalidConsentStatus");
    env.svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(2))
        .await
        .unwrap();
    let mut changed = body["Data"]["Initiation"].clone();
    changed["CreditorAccount"]["Identification"] = json!("08080021325699");
    let e = env
        .svc
        .validate_payment_submission(&id, "client-a", submission(&changed).as_bytes(), at(3))
        .await
        .unwrap_err();
    assert_ob(&e, 400, "UK.OBIE.Resource.ConsentMismatch");
    env.svc
        .validate_payment_submission(&id, "client-a", good.as_bytes(), at(3))
        .await
        .unwrap();
    env.svc.consume(&id, "client-a", at(4)).await.unwrap();
    let e = env.svc.consume(&id, "client-a", at(5)).await.unwrap_err();
    assert!(matches!(e, ConsentError::IllegalTransition { .. }));
    let e = env
        .svc
        .validate_payment_submission(&id, "client-a", good.as_bytes(), at(6))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        ConsentError::InvalidStatus(ConsentStatus::Consumed)
    ));
}

async fn co_5_staff_search_and_history(env: Env) {
    let a = caller("client-a", ALL_ROLES);
    let b = caller("client-b", ALL_ROLES);
    let first = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    let svc = &env.svc;
    let second = svc
        .create(
            &b,
            ConsentKind::FundsConfirmation,
            cof_body().to_string().as_bytes(),
            None,
            at(100),
        )
        .await
        .unwrap()
        .consent
        .id;
    svc.authorise(&second, "psu-7", &[], at(110)).await.unwrap();
    let ids = |v: Vec<bulwark_consent::Consent>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let all = svc.search(&ConsentSearch::default()).await.unwrap();
    assert_eq!(ids(all), [second.clone(), first.clone()]);
    let q = ConsentSearch {
        client_id: Some("client-a".into()),
        ..ConsentSearch::default()
    };
    assert_eq!(ids(svc.search(&q).await.unwrap()), [first.as_str()]);
    let q = ConsentSearch {
        status: Some(ConsentStatus::Authorised),
        psu_id: Some("psu-7".into()),
        ..ConsentSearch::default()
    };
    assert_eq!(ids(svc.search(&q).await.unwrap()), [second.as_str()]);
    let q = ConsentSearch {
        created_from: Some(at(50)),
        created_to: Some(at(101)),
        ..ConsentSearch::default()
    };
    assert_eq!(ids(svc.search(&q).await.unwrap()), [second.as_str()]);
    // Keyset pages: the page after the newest row is the older one; counts ignore the page.
    let page = |after| ConsentSearch {
        limit: 1,
        after,
        ..ConsentSearch::default()
    };
    let newest = svc.search(&page(None)).await.unwrap();
    assert_eq!(ids(newest.clone()), [second.as_str()]);
    let cursor = bulwark_store::ConsentCursor {
        at: newest[0].created_at.unix_timestamp(),
        id: newest[0].id.clone(),
    };
    assert_eq!(
        ids(svc.search(&page(Some(cursor.clone()))).await.unwrap()),
        [first.as_str()]
    );
    assert_eq!(
        svc.count(&page(Some(cursor.clone())), 100).await.unwrap(),
        2
    );
    assert_eq!(
        svc.count(&page(Some(cursor)), 1).await.unwrap(),
        1,
        "capped"
    );
    let by_id = ConsentSearch {
        consent_id: Some(first.clone()),
        ..ConsentSearch::default()
    };
    assert_eq!(ids(svc.search(&by_id).await.unwrap()), [first.as_str()]);
    let updated = ConsentSearch {
        updated_from: Some(at(105)),
        order: bulwark_store::ConsentOrder::Updated,
        ..ConsentSearch::default()
    };
    assert_eq!(ids(svc.search(&updated).await.unwrap()), [second.as_str()]);
    let q = ConsentSearch {
        kind: Some(ConsentKind::DomesticPayment),
        ..ConsentSearch::default()
    };
    assert!(svc.search(&q).await.unwrap().is_empty());
    svc.revoke(&second, &Actor::staff("bob"), Some("fraud"), at(120))
        .await
        .unwrap();
    let h = svc.history(&second).await.unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[2].actor, Actor::staff("bob"));
    assert_eq!(
        svc.staff_get(&second, at(130)).await.unwrap().stored_status,
        ConsentStatus::Revoked
    );
}

async fn tk_6_is_authorised_follows_the_lifecycle(env: Env) {
    let id = env.authorised_aac(None).await;
    assert!(env.svc.is_authorised(&id, at(20)).await.unwrap());
    assert!(!env.svc.is_authorised("aac-unknown", at(20)).await.unwrap());
    env.svc
        .revoke(&id, &Actor::tpp("client-a"), None, at(30))
        .await
        .unwrap();
    assert!(!env.svc.is_authorised(&id, at(31)).await.unwrap());
    let a = caller("client-a", AISP);
    let awaiting = env
        .create(&a, ConsentKind::AccountAccess, &aac_body())
        .await;
    assert!(!env.svc.is_authorised(&awaiting, at(20)).await.unwrap());
    assert_eq!(
        env.svc
            .for_authorisation(&awaiting, "client-a", at(20))
            .await
            .unwrap()
            .id,
        awaiting
    );
    assert!(
        env.svc
            .for_authorisation(&id, "client-a", at(32))
            .await
            .is_err()
    );
    // A database that cannot be asked is an error, never a "not authorised": a code
    // exchange meeting an outage must stay retryable (OP-2), not spend the PSU's consent.
    let live = env.authorised_aac(None).await;
    env.store.close().await;
    match env.svc.is_authorised(&live, at(20)).await {
        Err(ConsentError::Store(e)) => assert!(e.is_unavailable(), "{e}"),
        other => panic!("a closed store answered {other:?}"),
    }
}

/// Two nodes (two services over one database) decide on the same AwaitingAuthorisation
/// consent at once: exactly one change applies and is audited.
async fn op_3_two_nodes_racing_cannot_both_transition(env: Env) {
    let a = caller("client-a", AISP);
    let node2 = bulwark_consent::ConsentService::new(std::sync::Arc::new(env.store.clone()));
    for round in 0..5 {
        let id = env
            .create(&a, ConsentKind::AccountAccess, &aac_body())
            .await;
        let accounts = ["acc-1".to_owned()];
        let psu = Actor::psu("psu-1");
        let (x, y) = tokio::join!(
            env.svc.authorise(&id, "psu-1", &accounts, at(10)),
            node2.reject(&id, &psu, None, at(10))
        );
        assert!(x.is_ok() ^ y.is_ok(), "round {round}: {x:?} / {y:?}");
        let loser = x.err().or(y.err()).unwrap();
        assert!(
            matches!(loser, ConsentError::IllegalTransition { .. }),
            "{loser}"
        );
        assert_eq!(env.history(&id).await.len(), 2);
    }
}
