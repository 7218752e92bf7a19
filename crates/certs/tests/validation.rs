//! CERT-3 path validation, CERT-6 sealing purpose rules and the operator report, against rcgen
//! PKIs built per test (revocation off unless a test needs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bulwark_certs::{CertError, Purpose, TrustSettings, read_pem_chain, verify_report};
use common::*;
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use rustls_pki_types::CertificateDer;

#[tokio::test]
async fn cert_3_good_chain_validates_with_summary() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("client-1"));
    let v = validator(&pki.root, no_revocation());
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(
        ok.subject.to_rfc4514(),
        "CN=client-1,O=Example TPP Ltd,C=GB"
    );
    assert_eq!(ok.chain[0].issuer, "CN=Test Issuing CA,O=Test QTSP,C=GB");
    assert!(
        ok.tpp.is_none(),
        "an ordinary certificate has no eIDAS identity"
    );
}

/// CERT-3 / RFC 5280 4.2.1.3 and 6.1.4(n): a CA certificate whose key usage does not allow
/// certificate signing (here a CRL signer, `cA` true) cannot issue a client certificate or a
/// QWAC; with `keyCertSign` the same shape validates.
#[tokio::test]
async fn cert_3_a_ca_without_key_cert_sign_issues_nothing() {
    let root = Ca::root("KU Root CA");
    let crl_signer = root.intermediate_with_usages("KU CRL Signer", vec![KeyUsagePurpose::CrlSign]);
    let v = validator(&root, no_revocation());
    let leaf = crl_signer.issue(&LeafSpec::plain("client-of-a-crl-signer"));
    for purpose in [Purpose::TlsClient, Purpose::Qwac] {
        let err = v
            .validate(&[leaf.der.clone(), crl_signer.der()], purpose, now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, CertError::InvalidPath { ref detail } if detail.contains("keyCertSign")),
            "{err:?}"
        );
    }
    let issuing = root.intermediate_with_usages(
        "KU Issuing CA",
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
    );
    let leaf = issuing.issue(&LeafSpec::plain("client-of-an-issuing-ca"));
    assert!(
        v.validate(
            &[leaf.der.clone(), issuing.der()],
            Purpose::TlsClient,
            now()
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn cert_3_expired_is_rejected() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("old");
    spec.not_before = now_odt() - time::Duration::days(30);
    spec.not_after = now_odt() - time::Duration::days(1);
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::Expired);
    assert_eq!(err.reason(), "expired");
}

/// RFC 5280 6.1.3 and 6.1.4 (k): every certificate of the path is within its validity, and
/// every issuer is a CA (basicConstraints `cA` true), not only the leaf's own checks. A chain
/// through an expired or not yet valid issuing CA, or through an end-entity certificate
/// (`cA` false, or no basicConstraints at all) signing a leaf, is refused.
#[tokio::test]
async fn cert_3_every_issuing_certificate_is_a_ca_within_its_validity() {
    let pki = Pki::new();
    let v = validator(&pki.root, no_revocation());
    type Shape = fn(&mut rcgen::CertificateParams);
    let shapes: [(&str, Shape, CertError); 4] = [
        (
            "expired",
            |p| {
                p.not_before = now_odt() - time::Duration::days(60);
                p.not_after = now_odt() - time::Duration::days(1);
            },
            CertError::Expired,
        ),
        (
            "not yet valid",
            |p| {
                p.not_before = now_odt() + time::Duration::days(1);
            },
            CertError::NotYetValid,
        ),
        (
            "cA false",
            |p| {
                p.is_ca = rcgen::IsCa::ExplicitNoCa;
            },
            end_entity_as_ca(),
        ),
        (
            "no basicConstraints",
            |p| {
                p.is_ca = rcgen::IsCa::NoCa;
            },
            end_entity_as_ca(),
        ),
    ];
    for (name, shape, expected) in shapes {
        let issuing = pki.root.intermediate_shaped(name, shape);
        let leaf = issuing.issue(&LeafSpec::plain(name));
        let err = v
            .validate(
                &[leaf.der.clone(), issuing.der()],
                Purpose::TlsClient,
                now(),
            )
            .await
            .expect_err(name);
        assert_eq!(err, expected, "{name}");
    }
    // The same chain through a well-formed issuing CA validates.
    let issuing = pki.root.intermediate_shaped("well-formed", |_| {});
    let leaf = issuing.issue(&LeafSpec::plain("fine"));
    v.validate(
        &[leaf.der.clone(), issuing.der()],
        Purpose::TlsClient,
        now(),
    )
    .await
    .unwrap();
}

fn end_entity_as_ca() -> CertError {
    CertError::InvalidPath {
        detail: "EndEntityUsedAsCa".into(),
    }
}

#[tokio::test]
async fn cert_3_not_yet_valid_is_rejected() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("future");
    spec.not_before = now_odt() + time::Duration::days(1);
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotYetValid);
}

#[tokio::test]
async fn cert_3_clock_skew_is_tolerated_only_up_to_the_setting() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("skewed");
    spec.not_before = now_odt() + time::Duration::seconds(30);
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation()); // 60 s skew
    v.validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    // 90 s before notBefore is beyond the tolerance.
    let early = now() - Duration::from_secs(60);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, early)
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotYetValid);
    // The same tolerance after notAfter: 30 s past it passes, 90 s past it is expired.
    let mut spec = LeafSpec::plain("just-expired");
    spec.not_after = now_odt() - time::Duration::seconds(30);
    let leaf = pki.ca.issue(&spec);
    v.validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    let late = now() + Duration::from_secs(60);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, late)
        .await
        .unwrap_err();
    assert_eq!(err, CertError::Expired);
}

#[tokio::test]
async fn cert_3_unknown_issuer_is_rejected() {
    let pki = Pki::new();
    let stranger = Pki::named("Stranger");
    let leaf = stranger.ca.issue(&LeafSpec::plain("x"));
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&stranger.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::UnknownIssuer);
    // Missing intermediate: also no path.
    let own = pki.ca.issue(&LeafSpec::plain("y"));
    let err = v
        .validate(std::slice::from_ref(&own.der), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::UnknownIssuer);
}

#[tokio::test]
async fn cert_3_self_signed_leaf_is_rejected() {
    let pki = Pki::new();
    // A client certificate in every way but its issuer (clientAuth EKU), so the refusal can
    // only be the issuer's.
    let mut params = rcgen::CertificateParams::new(vec!["tpp.example".into()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let selfsigned = params.self_signed(&key).unwrap();
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&[selfsigned.der().clone()], Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::UnknownIssuer);
}

#[tokio::test]
async fn cert_3_wrong_eku_is_rejected() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("server-only");
    spec.eku = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::WrongEku);
    // No EKU at all is not a transport certificate either.
    let mut spec = LeafSpec::plain("no-eku");
    spec.eku = Vec::new();
    let leaf = pki.ca.issue(&spec);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::WrongEku);
}

#[tokio::test]
async fn cert_3_key_usage_without_digital_signature_is_rejected() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("kex-only");
    spec.ku = vec![KeyUsagePurpose::KeyEncipherment];
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "wrong_key_usage");
}

#[tokio::test]
async fn cert_3_ca_certificate_as_leaf_is_rejected() {
    let pki = Pki::new();
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&[pki.ca.der()], Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CertError::InvalidPath { .. } | CertError::WrongEku),
        "{err:?}"
    );
}

#[tokio::test]
async fn cert_3_malformed_der_is_a_clear_error() {
    let pki = Pki::new();
    let v = validator(&pki.root, no_revocation());
    for junk in [
        &b""[..],
        b"\x30\x03\x02\x01",
        b"not a certificate at all",
        &[0x30, 0x82, 0xff, 0xff],
    ] {
        let err = v
            .validate(
                &[CertificateDer::from(junk.to_vec())],
                Purpose::TlsClient,
                now(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "malformed", "{err:?}");
    }
    let leaf = pki.ca.issue(&LeafSpec::plain("x"));
    let mut truncated = leaf.der.to_vec();
    truncated.truncate(truncated.len() / 2);
    let err = v
        .validate(
            &[CertificateDer::from(truncated)],
            Purpose::TlsClient,
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "malformed");
    let err = v
        .validate(&[], Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NoCertificate);
}

#[tokio::test]
async fn cert_3_tampered_signature_is_rejected() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("x"));
    let mut der = leaf.der.to_vec();
    let last = der.len() - 3;
    der[last] ^= 0x01; // inside the signature
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(
            &[CertificateDer::from(der), pki.ca.der()],
            Purpose::TlsClient,
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(err, CertError::BadSignature);
}

#[tokio::test]
async fn cert_3_no_trust_anchors_trusts_nothing() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("x"));
    let v = bulwark_certs::CertValidator::new(
        &bulwark_certs::TrustAnchors::default(),
        Duration::from_secs(60),
        no_revocation(),
    )
    .unwrap();
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NoTrustAnchors);
}

#[tokio::test]
async fn cert_3_anchors_from_pem_files_and_trust_settings() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki.root.pem()).unwrap();
    let trust: TrustSettings = serde_json::from_value(serde_json::json!({
        "anchors": [dir.path()],
    }))
    .unwrap();
    assert_eq!(trust.clock_skew_secs, 60);
    let v = bulwark_certs::CertValidator::from_settings(&trust, no_revocation()).unwrap();
    let leaf = pki.ca.issue(&LeafSpec::plain("x"));
    v.validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert!(
        serde_json::from_value::<TrustSettings>(serde_json::json!({"anchors": [], "skew": 1}))
            .is_err()
    );
}

#[tokio::test]
async fn cert_6_qsealc_validates_for_sealing_and_qwac_does_not() {
    let pki = Pki::new();
    let roles = [bulwark_certs::PspRole::PaymentInitiation];
    let seal = pki.ca.issue(&LeafSpec::qsealc("seal", &roles));
    let v = validator(&pki.root, no_revocation());
    let ok = v
        .validate(&pki.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap();
    assert!(ok.tpp.unwrap().is_qsealc());
    let qwac = pki.ca.issue(&LeafSpec::qwac("web", &roles));
    let err = v
        .validate(&pki.chain(&qwac), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotQsealc);
    let plain = pki.ca.issue(&LeafSpec::plain("plain"));
    let err = v
        .validate(&pki.chain(&plain), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "not_qsealc");
}

#[tokio::test]
async fn cert_6_sealing_needs_digital_signature_or_non_repudiation() {
    let pki = Pki::new();
    let mut spec = LeafSpec::qsealc("seal", &[bulwark_certs::PspRole::PaymentInitiation]);
    spec.ku = vec![KeyUsagePurpose::KeyEncipherment];
    let seal = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "wrong_key_usage");
    // A seal without keyUsage states no signing purpose at all.
    let mut spec = LeafSpec::qsealc("seal-no-ku", &[bulwark_certs::PspRole::PaymentInitiation]);
    spec.ku = Vec::new();
    let seal = pki.ca.issue(&spec);
    let err = v
        .validate(&pki.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "wrong_key_usage");
    let mut spec = LeafSpec::qsealc("seal-nr", &[bulwark_certs::PspRole::PaymentInitiation]);
    spec.ku = vec![KeyUsagePurpose::ContentCommitment];
    let seal = pki.ca.issue(&spec);
    v.validate(&pki.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap();
}

#[tokio::test]
async fn cert_3_verify_report_json_and_pem_reading() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::qwac(
        "tpp",
        &[bulwark_certs::PspRole::AccountInformation],
    ));
    let dir = tempfile::tempdir().unwrap();
    let (lp, cp) = (dir.path().join("leaf.pem"), dir.path().join("chain.pem"));
    std::fs::write(&lp, &leaf.pem).unwrap();
    std::fs::write(&cp, pki.ca.pem()).unwrap();
    let chain = read_pem_chain(&[&lp, &cp]).unwrap();
    assert_eq!(chain.len(), 2);
    let v = validator(&pki.root, no_revocation());
    let report = verify_report(&v, &chain, Purpose::Qwac, now()).await;
    let json = serde_json::to_value(&report).unwrap();
    println!("{}", serde_json::to_string_pretty(&json).unwrap());
    assert_eq!(json["valid"], true);
    assert!(json.get("reason").is_none());
    assert_eq!(json["chain"].as_array().unwrap().len(), 2);
    assert_eq!(json["revocation"]["status"], "unknown");
    assert_eq!(json["revocation"]["source"], "skipped");
    assert_eq!(json["qwac"]["roles"], serde_json::json!(["PSP_AI"]));
    assert_eq!(json["qwac"]["nca_id"], "GB-FCA");
    assert_eq!(json["qwac"]["organization_identifier"], "PSDGB-FCA-123456");
    assert_eq!(json["x5t#S256"], bulwark_certs::x5t_s256(&leaf.der));

    let stranger = Pki::named("Stranger");
    let bad = verify_report(
        &validator(&stranger.root, no_revocation()),
        &chain,
        Purpose::Qwac,
        now(),
    )
    .await;
    let json = serde_json::to_value(&bad).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["reason"], "unknown_issuer");
    assert_eq!(json["chain"].as_array().unwrap().len(), 2);
    // A refused chain is still described by its leaf: the thumbprint and the PSD2 content are
    // the leaf's, not those of the CA certificate after it.
    assert_eq!(json["x5t#S256"], bulwark_certs::x5t_s256(&leaf.der));
    assert_eq!(json["qwac"]["roles"], serde_json::json!(["PSP_AI"]));
    assert_eq!(json["qwac"]["organization_identifier"], "PSDGB-FCA-123456");

    // One file holding the whole chain (as a TPP sends it) is read whole, in order.
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, format!("{}{}", leaf.pem, pki.ca.pem())).unwrap();
    assert_eq!(read_pem_chain(&[&bundle]).unwrap(), chain);

    std::fs::write(dir.path().join("empty.pem"), "nothing here").unwrap();
    assert!(read_pem_chain(&[dir.path().join("empty.pem")]).is_err());
    assert!(read_pem_chain(&[dir.path().join("missing.pem")]).is_err());
}

#[tokio::test]
async fn cert_3_a_cached_path_still_expires_and_keeps_the_purpose_apart() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("cached"));
    let v = validator(&pki.root, no_revocation());
    v.validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    v.validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    let later = now() + Duration::from_secs(40 * 24 * 3600); // leaf lives 30 days
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, later)
        .await
        .unwrap_err();
    assert_eq!(err, CertError::Expired);
    let earlier = now() - Duration::from_secs(3 * 24 * 3600);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, earlier)
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotYetValid);
    // A path verified for TLS is not a pass for sealing.
    let err = v
        .validate(&pki.chain(&leaf), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotQsealc);
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl on PATH");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CERT-3 algorithms: an RSA root (PKCS#1 v1.5), an ECDSA P-384 issuing CA under it, a P-256
/// leaf; and a leaf signed by the RSA root with RSA-PSS, checked by OCSP signed with RSA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_3_rsa_pkcs1_pss_and_ecdsa_p384_paths_validate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "root.key",
        ],
    );
    let root_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(d.join("root.key")).unwrap()).unwrap();
    let mut rp = rcgen::CertificateParams::default();
    rp.distinguished_name = rcgen::DistinguishedName::new();
    rp.distinguished_name
        .push(rcgen::DnType::CommonName, "RSA Root");
    rp.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    rp.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let root_issuer = rcgen::CertifiedIssuer::self_signed(rp, root_key).unwrap();
    std::fs::write(d.join("root.pem"), root_issuer.pem()).unwrap();
    let root_der = root_issuer.der().clone();

    // P-384 issuing CA under the RSA root, P-256 leaf under it.
    let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "P-384 Issuing CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = common::Ca {
        issuer: rcgen::CertifiedIssuer::signed_by(p, p384, &root_issuer).unwrap(),
        key_pem: String::new(),
        // rcgen picks the serial; only revocation helpers read these.
        serial: Vec::new(),
        serial_hex: String::new(),
        not_after: now_odt(),
    };
    let leaf = ca.issue(&LeafSpec::plain("ec-leaf"));
    let anchors = bulwark_certs::TrustAnchors::from_ders(vec![root_der]);
    let v = bulwark_certs::CertValidator::new(&anchors, Duration::from_secs(60), fast_settings())
        .unwrap();
    let off = bulwark_certs::CertValidator::new(&anchors, Duration::from_secs(60), no_revocation())
        .unwrap();
    off.validate(&[leaf.der.clone(), ca.der()], Purpose::TlsClient, now())
        .await
        .unwrap();

    // pathLenConstraint 0 on the issuing CA: a sub-CA under it cannot issue.
    let sub = ca.intermediate("Too Deep CA");
    let deep = sub.issue(&LeafSpec::plain("deep"));
    let err = off
        .validate(
            &[deep.der.clone(), sub.der(), ca.der()],
            Purpose::TlsClient,
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CertError::InvalidPath { .. } | CertError::UnknownIssuer
        ),
        "{err:?}"
    );

    // RSA-PSS leaf issued by openssl, with an AIA pointing at an RSA-signing OCSP responder.
    let port = free_port();
    std::fs::write(
        d.join("leaf.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:{port}/\n"
        ),
    )
    .unwrap();
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/C=GB/O=Example TPP Ltd/CN=pss-leaf",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "0x1fee01",
            "-days",
            "5",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
    );
    let pss_leaf = read_pem_chain(&[d.join("leaf.pem")]).unwrap().remove(0);
    std::fs::write(
        d.join("index.txt"),
        "V\t301231000000Z\t\t1FEE01\tunknown\t/CN=pss-leaf\n",
    )
    .unwrap();
    let mut child = std::process::Command::new("openssl")
        .current_dir(d)
        .args([
            "ocsp",
            "-index",
            "index.txt",
            "-port",
            &port.to_string(),
            "-rsigner",
            "root.pem",
            "-rkey",
            "root.key",
            "-CA",
            "root.pem",
            "-nmin",
            "60",
            "-ignore_err",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let out = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(out).lines();
        assert!(lines.next().unwrap().unwrap().contains("ACCEPT"));
        std::thread::spawn(move || for _ in lines {});
    }
    let result = v.validate(&[pss_leaf], Purpose::TlsClient, now()).await;
    let _ = child.kill();
    let _ = child.wait();
    let ok = result.unwrap();
    assert_eq!(ok.revocation.source, bulwark_certs::RevocationSource::Ocsp);
    assert_eq!(ok.revocation.status, bulwark_certs::RevocationStatus::Good);
}

#[tokio::test]
async fn cert_3_overlong_chains_are_refused_before_any_work() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("x"));
    let mut chain = pki.chain(&leaf);
    chain.extend(std::iter::repeat_n(pki.ca.der(), 12));
    let err = validator(&pki.root, no_revocation())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "malformed");
}

#[tokio::test]
async fn hardening_per_purpose_anchor_sets_keep_each_ca_to_its_purpose() {
    use bulwark_certs::{ByPurpose, PspRole, TrustAnchors};
    let tls = Pki::named("TLS");
    let qtsp = Pki::named("QTSP");
    let seal = Pki::named("Seal");
    let anchors = ByPurpose {
        tls_client: TrustAnchors::from_ders(vec![tls.root.der()]),
        qwac: TrustAnchors::from_ders(vec![qtsp.root.der()]),
        sealing: TrustAnchors::from_ders(vec![seal.root.der()]),
    };
    let v = bulwark_certs::CertValidator::per_purpose(
        &anchors,
        Duration::from_secs(60),
        no_revocation(),
    )
    .unwrap();

    let roles = [PspRole::AccountInformation];
    let qwac = qtsp.ca.issue(&LeafSpec::qwac("tpp-transport", &roles));
    let qseal_from_qwac_ca = qtsp.ca.issue(&LeafSpec::qsealc("tpp-seal", &roles));
    let qseal = seal.ca.issue(&LeafSpec::qsealc("tpp-seal", &roles));
    let client = tls.ca.issue(&LeafSpec::plain("bank-internal"));

    // Each CA vouches for its own purpose ...
    v.validate(&qtsp.chain(&qwac), Purpose::Qwac, now())
        .await
        .unwrap();
    v.validate(&seal.chain(&qseal), Purpose::Sealing, now())
        .await
        .unwrap();
    v.validate(&tls.chain(&client), Purpose::TlsClient, now())
        .await
        .unwrap();
    // ... and for nothing else.
    for (chain, purpose) in [
        (qtsp.chain(&qseal_from_qwac_ca), Purpose::Sealing),
        (qtsp.chain(&qwac), Purpose::TlsClient),
        (tls.chain(&client), Purpose::Qwac),
        (seal.chain(&qseal), Purpose::Qwac),
    ] {
        let err = v.validate(&chain, purpose, now()).await.unwrap_err();
        assert_eq!(err, CertError::UnknownIssuer, "{purpose:?}");
    }

    // The settings resolve each purpose's set, falling back to the shared `anchors`.
    let settings: TrustSettings = serde_json::from_value(serde_json::json!({
        "anchors": ["/etc/bulwark/all.pem"],
        "qseal": ["/etc/bulwark/qseal.pem"],
    }))
    .unwrap();
    let paths = settings.paths();
    assert_eq!(
        paths.sealing,
        vec![std::path::PathBuf::from("/etc/bulwark/qseal.pem")]
    );
    assert_eq!(
        paths.qwac,
        vec![std::path::PathBuf::from("/etc/bulwark/all.pem")]
    );
}
