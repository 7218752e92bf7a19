//! The bodies of Bulwark's fuzz targets, one function per target. `fuzz/` (cargo-fuzz, nightly
//! only) drives them with libFuzzer; `tests/replay.rs` runs them on stable over the committed
//! corpus and every crash ever found (`fuzz/regressions/`), so `cargo test` keeps them fixed.
//! Each function takes any bytes and must neither panic nor hang; where a round trip must hold
//! (a DN we render must parse back to the same DN) it asserts it.

use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use base64::Engine;
use bulwark_certs::parse::{crl_urls, decode_cert, key_usage, ocsp_urls};
use bulwark_certs::{
    CertSummary, CertValidator, DistinguishedName, MtlsMode, MtlsSettings, Purpose,
    RevocationSettings, SubjectAltNames, TppIdentity, TrustAnchors, dn_matches,
};
use bulwark_core::{Client, Form, Profile};
use bulwark_jose::{Alg, Compact, DetachedJws, PublicKey, PublicKeySet};
use der::{Decode, Encode};

/// The fixture issuing CA (public certificate only; see `fixtures/make.sh`).
pub const FIXTURE_CA: &[u8] = include_bytes!("../fixtures/fixture-ca.der");
/// A leaf the fixture CA issued, with OCSP and CRL pointers and a PSD2 organizationIdentifier.
pub const FIXTURE_LEAF: &[u8] = include_bytes!("../fixtures/fixture-leaf.der");
/// The CRL distribution point named in the fixture leaf.
const FIXTURE_CRL_URL: &str = "http://127.0.0.1:9/ca.crl";

/// A target's body: any bytes in, no panic out.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("cert_chain", cert_chain),
    ("dn", dn),
    ("ocsp_response", ocsp_response),
    ("crl", crl),
    ("jws", jws),
    ("forms", forms),
    ("consent_json", consent_json),
    ("proxy_headers", proxy_headers),
    ("gateway_path", gateway_path),
];

/// A fixed instant inside the fixtures' validity (a day after the leaf's notBefore), so a
/// replayed input meets the same verdicts on every run.
fn fixed_now() -> SystemTime {
    static NOW: OnceLock<SystemTime> = OnceLock::new();
    *NOW.get_or_init(|| {
        x509_cert::Certificate::from_der(FIXTURE_LEAF)
            .map(|c| c.tbs_certificate.validity.not_before.to_system_time())
            .unwrap_or(SystemTime::UNIX_EPOCH)
            + Duration::from_secs(86_400)
    })
}

/// Splits concatenated DER objects (at most `max`; a truncated last one is kept as is).
fn split_der(mut data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() && out.len() < max {
        let Ok(mut reader) = der::SliceReader::new(data) else {
            break;
        };
        let Ok(header) = der::Header::decode(&mut reader) else {
            out.push(data);
            break;
        };
        let (Ok(head), Ok(body)) = (
            usize::try_from(der::Reader::position(&reader)),
            usize::try_from(header.length),
        ) else {
            break;
        };
        match head
            .checked_add(body)
            .and_then(|end| data.get(..end).zip(data.get(end..)))
        {
            Some((one, rest)) => {
                out.push(one);
                data = rest;
            }
            None => {
                out.push(data);
                break;
            }
        }
    }
    out
}

/// Polls a future that must complete without waiting (path validation with revocation off).
fn ready<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn validator() -> Option<&'static CertValidator> {
    static V: OnceLock<Option<CertValidator>> = OnceLock::new();
    V.get_or_init(|| {
        let anchors = TrustAnchors::from_ders(vec![FIXTURE_CA.to_vec().into()]);
        let off = RevocationSettings {
            enabled: false,
            cache_size: 64,
            ..RevocationSettings::default()
        };
        CertValidator::new(&anchors, Duration::from_secs(60), off).ok()
    })
    .as_ref()
}

/// A DN rendered by Bulwark must parse back to an equivalent DN.
fn assert_round_trip(dn: &DistinguishedName) {
    let text = dn.to_rfc4514();
    let back = DistinguishedName::parse_rfc4514(&text);
    assert!(
        back.as_ref().is_ok_and(|b| b.equivalent(dn)),
        "rendered DN {text:?} does not parse back: {back:?}"
    );
}

/// Certificate chain parsing and the eIDAS reading: DER certificates back to back, each
/// decoded and read (qcStatements, organizationIdentifier, SANs, AIA, CDP, key usage), the
/// chain as `x5c`, and the whole path validated against the fixture CA for every purpose.
pub fn cert_chain(data: &[u8]) {
    let ders = split_der(data, 12);
    for der in &ders {
        if let Ok(cert) = decode_cert(der) {
            let _ = CertSummary::of(&cert);
            let _ = TppIdentity::from_cert(&cert);
            let _ = SubjectAltNames::from_cert(&cert);
            let _ = ocsp_urls(&cert);
            let _ = crl_urls(&cert);
            let _ = key_usage(&cert);
            assert_round_trip(&DistinguishedName::from_name(&cert.tbs_certificate.subject));
        }
    }
    let x5c: Vec<String> = ders
        .iter()
        .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
        .collect();
    let _ = bulwark_certs::chain_from_x5c(&x5c);
    let chain: Vec<rustls_pki_types::CertificateDer<'static>> =
        ders.iter().map(|d| d.to_vec().into()).collect();
    if let Some(v) = validator() {
        for purpose in [Purpose::TlsClient, Purpose::Qwac, Purpose::Sealing] {
            let _ = ready(v.validate(&chain, purpose, fixed_now()));
        }
    }
}

/// DN parsing and comparison: `registered\ncandidate` as RFC 4514 text (what a registration
/// stores and what a certificate is compared with), and the bytes as a DER Name.
pub fn dn(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (registered, other) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(parsed) = DistinguishedName::parse_rfc4514(registered) {
        assert_round_trip(&parsed);
        let _ = dn_matches(&parsed, other);
        let _ = parsed.equivalent(&parsed);
    }
    if let Ok(name) = x509_cert::name::Name::from_der(data) {
        let dn = DistinguishedName::from_name(&name);
        let _ = dn.to_rfc4514();
        let _ = dn_matches(&dn, other);
        // Certificates with non-canonical OIDs are refused before any DN is read
        // (`oid_guard`); the round trip must hold for every name Bulwark accepts.
        if bulwark_certs::oid_guard::all_canonical(data) {
            assert_round_trip(&dn);
        }
    }
}

/// OCSP responses (RFC 6960) about the fixture leaf from the fixture CA.
pub fn ocsp_response(data: &[u8]) {
    let _ = bulwark_certs::fuzzing::ocsp_response(data, FIXTURE_CA, FIXTURE_LEAF, fixed_now());
}

/// CRLs (RFC 5280 section 5) from the fixture CA's distribution point, checked for the
/// fixture leaf as a leaf and as a CA certificate.
pub fn crl(data: &[u8]) {
    let _ =
        bulwark_certs::fuzzing::crl(data, FIXTURE_CA, FIXTURE_LEAF, FIXTURE_CRL_URL, fixed_now());
}

fn fixture_keys() -> &'static PublicKeySet {
    static KEYS: OnceLock<PublicKeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let spki = x509_cert::Certificate::from_der(FIXTURE_LEAF)
            .ok()
            .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der().ok());
        let key = spki.and_then(|s| PublicKey::from_spki_der(Alg::Es256, &s));
        PublicKeySet::new(key.into_iter().collect())
    })
}

/// Compact JWS (assertions, request objects, SSAs) and detached JWS (`x-jws-signature`):
/// `jws\nbody`, parsed, its header and claims read, verified with the fixture key.
pub fn jws(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (jws, body) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(compact) = Compact::parse(jws) {
        let _ = compact.alg();
        let _ = compact.kid();
        let _ = compact.typ();
        let _ = compact.claims();
        let _ = fixture_keys().verify(&compact);
    }
    if let Ok(detached) = DetachedJws::parse(jws) {
        for key in fixture_keys().keys() {
            let _ = detached.verify(key, body.as_bytes());
        }
    }
    let _ = bulwark_consent::header_kid(jws);
    if let Ok(jwks) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = PublicKeySet::from_jwks(&jwks);
    }
}

fn fixture_client() -> Option<&'static Client> {
    static CLIENT: OnceLock<Option<Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            serde_json::from_value(serde_json::json!({
                "client_id": "fuzz-tpp",
                "token_endpoint_auth_method": "private_key_jwt",
                "redirect_uris": ["https://tpp.example/cb"],
                "response_types": ["code", "code id_token"],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "scope": "openid accounts payments fundsconfirmations",
                "status": "active",
                "client_id_issued_at": 1,
                "updated_at": 1
            }))
            .ok()
        })
        .as_ref()
}

/// Token and PAR form bodies (`application/x-www-form-urlencoded`): the form parser, every
/// grant's parameters, and the whole authorization-request check pipeline for both profiles,
/// pushed and by value.
pub fn forms(data: &[u8]) {
    let Ok(form) = Form::parse(data) else {
        return;
    };
    let _ = bulwark_token::TokenRequest::parse(&form);
    let params = bulwark_par::Params::from_form(&form);
    let _ = params.claims();
    let Some(client) = fixture_client() else {
        return;
    };
    for profile in [Profile::Fapi2, Profile::Fapi1Advanced] {
        for pushed in [true, false] {
            let _ = bulwark_par::checks::run(&bulwark_par::checks::Ctx {
                client,
                profile,
                params: &params,
                pushed,
            });
        }
    }
}

/// Open Banking consent request bodies, as each of the three consent kinds.
pub fn consent_json(data: &[u8]) {
    let now = time::OffsetDateTime::from(fixed_now());
    let _ = bulwark_consent::AccountAccessDetails::parse(data, now);
    let _ = bulwark_consent::FundsConfirmationDetails::parse(data, now);
    if let Ok(payment) = bulwark_consent::DomesticPaymentDetails::parse(data) {
        // A submission carrying exactly the consent's Initiation and Risk is the payment the
        // PSU authorised: it must always be accepted (CO-3), whatever the consent held.
        let own = serde_json::json!({
            "Data": {"ConsentId": "pdc-fuzz", "Initiation": payment.initiation},
            "Risk": payment.risk,
        });
        let verdict = payment.check_submission("pdc-fuzz", own.to_string().as_bytes());
        assert!(
            verdict.is_ok(),
            "the consent's own submission is refused: {verdict:?}"
        );
        let _ = payment.check_submission("pdc-fuzz", data);
        if let Some(code) = payment.local_instrument() {
            let _ = bulwark_consent::LocalInstruments::default().check("p", code);
        }
    }
}

/// Certificate headers from a TLS-terminating proxy: `name: value` lines, read as RFC 9440
/// `Client-Cert` / `Client-Cert-Chain` and as a configured URL-encoded PEM header.
pub fn proxy_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let headers: Vec<(String, &[u8])> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().as_bytes()))
        .collect();
    let lookup = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    for header in [None, Some("X-SSL-Client-Cert".to_owned())] {
        let settings = MtlsSettings {
            mode: MtlsMode::Proxy,
            trusted_proxies: vec![ipnet::IpNet::from(peer)],
            header,
            revalidate_issuer: true,
        };
        if let Ok(Some(chain)) = bulwark_certs::extract_proxied_chain(&settings, peer, lookup) {
            for cert in &chain {
                let _ = decode_cert(cert);
            }
        }
    }
}

/// The gateway's route table entry every fuzzed path is matched against.
fn fixture_route() -> Option<&'static bulwark_gateway::route::Route> {
    static ROUTE: OnceLock<Option<bulwark_gateway::route::Route>> = OnceLock::new();
    ROUTE
        .get_or_init(|| {
            serde_json::from_value::<bulwark_gateway::RouteConfig>(serde_json::json!({
                "method": "GET",
                "path": "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
                "upstream": "http://127.0.0.1:9",
                "api": "balances",
                "account_param": "AccountId",
            }))
            .ok()
            .and_then(|c| bulwark_gateway::route::Route::new(&c).ok())
        })
        .as_ref()
}

/// Percent-decodes one path segment as an upstream would (a malformed escape is kept).
fn percent_decode(segment: &[u8]) -> Vec<u8> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(segment.len());
    let mut i = 0;
    while i < segment.len() {
        match (segment[i], segment.get(i + 1), segment.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(hex(h).unwrap_or(0) << 4 | hex(l).unwrap_or(0));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Gateway request paths (GW-1): a path the gateway would match and forward as it is
/// (`route::is_plain`) must mean the same to an upstream that decodes it, once or twice:
/// every decoded byte printable ASCII, no segment that decodes to `.` or `..` or holds `/`,
/// `\`, `;` or `%`. A matched account parameter is the raw segment.
pub fn gateway_path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let matched = fixture_route().and_then(|r| r.matches("GET", path));
    if !bulwark_gateway::route::is_plain(path) {
        assert!(
            matched.is_none(),
            "a path that is not plain matched: {path:?}"
        );
        return;
    }
    for segment in path.split('/') {
        let once = percent_decode(segment.as_bytes());
        assert!(
            once.iter().all(|b| (0x20..0x7f).contains(b)),
            "{path:?}: a segment decodes outside printable ASCII"
        );
        assert!(
            !once.iter().any(|b| b"/\\;%".contains(b)),
            "{path:?}: a segment decodes to a separator or an escape"
        );
        assert!(
            once != b"." && once != b"..",
            "{path:?}: a segment decodes to a dot segment"
        );
        assert_eq!(
            percent_decode(&once),
            once,
            "{path:?}: decoding twice differs"
        );
    }
    if let Some(params) = matched {
        let account = params
            .iter()
            .find(|(n, _)| n == "AccountId")
            .map(|(_, v)| v);
        assert!(
            account.is_some_and(|a| path.split('/').any(|s| s == a)),
            "{path:?}: the account is not a raw segment"
        );
    }
}
