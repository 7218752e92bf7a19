//! Subject names for `tls_client_auth` (RFC 8705 section 2.1.2): render a certificate subject as
//! an RFC 4514 string and compare it with the registered `tls_client_auth_subject_dn`; extract
//! subjectAltName entries (RFC 5280 section 4.2.1.6) for the `tls_client_auth_san_*` variants.
//!
//! RFC 4514 section 2.1 writes the *last* RDN of the ASN.1 sequence first. x509-cert's `Display`
//! does the opposite, so this module never uses it.

use std::fmt::Write as _;
use std::net::IpAddr;

use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode, Encode, Tag, Tagged};
use serde::Serialize;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

/// Attribute type short names: the RFC 4514 section 3 table first, then common LDAP descriptors
/// (RFC 4519, X.520) that registered DNs use in practice.
const fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

const NAMES: &[(&str, ObjectIdentifier)] = &[
    ("CN", oid("2.5.4.3")),
    ("L", oid("2.5.4.7")),
    ("ST", oid("2.5.4.8")),
    ("O", oid("2.5.4.10")),
    ("OU", oid("2.5.4.11")),
    ("C", oid("2.5.4.6")),
    ("STREET", oid("2.5.4.9")),
    ("DC", oid("0.9.2342.19200300.100.1.25")),
    ("UID", oid("0.9.2342.19200300.100.1.1")),
    ("serialNumber", oid("2.5.4.5")),
    ("organizationIdentifier", oid("2.5.4.97")),
    ("emailAddress", oid("1.2.840.113549.1.9.1")),
    ("SN", oid("2.5.4.4")),
    ("GN", oid("2.5.4.42")),
    ("title", oid("2.5.4.12")),
    ("businessCategory", oid("2.5.4.15")),
    ("postalCode", oid("2.5.4.17")),
    ("jurisdictionC", oid("1.3.6.1.4.1.311.60.2.1.3")),
];

/// Long-form synonyms accepted when parsing a registered DN.
const SYNONYMS: &[(&str, ObjectIdentifier)] = &[
    ("commonName", oid("2.5.4.3")),
    ("localityName", oid("2.5.4.7")),
    ("stateOrProvinceName", oid("2.5.4.8")),
    ("organizationName", oid("2.5.4.10")),
    ("organizationalUnitName", oid("2.5.4.11")),
    ("countryName", oid("2.5.4.6")),
    ("street", oid("2.5.4.9")),
    ("domainComponent", oid("0.9.2342.19200300.100.1.25")),
    ("userId", oid("0.9.2342.19200300.100.1.1")),
    ("E", oid("1.2.840.113549.1.9.1")),
    ("surname", oid("2.5.4.4")),
    ("givenName", oid("2.5.4.42")),
    ("jurisdictionCountryName", oid("1.3.6.1.4.1.311.60.2.1.3")),
];

/// One attribute value: a decoded string, or the DER of a non-string value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    /// A directory string (UTF8String, PrintableString, IA5String, BMPString, ...).
    Text(String),
    /// Any other ASN.1 value, kept as its full DER encoding (rendered `#hex`).
    Der(Vec<u8>),
}

/// One `type=value` pair of a relative distinguished name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ava {
    /// The attribute type (e.g. 2.5.4.3 for CN).
    pub oid: ObjectIdentifier,
    /// The attribute value.
    pub value: AttrValue,
}

/// A distinguished name in ASN.1 order (most significant RDN first), each RDN a set of AVAs.
/// Exists so callers can both render (RFC 4514) and query attributes (OU, organizationIdentifier).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    rdns: Vec<Vec<Ava>>,
}

impl Serialize for DistinguishedName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc4514())
    }
}

impl std::fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc4514())
    }
}

impl DistinguishedName {
    /// Converts an x509-cert `Name`, decoding string values.
    pub fn from_name(name: &Name) -> Self {
        let rdns = name
            .0
            .iter()
            .map(|rdn| {
                rdn.0
                    .iter()
                    .map(|atv| Ava {
                        oid: atv.oid,
                        value: if is_known(&atv.oid) {
                            decode_value(&atv.value)
                        } else {
                            // RFC 4514 2.4: rendered as #hex of the original encoding.
                            AttrValue::Der(atv.value.to_der().unwrap_or_default())
                        },
                    })
                    .collect()
            })
            .collect();
        Self { rdns }
    }

    /// Parses an RFC 4514 string (as registered by a client). Accepts short names, the long
    /// names above, dotted OIDs (optionally prefixed `OID.`), `#hex` values and `\` escapes.
    pub fn parse_rfc4514(s: &str) -> Result<Self, DnParseError> {
        let mut rdns = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { rdns });
        }
        for rdn in split_unescaped(s, b',') {
            let mut avas = Vec::new();
            for ava in split_unescaped(rdn, b'+') {
                let (ty, val) = ava
                    .split_once('=')
                    .ok_or_else(|| DnParseError(format!("missing '=' in {ava:?}")))?;
                let oid = oid_for_name(ty.trim()).ok_or_else(|| {
                    DnParseError(format!("unknown attribute type {:?}", ty.trim()))
                })?;
                avas.push(Ava {
                    oid,
                    value: parse_value(val)?,
                });
            }
            rdns.push(avas);
        }
        // RFC 4514 puts the most significant RDN last; store in ASN.1 order.
        rdns.reverse();
        Ok(Self { rdns })
    }

    /// Renders RFC 4514: last RDN first, `+` between AVAs of one RDN, special characters escaped.
    pub fn to_rfc4514(&self) -> String {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, ava) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                let oid = crate::oid_guard::dotted(&ava.oid);
                let name = NAMES.iter().find(|(_, o)| *o == ava.oid).map(|(n, _)| *n);
                match (name, &ava.value) {
                    (Some(n), AttrValue::Text(t)) => {
                        out.push_str(n);
                        out.push('=');
                        escape_into(&mut out, t);
                    }
                    (None, AttrValue::Text(t)) => {
                        // RFC 4514 2.4: a dotted type takes a #hex BER value.
                        out.push_str(&oid);
                        out.push('=');
                        let der = der::asn1::Utf8StringRef::new(t)
                            .ok()
                            .and_then(|u| u.to_der().ok())
                            .unwrap_or_default();
                        push_hex(&mut out, &der);
                    }
                    (n, AttrValue::Der(d)) => {
                        out.push_str(n.unwrap_or(&oid));
                        out.push('=');
                        push_hex(&mut out, d);
                    }
                }
            }
        }
        out
    }

    /// Every text value of the given attribute type, in certificate order.
    pub fn values(&self, oid: ObjectIdentifier) -> impl Iterator<Item = &str> {
        self.rdns
            .iter()
            .flatten()
            .filter(move |a| a.oid == oid)
            .filter_map(|a| match &a.value {
                AttrValue::Text(t) => Some(t.as_str()),
                AttrValue::Der(_) => None,
            })
    }

    /// True when both names are equal after the [`dn_matches`] normalisation.
    pub fn equivalent(&self, other: &Self) -> bool {
        self.normalised() == other.normalised()
    }

    /// The RDNs in ASN.1 order.
    pub fn rdns(&self) -> &[Vec<Ava>] {
        &self.rdns
    }

    fn normalised(&self) -> Vec<Vec<(String, NormValue)>> {
        self.rdns
            .iter()
            .map(|rdn| {
                let mut v: Vec<_> = rdn
                    .iter()
                    .map(|a| (crate::oid_guard::dotted(&a.oid), NormValue::of(&a.value)))
                    .collect();
                v.sort();
                v
            })
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NormValue {
    Text(String),
    Der(Vec<u8>),
}

impl NormValue {
    fn of(v: &AttrValue) -> Self {
        match v {
            AttrValue::Text(t) => {
                let collapsed = t.split_whitespace().collect::<Vec<_>>().join(" ");
                Self::Text(collapsed.to_lowercase())
            }
            AttrValue::Der(d) => match Any::from_der(d).map(|a| decode_value(&a)) {
                Ok(AttrValue::Text(t)) => Self::of(&AttrValue::Text(t)),
                _ => Self::Der(d.clone()),
            },
        }
    }
}

/// A registered DN string that cannot be parsed as RFC 4514.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 4514 distinguished name: {0}")]
pub struct DnParseError(pub String);

/// RFC 8705 `tls_client_auth_subject_dn` check: true when the certificate subject equals the
/// registered RFC 4514 string after normalisation (attribute types by OID, case-insensitive
/// names, escapes resolved, surrounding and repeated whitespace ignored, values compared
/// case-insensitively, AVAs of a multi-valued RDN as a set). RDN order matters, as in RFC 4514.
/// An unparseable registered value never matches.
pub fn dn_matches(cert_subject: &DistinguishedName, registered: &str) -> bool {
    match DistinguishedName::parse_rfc4514(registered) {
        Ok(reg) => !reg.rdns.is_empty() && reg.normalised() == cert_subject.normalised(),
        Err(_) => false,
    }
}

fn oid_for_name(ty: &str) -> Option<ObjectIdentifier> {
    let dotted = ty
        .strip_prefix("OID.")
        .or_else(|| ty.strip_prefix("oid."))
        .unwrap_or(ty);
    if dotted.starts_with(|c: char| c.is_ascii_digit()) {
        return crate::oid_guard::parse_dotted(dotted);
    }
    NAMES
        .iter()
        .chain(SYNONYMS)
        .find(|(n, _)| n.eq_ignore_ascii_case(ty))
        .map(|(_, o)| *o)
}

fn is_known(oid: &ObjectIdentifier) -> bool {
    NAMES.iter().chain(SYNONYMS).any(|(_, o)| o == oid)
}

fn decode_value(any: &Any) -> AttrValue {
    let v = any.value();
    let text = match any.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::NumericString => std::str::from_utf8(v).ok().map(str::to_owned),
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(v.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    match text {
        Some(t) => AttrValue::Text(t),
        None => AttrValue::Der(any.to_der().unwrap_or_default()),
    }
}

fn parse_value(raw: &str) -> Result<AttrValue, DnParseError> {
    let trimmed = raw.trim_start();
    if let Some(hex) = trimmed.strip_prefix('#') {
        let bytes = decode_hex(hex.trim())
            .ok_or_else(|| DnParseError(format!("bad #hex value {raw:?}")))?;
        Any::from_der(&bytes).map_err(|e| DnParseError(format!("bad BER in #hex value: {e}")))?;
        return Ok(AttrValue::Der(bytes));
    }
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let bytes = trimmed.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let next = bytes
                .get(i + 1)
                .ok_or_else(|| DnParseError("dangling escape".into()))?;
            if next.is_ascii_hexdigit() {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| DnParseError("bad \\xx escape".into()))?;
                out.push(hex);
                i += 3;
            } else {
                out.push(*next);
                i += 2;
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| DnParseError("escape is not UTF-8".into()))?;
    Ok(AttrValue::Text(s.trim().to_owned()))
}

/// Splits on `sep` where it is not escaped with a backslash.
fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(s.get(start..).unwrap_or(""));
    parts
}

fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // NUL and every other control character as a hex pair (RFC 4514 2.4), so a
            // subject read from an unvalidated certificate cannot break a log line.
            c if c.is_control() => {
                let mut utf8 = [0u8; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    let _ = write!(out, "\\{b:02X}");
                }
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            _ => out.push(c),
        }
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    out.push('#');
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The subjectAltName entries RFC 8705 section 2.1.2 lets a client register against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SubjectAltNames {
    /// dNSName entries.
    pub dns: Vec<String>,
    /// uniformResourceIdentifier entries.
    pub uri: Vec<String>,
    /// iPAddress entries.
    pub ip: Vec<IpAddr>,
    /// rfc822Name (e-mail) entries.
    pub email: Vec<String>,
}

/// Which RFC 8705 SAN metadata field a registered value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanKind {
    /// `tls_client_auth_san_dns`
    Dns,
    /// `tls_client_auth_san_uri`
    Uri,
    /// `tls_client_auth_san_ip`
    Ip,
    /// `tls_client_auth_san_email`
    Email,
}

impl SubjectAltNames {
    /// Reads the SAN extension; a certificate without one yields empty lists.
    pub fn from_cert(cert: &Certificate) -> Result<Self, der::Error> {
        let mut out = Self::default();
        let Some(ext) =
            crate::parse::extension(cert, const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
        else {
            return Ok(out);
        };
        let san = SubjectAltName::from_der(ext)?;
        for name in san.0 {
            match name {
                GeneralName::DnsName(s) => out.dns.push(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => out.uri.push(s.to_string()),
                GeneralName::Rfc822Name(s) => out.email.push(s.to_string()),
                GeneralName::IpAddress(o) => match o.as_bytes().len() {
                    4 => {
                        let mut a = [0u8; 4];
                        a.copy_from_slice(o.as_bytes());
                        out.ip.push(IpAddr::from(a));
                    }
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(o.as_bytes());
                        out.ip.push(IpAddr::from(a));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        Ok(out)
    }

    /// RFC 8705 SAN check: DNS names and e-mail domains case-insensitive, IP addresses by value,
    /// URIs exactly.
    pub fn matches(&self, kind: SanKind, registered: &str) -> bool {
        match kind {
            SanKind::Dns => self.dns.iter().any(|d| d.eq_ignore_ascii_case(registered)),
            SanKind::Uri => self.uri.iter().any(|u| u == registered),
            SanKind::Ip => registered
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.ip.contains(&ip)),
            SanKind::Email => self.email.iter().any(|e| email_eq(e, registered)),
        }
    }
}

fn email_eq(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => a == b,
    }
}

#[cfg(test)]
#[path = "dn_tests.rs"]
mod tests;
