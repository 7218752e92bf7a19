//! CERT-2 load-balancer mode: RFC 9440 and URL-encoded PEM headers, trusted and untrusted peers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bulwark_certs::{MtlsMode, MtlsSettings, ProxyError, Purpose, extract_proxied_chain};
use common::*;

fn settings(header: Option<&str>) -> MtlsSettings {
    serde_json::from_value(serde_json::json!({
        "mode": "proxy",
        "trusted_proxies": ["10.0.0.0/8", "::1/128"],
        "header": header,
    }))
    .unwrap()
}

fn lookup<'a>(h: &'a HashMap<&'static str, Vec<u8>>) -> impl Fn(&str) -> Option<&'a [u8]> + 'a {
    move |name| h.get(name).map(Vec::as_slice)
}

const PROXY: &str = "10.1.2.3";
const STRANGER: &str = "203.0.113.9";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn cert_2_rfc9440_headers_from_a_trusted_proxy_give_a_valid_chain() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("proxied"));
    let mut h = HashMap::new();
    h.insert(
        "client-cert",
        format!(":{}:", STANDARD.encode(&leaf.der)).into_bytes(),
    );
    h.insert(
        "client-cert-chain",
        format!(":{}:", STANDARD.encode(pki.ca.der())).into_bytes(),
    );
    let chain = extract_proxied_chain(&settings(None), ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(chain, pki.chain(&leaf));
    let v = validator(&pki.root, no_revocation());
    let ok = v.validate(&chain, Purpose::TlsClient, now()).await.unwrap();
    assert_eq!(ok.x5t_s256, bulwark_certs::x5t_s256(&leaf.der));
    // IPv4-mapped IPv6 peer addresses count as the IPv4 proxy.
    let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
    assert!(
        extract_proxied_chain(&settings(None), mapped, lookup(&h))
            .unwrap()
            .is_some()
    );
}

#[test]
fn cert_2_rfc9440_chain_list_with_several_members_and_parameters() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("proxied"));
    let mut h = HashMap::new();
    h.insert(
        "client-cert",
        format!(":{}:;x=1", STANDARD.encode(&leaf.der)).into_bytes(),
    );
    h.insert(
        "client-cert-chain",
        format!(
            ":{}: , :{}:",
            STANDARD.encode(pki.ca.der()),
            STANDARD.encode(pki.root.der())
        )
        .into_bytes(),
    );
    let chain = extract_proxied_chain(&settings(None), ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(chain.len(), 3);
}

#[test]
fn cert_2_url_encoded_pem_header_from_a_trusted_proxy() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("nginx"));
    // What nginx's $ssl_client_escaped_cert produces.
    let escaped =
        percent_encoding::utf8_percent_encode(&leaf.pem, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut h = HashMap::new();
    h.insert("x-ssl-client-cert", escaped.into_bytes());
    let s = settings(Some("X-SSL-Client-Cert"));
    let chain = extract_proxied_chain(&s, ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(chain, vec![leaf.der.clone()]);
    // nginx sends an empty value when the client sent no certificate.
    h.insert("x-ssl-client-cert", Vec::new());
    assert_eq!(
        extract_proxied_chain(&s, ip(PROXY), lookup(&h)).unwrap(),
        None
    );
}

#[test]
fn cert_2_certificate_headers_from_an_untrusted_peer_are_rejected() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("spoofed"));
    let mut h = HashMap::new();
    h.insert(
        "client-cert",
        format!(":{}:", STANDARD.encode(&leaf.der)).into_bytes(),
    );
    let err = extract_proxied_chain(&settings(None), ip(STRANGER), lookup(&h)).unwrap_err();
    assert!(matches!(err, ProxyError::UntrustedPeer { .. }), "{err:?}");
    assert_eq!(err.reason(), "untrusted_proxy");
    let mut h = HashMap::new();
    h.insert("x-ssl-client-cert", b"whatever".to_vec());
    let err = extract_proxied_chain(
        &settings(Some("x-ssl-client-cert")),
        ip(STRANGER),
        lookup(&h),
    )
    .unwrap_err();
    assert!(matches!(err, ProxyError::UntrustedPeer { .. }));
    // No header from a stranger: simply no proxied certificate.
    let empty = HashMap::new();
    assert_eq!(
        extract_proxied_chain(&settings(None), ip(STRANGER), lookup(&empty)).unwrap(),
        None
    );
}

#[test]
fn cert_2_direct_mode_ignores_forwarding_headers() {
    let mut h = HashMap::new();
    h.insert("client-cert", b":AAAA:".to_vec());
    let direct = MtlsSettings::default();
    assert_eq!(direct.mode, MtlsMode::Direct);
    assert!(direct.revalidate_issuer);
    assert_eq!(
        extract_proxied_chain(&direct, ip(STRANGER), lookup(&h)).unwrap(),
        None
    );
}

#[test]
fn cert_2_malformed_headers_are_clear_errors_not_panics() {
    let s = settings(Some("x-ssl-client-cert"));
    let cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("client-cert", b"not-sf-binary".to_vec()),
        ("client-cert", b":!!!notbase64!!!:".to_vec()),
        ("client-cert", b"::".to_vec()),
        ("client-cert", b":AAAA".to_vec()),
        ("client-cert", vec![0xff, 0xfe, 0x3a]),
        ("client-cert", vec![b'A'; 70 * 1024]),
        (
            "x-ssl-client-cert",
            b"-----BEGIN%20CERTIFICATE-----%0AAAA".to_vec(),
        ),
        ("x-ssl-client-cert", b"hello%20world".to_vec()),
    ];
    let rfc9440_only = settings(None);
    for (name, value) in cases {
        let mut h = HashMap::new();
        h.insert(name, value);
        let mode = if name == "client-cert" {
            &rfc9440_only
        } else {
            &s
        };
        let err = extract_proxied_chain(mode, ip(PROXY), lookup(&h)).unwrap_err();
        assert!(
            matches!(err, ProxyError::Malformed { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    // RFC 9440 mode: a chain without a leaf.
    let rfc = MtlsSettings {
        header: None,
        ..s.clone()
    };
    let mut h = HashMap::new();
    h.insert("client-cert-chain", b":AAAA:".to_vec());
    assert!(matches!(
        extract_proxied_chain(&rfc, ip(PROXY), lookup(&h)),
        Err(ProxyError::Inconsistent(_))
    ));
    // With a PEM header configured, a caller's own RFC 9440 header is never believed: a proxy
    // that only sets the PEM header passes it through unchanged.
    let mut h = HashMap::new();
    h.insert("client-cert", b":AAAA:".to_vec());
    assert!(matches!(
        extract_proxied_chain(&s, ip(PROXY), lookup(&h)),
        Ok(None)
    ));
    h.insert("x-ssl-client-cert", b"x".to_vec());
    assert!(matches!(
        extract_proxied_chain(&s, ip(PROXY), lookup(&h)),
        Err(ProxyError::Malformed { .. })
    ));
}

#[tokio::test]
async fn cert_2_garbage_der_in_a_well_formed_header_fails_validation_cleanly() {
    let pki = Pki::new();
    let mut h = HashMap::new();
    h.insert(
        "client-cert",
        format!(":{}:", STANDARD.encode(b"definitely not DER")).into_bytes(),
    );
    let chain = extract_proxied_chain(&settings(None), ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    let err = validator(&pki.root, no_revocation())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "malformed");
}

/// An sf-binary item of opaque bytes (extraction does not parse the DER).
fn item(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

/// The bounds a proxy's RFC 9440 headers are held to, to the unit: a header of 64 KiB is read
/// and one byte more is refused unread; a chain of 10 certificates (the leaf and 9) is taken and
/// an 11th refused. And the forms a proxy may legitimately write are read: an empty chain
/// header (no intermediates), whitespace around the item, base64 without padding.
#[test]
fn cert_2_rfc9440_headers_are_read_to_their_bounds() {
    let s = settings(None);
    let mut h = HashMap::new();
    let limit = 64 * 1024;
    h.insert(
        "client-cert",
        format!(":{}:", "A".repeat(limit - 2)).into_bytes(),
    );
    let at_limit = extract_proxied_chain(&s, ip(PROXY), lookup(&h));
    assert!(at_limit.is_ok(), "{at_limit:?}");
    h.insert(
        "client-cert",
        format!(":{}:", "A".repeat(limit - 1)).into_bytes(),
    );
    let over = extract_proxied_chain(&s, ip(PROXY), lookup(&h)).unwrap_err();
    assert!(over.to_string().contains("too long"), "{over}");

    h.insert("client-cert", item(&[1, 2, 3]).into_bytes());
    h.insert(
        "client-cert-chain",
        vec![item(&[4, 5, 6]); 9].join(", ").into_bytes(),
    );
    let ten = extract_proxied_chain(&s, ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(ten.len(), 10);
    h.insert(
        "client-cert-chain",
        vec![item(&[4, 5, 6]); 10].join(", ").into_bytes(),
    );
    let eleven = extract_proxied_chain(&s, ip(PROXY), lookup(&h)).unwrap_err();
    assert!(eleven.to_string().contains("too many"), "{eleven}");

    h.insert("client-cert-chain", Vec::new());
    h.insert("client-cert", b"  :AQIDBA:  ".to_vec());
    let leaf_only = extract_proxied_chain(&s, ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(leaf_only, vec![vec![1u8, 2, 3, 4].into()]);
    h.insert("client-cert", b":AQIDBA==:".to_vec());
    let padded = extract_proxied_chain(&s, ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(padded, leaf_only);
}

/// nginx's escaped PEM header: "no certificate" in each spelling nginx setups write is no
/// certificate (not an error); a chain of up to 10 certificates is read, an 11th refused.
#[test]
fn cert_2_pem_headers_say_none_as_nginx_does_and_hold_at_most_ten() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("nginx"));
    let s = settings(Some("x-ssl-client-cert"));
    let mut h = HashMap::new();
    for none in ["", "-", "(null)", " - "] {
        h.insert("x-ssl-client-cert", none.as_bytes().to_vec());
        assert_eq!(
            extract_proxied_chain(&s, ip(PROXY), lookup(&h)).unwrap(),
            None,
            "{none:?}"
        );
    }
    let escaped = |n: usize| {
        percent_encoding::utf8_percent_encode(
            &leaf.pem.repeat(n),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string()
        .into_bytes()
    };
    h.insert("x-ssl-client-cert", escaped(10));
    let ten = extract_proxied_chain(&s, ip(PROXY), lookup(&h))
        .unwrap()
        .unwrap();
    assert_eq!(ten.len(), 10);
    h.insert("x-ssl-client-cert", escaped(11));
    let eleven = extract_proxied_chain(&s, ip(PROXY), lookup(&h)).unwrap_err();
    assert!(eleven.to_string().contains("too many"), "{eleven}");
}

/// A stranger's chain header alone is as much a spoofing attempt as a leaf header.
#[test]
fn cert_2_a_chain_header_alone_from_an_untrusted_peer_is_refused() {
    let mut h = HashMap::new();
    h.insert("client-cert-chain", item(&[4, 5, 6]).into_bytes());
    let err = extract_proxied_chain(&settings(None), ip(STRANGER), lookup(&h)).unwrap_err();
    assert!(
        matches!(&err, ProxyError::UntrustedPeer { header, .. } if header == "client-cert-chain"),
        "{err:?}"
    );
}

#[test]
fn cert_2_settings_are_strict_and_defaulted() {
    let s: MtlsSettings = serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(s, MtlsSettings::default());
    let err = serde_json::from_value::<MtlsSettings>(
        serde_json::json!({"mode": "proxy", "trusted_proxy": []}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("trusted_proxy"), "{err}");
    assert!(serde_json::from_value::<MtlsSettings>(serde_json::json!({"mode": "tunnel"})).is_err());
    assert!(
        serde_json::from_value::<MtlsSettings>(
            serde_json::json!({"trusted_proxies": ["not-a-cidr"]})
        )
        .is_err()
    );
    let s = settings(None);
    assert!(s.is_trusted_proxy(ip("10.255.0.1")));
    assert!(s.is_trusted_proxy(ip("::1")));
    assert!(!s.is_trusted_proxy(ip("11.0.0.1")));
}

#[tokio::test]
async fn cert_2_trusting_the_proxy_skips_issuer_checks_but_not_dates_or_purpose() {
    let pki = Pki::new();
    let other = Pki::named("Elsewhere");
    let leaf = other.ca.issue(&LeafSpec::plain("vouched-for"));
    let v = validator(&pki.root, fast_settings());
    let mut trust = settings(None);
    trust.revalidate_issuer = false;
    let ok = v
        .validate_forwarded(&trust, &other.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(
        ok.revocation.source,
        bulwark_certs::RevocationSource::Skipped
    );
    let later = now() + std::time::Duration::from_secs(60 * 24 * 3600);
    let err = v
        .validate_forwarded(&trust, &other.chain(&leaf), Purpose::TlsClient, later)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "expired");
    let earlier = now() - std::time::Duration::from_secs(2 * 24 * 3600);
    let err = v
        .validate_forwarded(&trust, &other.chain(&leaf), Purpose::TlsClient, earlier)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "not_yet_valid");
    let err = v
        .validate_forwarded(&trust, &other.chain(&leaf), Purpose::Qwac, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "not_qwac");
    // Nor the purpose's key usage: a server certificate is no TLS client certificate, a seal
    // without keyUsage no seal.
    let mut spec = LeafSpec::plain("server-only");
    spec.eku = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server = other.ca.issue(&spec);
    let err = v
        .validate_forwarded(&trust, &other.chain(&server), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "wrong_eku");
    let mut spec = LeafSpec::qsealc("seal-no-ku", &[bulwark_certs::PspRole::PaymentInitiation]);
    spec.ku = Vec::new();
    let seal = other.ca.issue(&spec);
    let err = v
        .validate_forwarded(&trust, &other.chain(&seal), Purpose::Sealing, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "wrong_key_usage");
    // The default re-validates: the unknown issuer is caught.
    let err = v
        .validate_forwarded(
            &settings(None),
            &other.chain(&leaf),
            Purpose::TlsClient,
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "unknown_issuer");
}
