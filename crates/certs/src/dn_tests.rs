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
    let rdns = vec![
        vec![atv("2.5.4.6", printable("GB"))],
        vec![atv("2.5.4.10", utf8("Open Banking"))],
        vec![atv("2.5.4.11", utf8("0015800001041RE"))],
        vec![atv("2.5.4.3", utf8("client, \"one\"+#1 "))],
    ];
    let name = RdnSequence(
        rdns.into_iter()
            .map(|r| RelativeDistinguishedName(der::asn1::SetOfVec::try_from(r).unwrap()))
            .collect(),
    );
    DistinguishedName::from_name(&name)
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
