//! AZ-5 / OIDC Core 5.5.1.1: the essential `acr` a TPP asks for (the OB security profile asks
//! for `urn:openbanking:psd2:sca`) is what the PSU's login must reach. A remembered login below
//! it is not reused: the PSU logs in again. (A login below it is refused with
//! `unmet_authentication_requirements`; the demo directory's logins always reach SCA.)

use bulwark_store::{AuthorizationStore, PsuSession};
use serde_json::json;

use crate::support::journey::{Browser, FlowTpp, Page, psu};
use crate::support::{Harness, both_backends};

const CA: &str = "urn:openbanking:psd2:ca";

/// A remembered login of `subject` that reached `acr`; returns its cookie value.
async fn remembered_login(h: &Harness, subject: &str, acr: &str) -> String {
    let secret = bulwark_core::random::token(32);
    h.store
        .insert_psu_session(&PsuSession {
            session_hash: bulwark_token::secret_hash(&secret),
            subject: subject.into(),
            display_name: "Alex Customer".into(),
            auth_time: h.clock_now(),
            acr: acr.into(),
            expires_at: h.clock_now() + 3600,
        })
        .await
        .unwrap();
    secret
}

/// Pushes `params`, follows `/authorize` with the session cookie, returns the first page.
async fn first_page(h: &Harness, t: &FlowTpp, params: &[(String, String)], session: &str) -> Page {
    let pushed = t.push(h, params).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let mut b = Browser::new(h);
    b.set_cookie("bulwark_session", session, "/authorize");
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &uri)])
        .await;
    let page = b.get(&ia).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

async fn az_5_a_remembered_login_below_the_essential_acr_is_not_reused_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-acr", None).await;
    let (_, _, _, subject) = psu(&h, "alex").await;
    let session = remembered_login(&h, &subject, CA).await;

    // The OB claims request makes SCA essential: the login page, not the consent page.
    let consent = t.consent(&h).await;
    let page = first_page(&h, &t, &t.fapi2_params(&consent), &session).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    assert!(!page.body.contains("name=\"decision\""), "{}", page.body);

    // The same remembered login answers a request without an essential acr: the consent page.
    let consent = t.consent(&h).await;
    let mut params = t.fapi2_params(&consent);
    for (k, v) in params.iter_mut() {
        if k == "claims" {
            *v = json!({"id_token": {"openbanking_intent_id": {"value": consent, "essential": true}}})
                .to_string();
        }
    }
    let page = first_page(&h, &t, &params, &session).await;
    assert!(page.body.contains("name=\"decision\""), "{}", page.body);
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
}

both_backends!(
    az_5_a_remembered_login_below_the_essential_acr_is_not_reused,
    az_5_a_remembered_login_below_the_essential_acr_is_not_reused_on_postgres
        => az_5_a_remembered_login_below_the_essential_acr_is_not_reused_case
);
