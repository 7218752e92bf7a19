//! Certificate profiles per trust anchor set (OB fidelity item 6): `eidas` QWAC / QSealC
//! content for QTSP anchors, `ob-directory` for the UK Open Banking directory's CAs, whose
//! OBWAC / OBSeal certificates carry no qcStatements and name the organisation id (OU) and the
//! software id (CN) in the subject. Certificates are shaped as the directory issues them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bulwark_certs::{
    Api, ByPurpose, CertError, CertProfile, CertValidator, ExpectedOrganisation, GrantedRoles,
    MtlsSettings, OrgMatchError, PspRole, Purpose, RoleError, TrustAnchors, TrustSettings,
    organisation_matches, verify_report,
};
use common::*;
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};

/// A UK directory organisation id and software statement id, as the directory writes them.
const ORG_ID: &str = "0015800001041REAAY";
const SOFTWARE_ID: &str = "5tYbM4YWSByzrEzWsy7Rk8";

/// The directory's PKI: "OpenBanking Root CA" and "OpenBanking Issuing CA".
fn directory() -> Pki {
    Pki::named("OpenBanking")
}

/// An OBWAC: `C=GB, O=OpenBanking, OU=<org id>, CN=<software id>`, clientAuth and serverAuth,
/// digitalSignature and keyEncipherment, no qcStatements.
fn obwac(ou: Option<&str>, cn: &str) -> LeafSpec {
    let mut s = LeafSpec::plain(cn);
    s.org = "OpenBanking".into();
    s.ou = ou.map(str::to_owned);
    s.eku = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    s.ku = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    s
}

/// An OBSeal: the same subject, no EKU, digitalSignature and nonRepudiation.
fn obseal(ou: Option<&str>, cn: &str) -> LeafSpec {
    let mut s = obwac(ou, cn);
    s.eku = Vec::new();
    s.ku = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    s
}

/// A validator trusting `qtsp` under `eidas` and `ob` under `ob-directory`.
fn both(qtsp: &Pki, ob: &Pki) -> CertValidator {
    CertValidator::with_profiles(
        &ByPurpose::all(TrustAnchors::from_ders(vec![qtsp.root.der()])),
        &TrustAnchors::from_ders(vec![ob.root.der()]),
        Duration::from_secs(60),
        no_revocation(),
    )
    .unwrap()
}

#[tokio::test]
async fn ob_6_directory_certificates_validate_under_the_ob_directory_profile() {
    let qtsp = Pki::named("QTSP");
    let ob = directory();
    let v = both(&qtsp, &ob);

    let wac = ob.ca.issue(&obwac(Some(ORG_ID), SOFTWARE_ID));
    for purpose in [Purpose::Qwac, Purpose::TlsClient] {
        let ok = v.validate(&ob.chain(&wac), purpose, now()).await.unwrap();
        assert_eq!(ok.profile, CertProfile::ObDirectory, "{purpose:?}");
        assert!(ok.tpp.is_none(), "an OBWAC carries no eIDAS identity");
    }
    let seal = ob.ca.issue(&obseal(Some(ORG_ID), SOFTWARE_ID));
    let ok = v
        .validate(&ob.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap();
    assert_eq!(ok.profile, CertProfile::ObDirectory);

    // The QTSP's QWAC on the same validator is still held to eIDAS.
    let qwac = qtsp
        .ca
        .issue(&LeafSpec::qwac("tpp", &[PspRole::AccountInformation]));
    let ok = v
        .validate(&qtsp.chain(&qwac), Purpose::Qwac, now())
        .await
        .unwrap();
    assert_eq!(ok.profile, CertProfile::Eidas);
    assert!(ok.tpp.unwrap().is_qwac());
}

#[tokio::test]
async fn ob_6_directory_certificate_under_eidas_anchors_is_not_qualified() {
    // The same OB CA configured as an eIDAS anchor: its certificates are held to eIDAS rules,
    // and an OBWAC is no QWAC, an OBSeal no QSealC.
    let ob = directory();
    let v = validator(&ob.root, no_revocation());
    let wac = ob.ca.issue(&obwac(Some(ORG_ID), SOFTWARE_ID));
    let err = v
        .validate(&ob.chain(&wac), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotQwac);
    let seal = ob.ca.issue(&obseal(Some(ORG_ID), SOFTWARE_ID));
    let err = v
        .validate(&ob.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotQsealc);
}

#[tokio::test]
async fn ob_6_directory_certificate_without_organisation_or_software_id_is_refused() {
    let qtsp = Pki::named("QTSP");
    let ob = directory();
    let v = both(&qtsp, &ob);
    let no_ou = ob.ca.issue(&obwac(None, SOFTWARE_ID));
    let err = v
        .validate(&ob.chain(&no_ou), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "incomplete_directory_subject");
    assert!(err.to_string().contains("OU"), "{err}");
    let no_ou_seal = ob.ca.issue(&obseal(None, SOFTWARE_ID));
    let err = v
        .validate(&ob.chain(&no_ou_seal), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "incomplete_directory_subject");
    // An empty software id (CN) or a blank organisation id names nothing either.
    let no_cn = ob.ca.issue(&obwac(Some(ORG_ID), ""));
    let err = v
        .validate(&ob.chain(&no_cn), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CN"), "{err}");
    let blank_ou = ob.ca.issue(&obseal(Some("  "), SOFTWARE_ID));
    let err = v
        .validate(&ob.chain(&blank_ou), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OU"), "{err}");
    // A plain TLS client certificate of the directory needs neither (token endpoint mTLS).
    v.validate(&ob.chain(&no_ou), Purpose::TlsClient, now())
        .await
        .unwrap();
    // The directory's EKU and key usage rules still apply: a seal is no transport certificate.
    let seal = ob.ca.issue(&obseal(Some(ORG_ID), SOFTWARE_ID));
    let err = v
        .validate(&ob.chain(&seal), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::WrongEku);
}

#[tokio::test]
async fn ob_6_directory_certificate_must_name_the_registered_organisation_and_software() {
    let qtsp = Pki::named("QTSP");
    let ob = directory();
    let v = both(&qtsp, &ob);
    let wac = ob.ca.issue(&obwac(Some(ORG_ID), SOFTWARE_ID));
    let ok = v
        .validate(&ob.chain(&wac), Purpose::Qwac, now())
        .await
        .unwrap();
    let expect = |org: &str, sw: Option<&str>| ExpectedOrganisation::Directory {
        org_id: org.into(),
        software_id: sw.map(str::to_owned),
    };
    organisation_matches(
        ok.tpp.as_ref(),
        &ok.subject,
        &expect(ORG_ID, Some(SOFTWARE_ID)),
    )
    .unwrap();
    organisation_matches(ok.tpp.as_ref(), &ok.subject, &expect(ORG_ID, None)).unwrap();
    let other_org = organisation_matches(
        ok.tpp.as_ref(),
        &ok.subject,
        &expect("0015800001ZZZZZZZZ", Some(SOFTWARE_ID)),
    )
    .unwrap_err();
    assert!(matches!(other_org, OrgMatchError::Mismatch { .. }));
    let other_software = organisation_matches(
        ok.tpp.as_ref(),
        &ok.subject,
        &expect(ORG_ID, Some("otherSoftwareId000001")),
    )
    .unwrap_err();
    assert_eq!(
        other_software,
        OrgMatchError::Mismatch {
            found: format!("CN={SOFTWARE_ID}"),
            expected: "CN=otherSoftwareId000001".into()
        }
    );
    // An eIDAS expectation (organizationIdentifier) cannot be met by an OBWAC.
    let err = organisation_matches(
        ok.tpp.as_ref(),
        &ok.subject,
        &ExpectedOrganisation::OrganizationIdentifier("PSDGB-FCA-123456".into()),
    )
    .unwrap_err();
    assert_eq!(err, OrgMatchError::NoIdentifier);
}

#[test]
fn ob_6_roles_from_the_registration_grant_exactly_the_registered_roles() {
    let aisp = GrantedRoles::registered(&["AISP"]);
    aisp.require(Api::AccountAccess).unwrap();
    assert_eq!(
        aisp.require(Api::Payments).unwrap_err(),
        RoleError::MissingRole {
            required: PspRole::PaymentInitiation
        }
    );
    let etsi = GrantedRoles::registered(&["PSP_PI", "CBPII", "not-a-role"]);
    etsi.require(Api::Payments).unwrap();
    etsi.require(Api::FundsConfirmation).unwrap();
    assert!(etsi.require(Api::AccountAccess).is_err());
    assert!(
        GrantedRoles::registered::<&str>(&[])
            .require(Api::AccountAccess)
            .is_err()
    );
}

#[test]
fn ob_6_a_ca_listed_under_two_profiles_is_a_configuration_error() {
    let ob = directory();
    let set = TrustAnchors::from_ders(vec![ob.root.der()]);
    let err = CertValidator::with_profiles(
        &ByPurpose::all(set.clone()),
        &set,
        Duration::from_secs(60),
        no_revocation(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("both the eidas and the ob-directory"),
        "{err}"
    );
}

#[tokio::test]
async fn ob_6_forwarded_chain_takes_the_profile_of_its_issuing_anchor() {
    // Behind a proxy that validated the path itself (revalidate_issuer = false), the profile is
    // that of the anchor named as the chain's issuer.
    let qtsp = Pki::named("QTSP");
    let ob = directory();
    let v = both(&qtsp, &ob);
    let mut proxy: MtlsSettings = serde_json::from_value(serde_json::json!({
        "mode": "proxy",
        "trusted_proxies": ["10.0.0.0/8"],
    }))
    .unwrap();
    proxy.revalidate_issuer = false;
    let wac = ob.ca.issue(&obwac(Some(ORG_ID), SOFTWARE_ID));
    let ok = v
        .validate_forwarded(&proxy, &ob.chain(&wac), Purpose::Qwac, now())
        .await
        .unwrap();
    assert_eq!(ok.profile, CertProfile::ObDirectory);
    let no_ou = ob.ca.issue(&obwac(None, SOFTWARE_ID));
    let err = v
        .validate_forwarded(&proxy, &ob.chain(&no_ou), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "incomplete_directory_subject");
    let qwac = qtsp
        .ca
        .issue(&LeafSpec::qwac("tpp", &[PspRole::PaymentInitiation]));
    let ok = v
        .validate_forwarded(&proxy, &qtsp.chain(&qwac), Purpose::Qwac, now())
        .await
        .unwrap();
    assert_eq!(ok.profile, CertProfile::Eidas);
    // Names prove nothing: a plain certificate with a directory-shaped subject, forwarded with
    // the directory's CA appended, does not verify to the directory anchor, so it is held to
    // eIDAS (and is no QWAC).
    let mut spoof = obwac(Some(ORG_ID), SOFTWARE_ID);
    spoof.org = "OpenBanking".into();
    let leaf = qtsp.ca.issue(&spoof);
    let chain = vec![leaf.der.clone(), ob.ca.der()];
    let err = v
        .validate_forwarded(&proxy, &chain, Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NotQwac);
}

#[tokio::test]
async fn ob_6_a_transport_certificate_is_no_directory_seal() {
    let qtsp = Pki::named("QTSP");
    let ob = directory();
    let v = both(&qtsp, &ob);
    // An OBWAC without EKU restrictions that would let it pass as a seal still lacks
    // nonRepudiation.
    let mut wac = obwac(Some(ORG_ID), SOFTWARE_ID);
    wac.eku = Vec::new();
    let leaf = ob.ca.issue(&wac);
    let err = v
        .validate(&ob.chain(&leaf), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "wrong_key_usage");
}

#[tokio::test]
async fn ob_6_certs_verify_reports_the_profile_that_applied() {
    let qtsp = Pki::named("QTSP");
    let ob = directory();
    let v = both(&qtsp, &ob);
    let wac = ob.ca.issue(&obwac(Some(ORG_ID), SOFTWARE_ID));
    let report = verify_report(&v, &ob.chain(&wac), Purpose::Qwac, now()).await;
    assert!(report.valid);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["profile"], "ob-directory");
    assert!(json.get("qwac").is_none(), "{json}");

    let qwac = qtsp
        .ca
        .issue(&LeafSpec::qwac("tpp", &[PspRole::AccountInformation]));
    let json =
        serde_json::to_value(verify_report(&v, &qtsp.chain(&qwac), Purpose::Qwac, now()).await)
            .unwrap();
    assert_eq!(json["profile"], "eidas");

    // A refusal under a profile's rules says which profile refused it.
    let no_ou = ob.ca.issue(&obwac(None, SOFTWARE_ID));
    let json =
        serde_json::to_value(verify_report(&v, &ob.chain(&no_ou), Purpose::Qwac, now()).await)
            .unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["reason"], "incomplete_directory_subject");
    assert_eq!(json["profile"], "ob-directory");
    // An unknown issuer has no profile.
    let stranger = Pki::named("Stranger");
    let leaf = stranger.ca.issue(&obwac(Some(ORG_ID), SOFTWARE_ID));
    let json =
        serde_json::to_value(verify_report(&v, &stranger.chain(&leaf), Purpose::Qwac, now()).await)
            .unwrap();
    assert!(json.get("profile").is_none(), "{json}");
}

#[test]
fn ob_6_trust_settings_name_the_directory_anchors() {
    let settings: TrustSettings = serde_json::from_value(serde_json::json!({
        "anchors": ["/etc/bulwark/qtsp"],
        "ob_directory": ["/etc/bulwark/ob-root.pem", "/etc/bulwark/ob-issuing.pem"],
    }))
    .unwrap();
    assert_eq!(settings.ob_directory.len(), 2);
    assert_eq!(
        TrustSettings::default().ob_directory,
        Vec::<std::path::PathBuf>::new()
    );
}
