//! CO-1 consent APIs end to end over real TLS with tokens from the token endpoint and QWACs
//! made in the test: create / get / delete of each kind, CERT-7 role checks, certificate
//! binding, idempotency, x-fapi-interaction-id, x-jws-signature, TK-6 consent standing.

use bulwark_certs::PspRole;
use bulwark_core::Clock;
use bulwark_jose::{Alg, SigningKey};
use bulwark_store::{ClientStore, ConsentQuery, ConsentStore};
use serde_json::{Value, json};

use crate::support::{Identity, http_client};
use crate::token::{Harness, PkjClient, now};

const AISP: &str = "/open-banking/v3.1/aisp/account-access-consents";
const PISP: &str = "/open-banking/v3.1/pisp/domestic-payment-consents";
const CBPII: &str = "/open-banking/v3.1/cbpii/funds-confirmation-consents";

fn iso(offset: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now() + offset).unwrap();
    bulwark_consent::format_datetime(t)
}

fn aac_body() -> Value {
    json!({"Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances"], "ExpirationDateTime": iso(86_400)}, "Risk": {}})
}

fn pay_body(amount: &str) -> Value {
    json!({"Data": {"Initiation": {
        "InstructionIdentification": "ACME412", "EndToEndIdentification": "FRESCO.21302.GFX.20",
        "InstructedAmount": {"Amount": amount, "Currency": "GBP"},
        "CreditorAccount": {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "08080021325698", "Name": "ACME Inc"}
    }}, "Risk": {"PaymentContextCode": "EcommerceGoods"}})
}

fn cof_body() -> Value {
    json!({"Data": {"ExpirationDateTime": iso(86_400),
        "DebtorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": "GB76LOYD30949301273801", "Name": "Andrea Smith"}}})
}

/// A TPP with a QWAC carrying `roles`, registered for client_credentials with all OB scopes.
async fn tpp(h: &Harness, id: &str, roles: &[PspRole]) -> (PkjClient, String) {
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register(
        id,
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts payments fundsconfirmations",
               "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let identity = h.pki.qwac(id, Some("PSDGB-FCA-123456"), None, roles);
    let c = PkjClient {
        id: id.into(),
        key,
        identity,
    };
    let resp = c.token(h, &c.assertion(h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let token = resp.2["access_token"].as_str().unwrap().to_string();
    (c, token)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(
    h: &Harness,
    id: Option<&Identity>,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut req = http_client(&h.dev_ca, id).request(method, h.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body: if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    }
}

async fn stored(h: &Harness) -> usize {
    h.store
        .search_consents(&ConsentQuery {
            limit: 500,
            ..ConsentQuery::default()
        })
        .await
        .unwrap()
        .len()
}

fn assert_ob(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["Errors"][0]["ErrorCode"], code, "{:?}", a.body);
    assert!(
        a.body["Id"].is_string() && a.body["Code"].is_string() && a.body["Message"].is_string()
    );
}

#[tokio::test]
async fn co_1_account_access_consent_create_get_delete_with_interaction_id() {
    account_access_case(Harness::start(|_| {}).await).await;
}

#[tokio::test]
async fn co_1_account_access_consent_create_get_delete_on_postgres() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let h = Harness::start_shared(
        std::sync::Arc::new(tempfile::tempdir().unwrap()),
        std::sync::Arc::new(crate::pki::TestPki::new("PG QTSP")),
        Some(db.url.clone()),
        |_| {},
    )
    .await;
    account_access_case(h).await;
    drop(db);
}

async fn account_access_case(h: Harness) {
    let (c, token) = tpp(&h, "aisp-1", &[PspRole::AccountInformation]).await;
    let created = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[(
            "x-fapi-interaction-id",
            "93bac548-d2de-4546-b106-880a5018460d",
        )],
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.headers["x-fapi-interaction-id"],
        "93bac548-d2de-4546-b106-880a5018460d"
    );
    assert_eq!(created.body["Data"]["Status"], "AwaitingAuthorisation");
    let id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        created.body["Links"]["Self"],
        format!("https://localhost:8443{AISP}/{id}")
    );

    let got = call(
        &h,
        Some(&c.identity),
        reqwest::Method::GET,
        &format!("{AISP}/{id}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(got.status, 200);
    assert!(
        got.headers.contains_key("x-fapi-interaction-id"),
        "generated when absent"
    );
    assert_eq!(
        got.body["Data"]["Permissions"],
        json!(["ReadAccountsDetail", "ReadBalances"])
    );

    // Another TPP cannot see it.
    let (other, other_token) = tpp(&h, "aisp-2", &[PspRole::AccountInformation]).await;
    let hidden = call(
        &h,
        Some(&other.identity),
        reqwest::Method::GET,
        &format!("{AISP}/{id}"),
        Some(&other_token),
        None,
        &[],
    )
    .await;
    assert_ob(&hidden, 404, "UK.OBIE.Resource.NotFound");

    let deleted = call(
        &h,
        Some(&c.identity),
        reqwest::Method::DELETE,
        &format!("{AISP}/{id}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(deleted.status, 204);
    let after = call(
        &h,
        Some(&c.identity),
        reqwest::Method::GET,
        &format!("{AISP}/{id}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(after.body["Data"]["Status"], "Rejected");

    // Bad input: a clear OB error and nothing stored.
    let before = stored(&h).await;
    let mut bad = aac_body();
    bad["Data"]["Permissions"] = json!(["ReadMinds"]);
    let refused = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&bad),
        &[],
    )
    .await;
    assert_ob(&refused, 400, "UK.OBIE.Field.Invalid");
    let malformed = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&json!("not an object")),
        &[],
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(stored(&h).await, before);
}

#[tokio::test]
async fn co_1_domestic_payment_consent_idempotency() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "pisp-1", &[PspRole::PaymentInitiation]).await;
    let key = [("x-idempotency-key", "idem-1")];
    let first = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        PISP,
        Some(&token),
        Some(&pay_body("165.88")),
        &key,
    )
    .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        PISP,
        Some(&token),
        Some(&pay_body("165.88")),
        &key,
    )
    .await;
    assert_eq!(again.status, 201);
    assert_eq!(
        again.body["Data"]["ConsentId"],
        first.body["Data"]["ConsentId"]
    );
    let other = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        PISP,
        Some(&token),
        Some(&pay_body("999.00")),
        &key,
    )
    .await;
    assert_ob(&other, 400, "UK.OBIE.Header.Invalid");
    let missing = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        PISP,
        Some(&token),
        Some(&pay_body("1.00")),
        &[],
    )
    .await;
    assert_ob(&missing, 400, "UK.OBIE.Header.Missing");
    let zero = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        PISP,
        Some(&token),
        Some(&pay_body("0")),
        &[("x-idempotency-key", "idem-2")],
    )
    .await;
    assert_eq!(zero.status, 400);
    assert_eq!(stored(&h).await, 1);
    let id = first.body["Data"]["ConsentId"].as_str().unwrap();
    let got = call(
        &h,
        Some(&c.identity),
        reqwest::Method::GET,
        &format!("{PISP}/{id}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(
        got.body["Data"]["Initiation"]["InstructedAmount"]["Amount"],
        "165.88"
    );
    // Payment consents have no DELETE.
    let del = call(
        &h,
        Some(&c.identity),
        reqwest::Method::DELETE,
        &format!("{PISP}/{id}"),
        Some(&token),
        None,
        &[],
    )
    .await;
    assert_eq!(del.status, 405);
}

#[tokio::test]
async fn co_1_funds_confirmation_consent_create_get_delete() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "cbpii-1", &[PspRole::CardIssuing]).await;
    let created = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        CBPII,
        Some(&token),
        Some(&cof_body()),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(
            &h,
            Some(&c.identity),
            reqwest::Method::GET,
            &format!("{CBPII}/{id}"),
            Some(&token),
            None,
            &[]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &h,
            Some(&c.identity),
            reqwest::Method::DELETE,
            &format!("{CBPII}/{id}"),
            Some(&token),
            None,
            &[]
        )
        .await
        .status,
        204
    );
}

#[tokio::test]
async fn cert_7_role_mismatches_are_refused_and_store_nothing() {
    let h = Harness::start(|_| {}).await;
    let (pisp, pisp_token) = tpp(&h, "pisp-only", &[PspRole::PaymentInitiation]).await;
    let (aisp, aisp_token) = tpp(&h, "aisp-only", &[PspRole::AccountInformation]).await;
    let ais = call(
        &h,
        Some(&pisp.identity),
        reqwest::Method::POST,
        AISP,
        Some(&pisp_token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(
        ais.status, 403,
        "a PISP-only certificate cannot create AIS consents: {:?}",
        ais.body
    );
    let pay = call(
        &h,
        Some(&aisp.identity),
        reqwest::Method::POST,
        PISP,
        Some(&aisp_token),
        Some(&pay_body("1.00")),
        &[("x-idempotency-key", "k")],
    )
    .await;
    assert_eq!(pay.status, 403);
    let cof = call(
        &h,
        Some(&aisp.identity),
        reqwest::Method::POST,
        CBPII,
        Some(&aisp_token),
        Some(&cof_body()),
        &[],
    )
    .await;
    assert_eq!(cof.status, 403);
    assert_eq!(stored(&h).await, 0);

    // A plain (non-QWAC) certificate: no PSD2 identity at all.
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("plain-tpp", json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"], "scope": "accounts", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}})).await;
    let plain = PkjClient {
        id: "plain-tpp".into(),
        key,
        identity: h.pki.client("TPP", "plain-tpp", None).0,
    };
    let token = plain.token(&h, &plain.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = call(
        &h,
        Some(&plain.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(stored(&h).await, 0);
}

#[tokio::test]
async fn co_1_token_must_be_present_valid_and_bound_to_the_presented_certificate() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-bind", &[PspRole::AccountInformation]).await;
    let other_cert = h.pki.qwac(
        "aisp-bind",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let stolen = call(
        &h,
        Some(&other_cert),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(stolen.status, 401, "a token bound to another certificate");
    assert!(
        stolen.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(
        call(
            &h,
            None,
            reqwest::Method::POST,
            AISP,
            Some(&token),
            Some(&aac_body()),
            &[]
        )
        .await
        .status,
        401
    );
    assert_eq!(
        call(
            &h,
            Some(&c.identity),
            reqwest::Method::POST,
            AISP,
            None,
            Some(&aac_body()),
            &[]
        )
        .await
        .status,
        401
    );
    assert_eq!(
        call(
            &h,
            Some(&c.identity),
            reqwest::Method::POST,
            AISP,
            Some("garbage"),
            Some(&aac_body()),
            &[]
        )
        .await
        .status,
        401
    );
    // A suspended client can do nothing with the tokens it holds.
    h.store
        .set_client_status("aisp-bind", bulwark_core::ClientStatus::Suspended, now())
        .await
        .unwrap();
    let suspended = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(suspended.status, 401, "suspended client");
    h.store
        .set_client_status("aisp-bind", bulwark_core::ClientStatus::Active, now())
        .await
        .unwrap();
    // Revoked.
    let revoked = h
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", &token),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(revoked.0, 200);
    assert_eq!(
        call(
            &h,
            Some(&c.identity),
            reqwest::Method::POST,
            AISP,
            Some(&token),
            Some(&aac_body()),
            &[]
        )
        .await
        .status,
        401
    );
    assert_eq!(stored(&h).await, 0);
}

#[tokio::test]
async fn co_6_x_jws_signature_required_and_refused_when_missing_or_bad() {
    let h = Harness::start(|c| c.consents.require_jws_signature = true).await;
    let (c, token) = tpp(&h, "aisp-jws", &[PspRole::AccountInformation]).await;
    let missing = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_ob(&missing, 400, "UK.OBIE.Signature.Missing");
    let bad = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[("x-jws-signature", "eyJhbGciOiJQUzI1NiJ9..c2ln")],
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["Errors"][0]["ErrorCode"]
            .as_str()
            .unwrap()
            .starts_with("UK.OBIE.Signature"),
        "{:?}",
        bad.body
    );
    assert_eq!(stored(&h).await, 0);
}

#[tokio::test]
async fn tk_6_introspection_follows_the_consent_status() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-int", &[PspRole::AccountInformation]).await;
    let created = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    let consent_id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    // A user token bound to the consent, signed with the server's key (the authorization
    // code flow that issues these arrives with the authorization issue).
    let claims = bulwark_token::access_token::AccessTokenClaims {
        iss: "https://localhost:8443".into(),
        sub: "psu-1".into(),
        aud: "https://localhost:8443".into(),
        exp: h.clock.unix() + 300,
        iat: h.clock.unix(),
        jti: "user-token-1".into(),
        client_id: "aisp-int".into(),
        scope: "accounts".into(),
        cnf: bulwark_token::access_token::Confirmation {
            x5t_s256: bulwark_certs::x5t_s256(&c.identity.chain[0]),
        },
        token_kind: bulwark_token::access_token::TokenKind::User,
        consent_id: Some(consent_id.clone()),
    };
    let key = h.state.meta.keys.signing_key(Alg::Ps256).unwrap();
    let user_token = bulwark_token::access_token::sign(key, &claims).unwrap();
    let introspect = |t: String| {
        let h = &h;
        let c = &c;
        async move {
            h.post(
                Some(&c.identity),
                "/introspect",
                &[
                    ("token", &t),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &c.assertion(h)),
                ],
            )
            .await
            .2
        }
    };
    assert_eq!(
        introspect(user_token.clone()).await["active"],
        false,
        "consent awaiting authorisation"
    );
    h.state
        .consents
        .service
        .authorise(&consent_id, "psu-1", &["acc-1".into()], h.clock.now())
        .await
        .unwrap();
    let active = introspect(user_token.clone()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["consent_id"], consent_id.as_str());
    assert_eq!(active["token_kind"], "user");
    h.state
        .consents
        .service
        .revoke(
            &consent_id,
            &bulwark_consent::Actor::psu("psu-1"),
            Some("changed my mind"),
            h.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        introspect(user_token).await,
        json!({"active": false}),
        "revoked consent"
    );
}

/// CO-6 end to end: a detached `x-jws-signature` (b64 false, OB crit claims) by the client's
/// QSealC-backed key is accepted over the exact body; another key, or another body, is refused.
#[tokio::test]
async fn co_6_good_x_jws_signature_is_accepted_and_bad_ones_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};

    let h = Harness::start(|c| c.consents.require_jws_signature = true).await;
    // The QSealC and its key.
    let seal_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::OrganizationName, "TPP Ltd");
    p.distinguished_name
        .push(DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDGB-FCA-123456");
    p.distinguished_name.push(DnType::CommonName, "seal");
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    let psd2 = bulwark_certs::Psd2Statement {
        roles: vec![PspRole::AccountInformation],
        nca_name: "Financial Conduct Authority".into(),
        nca_id: "GB-FCA".into(),
    };
    let qc =
        bulwark_certs::qc::encode_qc_statements(true, &[bulwark_certs::QcType::Eseal], Some(&psd2))
            .unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 1, 3],
        qc,
    )];
    let now_odt = time::OffsetDateTime::now_utc();
    p.not_before = now_odt - time::Duration::hours(1);
    p.not_after = now_odt + time::Duration::days(10);
    let seal_cert = p.signed_by(&seal_key, &h.pki.ca).unwrap();
    let seal_signer = josekit::jws::ES256
        .signer_from_pem(seal_key.serialize_pem())
        .unwrap();
    let seal_public = josekit::jwk::alg::ec::EcKeyPair::from_pem(
        seal_key.serialize_pem(),
        Some(josekit::jwk::alg::ec::EcCurve::P256),
    )
    .unwrap()
    .to_jwk_public_key();
    let mut seal_jwk: serde_json::Map<String, Value> = seal_public.into();
    seal_jwk.insert("kid".into(), "seal-1".into());
    seal_jwk.insert("use".into(), "sig".into());
    seal_jwk.insert("x5c".into(), json!([STANDARD.encode(seal_cert.der())]));

    // The client: private_key_jwt key plus the sealing key in its JWK Set.
    let auth_key = SigningKey::generate(Alg::Es256).unwrap();
    h.register(
        "aisp-seal",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "jwks": {"keys": [Value::Object(auth_key.public_jwk().clone()), Value::Object(seal_jwk)]}}),
    )
    .await;
    let identity = h.pki.qwac(
        "aisp-seal",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let c = PkjClient {
        id: "aisp-seal".into(),
        key: auth_key,
        identity,
    };
    let token = c.token(&h, &c.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let detached = |signer: &dyn josekit::jws::JwsSigner, body: &[u8]| {
        let header = json!({
            "alg": "ES256", "kid": "seal-1", "typ": "JOSE", "cty": "application/json", "b64": false,
            "http://openbanking.org.uk/iat": now() - 5,
            "http://openbanking.org.uk/iss": "aisp-seal",
            "http://openbanking.org.uk/tan": "openbanking.org.uk",
            "crit": ["b64", "http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"]
        });
        let h64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let mut input = h64.as_bytes().to_vec();
        input.push(b'.');
        input.extend_from_slice(body);
        format!(
            "{h64}..{}",
            URL_SAFE_NO_PAD.encode(signer.sign(&input).unwrap())
        )
    };
    let body = aac_body();
    let bytes = body.to_string();
    let good = detached(&seal_signer, bytes.as_bytes());
    let ok = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&body),
        &[("x-jws-signature", &good)],
    )
    .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);

    // Same kid, another key.
    let other_key = KeyPair::generate().unwrap();
    let other_signer = josekit::jws::ES256
        .signer_from_pem(other_key.serialize_pem())
        .unwrap();
    let forged = detached(&other_signer, bytes.as_bytes());
    let refused = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&body),
        &[("x-jws-signature", &forged)],
    )
    .await;
    assert_ob(&refused, 400, "UK.OBIE.Signature.Invalid");
    // A genuine signature over another body.
    let mut other_body = aac_body();
    other_body["Data"]["Permissions"] = json!(["ReadAccountsBasic"]);
    let mismatch = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&other_body),
        &[("x-jws-signature", &good)],
    )
    .await;
    assert_ob(&mismatch, 400, "UK.OBIE.Signature.Invalid");
    assert_eq!(
        stored(&h).await,
        1,
        "only the correctly signed consent was stored"
    );
}

/// CERT-8: a client registered for one organisation cannot call the consent APIs with another
/// organisation's QWAC, even one with the right roles.
#[tokio::test]
async fn cert_8_qwac_of_another_organisation_is_refused_at_the_consent_apis() {
    let h = Harness::start(|_| {}).await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register(
        "aisp-org",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "organization_identifier": "PSDGB-FCA-123456",
               "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let own = h.pki.qwac(
        "aisp-org",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let foreign = h.pki.qwac(
        "aisp-org",
        Some("PSDGB-FCA-999999"),
        None,
        &[PspRole::AccountInformation],
    );
    let other = PkjClient {
        id: "aisp-org".into(),
        key,
        identity: foreign,
    };
    let token = other.token(&h, &other.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = call(
        &h,
        Some(&other.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(stored(&h).await, 0);
    let mine = PkjClient {
        identity: own,
        ..other
    };
    let token = mine.token(&h, &mine.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let ok = call(
        &h,
        Some(&mine.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[],
    )
    .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}
