//! CA-2 through the whole journey: a `tls_client_auth` client (no keys, its certificate's
//! subject DN registered) pushes its request, exchanges the code and refreshes with nothing but
//! its certificate; the tokens are bound to it, and the code cannot be exchanged with another
//! certificate (nor is it spent by that attempt). And the registered subject DN matched as a
//! name, not as text.

use bulwark_certs::{DistinguishedName, PspRole};
use bulwark_jose::{Alg, SigningKey};
use serde_json::json;
use x509_cert::der::Decode;

use crate::support::consents::{AISP, aac_body, as_tpp};
use crate::support::journey::{
    Browser, CHALLENGE, FlowTpp, REDIRECT, VERIFIER, psu, response_params,
};
use crate::support::{Harness, PkjClient, assert_oauth_error, both_backends, jwt_parts};

async fn ca_2_tls_client_auth_runs_the_whole_journey_case(h: Harness) {
    let id = "tpp-mtls-flow";
    let roles = [PspRole::AccountInformation, PspRole::PaymentInitiation];
    let tpp = PkjClient {
        id: id.into(),
        key: SigningKey::generate(Alg::Es256).unwrap(),
        identity: h.pki.qwac(id, Some("PSDGB-FCA-123456"), None, &roles),
    };
    let identity = &tpp.identity;
    let cert = x509_cert::Certificate::from_der(&identity.chain[0]).unwrap();
    let dn = DistinguishedName::from_name(&cert.tbs_certificate.subject).to_rfc4514();
    h.register(
        id,
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": dn,
               "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
               "response_types": ["code"], "redirect_uris": [REDIRECT], "scope": "openid accounts"}),
    )
    .await;
    let thumbprint = bulwark_certs::x5t_s256(&identity.chain[0]);

    // The application token and the consent, with the certificate alone.
    let app = h
        .post(
            Some(identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("scope", "accounts"),
            ],
        )
        .await;
    assert_eq!(app.0, 200, "{:?}", app.2);
    let app_token = app.2["access_token"].as_str().unwrap().to_string();
    let consent = as_tpp(&h, &tpp, &app_token)
        .post(AISP, &aac_body(), &[])
        .await;
    assert_eq!(consent.status, 201, "{:?}", consent.body);
    let consent_id = consent.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();

    // PAR authenticated by the certificate (FAPI 2.0 SP 5.3.2.1: mTLS client authentication).
    let claims = FlowTpp::claims(&consent_id).to_string();
    let pushed = h
        .post(
            Some(identity),
            "/par",
            &[
                ("client_id", id),
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("scope", "openid accounts"),
                ("state", "mtls-state"),
                ("nonce", "mtls-nonce"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("claims", &claims),
            ],
        )
        .await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let (user, password, accounts, _) = psu(&h, "mtls-psu").await;
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[
            ("client_id", id),
            ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(b.login(&ia, &user, &password).await.status, 303);
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    let code = response_params(&done.location())["code"].clone();

    let exchange = [
        ("grant_type", "authorization_code"),
        ("client_id", id),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // Another certificate of the same organisation is not this client; the code survives.
    let other = h
        .pki
        .qwac("tpp-mtls-other", Some("PSDGB-FCA-123456"), None, &roles);
    assert_oauth_error(
        &h.post(Some(&other), "/token", &exchange).await,
        401,
        "invalid_client",
    );
    let tokens = h.post(Some(identity), "/token", &exchange).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let at = jwt_parts(tokens.2["access_token"].as_str().unwrap()).1;
    assert_eq!(at["cnf"]["x5t#S256"], thumbprint.as_str());
    assert_eq!(at["consent_id"], consent_id.as_str());
    assert!(tokens.2["id_token"].is_string());

    // Refresh with the certificate alone.
    let refreshed = h
        .post(
            Some(identity),
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", id),
                ("refresh_token", tokens.2["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let at2 = jwt_parts(refreshed.2["access_token"].as_str().unwrap()).1;
    assert_eq!(at2["cnf"]["x5t#S256"], thumbprint.as_str());
}

both_backends!(
    ca_2_tls_client_auth_runs_the_whole_journey,
    ca_2_tls_client_auth_runs_the_whole_journey_on_postgres
        => ca_2_tls_client_auth_runs_the_whole_journey_case
);

/// CA-2 (RFC 8705 2.1.2): the registered subject DN is matched as a name, attribute by
/// attribute, never as text: a certificate whose DN merely begins with the registered one
/// (a common name that extends it) is refused.
#[tokio::test]
async fn ca_2_tls_client_auth_subject_dn_is_not_matched_by_its_beginning() {
    let h = Harness::start(|_| {}).await;
    h.register(
        "tpp-dn",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=TPP Ltd,CN=tpp-dn",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-dn"),
    ];
    let (good, _) = h.pki.client("TPP Ltd", "tpp-dn", None);
    let ok = h.post(Some(&good), "/token", &form).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    let (longer, _) = h.pki.client("TPP Ltd", "tpp-dn-2", None);
    assert_oauth_error(
        &h.post(Some(&longer), "/token", &form).await,
        401,
        "invalid_client",
    );
}
