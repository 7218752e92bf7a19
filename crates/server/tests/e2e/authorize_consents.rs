//! AZ-5: an authorization names a consent that exists, belongs to the client and awaits
//! authorisation. One unknown, rejected, revoked, or an authorised payment consent sends
//! `invalid_request` to the (validated) redirect URI with no code, and the consent keeps its
//! status. (Another client's consent: `authorize.rs`; an authorised account-access consent is
//! the one exception, OB's re-authentication of a standing consent (CO-5): `authorize.rs`.)

use bulwark_store::{ConsentStore, ConsentTransition, FapiCustomer};

use crate::support::journey::{Browser, FlowTpp, REDIRECT, response_params, urlenc};
use crate::support::{Harness, both_backends, now};

/// Moves `consent` from `from` to `to` as the bank would record it.
async fn moved(h: &Harness, consent: &str, from: &str, to: &str) {
    let t = ConsentTransition {
        consent_id: consent.into(),
        from_status: from.into(),
        to_status: to.into(),
        at: now(),
        psu_id: Some("psu-1".into()),
        selected_accounts: (to == "Authorised").then(|| vec!["acc-1".into()]),
        actor_kind: "PSU".into(),
        actor_id: "psu-1".into(),
        reason: None,
        customer: FapiCustomer::default(),
        grant_generation: None,
    };
    assert!(
        h.store.transition_consent(&t).await.unwrap(),
        "{from} -> {to}"
    );
}

async fn az_5_only_a_consent_awaiting_authorisation_can_be_authorised_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-states", None).await;
    let authorised = t.payment_consent(&h, "10.00").await;
    moved(&h, &authorised, "AwaitingAuthorisation", "Authorised").await;
    let rejected = t.consent(&h).await;
    moved(&h, &rejected, "AwaitingAuthorisation", "Rejected").await;
    let revoked = t.consent(&h).await;
    moved(&h, &revoked, "AwaitingAuthorisation", "Authorised").await;
    moved(&h, &revoked, "Authorised", "Revoked").await;
    let unknown = "aac-00000000-0000-0000-0000-000000000000".to_string();
    for (consent, status) in [
        (&authorised, Some("Authorised")),
        (&rejected, Some("Rejected")),
        (&revoked, Some("Revoked")),
        (&unknown, None),
    ] {
        let scope = if consent == &authorised {
            "openid payments"
        } else {
            "openid accounts"
        };
        let pushed = t.push(&h, &t.fapi2_params_with_scope(consent, scope)).await;
        assert_eq!(pushed.0, 201, "{:?}", pushed.2);
        let uri = pushed.2["request_uri"].as_str().unwrap();
        let page = Browser::new(&h)
            .get(&format!(
                "/authorize?client_id=tpp-states&request_uri={}",
                urlenc(uri)
            ))
            .await;
        assert_eq!(page.status, 303, "{consent}: {}", page.body);
        assert!(page.location().starts_with(REDIRECT), "{}", page.location());
        let params = response_params(&page.location());
        assert_eq!(params["error"], "invalid_request", "{consent}");
        assert!(!params.contains_key("code"));
        assert_eq!(params["state"], "af0ifjsldkj");
        let now_status = h
            .store
            .get_consent(consent)
            .await
            .unwrap()
            .map(|c| c.status);
        assert_eq!(now_status.as_deref(), status, "{consent}");
    }
}
both_backends!(
    az_5_only_a_consent_awaiting_authorisation_can_be_authorised,
    az_5_only_a_consent_awaiting_authorisation_can_be_authorised_on_postgres
        => az_5_only_a_consent_awaiting_authorisation_can_be_authorised_case
);
