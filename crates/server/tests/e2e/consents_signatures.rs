//! CO-6 end to end: a payment consent request (and, with `consents.require_jws_signature`, any
//! consent request) needs a detached `x-jws-signature` (the v3.1.4+ form by default, OB crit
//! claims) by the client's QSealC-backed key over the exact body; a missing, malformed, forged
//! or mismatched signature is refused and stores nothing. Account-access and funds-confirmation
//! consents are not signed (OB v3.1.10): a signature there is ignored, or refused when the bank
//! says so.

use bulwark_certs::PspRole;
use bulwark_jose::{Alg, SigningKey};
use serde_json::{Value, json};

use crate::support::consents::{
    AISP, CBPII, PISP, aac_body, as_tpp, assert_ob, cof_body, pay_body, stored, tpp,
};
use crate::support::{Harness, PkjClient, now};

#[tokio::test]
async fn co_6_x_jws_signature_required_and_refused_when_missing_or_bad() {
    let h = Harness::start(|c| c.consents.require_jws_signature = true).await;
    let (c, token) = tpp(&h, "aisp-jws", &[PspRole::AccountInformation]).await;
    let missing = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_ob(&missing, 400, "UK.OBIE.Signature.Missing");
    let bad = as_tpp(&h, &c, &token)
        .post(
            AISP,
            &aac_body(),
            &[("x-jws-signature", "eyJhbGciOiJQUzI1NiJ9..c2ln")],
        )
        .await;
    // A header without its `kid` (nor the OB claims): the first missing claim is named.
    assert_ob(&bad, 400, "UK.OBIE.Signature.MissingClaim");
    assert_eq!(bad.body["Errors"][0]["Path"], "kid");
    let garbage = as_tpp(&h, &c, &token)
        .post(AISP, &aac_body(), &[("x-jws-signature", "not-a-jws")])
        .await;
    assert_ob(&garbage, 400, "UK.OBIE.Signature.Malformed");
    assert_eq!(stored(&h).await, 0);
}

/// A TPP whose JWK Set holds a QSealC-backed sealing key (`kid` seal-1) of organisation
/// `seal_org`, registered with `extra` metadata, holding a QWAC of `qwac_org`, and its token.
struct SealedTpp {
    c: PkjClient,
    token: String,
    seal: std::sync::Arc<crate::support::seal::Seal>,
}

async fn sealed_tpp(
    h: &Harness,
    id: &str,
    seal_org: &str,
    qwac_org: &str,
    extra: Value,
) -> SealedTpp {
    let (seal, seal_jwk) =
        crate::support::seal::Seal::new(h, id, seal_org, &[PspRole::AccountInformation]);
    let auth_key = SigningKey::generate(Alg::Es256).unwrap();
    let mut meta = json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
           "scope": "accounts", "jwks": {"keys": [Value::Object(auth_key.public_jwk().clone()), seal_jwk]}});
    if let (Value::Object(m), Value::Object(e)) = (&mut meta, extra) {
        m.extend(e);
    }
    h.register(id, meta).await;
    let identity = h
        .pki
        .qwac(id, Some(qwac_org), None, &[PspRole::AccountInformation]);
    let c = PkjClient {
        id: id.into(),
        key: auth_key,
        identity,
    };
    let token = c.token(h, &c.assertion(h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    SealedTpp { c, token, seal }
}

/// A detached OB signature over `body` by `signer`, as client `iss`: the v3.1.4+ form (no
/// `b64`, the payload base64url-encoded in the signing input).
fn detached(signer: &dyn josekit::jws::JwsSigner, iss: &str, body: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = json!({
        "alg": "ES256", "kid": "seal-1", "typ": "JOSE", "cty": "application/json",
        "http://openbanking.org.uk/iat": now() - 5,
        "http://openbanking.org.uk/iss": iss,
        "http://openbanking.org.uk/tan": "openbanking.org.uk",
        "crit": ["http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"]
    });
    let h64 = URL_SAFE_NO_PAD.encode(header.to_string());
    let input = format!("{h64}.{}", URL_SAFE_NO_PAD.encode(body));
    format!(
        "{h64}..{}",
        URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()).unwrap())
    )
}

/// The v3.1.3 form of the same signature (`b64: false`, the raw body in the signing input).
fn detached_v313(signer: &dyn josekit::jws::JwsSigner, iss: &str, body: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = json!({
        "alg": "ES256", "kid": "seal-1", "typ": "JOSE", "cty": "application/json", "b64": false,
        "http://openbanking.org.uk/iat": now() - 5,
        "http://openbanking.org.uk/iss": iss,
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
}

/// CO-6: with signatures required, a detached signature by the client's
/// QSealC-backed key is accepted over the exact body; another key, or another body, is refused.
#[tokio::test]
async fn co_6_good_x_jws_signature_is_accepted_and_bad_ones_refused() {
    let h = Harness::start(|c| c.consents.require_jws_signature = true).await;
    let t = sealed_tpp(
        &h,
        "aisp-seal",
        "PSDGB-FCA-123456",
        "PSDGB-FCA-123456",
        json!({}),
    )
    .await;
    let (c, token) = (&t.c, &t.token);
    let body = aac_body();
    let bytes = body.to_string();
    let good = detached(t.seal.signer(), "aisp-seal", bytes.as_bytes());
    let ok = as_tpp(&h, c, token)
        .post(AISP, &body, &[("x-jws-signature", &good)])
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);

    // Same kid, another key.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let other_signer = josekit::jws::ES256
        .signer_from_pem(other_key.serialize_pem())
        .unwrap();
    let forged = detached(&other_signer, "aisp-seal", bytes.as_bytes());
    let refused = as_tpp(&h, c, token)
        .post(AISP, &body, &[("x-jws-signature", &forged)])
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Signature.Invalid");
    // A genuine signature over another body.
    let mut other_body = aac_body();
    other_body["Data"]["Permissions"] = json!(["ReadAccountsBasic"]);
    let mismatch = as_tpp(&h, c, token)
        .post(AISP, &other_body, &[("x-jws-signature", &good)])
        .await;
    assert_ob(&mismatch, 400, "UK.OBIE.Signature.Invalid");
    assert_eq!(
        stored(&h).await,
        1,
        "only the correctly signed consent was stored"
    );
}

/// hardening_seal_organisation (CO-6, CERT-8): the sealing certificate must belong to the
/// client's organisation: a genuine QSealC of another firm is refused, nothing stored.
#[tokio::test]
async fn hardening_x_jws_signature_sealed_by_another_organisation_is_refused() {
    let h = Harness::start(|c| c.consents.require_jws_signature = true).await;
    let t = sealed_tpp(
        &h,
        "aisp-org",
        "PSDGB-FCA-999999",
        "PSDGB-FCA-123456",
        json!({"organization_identifier": "PSDGB-FCA-123456"}),
    )
    .await;
    let body = aac_body();
    let sig = detached(t.seal.signer(), "aisp-org", body.to_string().as_bytes());
    let refused = as_tpp(&h, &t.c, &t.token)
        .post(AISP, &body, &[("x-jws-signature", &sig)])
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Signature.Invalid");
    assert_eq!(stored(&h).await, 0);
}

/// ob_message_signing (OB fidelity 2): signing is per endpoint. A payment consent without a
/// signature is 400 `UK.OBIE.Signature.Missing` and stores nothing; signed (by josekit, v3.1.4+
/// form) it is created. Account-access and funds-confirmation consents are not signed: created
/// without one, and a signature sent there is ignored by default.
#[tokio::test]
async fn ob_payment_consents_are_signed_and_account_access_consents_are_not() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(
        &h,
        "ob-signing",
        &[
            PspRole::AccountInformation,
            PspRole::PaymentInitiation,
            PspRole::CardIssuing,
        ],
    )
    .await;
    // Unsigned payment consent: refused. (A garbage signature bypasses the helper's own.)
    let unsigned = crate::support::consents::call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        PISP,
        Some(&token),
        Some(&pay_body("10.00")),
        &[("x-idempotency-key", "pay-1")],
    )
    .await;
    assert_ob(&unsigned, 400, "UK.OBIE.Signature.Missing");
    assert_eq!(stored(&h).await, 0);
    // Signed by the TPP's sealing key (the helper signs payment consents).
    let signed = as_tpp(&h, &c, &token)
        .post(PISP, &pay_body("10.00"), &[("x-idempotency-key", "pay-2")])
        .await;
    assert_eq!(signed.status, 201, "{:?}", signed.body);
    // Not signed endpoints: no signature needed, and a bad one is ignored.
    let aac = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(aac.status, 201, "{:?}", aac.body);
    let ignored = as_tpp(&h, &c, &token)
        .post(
            CBPII,
            &cof_body(),
            &[("x-jws-signature", "eyJhbGciOiJQUzI1NiJ9..c2ln")],
        )
        .await;
    assert_eq!(ignored.status, 201, "{:?}", ignored.body);
    assert_eq!(stored(&h).await, 3);
}

/// ob_message_signing: with `unexpected_signature = "refuse"`, a signature sent to an endpoint
/// that is not signed is 400 `UK.OBIE.Signature.Unexpected`.
#[tokio::test]
async fn ob_unexpected_signature_is_refused_when_configured() {
    let h = Harness::start(|c| {
        c.consents.unexpected_signature = bulwark_resource::UnexpectedSignature::Refuse
    })
    .await;
    let (c, token) = tpp(&h, "ob-unexpected", &[PspRole::AccountInformation]).await;
    let refused = as_tpp(&h, &c, &token)
        .post(
            AISP,
            &aac_body(),
            &[("x-jws-signature", "eyJhbGciOiJQUzI1NiJ9..c2ln")],
        )
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Signature.Unexpected");
    assert_eq!(stored(&h).await, 0);
    let plain = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(plain.status, 201, "{:?}", plain.body);
}

/// ob_message_signing: the v3.1.3 form (`b64: false`) is refused by default and accepted where
/// `signing_versions` lists "3.1.3".
#[tokio::test]
async fn ob_v3_1_3_signatures_only_behind_the_setting() {
    for (versions, expected) in [
        (vec![bulwark_consent::SigningVersion::V314Plus], 400),
        (vec![bulwark_consent::SigningVersion::V313], 201),
    ] {
        let h = Harness::start(|c| {
            c.consents.require_jws_signature = true;
            c.consents.signing_versions = versions.clone();
        })
        .await;
        let t = sealed_tpp(
            &h,
            "aisp-313",
            "PSDGB-FCA-123456",
            "PSDGB-FCA-123456",
            json!({}),
        )
        .await;
        let body = aac_body();
        let sig = detached_v313(t.seal.signer(), "aisp-313", body.to_string().as_bytes());
        let answer = as_tpp(&h, &t.c, &t.token)
            .post(AISP, &body, &[("x-jws-signature", &sig)])
            .await;
        assert_eq!(answer.status, expected, "{versions:?}: {:?}", answer.body);
        if expected == 400 {
            assert_ob(&answer, 400, "UK.OBIE.Signature.InvalidClaim");
        }
    }
}

/// The bank's response-signing key (RSA, PS256) and its certificate from the harness CA,
/// written to `dir`; configured as `[consents.response_signing]`.
fn bank_seal(
    pki: &crate::support::TestPki,
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let rsa = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
    let pem = String::from_utf8(rsa.to_pem_private_key()).unwrap();
    let key = rcgen::KeyPair::from_pem(&pem).unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example Bank plc");
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "bank-seal");
    let cert = p.signed_by(&key, &pki.ca).unwrap();
    let key_path = dir.join("bank-seal-key.pem");
    let cert_path = dir.join("bank-seal.pem");
    std::fs::write(&key_path, pem).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    (key_path, cert_path)
}

/// Checks an `x-jws-signature` of the bank over `body` with the key published at `/jwks` (its
/// `x5c` certificate), using ring directly: the v3.1.4+ form, PS256, the bank's claims.
fn assert_bank_signature(jwks: &Value, signature: &str, body: &[u8]) {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use x509_cert::der::{Decode, Encode};
    let (h64, sig64) = signature.split_once("..").expect("detached");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h64).unwrap()).unwrap();
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["kid"], "bank-seal-1");
    assert_eq!(
        header["http://openbanking.org.uk/iss"],
        "0015800000jf7AeAAI"
    );
    assert_eq!(
        header["http://openbanking.org.uk/tan"],
        "openbanking.org.uk"
    );
    assert!(header.get("b64").is_none(), "{header}");
    assert_eq!(
        header["crit"],
        json!([
            "http://openbanking.org.uk/iat",
            "http://openbanking.org.uk/iss",
            "http://openbanking.org.uk/tan"
        ])
    );
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "bank-seal-1")
        .expect("the response-signing key is published");
    let der = STANDARD.decode(jwk["x5c"][0].as_str().unwrap()).unwrap();
    let cert = x509_cert::Certificate::from_der(&der).unwrap();
    let spki = cert.tbs_certificate.subject_public_key_info;
    let _ = spki.to_der().unwrap();
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PSS_2048_8192_SHA256,
        spki.subject_public_key.raw_bytes().to_vec(),
    );
    let input = format!("{h64}.{}", URL_SAFE_NO_PAD.encode(body));
    public
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig64).unwrap())
        .expect("the bank's signature verifies over the exact body");
}

/// ob_response_signing (OB fidelity 3): answers of the payment consent endpoints, created,
/// read and refused, carry the bank's `x-jws-signature` over their exact bytes, verifiable with
/// the key `/jwks` publishes with its certificate; account-access answers are not signed.
#[tokio::test]
async fn ob_payment_consent_answers_are_signed_by_the_bank() {
    let dir = tempfile::tempdir().unwrap();
    let pki = std::sync::Arc::new(crate::support::TestPki::new("Sign QTSP"));
    let (key_path, cert_path) = bank_seal(&pki, dir.path());
    let h = Harness::start_shared(
        std::sync::Arc::new(tempfile::tempdir().unwrap()),
        pki,
        None,
        |c| {
            c.consents.response_signing = Some(bulwark_server::config::ResponseSigningConfig {
                key: key_path.clone(),
                cert: cert_path.clone(),
                kid: "bank-seal-1".into(),
                iss: "0015800000jf7AeAAI".into(),
            })
        },
    )
    .await;
    let (c, token) = tpp(
        &h,
        "pisp-signed",
        &[PspRole::PaymentInitiation, PspRole::AccountInformation],
    )
    .await;
    let jwks: Value = h.get_json("/jwks").await;
    let client = crate::support::http_client(&h.dev_ca, Some(&c.identity));
    let seal = h.seals.lock().unwrap().get("pisp-signed").cloned().unwrap();
    let send = |path: String, body: Option<String>, signature: Option<String>| {
        let mut req = match &body {
            Some(b) => client
                .post(h.url(&path))
                .header("content-type", "application/json")
                .header("x-idempotency-key", "signed-1")
                .body(b.clone()),
            None => client.get(h.url(&path)),
        };
        req = req.bearer_auth(&token);
        if let Some(sig) = signature {
            req = req.header("x-jws-signature", sig);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let sig = resp
                .headers()
                .get("x-jws-signature")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, sig, resp.bytes().await.unwrap().to_vec())
        }
    };
    let body = pay_body("42.00").to_string();
    let (status, sig, bytes) = send(
        PISP.into(),
        Some(body.clone()),
        Some(seal.sign(body.as_bytes())),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&bytes));
    assert_bank_signature(&jwks, &sig.expect("201 is signed"), &bytes);
    let created: Value = serde_json::from_slice(&bytes).unwrap();
    let id = created["Data"]["ConsentId"].as_str().unwrap();

    let (status, sig, bytes) = send(format!("{PISP}/{id}"), None, None).await;
    assert_eq!(status, 200);
    assert_bank_signature(&jwks, &sig.expect("200 is signed"), &bytes);

    let (status, sig, bytes) = send(PISP.into(), Some(body.clone()), None).await;
    assert_eq!(status, 400, "an unsigned request is refused");
    assert_bank_signature(&jwks, &sig.expect("the error is signed too"), &bytes);

    let (status, sig, _) = send(AISP.into(), Some(aac_body().to_string()), None).await;
    assert_eq!(status, 201);
    assert!(sig.is_none(), "account-access answers are not signed");
}
