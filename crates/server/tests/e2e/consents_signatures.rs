//! CO-6 end to end: with `consents.require_jws_signature`, a consent request needs a detached
//! `x-jws-signature` (b64 false, OB crit claims) by the client's QSealC-backed key over the exact
//! body; a missing, malformed, forged or mismatched signature is refused and stores nothing.

use bulwark_certs::PspRole;
use bulwark_jose::{Alg, SigningKey};
use serde_json::{Value, json};

use crate::support::consents::{AISP, aac_body, as_tpp, assert_ob, stored, tpp};
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

/// A TPP whose JWK Set holds a QSealC-backed sealing key (`kid` seal-1) of organisation
/// `seal_org`, registered with `extra` metadata, holding a QWAC of `qwac_org`, and its token.
struct SealedTpp {
    c: PkjClient,
    token: String,
    signer: Box<dyn josekit::jws::JwsSigner>,
}

async fn sealed_tpp(
    h: &Harness,
    id: &str,
    seal_org: &str,
    qwac_org: &str,
    extra: Value,
) -> SealedTpp {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
    let seal_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::OrganizationName, "TPP Ltd");
    p.distinguished_name
        .push(DnType::CustomDnType(vec![2, 5, 4, 97]), seal_org);
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
    let signer = josekit::jws::ES256
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
    let auth_key = SigningKey::generate(Alg::Es256).unwrap();
    let mut meta = json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
           "scope": "accounts", "jwks": {"keys": [Value::Object(auth_key.public_jwk().clone()), Value::Object(seal_jwk)]}});
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
    SealedTpp {
        c,
        token,
        signer: Box::new(signer),
    }
}

/// A detached OB signature (b64 false) over `body` by `signer`, as client `iss`.
fn detached(signer: &dyn josekit::jws::JwsSigner, iss: &str, body: &[u8]) -> String {
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
    let good = detached(t.signer.as_ref(), "aisp-seal", bytes.as_bytes());
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
    let sig = detached(t.signer.as_ref(), "aisp-org", body.to_string().as_bytes());
    let refused = as_tpp(&h, &t.c, &t.token)
        .post(AISP, &body, &[("x-jws-signature", &sig)])
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Signature.Invalid");
    assert_eq!(stored(&h).await, 0);
}
