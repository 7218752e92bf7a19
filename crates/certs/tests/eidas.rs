//! CERT-5 (QWAC qcStatements and PSD2 statement), CERT-7 (roles) and CERT-8 (organisation).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bulwark_certs::{
    Api, CertError, ExpectedOrganisation, OrgMatchError, PspRole, Purpose, QcType, RoleError,
    organisation_matches, require_role, roles_cover,
};
use common::*;

#[tokio::test]
async fn cert_5_qwac_roles_nca_and_organisation_identifier_are_parsed() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::qwac(
        "tpp",
        &[PspRole::PaymentInitiation, PspRole::AccountInformation],
    ));
    let v = validator(&pki.root, no_revocation());
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::Qwac, now())
        .await
        .unwrap();
    let tpp = ok.tpp.unwrap();
    assert!(tpp.qc_compliance && tpp.is_qwac() && !tpp.is_qsealc());
    assert_eq!(tpp.qc_types, vec![QcType::Web]);
    let psd2 = tpp.psd2.as_ref().unwrap();
    assert_eq!(
        psd2.roles,
        vec![PspRole::PaymentInitiation, PspRole::AccountInformation]
    );
    assert_eq!(psd2.nca_name, "Financial Conduct Authority");
    assert_eq!(psd2.nca_id, "GB-FCA");
    let oi = tpp.organization_identifier.as_ref().unwrap();
    assert_eq!(oi.raw, "PSDGB-FCA-123456");
    assert_eq!((oi.scheme.as_str(), oi.country.as_str()), ("PSD", "GB"));
    assert_eq!(oi.competent_authority.as_deref(), Some("FCA"));
    assert_eq!(oi.authorisation_id.as_deref(), Some("123456"));
    assert_eq!(tpp.organization_name.as_deref(), Some("Example TPP Ltd"));
    assert!(
        ok.subject
            .to_rfc4514()
            .contains("organizationIdentifier=PSDGB-FCA-123456")
    );
}

/// EN 319 412-5 4.2.3: a qualified certificate is of exactly one type. One that claims web
/// and eseal at once, names no type, or carries two QcType statements (or, TS 119 495 5.1,
/// two PSD2 statements) is refused for every purpose, so it can pass neither as a QWAC nor
/// as a QSealC.
#[tokio::test]
async fn cert_5_a_certificate_of_more_or_fewer_than_one_qc_type_is_refused() {
    let pki = Pki::new();
    let v = validator(&pki.root, no_revocation());
    let roles = [PspRole::AccountInformation];
    let compliance_and_psd2 = qc(true, &[], Some(&roles));
    let web = QcType::Web.oid();
    let eseal = QcType::Eseal.oid();
    for (name, qc_der) in [
        (
            "both",
            qc(true, &[QcType::Web, QcType::Eseal], Some(&roles)),
        ),
        (
            "none",
            statements(&[&compliance_and_psd2, &qc_type_statement(&[])]),
        ),
        (
            "two-statements",
            statements(&[
                &compliance_and_psd2,
                &qc_type_statement(&[web]),
                &qc_type_statement(&[eseal]),
            ]),
        ),
        // ETSI TS 119 495 5.1: one PSD2 statement; a second's roles would replace the first's.
        (
            "two-psd2-statements",
            statements(&[
                &qc(true, &[QcType::Web], Some(&roles)),
                &qc(false, &[], Some(&[PspRole::PaymentInitiation])),
            ]),
        ),
    ] {
        let mut spec = LeafSpec::qwac(name, &roles);
        spec.qc = Some(qc_der);
        let leaf = pki.ca.issue(&spec);
        for purpose in [Purpose::Qwac, Purpose::Sealing, Purpose::TlsClient] {
            let err = v
                .validate(&pki.chain(&leaf), purpose, now())
                .await
                .unwrap_err();
            assert!(
                matches!(&err, CertError::InvalidQcStatements { detail }
                    if detail.contains("exactly one") || detail.contains("allows one")),
                "{name} for {purpose:?}: {err:?}"
            );
        }
    }
    // The same statements with exactly one type pass.
    let mut spec = LeafSpec::qwac("one", &roles);
    spec.qc = Some(statements(&[
        &compliance_and_psd2,
        &qc_type_statement(&[web]),
    ]));
    let leaf = pki.ca.issue(&spec);
    v.validate(&pki.chain(&leaf), Purpose::Qwac, now())
        .await
        .unwrap();
}

/// One qcStatements value (SEQUENCE OF QCStatement) holding the statements of each part, in
/// order; a part is itself a qcStatements value.
fn statements(parts: &[&[u8]]) -> Vec<u8> {
    use der::{Decode, Encode};
    let mut all = Vec::new();
    for part in parts {
        all.extend(Vec::<der::Any>::from_der(part).unwrap());
    }
    all.to_der().unwrap()
}

/// qcStatements holding one QcType statement (esi4-qcStatement-6) that names `types`, however
/// many: the shapes our encoder never makes.
fn qc_type_statement(types: &[der::asn1::ObjectIdentifier]) -> Vec<u8> {
    use der::Encode;
    #[derive(der::Sequence)]
    struct Statement {
        id: der::asn1::ObjectIdentifier,
        info: Vec<der::asn1::ObjectIdentifier>,
    }
    vec![Statement {
        id: der::asn1::ObjectIdentifier::new_unwrap("0.4.0.1862.1.6"),
        info: types.to_vec(),
    }]
    .to_der()
    .unwrap()
}

#[tokio::test]
async fn cert_5_qwac_without_psd2_statement_is_rejected() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("no-psd2");
    spec.qc = Some(qc(true, &[QcType::Web], None));
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::MissingPsd2Statement);
    // Still a fine transport certificate.
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert!(ok.tpp.unwrap().psd2.is_none());
}

#[tokio::test]
async fn cert_5_non_qualified_certificates_are_not_qwacs() {
    let pki = Pki::new();
    let v = validator(&pki.root, no_revocation());
    let ai = [PspRole::AccountInformation];
    let refused = |spec: LeafSpec, purpose: Purpose| {
        let chain = pki.chain(&pki.ca.issue(&spec));
        let v = &v;
        async move { v.validate(&chain, purpose, now()).await.unwrap_err() }
    };
    let with_qc = |mut spec: LeafSpec, compliant: bool, qc_type: QcType| {
        spec.qc = Some(qc(compliant, &[qc_type], Some(&ai)));
        spec
    };
    assert_eq!(
        refused(LeafSpec::plain("plain"), Purpose::Qwac).await,
        CertError::NotQwac
    );
    // PSD2 statement but no QcCompliance.
    let not_compliant = with_qc(LeafSpec::plain("not-compliant"), false, QcType::Web);
    assert_eq!(
        refused(not_compliant, Purpose::Qwac).await.reason(),
        "not_qwac"
    );
    // Qualified and with a PSD2 statement and the clientAuth EKU, but of QcType eseal: a
    // qualified seal presented for TLS is no QWAC (EN 319 412-5 4.2.3, web only).
    let seal_as_qwac = with_qc(LeafSpec::qwac("seal-as-qwac", &ai), true, QcType::Eseal);
    assert_eq!(
        refused(seal_as_qwac, Purpose::Qwac).await,
        CertError::NotQwac
    );
    // The same for a seal: QcType eseal and a PSD2 statement, but no QcCompliance, is no
    // QSealC (EN 319 412-5 4.2.1: only QcCompliance makes it qualified).
    let seal = with_qc(
        LeafSpec::qsealc("seal-not-compliant", &ai),
        false,
        QcType::Eseal,
    );
    assert_eq!(refused(seal, Purpose::Sealing).await, CertError::NotQsealc);
}

/// A DER TLV with a short or one-byte long length, for writing statements byte by byte.
fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let content = parts.concat();
    let mut out = vec![tag];
    if content.len() >= 128 {
        out.push(0x81);
    }
    out.push(u8::try_from(content.len()).unwrap());
    out.extend(content);
    out
}

/// CERT-5 / CERT-7 against the bytes a QTSP writes, not our own encoder: qcStatements with
/// QcCompliance (0.4.0.1862.1.1), QcType web (0.4.0.1862.1.6 / .6.3) and the PSD2 statement
/// (ETSI TS 119 495 5.1, 0.4.0.19495.2) naming PSP_PI (0.4.0.19495.1.2), a role this version
/// of the standard does not define (0.4.0.19495.1.9), and PSP_IC (0.4.0.19495.1.4). The
/// certificate is a QWAC of the two known roles; the unknown one grants nothing.
#[tokio::test]
async fn cert_5_qc_statements_are_read_as_the_etsi_standards_encode_them() {
    const QC_COMPLIANCE: &[u8] = &[0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x01];
    const QC_TYPE: &[u8] = &[0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x06];
    const QCT_WEB: &[u8] = &[0x06, 0x07, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x06, 0x03];
    const PSD2: &[u8] = &[0x06, 0x06, 0x04, 0x00, 0x81, 0x98, 0x27, 0x02];
    const PSP_PI: &[u8] = &[0x06, 0x07, 0x04, 0x00, 0x81, 0x98, 0x27, 0x01, 0x02];
    const PSP_UNKNOWN: &[u8] = &[0x06, 0x07, 0x04, 0x00, 0x81, 0x98, 0x27, 0x01, 0x09];
    const PSP_IC: &[u8] = &[0x06, 0x07, 0x04, 0x00, 0x81, 0x98, 0x27, 0x01, 0x04];
    let (seq, utf8) = (0x30, 0x0c);
    let role = |oid: &[u8], name: &str| tlv(seq, &[oid, &tlv(utf8, &[name.as_bytes()])]);
    let psd2 = tlv(
        seq,
        &[
            PSD2,
            &tlv(
                seq,
                &[
                    &tlv(
                        seq,
                        &[
                            &role(PSP_PI, "PSP_PI"),
                            &role(PSP_UNKNOWN, "PSP_XX"),
                            &role(PSP_IC, "PSP_IC"),
                        ],
                    ),
                    &tlv(utf8, &[b"Financial Conduct Authority"]),
                    &tlv(utf8, &[b"GB-FCA"]),
                ],
            ),
        ],
    );
    let statements = tlv(
        seq,
        &[
            &tlv(seq, &[QC_COMPLIANCE]),
            &tlv(seq, &[QC_TYPE, &tlv(seq, &[QCT_WEB])]),
            &psd2,
        ],
    );
    let pki = Pki::new();
    let mut spec = LeafSpec::qwac("qtsp-bytes", &[PspRole::AccountInformation]);
    spec.qc = Some(statements);
    let leaf = pki.ca.issue(&spec);
    let tpp = validator(&pki.root, no_revocation())
        .validate(&pki.chain(&leaf), Purpose::Qwac, now())
        .await
        .unwrap()
        .tpp
        .unwrap();
    assert!(tpp.is_qwac() && !tpp.is_qsealc());
    let psd2 = tpp.psd2.unwrap();
    assert_eq!(
        psd2.roles,
        vec![PspRole::PaymentInitiation, PspRole::CardIssuing]
    );
    assert_eq!(
        (psd2.nca_name.as_str(), psd2.nca_id.as_str()),
        ("Financial Conduct Authority", "GB-FCA")
    );
}

#[tokio::test]
async fn cert_5_malformed_qc_statements_are_rejected_cleanly() {
    let pki = Pki::new();
    let mut spec = LeafSpec::plain("garbage-qc");
    spec.qc = Some(vec![0x30, 0x05, 0x06, 0x03, 0x2a, 0x03]); // truncated
    let leaf = pki.ca.issue(&spec);
    let v = validator(&pki.root, no_revocation());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "invalid_qc_statements");
}

fn identity(roles: &[PspRole]) -> bulwark_certs::TppIdentity {
    bulwark_certs::TppIdentity {
        qc_compliance: true,
        qc_types: vec![QcType::Web],
        psd2: Some(bulwark_certs::Psd2Statement {
            roles: roles.to_vec(),
            nca_name: "Financial Conduct Authority".into(),
            nca_id: "GB-FCA".into(),
        }),
        organization_identifier: Some(bulwark_certs::OrganizationIdentifier::parse(
            "PSDGB-FCA-123456",
        )),
        organization_name: Some("Example TPP Ltd".into()),
    }
}

#[test]
fn cert_7_api_role_checks() {
    let aisp = identity(&[PspRole::AccountInformation]);
    assert_eq!(require_role(&aisp, Api::AccountAccess), Ok(()));
    assert_eq!(
        require_role(&aisp, Api::Payments),
        Err(RoleError::MissingRole {
            required: PspRole::PaymentInitiation
        })
    );
    assert_eq!(
        require_role(&aisp, Api::FundsConfirmation),
        Err(RoleError::MissingRole {
            required: PspRole::CardIssuing
        })
    );
    let all = identity(&[
        PspRole::AccountInformation,
        PspRole::PaymentInitiation,
        PspRole::CardIssuing,
    ]);
    for api in [Api::AccountAccess, Api::Payments, Api::FundsConfirmation] {
        assert_eq!(require_role(&all, api), Ok(()));
    }
    let mut none = identity(&[]);
    none.psd2 = None;
    assert_eq!(
        require_role(&none, Api::AccountAccess),
        Err(RoleError::NoPsd2Statement)
    );
}

#[test]
fn cert_7_ob_and_etsi_role_names_map_both_ways() {
    for (ob, etsi) in [
        ("AISP", "PSP_AI"),
        ("PISP", "PSP_PI"),
        ("CBPII", "PSP_IC"),
        ("ASPSP", "PSP_AS"),
    ] {
        let a: PspRole = ob.parse().unwrap();
        let b: PspRole = etsi.parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.ob_name(), ob);
        assert_eq!(a.etsi_name(), etsi);
        // Shown (logs, errors, `bulwark certs verify`) by its ETSI name.
        assert_eq!(a.to_string(), etsi);
    }
    // Each refusal has its own stable code for logs and metrics.
    assert_eq!(RoleError::NoPsd2Statement.reason(), "no_psd2_statement");
    assert_eq!(
        RoleError::MissingRole {
            required: PspRole::CardIssuing
        }
        .reason(),
        "missing_role"
    );
    assert_eq!(
        RoleError::UnknownRole("ADMIN".into()).reason(),
        "unknown_role"
    );
    assert_eq!(
        "aisp".parse::<PspRole>().unwrap(),
        PspRole::AccountInformation
    );
    assert!(matches!(
        "ADMIN".parse::<PspRole>(),
        Err(RoleError::UnknownRole(_))
    ));
    let tpp = identity(&[PspRole::AccountInformation, PspRole::PaymentInitiation]);
    assert_eq!(roles_cover(&tpp, &["AISP", "PISP"]), Ok(()));
    assert_eq!(
        roles_cover(&tpp, &["AISP", "CBPII"]),
        Err(RoleError::MissingRole {
            required: PspRole::CardIssuing
        })
    );
    assert!(roles_cover(&tpp, &["AISP", "nonsense"]).is_err());
}

/// ETSI EN 319 412-1 5.1.4: an organizationIdentifier is a three-letter scheme, a two-letter
/// country, a hyphen and the reference; anything else is kept only as it was written.
#[test]
fn cert_8_organisation_identifiers_are_read_only_in_their_standard_shape() {
    let psd = bulwark_certs::OrganizationIdentifier::parse("PSDGB-FCA-123456");
    assert_eq!((psd.scheme.as_str(), psd.country.as_str()), ("PSD", "GB"));
    assert_eq!(psd.competent_authority.as_deref(), Some("FCA"));
    assert_eq!(psd.authorisation_id.as_deref(), Some("123456"));
    // The scheme and country in any case; other ETSI EN 319 412-1 schemes name no NCA.
    let lower = bulwark_certs::OrganizationIdentifier::parse("psdgb-fca-123456");
    assert_eq!(
        (lower.scheme.as_str(), lower.country.as_str()),
        ("PSD", "GB")
    );
    assert_eq!(lower.authorisation_id.as_deref(), Some("123456"));
    let ntr = bulwark_certs::OrganizationIdentifier::parse("NTRGB-12345678");
    assert_eq!((ntr.scheme.as_str(), ntr.country.as_str()), ("NTR", "GB"));
    assert_eq!(ntr.competent_authority, None);
    for odd in [
        "PSDGBR-FCA-123456",
        "PSDG-FCA-1",
        "PSDé-FCA-1",
        "PSDGB",
        "-FCA-1",
    ] {
        let id = bulwark_certs::OrganizationIdentifier::parse(odd);
        assert_eq!(id.raw, odd);
        assert!(
            id.scheme.is_empty() && id.competent_authority.is_none(),
            "{odd}: {id:?}"
        );
    }
}

#[test]
fn cert_8_organisation_identifier_matches_registered_organisation() {
    let tpp = identity(&[PspRole::AccountInformation]);
    let subject =
        bulwark_certs::DistinguishedName::parse_rfc4514("CN=tpp,OU=0015800001041RE,O=Example,C=GB")
            .unwrap();
    let ok = |e: ExpectedOrganisation| organisation_matches(Some(&tpp), &subject, &e);
    assert_eq!(
        ok(ExpectedOrganisation::OrganizationIdentifier(
            "PSDGB-FCA-123456".into()
        )),
        Ok(())
    );
    assert_eq!(
        ok(ExpectedOrganisation::OrganizationIdentifier(
            "psdgb-fca-123456".into()
        )),
        Ok(())
    );
    assert_eq!(
        ok(ExpectedOrganisation::CompetentAuthority {
            authority: "FCA".into(),
            registration_id: "123456".into(),
            member_states: vec!["GB".into()],
        }),
        Ok(())
    );
    // hardening_ssa_authority_forms: the UK directory's NCA + alpha-3 form and the full id.
    for (authority, registration_id) in [
        ("FCAGBR", "123456"),
        ("PSDGB-FCA", "123456"),
        ("FCAGBR", "PSDGB-FCA-123456"),
    ] {
        assert_eq!(
            ok(ExpectedOrganisation::CompetentAuthority {
                authority: authority.into(),
                registration_id: registration_id.into(),
                member_states: vec![],
            }),
            Ok(()),
            "{authority} {registration_id}"
        );
    }
    assert_eq!(
        ok(ExpectedOrganisation::CompetentAuthority {
            authority: "GB-FCA".into(),
            registration_id: "123456".into(),
            member_states: vec![],
        }),
        Ok(())
    );
    assert_eq!(
        ok(ExpectedOrganisation::OrgId("0015800001041RE".into())),
        Ok(())
    );
}

#[test]
fn cert_8_organisation_mismatch_is_reported() {
    let tpp = identity(&[PspRole::AccountInformation]);
    let subject = bulwark_certs::DistinguishedName::parse_rfc4514("CN=tpp,O=Example,C=GB").unwrap();
    let check = |e: ExpectedOrganisation| organisation_matches(Some(&tpp), &subject, &e);
    let err = check(ExpectedOrganisation::OrganizationIdentifier(
        "PSDGB-FCA-999999".into(),
    ))
    .unwrap_err();
    assert_eq!(err.reason(), "organisation_mismatch");
    assert!(matches!(
        check(ExpectedOrganisation::CompetentAuthority {
            authority: "BAFIN".into(),
            registration_id: "123456".into(),
            member_states: vec!["DE".into()],
        }),
        Err(OrgMatchError::Mismatch { .. })
    ));
    // A bare NCA whose country cannot be established is refused, not guessed.
    let bare = check(ExpectedOrganisation::CompetentAuthority {
        authority: "FCA".into(),
        registration_id: "123456".into(),
        member_states: vec![],
    })
    .unwrap_err();
    assert_eq!(bare.reason(), "unusable_authority_claims");
    assert!(matches!(
        check(ExpectedOrganisation::CompetentAuthority {
            authority: "FCAIRL".into(),
            registration_id: "123456".into(),
            member_states: vec![],
        }),
        Err(OrgMatchError::Mismatch { .. })
    ));
    assert!(matches!(
        check(ExpectedOrganisation::CompetentAuthority {
            authority: "DE-FCA".into(),
            registration_id: "123456".into(),
            member_states: vec![],
        }),
        Err(OrgMatchError::Mismatch { .. })
    ));
    assert_eq!(
        check(ExpectedOrganisation::OrgId("0015800001041RE".into())),
        Err(OrgMatchError::NoIdentifier)
    );
    assert_eq!(
        organisation_matches(
            None,
            &subject,
            &ExpectedOrganisation::OrganizationIdentifier("PSDGB-FCA-123456".into())
        ),
        Err(OrgMatchError::NoIdentifier)
    );
    let mut vat = tpp.clone();
    vat.organization_identifier = Some(bulwark_certs::OrganizationIdentifier::parse(
        "VATGB-123456789",
    ));
    assert!(matches!(
        organisation_matches(
            Some(&vat),
            &subject,
            &ExpectedOrganisation::CompetentAuthority {
                authority: "GB-FCA".into(),
                registration_id: "123456789".into(),
                member_states: vec![],
            }
        ),
        Err(OrgMatchError::NotPsd2(_))
    ));
}

#[tokio::test]
async fn cert_6_x5c_sealing_chain_validates_and_exposes_the_certified_key() {
    use base64::Engine;
    use rcgen::PublicKeyData;
    let pki = Pki::new();
    let seal = pki
        .ca
        .issue(&LeafSpec::qsealc("seal", &[PspRole::PaymentInitiation]));
    let x5c: Vec<String> = pki
        .chain(&seal)
        .iter()
        .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
        .collect();
    let chain = bulwark_certs::chain_from_x5c(&x5c).unwrap();
    let v = validator(&pki.root, no_revocation());
    let ok = v.validate(&chain, Purpose::Sealing, now()).await.unwrap();
    let key = rcgen::KeyPair::from_pem(&seal.key_pem).unwrap();
    assert_eq!(ok.public_key_der, key.subject_public_key_info());
    assert_eq!(
        require_role(ok.tpp.as_ref().unwrap(), Api::Payments),
        Ok(())
    );
    let err = bulwark_certs::chain_from_x5c(&["not base64!"]).unwrap_err();
    assert_eq!(err.reason(), "malformed");
}

/// ETSI TS 119 495 5.1 and 5.2.1: the PSD2 statement's nCAId and a `PSD` organizationIdentifier
/// both name the competent authority that authorised the TPP. A certificate where they differ
/// (another country, another authority) is refused for every purpose; the same authority
/// passes, and an identifier of another scheme names no authority to compare.
#[tokio::test]
async fn cert_5_a_psd2_statement_of_another_authority_than_the_organization_identifier_is_refused()
{
    let pki = Pki::new();
    let v = validator(&pki.root, no_revocation());
    let roles = [PspRole::AccountInformation];
    let leaf_of = |org_id: &str| {
        let mut spec = LeafSpec::qwac("tpp-nca", &roles);
        spec.org_id = Some(org_id.into());
        pki.ca.issue(&spec)
    };
    for org_id in ["PSDDE-BAFIN-123456", "PSDIE-FCA-123456", "PSDGB-PRA-123456"] {
        let leaf = leaf_of(org_id);
        for purpose in [Purpose::Qwac, Purpose::Sealing, Purpose::TlsClient] {
            let err = v
                .validate(&pki.chain(&leaf), purpose, now())
                .await
                .unwrap_err();
            assert!(
                matches!(&err, CertError::InconsistentIdentity { detail }
                    if detail.contains("\"GB-FCA\"") && detail.contains(org_id)),
                "{org_id} for {purpose:?}: {err:?}"
            );
            assert_eq!(err.reason(), "inconsistent_identity");
        }
    }
    for org_id in ["PSDGB-FCA-123456", "NTRGB-12345678"] {
        let ok = v
            .validate(&pki.chain(&leaf_of(org_id)), Purpose::Qwac, now())
            .await
            .unwrap();
        let tpp = ok.tpp.unwrap();
        assert_eq!(tpp.organization_identifier.unwrap().raw, org_id);
    }
}
