//! Unit tests for RFC 4514 rendering and matching (CA-2 / RFC 8705 section 2.1.2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use der::asn1::{PrintableStringRef, Utf8StringRef};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

fn atv(oid: &str, value: Any) -> AttributeTypeAndValue {
    AttributeTypeAndValue {
        oid: ObjectIdentifier::new(oid).unwrap(),
        value,
    }
}

fn utf8(s: &str) -> Any {
    Any::encode_from(&Utf8StringRef::new(s).unwrap()).unwrap()
}

fn printable(s: &str) -> Any {
    Any::encode_from(&PrintableStringRef::new(s).unwrap()).unwrap()
}

/// C=GB, O=Open Banking, OU=0015800001041RE, CN=client 1 (ASN.1 order, most significant first).
fn ob_name() -> DistinguishedName {
    one_rdn_each(vec![
        atv("2.5.4.6", printable("GB")),
        atv("2.5.4.10", utf8("Open Banking")),
        atv("2.5.4.11", utf8("0015800001041RE")),
        atv("2.5.4.3", utf8("client, \"one\"+#1 ")),
    ])
}

/// A name of one single-valued RDN per AVA, in ASN.1 order (most significant first).
fn one_rdn_each(avas: Vec<AttributeTypeAndValue>) -> DistinguishedName {
    DistinguishedName::from_name(&RdnSequence(
        avas.into_iter()
            .map(|a| RelativeDistinguishedName(der::asn1::SetOfVec::try_from(vec![a]).unwrap()))
            .collect(),
    ))
}

#[test]
fn ca_2_renders_rfc4514_most_significant_last_with_escapes() {
    assert_eq!(
        ob_name().to_rfc4514(),
        r#"CN=client\, \"one\"\+#1\ ,OU=0015800001041RE,O=Open Banking,C=GB"#
    );
}

/// A subject from an unvalidated certificate is logged: its control characters (a newline
/// forging a log line, NUL, DEL, C1 controls) are rendered as RFC 4514 hex pairs, and the
/// rendering still parses back to the same name.
#[test]
fn hardening_control_characters_render_as_hex_pairs() {
    let name = RdnSequence(vec![RelativeDistinguishedName(
        der::asn1::SetOfVec::try_from(vec![atv(
            "2.5.4.3",
            utf8("tpp\nlevel=INFO forged\r\u{0}\u{7f}\u{85}end"),
        )])
        .unwrap(),
    )]);
    let dn = DistinguishedName::from_name(&name);
    let rendered = dn.to_rfc4514();
    assert_eq!(rendered, r"CN=tpp\0Alevel=INFO forged\0D\00\7F\C2\85end");
    assert!(!rendered.chars().any(char::is_control));
    assert!(dn_matches(&dn, &rendered));
}

#[test]
fn ca_2_dn_matching_normalises_types_spaces_case_and_escapes() {
    let dn = ob_name();
    for registered in [
        r#"CN=client\, \"one\"\+#1\ ,OU=0015800001041RE,O=Open Banking,C=GB"#,
        r#"cn=CLIENT\, \"ONE\"\+#1 , ou=0015800001041RE , o=open   banking , c=gb"#,
        r#"commonName=client\2c \22one\22\2b#1,2.5.4.11=0015800001041RE,organizationName=Open Banking,countryName=GB"#,
        r#"CN=client\, "one"\+#1,OU=0015800001041RE,O=Open Banking,OID.2.5.4.6=GB"#,
        "CN=client\\, \\\"one\\\"\\+#1,OU=0015800001041RE,O=Open Banking,C=#13024742",
    ] {
        assert!(dn_matches(&dn, registered), "{registered}");
    }
    for registered in [
        "C=GB,O=Open Banking,OU=0015800001041RE,CN=client\\, \\\"one\\\"\\+#1", // reversed order
        "CN=client,OU=0015800001041RE,O=Open Banking,C=GB",
        "OU=0015800001041RE,O=Open Banking,C=GB",
        "CN=client\\, \\\"one\\\"\\+#1,OU=0015800001041RE,O=Open Banking,C=GB,DC=extra",
        "",
        "not a dn",
        "XX=1",
        "CN=\\",
    ] {
        assert!(!dn_matches(&dn, registered), "{registered:?}");
    }
}

#[test]
fn ca_2_multi_valued_rdns_compare_as_sets() {
    let dn = DistinguishedName::parse_rfc4514("CN=a+UID=42,O=Org").unwrap();
    assert!(dn_matches(&dn, "UID=42+CN=A, O=org"));
    assert!(!dn_matches(&dn, "CN=a,UID=42,O=Org"));
    assert_eq!(dn.to_rfc4514(), "CN=a+UID=42,O=Org");
}

#[test]
fn ca_2_unknown_types_render_as_oid_and_hex() {
    let dn = DistinguishedName::parse_rfc4514("1.2.3.4=hello,CN=x").unwrap();
    assert_eq!(dn.to_rfc4514(), "1.2.3.4=#0c0568656c6c6f,CN=x");
    assert!(dn_matches(&dn, "1.2.3.4=#0c0568656c6c6f,CN=x"));
    assert!(dn_matches(&dn, "1.2.3.4=HELLO,CN=x"));
}

#[test]
fn ca_2_san_matching() {
    let sans = SubjectAltNames {
        dns: vec!["tpp.example.com".into()],
        uri: vec!["https://tpp.example.com/software/1".into()],
        ip: vec!["192.0.2.7".parse().unwrap(), "2001:db8::1".parse().unwrap()],
        email: vec!["ops@TPP.example.com".into()],
    };
    assert!(sans.matches(SanKind::Dns, "TPP.example.com"));
    assert!(!sans.matches(SanKind::Dns, "evil.example.com"));
    assert!(sans.matches(SanKind::Uri, "https://tpp.example.com/software/1"));
    assert!(!sans.matches(SanKind::Uri, "https://TPP.example.com/software/1"));
    assert!(sans.matches(SanKind::Ip, "2001:0db8:0:0::1"));
    assert!(!sans.matches(SanKind::Ip, "192.0.2.8"));
    assert!(!sans.matches(SanKind::Ip, "not an ip"));
    assert!(sans.matches(SanKind::Email, "ops@tpp.example.com"));
    assert!(!sans.matches(SanKind::Email, "OPS@tpp.example.com"));
}

#[test]
fn ca_2_unknown_types_from_a_certificate_keep_their_original_encoding() {
    let name = RdnSequence(vec![
        RelativeDistinguishedName(
            der::asn1::SetOfVec::try_from(vec![atv("2.5.4.3", utf8("x"))]).unwrap(),
        ),
        RelativeDistinguishedName(
            der::asn1::SetOfVec::try_from(vec![atv("1.2.3.4", printable("abc"))]).unwrap(),
        ),
    ]);
    let dn = DistinguishedName::from_name(&name);
    assert_eq!(dn.to_rfc4514(), "1.2.3.4=#1303616263,CN=x");
    assert!(dn_matches(&dn, "1.2.3.4=#1303616263,CN=x"));
    assert!(dn_matches(&dn, "1.2.3.4=ABC,CN=X"));
    assert!(
        dn_matches(&dn, "OID.1.2.3.4=#0c03616263, CN=x"),
        "same string, other string type"
    );
}

fn any_of(tag: der::Tag, content: &[u8]) -> Any {
    Any::new(tag, content).unwrap()
}

/// Inner spaces are a part of the value (only runs of them collapse), and a registered DN names
/// every RDN of the subject: its least significant RDN alone is not the subject.
#[test]
fn ca_2_a_registered_dn_is_the_whole_subject_with_its_inner_spaces() {
    let dn = ob_name();
    for registered in [
        r#"CN=client\, \"one\"\+#1\ ,OU=0015800001041RE,O=OpenBanking,C=GB"#,
        r#"CN=client\, \"one\"\+#1\ "#,
        r#"CN=client\, \"one\"\+#1\ ,OU=0015800001041RE"#,
    ] {
        assert!(!dn_matches(&dn, registered), "{registered}");
    }
    // An empty registration never matches, even a certificate with an empty subject.
    let empty = DistinguishedName::default();
    assert!(!dn_matches(&empty, ""));
    assert!(!dn_matches(&empty, "   "));
}

/// Each short name and synonym names its own attribute type: `L` is the locality (not the
/// state), `E` the e-mail address (not the common name).
#[test]
fn ca_2_attribute_type_names_map_to_their_own_oids() {
    let dn = one_rdn_each(vec![
        atv("2.5.4.6", printable("GB")),
        atv("2.5.4.8", utf8("Kent")),
        atv("2.5.4.7", utf8("Canterbury")),
        atv(
            "1.2.840.113549.1.9.1",
            Any::new(der::Tag::Ia5String, b"ops@tpp.example".as_slice()).unwrap(),
        ),
        atv("2.5.4.3", utf8("tpp")),
    ]);
    assert!(dn_matches(
        &dn,
        "CN=tpp,E=ops@tpp.example,L=Canterbury,ST=Kent,C=GB"
    ));
    assert!(dn_matches(
        &dn,
        "CN=tpp,emailAddress=ops@tpp.example,localityName=Canterbury,stateOrProvinceName=Kent,C=GB"
    ));
    assert!(!dn_matches(
        &dn,
        "CN=tpp,E=ops@tpp.example,ST=Canterbury,L=Kent,C=GB"
    ));
    let cn_only = one_rdn_each(vec![atv("2.5.4.3", utf8("ops@tpp.example"))]);
    assert!(!dn_matches(&cn_only, "E=ops@tpp.example"));
}

/// A multi-valued RDN is compared as a whole set: one shared AVA is not enough.
#[test]
fn ca_2_a_multi_valued_rdn_matches_only_with_all_its_avas() {
    let dn = DistinguishedName::parse_rfc4514("CN=a+UID=42,O=Org").unwrap();
    for registered in ["UID=42+CN=evil,O=Org", "UID=42,O=Org", "CN=a,O=Org"] {
        assert!(!dn_matches(&dn, registered), "{registered}");
    }
}

/// RFC 4514 2.4: a leading `#` and the characters `;`, `<`, `>` are escaped, so the rendering
/// reads back as the same text (not as a #hex value, not split by an RFC 2253 reader).
#[test]
fn ca_2_rendering_escapes_a_leading_hash_and_rfc2253_separators() {
    let dn = one_rdn_each(vec![
        atv("2.5.4.10", utf8("a;b<c>d")),
        atv("2.5.4.3", utf8("#ab")),
    ]);
    let rendered = dn.to_rfc4514();
    assert_eq!(rendered, r"CN=\#ab,O=a\;b\<c\>d");
    assert!(dn_matches(&dn, &rendered));
    assert_eq!(DistinguishedName::parse_rfc4514(&rendered).unwrap(), dn);
}

/// A `#hex` value must be one BER value; bytes that are not (a BOOLEAN announcing two octets
/// with none) are refused when the DN is registered.
#[test]
fn ca_2_a_hex_value_that_is_not_ber_is_refused() {
    assert!(DistinguishedName::parse_rfc4514("CN=#0102").is_err());
    assert!(DistinguishedName::parse_rfc4514("CN=#0c0161").is_ok());
}

/// Values in BMPString (UTF-16 big-endian), TeletexString (Latin-1 in practice) and with
/// non-ASCII letters compare as their text, case-insensitively beyond ASCII.
#[test]
fn ca_2_bmp_teletex_and_non_ascii_values_compare_as_text() {
    let bmp = one_rdn_each(vec![atv(
        "2.5.4.3",
        any_of(der::Tag::BmpString, &[0x00, 0x74, 0x00, 0x70, 0x00, 0xe9]),
    )]);
    assert!(dn_matches(&bmp, "CN=tpé"));
    assert_eq!(bmp.to_rfc4514(), "CN=tpé");
    let teletex = one_rdn_each(vec![atv(
        "2.5.4.3",
        any_of(der::Tag::TeletexString, &[0x74, 0x70, 0xe9]),
    )]);
    assert!(dn_matches(&teletex, "CN=tpé"));
    let accented = one_rdn_each(vec![atv("2.5.4.10", utf8("ÉCOLE"))]);
    assert!(dn_matches(&accented, "O=école"));
}

/// tls_client_auth_san_dns names one host: its subdomains are other hosts.
#[test]
fn ca_2_a_registered_dns_name_does_not_cover_its_subdomains() {
    let sans = SubjectAltNames {
        dns: vec!["tpp.example.com".into()],
        ..SubjectAltNames::default()
    };
    assert!(!sans.matches(SanKind::Dns, "example.com"));
    assert!(sans.matches(SanKind::Dns, "tpp.example.com"));
}

/// iPAddress entries of both families are read from a real certificate's extension.
#[test]
fn ca_2_ip_address_sans_of_both_families_are_read_from_the_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![
        rcgen::SanType::IpAddress("192.0.2.7".parse().unwrap()),
        rcgen::SanType::IpAddress("2001:db8::7".parse().unwrap()),
    ];
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let cert = Certificate::from_der(&der).unwrap();
    let sans = SubjectAltNames::from_cert(&cert).unwrap();
    assert!(sans.matches(SanKind::Ip, "2001:db8::7"));
    assert!(sans.matches(SanKind::Ip, "192.0.2.7"));
    assert_eq!(sans.ip.len(), 2);
}
