//! CO-6 / CERT-6: `x-jws-signature` verification with QSealC-backed client keys, using a test
//! PKI made with rcgen (as crates/certs/tests/common does): a CA, QSealC leaves carrying the
//! qcStatements QcCompliance, QcType eseal (0.4.0.1862.1.6.2) and the PSD2 statement
//! (0.4.0.19495.2), and a QWAC as the non-seal. Revocation checking is disabled in the
//! validator settings, since the certificates name no OCSP responder or CRL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bulwark_certs::qc::encode_qc_statements;
use bulwark_certs::{
    CertValidator, Psd2Statement, PspRole, QcType, RevocationSettings, TrustAnchors,
};
use bulwark_consent::{ConsentError, DetachedJwsVerifier, SignedRequest};
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::{ES256, JwsSigner, PS256};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};
use time::OffsetDateTime;

const ISS: &str = "0015800001041REAAY/sw-1";
const TAN: &str = "openbanking.org.uk";
const BODY: &[u8] = br#"{"Data":{"Permissions":["ReadBalances"]},"Risk":{}}"#;

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, "Test QTSP CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = OffsetDateTime::now_utc() - time::Duration::days(10);
        p.not_after = OffsetDateTime::now_utc() + time::Duration::days(365);
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    fn anchor(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// A leaf for `key`: a QSealC when `qc_type` is eseal, a QWAC when web.
    fn leaf(&self, key: &KeyPair, qc_type: QcType) -> CertificateDer<'static> {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CountryName, "GB");
        p.distinguished_name
            .push(DnType::OrganizationName, "Example TPP Ltd");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDGB-FCA-123456");
        p.distinguished_name.push(DnType::CommonName, "seal");
        p.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        p.not_after = OffsetDateTime::now_utc() + time::Duration::days(30);
        p.use_authority_key_identifier_extension = true;
        match qc_type {
            QcType::Web => {
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            QcType::Eseal | QcType::Esign => {
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::ContentCommitment,
                ];
            }
        }
        let psd2 = Psd2Statement {
            roles: vec![PspRole::AccountInformation, PspRole::PaymentInitiation],
            nca_name: "Financial Conduct Authority".into(),
            nca_id: "GB-FCA".into(),
        };
        let qc = encode_qc_statements(true, &[qc_type], Some(&psd2)).unwrap();
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 3],
            qc,
        ));
        p.signed_by(key, &self.ca).unwrap().der().clone()
    }

    fn verifier(&self) -> DetachedJwsVerifier {
        self.verifier_with_tan(TAN)
    }

    fn verifier_with_tan(&self, tan: &str) -> DetachedJwsVerifier {
        let anchors = TrustAnchors::from_ders(vec![self.anchor()]);
        let revocation = RevocationSettings {
            enabled: false,
            ..RevocationSettings::default()
        };
        let validator = CertValidator::new(&anchors, Duration::from_secs(60), revocation).unwrap();
        DetachedJwsVerifier::new(validator, tan, 60)
    }
}

/// A client signing key: its signer, and its public JWK with `kid` and `x5c`.
struct ClientKey {
    signer: Box<dyn JwsSigner>,
    jwk: Value,
    alg: &'static str,
}

fn es256_key(pki: &Pki, kid: &str, qc_type: QcType) -> ClientKey {
    let key = KeyPair::generate().unwrap();
    let cert = pki.leaf(&key, qc_type);
    let pem = key.serialize_pem();
    let public = EcKeyPair::from_pem(&pem, Some(EcCurve::P256))
        .unwrap()
        .to_jwk_public_key();
    ClientKey {
        signer: Box::new(ES256.signer_from_pem(&pem).unwrap()),
        jwk: with_x5c(public.as_ref(), kid, &cert),
        alg: "ES256",
    }
}

fn ps256_key(pki: &Pki, kid: &str) -> ClientKey {
    let rsa = RsaKeyPair::generate(2048).unwrap();
    let pem = String::from_utf8(rsa.to_pem_private_key()).unwrap();
    let key = KeyPair::from_pem(&pem).unwrap();
    let cert = pki.leaf(&key, QcType::Eseal);
    ClientKey {
        signer: Box::new(PS256.signer_from_jwk(&rsa.to_jwk_private_key()).unwrap()),
        jwk: with_x5c(rsa.to_jwk_public_key().as_ref(), kid, &cert),
        alg: "PS256",
    }
}

fn with_x5c(public: &serde_json::Map<String, Value>, kid: &str, cert: &[u8]) -> Value {
    let mut jwk = public.clone();
    jwk.insert("kid".into(), kid.into());
    jwk.insert("use".into(), "sig".into());
    jwk.insert("x5c".into(), json!([STANDARD.encode(cert)]));
    Value::Object(jwk)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The v3.1.4+ header (no `b64`), as Read/Write v3.1.10 specifies it.
fn header(alg: &str, kid: &str) -> Value {
    json!({
        "alg": alg,
        "kid": kid,
        "typ": "JOSE",
        "cty": "application/json",
        "http://openbanking.org.uk/iat": now().unix_timestamp() - 5,
        "http://openbanking.org.uk/iss": ISS,
        "http://openbanking.org.uk/tan": TAN,
        "crit": ["http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"]
    })
}

/// The v3.1.3 header (`b64: false`, named in `crit`).
fn header_v313(alg: &str, kid: &str) -> Value {
    let mut h = header(alg, kid);
    h["b64"] = json!(false);
    h["crit"] = json!([
        "b64",
        "http://openbanking.org.uk/iat",
        "http://openbanking.org.uk/iss",
        "http://openbanking.org.uk/tan"
    ]);
    h
}

/// Signs `body` as detached content with josekit: the v3.1.4+ form is josekit's own compact
/// serialization with the payload part removed; a header with `b64: false` gets the RFC 7797
/// signing input over the raw body.
fn sign(key: &ClientKey, header: &Value, body: &[u8]) -> String {
    if header.get("b64") == Some(&json!(false)) {
        detached(key, header, body)
    } else {
        detached(key, header, URL_SAFE_NO_PAD.encode(body).as_bytes())
    }
}

/// The detached JWS of `header` signed over `base64url(header) "." payload`, whatever the
/// header says (for forms a client should not send).
fn detached(key: &ClientKey, header: &Value, payload: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let mut input = h.as_bytes().to_vec();
    input.push(b'.');
    input.extend_from_slice(payload);
    let sig = key.signer.sign(&input).unwrap();
    format!("{h}..{}", URL_SAFE_NO_PAD.encode(sig))
}

async fn verify(
    pki: &Pki,
    jwks: &Value,
    sig: Option<&str>,
    required: bool,
) -> Result<bool, ConsentError> {
    let keys = bulwark_jose::PublicKeySet::from_jwks(jwks).unwrap();
    let req = SignedRequest {
        header: sig,
        body: BODY,
        client_keys: &keys,
        expected_iss: ISS,
        required,
    };
    pki.verifier()
        .verify(&req, now())
        .await
        .map(|v| v.is_some())
}

fn code(e: &ConsentError) -> &'static str {
    let ob = e.to_ob();
    assert_eq!(ob.status, 400, "{e}");
    ob.errors[0].error_code.as_str()
}

#[tokio::test]
async fn co_6_good_es256_and_ps256_signatures_verify() {
    let pki = Pki::new();
    let es = es256_key(&pki, "seal-es", QcType::Eseal);
    let ps = ps256_key(&pki, "seal-ps");
    let jwks = json!({"keys": [es.jwk.clone(), ps.jwk.clone()]});
    for (key, kid) in [(&es, "seal-es"), (&ps, "seal-ps")] {
        let sig = sign(key, &header(key.alg, kid), BODY);
        assert!(
            verify(&pki, &jwks, Some(&sig), true).await.unwrap(),
            "{kid}"
        );
        // A present signature is verified even where none is required.
        assert!(verify(&pki, &jwks, Some(&sig), false).await.unwrap());
    }
    let keys = bulwark_jose::PublicKeySet::from_jwks(&jwks).unwrap();
    let req = SignedRequest {
        header: Some(&sign(&es, &header("ES256", "seal-es"), BODY)),
        body: BODY,
        client_keys: &keys,
        expected_iss: ISS,
        required: true,
    };
    let v = pki.verifier().verify(&req, now()).await.unwrap().unwrap();
    assert_eq!((v.kid.as_str(), v.alg), ("seal-es", "ES256"));
    assert!(v.seal.tpp.unwrap().is_qsealc());
}

#[tokio::test]
async fn co_6_bad_signature_is_invalid() {
    let pki = Pki::new();
    let key = es256_key(&pki, "k", QcType::Eseal);
    let jwks = json!({"keys": [key.jwk.clone()]});
    // Signed over other bytes than the body sent.
    let other = sign(&key, &header("ES256", "k"), b"{\"Data\":{}}");
    let e = verify(&pki, &jwks, Some(&other), true).await.unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    // Signed by a key other than the one the kid names.
    let stranger = es256_key(&pki, "k", QcType::Eseal);
    let sig = sign(&stranger, &header("ES256", "k"), BODY);
    let e = verify(&pki, &jwks, Some(&sig), true).await.unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    // Unknown kid.
    let sig = sign(&key, &header("ES256", "nope"), BODY);
    let e = verify(&pki, &jwks, Some(&sig), true).await.unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    // A JWK whose key differs from its certificate's.
    let mut mixed = stranger.jwk.clone();
    mixed["x5c"] = key.jwk["x5c"].clone();
    let sig = sign(&stranger, &header("ES256", "k"), BODY);
    let e = verify(&pki, &json!({"keys": [mixed]}), Some(&sig), true)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
}

#[tokio::test]
async fn co_6_missing_signature() {
    let pki = Pki::new();
    let jwks = json!({"keys": []});
    let e = verify(&pki, &jwks, None, true).await.unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Missing");
    assert!(!verify(&pki, &jwks, None, false).await.unwrap());
}

/// A change to a JOSE header, for table-driven cases.
type Change = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn co_6_header_claims_are_checked() {
    let pki = Pki::new();
    let key = es256_key(&pki, "k", QcType::Eseal);
    let jwks = json!({"keys": [key.jwk.clone()]});
    let base = header("ES256", "k");
    let crit_full = base["crit"].clone();
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "crit without tan",
            Box::new(|h: &mut Value| {
                h["crit"] = json!([
                    "http://openbanking.org.uk/iat",
                    "http://openbanking.org.uk/iss"
                ])
            }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "crit with an unknown entry",
            Box::new(move |h: &mut Value| {
                let mut c = crit_full.clone();
                c.as_array_mut().unwrap().push(json!("x-unknown"));
                h["crit"] = c;
            }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "crit absent",
            Box::new(|h: &mut Value| {
                h.as_object_mut().unwrap().remove("crit");
            }),
            "UK.OBIE.Signature.MissingClaim",
        ),
        (
            "b64 true",
            Box::new(|h: &mut Value| h["b64"] = json!(true)),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            // ob_message_signing: the v3.1.3 form where only v3.1.4+ is enabled.
            "b64 false (the v3.1.3 form)",
            Box::new(|h: &mut Value| {
                *h = header_v313("ES256", "k");
            }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "crit naming b64 without a b64 header",
            Box::new(|h: &mut Value| {
                h["crit"] = json!([
                    "b64",
                    "http://openbanking.org.uk/iat",
                    "http://openbanking.org.uk/iss",
                    "http://openbanking.org.uk/tan"
                ])
            }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "alg RS256",
            Box::new(|h: &mut Value| h["alg"] = json!("RS256")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "alg none",
            Box::new(|h: &mut Value| h["alg"] = json!("none")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "alg HS256",
            Box::new(|h: &mut Value| h["alg"] = json!("HS256")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "kid absent",
            Box::new(|h: &mut Value| {
                h.as_object_mut().unwrap().remove("kid");
            }),
            "UK.OBIE.Signature.MissingClaim",
        ),
        (
            "iss of another client",
            Box::new(|h: &mut Value| h["http://openbanking.org.uk/iss"] = json!("other-org/sw-9")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "iss absent",
            Box::new(|h: &mut Value| {
                h.as_object_mut()
                    .unwrap()
                    .remove("http://openbanking.org.uk/iss");
            }),
            "UK.OBIE.Signature.MissingClaim",
        ),
        (
            "tan of another anchor",
            Box::new(|h: &mut Value| h["http://openbanking.org.uk/tan"] = json!("example.org")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "iat in the future",
            Box::new(|h: &mut Value| {
                h["http://openbanking.org.uk/iat"] = json!(now().unix_timestamp() + 600)
            }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            // hardening: a captured signed request cannot be replayed hours later.
            "iat older than the maximum age",
            Box::new(|h: &mut Value| {
                h["http://openbanking.org.uk/iat"] = json!(now().unix_timestamp() - 3600)
            }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            "iat absent",
            Box::new(|h: &mut Value| {
                h.as_object_mut()
                    .unwrap()
                    .remove("http://openbanking.org.uk/iat");
            }),
            "UK.OBIE.Signature.MissingClaim",
        ),
        (
            // OB "Process for Verifying a Signature", step 2: typ, when present, is JOSE.
            "typ JWT",
            Box::new(|h: &mut Value| h["typ"] = json!("JWT")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            // cty, when present, is json or application/json.
            "cty text/plain",
            Box::new(|h: &mut Value| h["cty"] = json!("text/plain")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            // The header holds the specified claims only.
            "an extra member (jku)",
            Box::new(|h: &mut Value| h["jku"] = json!("https://x")),
            "UK.OBIE.Signature.InvalidClaim",
        ),
    ];
    for (name, change, expected) in cases {
        let mut h = base.clone();
        change(&mut h);
        let sig = sign(&key, &h, BODY);
        let e = verify(&pki, &jwks, Some(&sig), true).await.unwrap_err();
        assert_eq!(code(&e), expected, "{name}: {e}");
    }
    // The extra member is named in the error's Path.
    let mut h = base.clone();
    h["jku"] = json!("https://x");
    let e = verify(&pki, &jwks, Some(&sign(&key, &h, BODY)), true)
        .await
        .unwrap_err()
        .to_ob();
    assert_eq!(e.errors[0].path.as_deref(), Some("jku"));
    // typ JOSE and cty application/json (the base header), cty json (RFC 7515 4.1.10's short
    // form), or neither.
    for (typ, cty) in [
        (Some("JOSE"), Some("json")),
        (Some("JOSE"), None),
        (None, Some("application/json")),
        (None, None),
    ] {
        let mut h = base.clone();
        let o = h.as_object_mut().unwrap();
        for (name, v) in [("typ", typ), ("cty", cty)] {
            match v {
                Some(v) => o.insert(name.into(), json!(v)),
                None => o.remove(name),
            };
        }
        assert!(
            verify(&pki, &jwks, Some(&sign(&key, &h, BODY)), true)
                .await
                .unwrap(),
            "typ {typ:?}, cty {cty:?}"
        );
    }
    // Within the skew, a slightly early iat is fine.
    let mut h = base.clone();
    h["http://openbanking.org.uk/iat"] = json!(now().unix_timestamp() + 30);
    assert!(
        verify(&pki, &jwks, Some(&sign(&key, &h, BODY)), true)
            .await
            .unwrap()
    );
}

/// ob_message_signing (issue "Open Banking fidelity" 1): the v3.1.4+ form is the default; the
/// v3.1.3 form (`b64: false`) only where `signing_versions` enables it, and then both can be.
#[tokio::test]
async fn ob_message_signing_forms_follow_the_enabled_versions() {
    use bulwark_consent::SigningVersion;
    let pki = Pki::new();
    let key = ps256_key(&pki, "seal-ps");
    let keys = bulwark_jose::PublicKeySet::from_jwks(&json!({"keys": [key.jwk.clone()]})).unwrap();
    let v314 = sign(&key, &header("PS256", "seal-ps"), BODY);
    let v313 = sign(&key, &header_v313("PS256", "seal-ps"), BODY);
    let check = |versions: &'static [SigningVersion], sig: String| {
        let verifier = pki.verifier().with_versions(versions);
        let keys = keys.clone();
        async move {
            verifier
                .verify(
                    &SignedRequest {
                        header: Some(&sig),
                        body: BODY,
                        client_keys: &keys,
                        expected_iss: ISS,
                        required: true,
                    },
                    now(),
                )
                .await
                .map(|v| v.is_some())
        }
    };
    const NEW: &[SigningVersion] = &[SigningVersion::V314Plus];
    const OLD: &[SigningVersion] = &[SigningVersion::V313];
    const BOTH: &[SigningVersion] = &[SigningVersion::V314Plus, SigningVersion::V313];
    assert!(check(NEW, v314.clone()).await.unwrap());
    assert_eq!(
        code(&check(NEW, v313.clone()).await.unwrap_err()),
        "UK.OBIE.Signature.InvalidClaim"
    );
    assert!(check(OLD, v313.clone()).await.unwrap());
    assert_eq!(
        code(&check(OLD, v314.clone()).await.unwrap_err()),
        "UK.OBIE.Signature.MissingClaim"
    );
    assert!(check(BOTH, v314.clone()).await.unwrap());
    assert!(check(BOTH, v313.clone()).await.unwrap());
    // RFC 7797 3: `b64: true` is the ordinary form and OB never sends it; it is no v3.1.3
    // header, even signed over the raw body with `b64` in `crit`.
    let mut b64_true = header_v313("PS256", "seal-ps");
    b64_true["b64"] = json!(true);
    let signed = detached(&key, &b64_true, BODY);
    assert_eq!(
        code(&check(BOTH, signed).await.unwrap_err()),
        "UK.OBIE.Signature.InvalidClaim"
    );
    // A v3.1.4+ header over the raw body (the forms mixed up) does not verify.
    let mixed = detached(&key, &header("PS256", "seal-ps"), BODY);
    assert_eq!(
        code(&check(BOTH, mixed).await.unwrap_err()),
        "UK.OBIE.Signature.Invalid"
    );
}

/// ob_signature_errors (OB fidelity 14): a claim error names the claim in `Path`; with a trust
/// anchor other than the OB directory, `iss` is the sealing certificate's subject DN.
#[tokio::test]
async fn ob_claim_errors_name_the_claim_and_iss_follows_tan() {
    let pki = Pki::new();
    let key = es256_key(&pki, "k", QcType::Eseal);
    let jwks = json!({"keys": [key.jwk.clone()]});
    let mut h = header("ES256", "k");
    h["http://openbanking.org.uk/iat"] = json!(now().unix_timestamp() - 3600);
    let e = verify(&pki, &jwks, Some(&sign(&key, &h, BODY)), true)
        .await
        .unwrap_err();
    let ob = e.to_ob();
    assert_eq!(
        ob.errors[0].error_code.as_str(),
        "UK.OBIE.Signature.InvalidClaim"
    );
    assert_eq!(
        ob.errors[0].path.as_deref(),
        Some("http://openbanking.org.uk/iat")
    );
    let mut h = header("ES256", "k");
    h.as_object_mut()
        .unwrap()
        .remove("http://openbanking.org.uk/tan");
    let e = verify(&pki, &jwks, Some(&sign(&key, &h, BODY)), true)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_ob().errors[0].path.as_deref(),
        Some("http://openbanking.org.uk/tan")
    );

    // tan other than the OB directory: iss is the seal's subject DN.
    let keys = bulwark_jose::PublicKeySet::from_jwks(&jwks).unwrap();
    let verifier = pki.verifier_with_tan("eidas.example");
    let check = |iss: &'static str| {
        let mut h = header("ES256", "k");
        h["http://openbanking.org.uk/tan"] = json!("eidas.example");
        h["http://openbanking.org.uk/iss"] = json!(iss);
        let sig = sign(&key, &h, BODY);
        let verifier = verifier.clone();
        let keys = keys.clone();
        async move {
            verifier
                .verify(
                    &SignedRequest {
                        header: Some(&sig),
                        body: BODY,
                        client_keys: &keys,
                        expected_iss: ISS,
                        required: true,
                    },
                    now(),
                )
                .await
        }
    };
    assert!(
        check("organizationIdentifier=PSDGB-FCA-123456,O=Example TPP Ltd,C=GB,CN=seal")
            .await
            .unwrap()
            .is_some()
    );
    let e = check(ISS).await.unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.InvalidClaim");
}

#[tokio::test]
async fn co_6_malformed_signatures() {
    let pki = Pki::new();
    let key = es256_key(&pki, "k", QcType::Eseal);
    let jwks = json!({"keys": [key.jwk.clone()]});
    let good = sign(&key, &header("ES256", "k"), BODY);
    let (h, s) = good.split_once("..").unwrap();
    let attached = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(BODY));
    for bad in [
        attached.as_str(),
        "abc",
        "a.b",
        "!!..sig",
        &format!("{h}.."),
    ] {
        let e = verify(&pki, &jwks, Some(bad), true).await.unwrap_err();
        assert_eq!(code(&e), "UK.OBIE.Signature.Malformed", "{bad}");
    }
}

/// CERT-6 / RFC 7515 4.1.6: the client's registered key (the JWK named by `kid`) must be the
/// key its `x5c` certificate certifies. A JWK carrying another key's valid QSealC is refused
/// whichever of the two signed; and a `kid` naming a key of the other algorithm is refused
/// as such.
#[tokio::test]
async fn cert_6_the_registered_key_must_be_the_certified_one() {
    let pki = Pki::new();
    let registered = es256_key(&pki, "k", QcType::Eseal);
    let certified = es256_key(&pki, "k", QcType::Eseal);
    let mut mixed = registered.jwk.clone();
    mixed["x5c"] = certified.jwk["x5c"].clone();
    let jwks = json!({"keys": [mixed]});
    for signer in [&registered, &certified] {
        let sig = sign(signer, &header("ES256", "k"), BODY);
        let e = verify(&pki, &jwks, Some(&sig), true).await.unwrap_err();
        assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    }
    // The same signatures verify with each key's own certificate.
    for key in [&registered, &certified] {
        let sig = sign(key, &header("ES256", "k"), BODY);
        let own = json!({"keys": [key.jwk.clone()]});
        assert!(verify(&pki, &own, Some(&sig), true).await.unwrap());
    }
    let rsa = ps256_key(&pki, "rsa");
    let sig = sign(&registered, &header("ES256", "rsa"), BODY);
    let e = verify(&pki, &json!({"keys": [rsa.jwk.clone()]}), Some(&sig), true)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    assert!(e.to_string().contains("another algorithm"), "{e}");
}

#[tokio::test]
async fn cert_6_non_qsealc_keys_are_refused() {
    let pki = Pki::new();
    // A QWAC (QcType web) is not a seal.
    let qwac = es256_key(&pki, "k", QcType::Web);
    let sig = sign(&qwac, &header("ES256", "k"), BODY);
    let e = verify(&pki, &json!({"keys": [qwac.jwk.clone()]}), Some(&sig), true)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    // The reason code only; the detail stays in the security log.
    assert!(e.to_string().contains("(not_qsealc)"), "{e}");
    // A QSealC from an untrusted CA.
    let rogue = Pki::new();
    let foreign = es256_key(&rogue, "k", QcType::Eseal);
    let sig = sign(&foreign, &header("ES256", "k"), BODY);
    let e = verify(
        &pki,
        &json!({"keys": [foreign.jwk.clone()]}),
        Some(&sig),
        true,
    )
    .await
    .unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
    // A key without x5c.
    let key = es256_key(&pki, "k", QcType::Eseal);
    let mut bare = key.jwk.clone();
    bare.as_object_mut().unwrap().remove("x5c");
    let sig = sign(&key, &header("ES256", "k"), BODY);
    let e = verify(&pki, &json!({"keys": [bare]}), Some(&sig), true)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UK.OBIE.Signature.Invalid");
}
