//! Object identifiers as Bulwark accepts them from the network. const-oid (0.9) decodes OIDs
//! whose DER is not canonical (a sub-identifier with a leading 0x80 byte) or whose arcs it
//! cannot hold, then panics rendering them, and it encodes arcs that are multiples of 128
//! wrongly (found by the `cert_chain` and `dn` fuzz targets). So certificates whose subject or
//! issuer attribute types are not canonical are refused (`parse::decode_cert`), and dotted forms
//! are rendered and parsed here, never through const-oid's string conversions.

use const_oid::ObjectIdentifier;

/// True when the OID's content octets are canonical DER (X.690 8.19: no leading 0x80 group,
/// no dangling continuation) within what const-oid 0.9 handles without panicking: the first
/// sub-identifier one octet (first arc 0, 1 or 2, second at most 39) and every further arc at
/// most four base-128 octets (below 2^28).
pub fn is_canonical(content: &[u8]) -> bool {
    let Some((&first, rest)) = content.split_first() else {
        return false;
    };
    if first >= 120 || rest.last().is_some_and(|b| b & 0x80 != 0) {
        return false;
    }
    let mut octets = 0;
    for &b in rest {
        if octets == 0 && b == 0x80 {
            return false; // a leading zero group
        }
        octets += 1;
        if octets > 4 {
            return false;
        }
        if b & 0x80 == 0 {
            octets = 0;
        }
    }
    true
}

/// The dotted form of `oid`, computed here: const-oid 0.9 renders some OIDs it decoded from
/// non-canonical DER by panicking, and encodes arcs that are multiples of 128 wrongly. A
/// non-canonical OID (kept out of every certificate Bulwark reads) renders as `0.0`.
pub fn dotted(oid: &ObjectIdentifier) -> String {
    let content = oid.as_bytes();
    if !is_canonical(content) {
        return "0.0".into();
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in content {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Parses a dotted OID (`2.5.4.97`) into its canonical DER form, computed here (see
/// [`dotted`]); `None` unless it is one [`is_canonical`] accepts.
pub fn parse_dotted(s: &str) -> Option<ObjectIdentifier> {
    let arcs: Vec<u64> = s
        .split('.')
        .map(|a| {
            (!a.is_empty()
                && a.bytes().all(|b| b.is_ascii_digit())
                && !(a.len() > 1 && a.starts_with('0')))
            .then(|| a.parse::<u32>().ok().map(u64::from))
            .flatten()
        })
        .collect::<Option<_>>()?;
    let (&a1, rest) = arcs.split_first()?;
    let (&a2, rest) = rest.split_first()?;
    if a1 > 2 || a2 >= 40 || rest.iter().any(|&a| a >= 1 << 28) {
        return None;
    }
    let mut content = Vec::new();
    for value in std::iter::once(a1 * 40 + a2).chain(rest.iter().copied()) {
        let mut groups = vec![(value & 0x7f) as u8];
        let mut v = value >> 7;
        while v > 0 {
            groups.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    ObjectIdentifier::from_bytes(&content).ok()
}

/// Walks DER and checks every OBJECT IDENTIFIER, descending into constructed values and into
/// OCTET and BIT STRINGs that hold DER themselves. For DER known to hold only names (the `dn`
/// fuzz target); never for whole certificates, whose signatures and keys are random bytes that
/// can look like a bad OID.
pub fn all_canonical(der: &[u8]) -> bool {
    walk(der, 0).unwrap_or(true)
}

/// `Some(false)` when a bad OID was found; `None` when `der` is not a sequence of TLVs (not
/// an error here: the certificate parser has the last word on the structure).
fn walk(mut der: &[u8], depth: usize) -> Option<bool> {
    if depth > 32 {
        return Some(true);
    }
    while !der.is_empty() {
        let tag = *der.first()?;
        if tag & 0x1f == 0x1f {
            return None; // high tag numbers do not occur in certificates
        }
        let (len, header) = length(der.get(1..)?)?;
        let end = 1usize.checked_add(header)?.checked_add(len)?;
        let content = der.get(1 + header..end)?;
        let bad = match tag {
            0x06 => !is_canonical(content),
            0x04 => walk(content, depth + 1) == Some(false),
            0x03 => content
                .get(1..)
                .is_some_and(|bits| walk(bits, depth + 1) == Some(false)),
            t if t & 0x20 != 0 => walk(content, depth + 1) == Some(false),
            _ => false,
        };
        if bad {
            return Some(false);
        }
        der = der.get(end..)?;
    }
    Some(true)
}

/// A DER length: (value, octets used).
fn length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first & 0x80 == 0 {
        return Some((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for b in bytes.get(1..=n)? {
        len = (len << 8) | usize::from(*b);
    }
    Some((len, 1 + n))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hardening_non_canonical_and_oversized_oids_are_recognised() {
        // 2.5.4.3 (CN): canonical.
        assert!(is_canonical(&[0x55, 0x04, 0x03]));
        // A leading 0x80 group: 2.5.<0x80 0x00> (non-minimal 0).
        assert!(!is_canonical(&[0x55, 0x80, 0x00]));
        // 2.5.128 written minimally is fine.
        assert!(is_canonical(&[0x55, 0x81, 0x00]));
        // An arc of five octets; a first sub-identifier of two.
        assert!(!is_canonical(&[0x55, 0x90, 0x80, 0x80, 0x80, 0x00]));
        assert!(!is_canonical(&[0x88, 0x37, 0x03]));
        // Truncated (continuation bit on the last byte), empty.
        assert!(!is_canonical(&[0x55, 0x84]));
        assert!(!is_canonical(&[]));
        // Inside a structure: SEQUENCE { OID 2.5.<bad> }.
        assert!(!all_canonical(&[0x30, 0x05, 0x06, 0x03, 0x55, 0x80, 0x00]));
        assert!(all_canonical(&[0x30, 0x05, 0x06, 0x03, 0x55, 0x04, 0x03]));
        // Inside an OCTET STRING holding DER (an extension value).
        assert!(!all_canonical(&[0x04, 0x05, 0x06, 0x03, 0x55, 0x80, 0x00]));
        // Our own dotted forms round-trip, arcs that are multiples of 128 included (const-oid
        // 0.9 encodes 2.5.128 as the non-canonical 55 80 00).
        let oid = parse_dotted("2.5.128").unwrap();
        assert_eq!(oid.as_bytes(), &[0x55, 0x81, 0x00]);
        assert_eq!(dotted(&oid), "2.5.128");
        for s in [
            "2.5.4.97",
            "1.2.840.113549.1.1.1",
            "2.39.268435455",
            "0.39.16384",
        ] {
            assert_eq!(dotted(&parse_dotted(s).unwrap()), s);
        }
        for s in [
            "2",
            "3.1",
            "1.40",
            "2.999.3",
            "2.5.268435456",
            "2..5",
            "2.05",
            "a.b",
        ] {
            assert!(parse_dotted(s).is_none(), "{s}");
        }
        // dotted never panics.
        let bad = ObjectIdentifier::from_bytes(&[0x55, 0x80, 0x00]);
        if let Ok(bad) = bad {
            assert_eq!(dotted(&bad), "0.0");
        }
    }

    #[test]
    fn hardening_oid_bounds_and_wrappers_are_exact() {
        // The first sub-identifier's bound: 119 is 2.39 (the largest const-oid holds in one
        // octet), 120 would be 2.40.
        assert!(is_canonical(&[0x77, 0x01]));
        assert!(!is_canonical(&[0x78, 0x01]));
        // Dotted arcs are digits only: u32's parser would take a sign.
        assert!(parse_dotted("2.5.4.+3").is_none());
        assert!(parse_dotted("2.5.4.3").is_some());
        // A BIT STRING's first octet counts unused bits; the DER after it is walked.
        assert!(!all_canonical(&[
            0x03, 0x06, 0x00, 0x06, 0x03, 0x55, 0x80, 0x00
        ]));
        assert!(all_canonical(&[
            0x03, 0x06, 0x00, 0x06, 0x03, 0x55, 0x04, 0x03
        ]));
        // Every constructed value is walked: a SET (each RDN) and a context tag.
        assert!(!all_canonical(&[0x31, 0x05, 0x06, 0x03, 0x55, 0x80, 0x00]));
        assert!(!all_canonical(&[0xa0, 0x05, 0x06, 0x03, 0x55, 0x80, 0x00]));
        // An indefinite length is not DER: the walk stops there (the parser refuses the
        // structure), it does not read what follows as the next value.
        assert!(all_canonical(&[0x30, 0x80, 0x06, 0x03, 0x55, 0x80, 0x00]));
    }
}
