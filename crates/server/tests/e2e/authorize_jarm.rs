//! AZ-7 JARM beyond the pushed `query.jwt` happy flow (`authorize.rs`): the PSU's Deny comes
//! back as a signed `access_denied` response with no code (the consent Rejected), and
//! `fragment.jwt` carries the signed response in the fragment.

use bulwark_store::ConsentStore;
use serde_json::{Map, Value, json};

use crate::support::journey::{Browser, CHALLENGE, FlowTpp, REDIRECT, psu, response_params};
use crate::support::{Harness, both_backends};

/// Pushes a FAPI 1.0 Advanced JARM request (`code`, `response_mode`), lets the PSU take
/// `decision`; returns the redirect, the verified response claims and the consent id.
async fn jarm_journey(
    h: &Harness,
    mode: &str,
    decision: &str,
) -> (String, Map<String, Value>, String) {
    jarm_journey_signed(h, mode, decision, None).await.0
}

/// As [`jarm_journey`], the client registered with `authorization_signed_response_alg` = `alg`
/// when given; also returns the response's `alg`.
async fn jarm_journey_signed(
    h: &Harness,
    mode: &str,
    decision: &str,
    alg: Option<&str>,
) -> ((String, Map<String, Value>, String), bulwark_jose::Alg) {
    let extra = match alg {
        Some(a) => json!({"authorization_signed_response_alg": a}),
        None => json!({}),
    };
    let t = FlowTpp::register_full(
        h,
        "tpp-jarm",
        Some("fapi1-advanced"),
        REDIRECT,
        extra,
        Vec::new(),
    )
    .await;
    let consent_id = t.consent(h).await;
    let object = t.fapi1_object(
        h,
        &consent_id,
        json!({"response_type": "code", "response_mode": mode,
               "code_challenge": CHALLENGE, "code_challenge_method": "S256"}),
    );
    let pushed = t.push(h, &[("request".into(), object)]).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let (user, password, accounts, _) = psu(h, "jarm").await;
    let mut b = Browser::new(h);
    let ia = b
        .start(&[
            ("client_id", "tpp-jarm"),
            ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
        ])
        .await;
    let logged = b.login(&ia, &user, &password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let chosen: Vec<&str> = match decision {
        "authorise" => vec![accounts[0].as_str()],
        _ => Vec::new(),
    };
    let done = b.decide(&ia, decision, &chosen).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location();
    let params = response_params(&location);
    assert_eq!(params.len(), 1, "only the response JWT: {params:?}");
    let compact = bulwark_jose::Compact::parse(&params["response"]).unwrap();
    h.state
        .meta
        .keys
        .current()
        .public_set()
        .verify(&compact)
        .unwrap();
    let claims = compact.claims().unwrap();
    assert_eq!(claims["iss"], "https://localhost:8443");
    assert_eq!(claims["aud"], "tpp-jarm");
    assert_eq!(claims["state"], "fapi1-state");
    let signed_with = compact.alg().unwrap();
    ((location, claims, consent_id), signed_with)
}

/// JARM 2.2: an error response is signed with the algorithm the client registered
/// (`authorization_signed_response_alg`), as a success response is, not the server's default
/// (PS256).
async fn az_7_jarm_responses_use_the_registered_alg_case(h: Harness) {
    let ((_, claims, _), alg) = jarm_journey_signed(&h, "jwt", "deny", Some("ES256")).await;
    assert_eq!(claims["error"], "access_denied");
    assert_eq!(alg, bulwark_jose::Alg::Es256);
}
both_backends!(
    az_7_jarm_responses_use_the_registered_alg,
    az_7_jarm_responses_use_the_registered_alg_on_postgres
        => az_7_jarm_responses_use_the_registered_alg_case
);

/// JARM 4.4: an error is a signed response too; Deny leaves no code and rejects the consent.
async fn az_7_jarm_deny_is_a_signed_access_denied_case(h: Harness) {
    let (location, claims, consent_id) = jarm_journey(&h, "jwt", "deny").await;
    assert!(
        location.starts_with(&format!("{REDIRECT}?response=")),
        "{location}"
    );
    assert_eq!(claims["error"], "access_denied");
    assert!(claims.get("code").is_none(), "{claims:?}");
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Rejected");
}
both_backends!(
    az_7_jarm_deny_is_a_signed_access_denied,
    az_7_jarm_deny_is_a_signed_access_denied_on_postgres
        => az_7_jarm_deny_is_a_signed_access_denied_case
);

/// JARM 2.3.4: `fragment.jwt` puts the signed response in the fragment.
async fn az_7_jarm_fragment_jwt_case(h: Harness) {
    let (location, claims, _) = jarm_journey(&h, "fragment.jwt", "authorise").await;
    assert!(
        location.starts_with(&format!("{REDIRECT}#response=")),
        "{location}"
    );
    assert!(
        claims["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{claims:?}"
    );
    assert!(claims.get("error").is_none(), "{claims:?}");
}
both_backends!(
    az_7_jarm_fragment_jwt,
    az_7_jarm_fragment_jwt_on_postgres => az_7_jarm_fragment_jwt_case
);
