//! GW-1 / CO-2: the one compensating move outside the lifecycle table. A payment submission the
//! bank never received undoes exactly the consumption made for it (Consumed -> Authorised, the
//! gateway named in the audit trail); nothing else can be restored. SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[macro_use]
mod common;

use bulwark_consent::{ActorKind, ConsentError, ConsentKind, ConsentStatus};
use common::*;

both_backends!(gw_1_only_the_consumption_made_for_a_submission_is_undone,);

async fn gw_1_only_the_consumption_made_for_a_submission_is_undone(env: Env) {
    let a = caller("client-a", PISP);
    let id = env
        .create(&a, ConsentKind::DomesticPayment, &pay_body("42.00", "GBP"))
        .await;
    // Not consumed: nothing to undo.
    let err = env
        .svc
        .restore_undelivered(&id, "client-a", at(1), at(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConsentError::IllegalTransition { .. }),
        "{err}"
    );
    env.svc
        .authorise(&id, "psu-1", &["acc-1".into()], at(2))
        .await
        .unwrap();
    let consumed = env.svc.consume(&id, "client-a", at(3)).await.unwrap();
    let before = env.history(&id).await;

    // Another client's, or a consumption at another time: refused, nothing written.
    assert!(matches!(
        env.svc
            .restore_undelivered(&id, "client-b", consumed.status_updated_at, at(4))
            .await,
        Err(ConsentError::OtherClient)
    ));
    assert!(matches!(
        env.svc
            .restore_undelivered(&id, "client-a", at(1), at(4))
            .await,
        Err(ConsentError::IllegalTransition {
            from: ConsentStatus::Consumed,
            to: ConsentStatus::Authorised
        })
    ));
    assert_eq!(env.history(&id).await.len(), before.len());

    // That very consumption: undone, once.
    let restored = env
        .svc
        .restore_undelivered(&id, "client-a", consumed.status_updated_at, at(4))
        .await
        .unwrap();
    assert_eq!(restored.stored_status, ConsentStatus::Authorised);
    let history = env.history(&id).await;
    assert_eq!(history.len(), before.len() + 1);
    let last = history.last().unwrap();
    assert_eq!(
        *last,
        (
            Some(ConsentStatus::Consumed),
            ConsentStatus::Authorised,
            ActorKind::System
        )
    );
    assert!(
        matches!(
            env.svc
                .restore_undelivered(&id, "client-a", consumed.status_updated_at, at(5))
                .await,
            Err(ConsentError::IllegalTransition {
                from: ConsentStatus::Authorised,
                ..
            })
        ),
        "undone once"
    );
    // And it pays again.
    env.svc.consume(&id, "client-a", at(6)).await.unwrap();
}
