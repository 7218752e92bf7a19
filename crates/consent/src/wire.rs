//! Wire helpers shared by the consent resources: body parsing with OB error paths, ISO 8601
//! date-times with offsets (OB v3.1 "ISODateTime": all dates carry a timezone), OB account
//! identification (`OBCashAccount*`), and the canonical body hash behind `x-idempotency-key`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ConsentError;

/// Parses a JSON body into `T`, turning serde's complaint into the OB error with its path:
/// an unknown member is `Field.Unexpected`, a missing one `Field.Missing`, anything else
/// `Field.Invalid`. A body another parser could read differently is refused first: one with
/// a member twice in an object (parsers disagree on which one counts: a payment's creditor
/// checked here must be the one the bank pays) or anything after the JSON value.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsentError> {
    parse_checked(body, Nulls::Allowed)
}

/// [`parse_body`] for a consent request, which also refuses a `null` outside
/// `SupplementaryData`: no member of OB's request schemas allows one (they are strings,
/// objects, arrays), and serde would read it as absent, so `"ExpirationDateTime": null` would
/// make an open-ended consent and `"DebtorAccount": null` would be kept and echoed. The error
/// is the `Field.Invalid` of any other wrong value, at the member's path.
/// `SupplementaryData` is free-form (`additionalProperties`), so what is inside it is the
/// TPP's.
pub(crate) fn parse_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsentError> {
    parse_checked(body, Nulls::Refused)
}

fn parse_checked<T: DeserializeOwned>(body: &[u8], nulls: Nulls) -> Result<T, ConsentError> {
    unambiguous(body, nulls)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        // serde_path_to_error names an unknown member itself, a missing one by its parent.
        let join = |field: &str| {
            if path == "." || path.is_empty() {
                field.to_owned()
            } else if path == field || path.ends_with(&format!(".{field}")) {
                path.clone()
            } else {
                format!("{path}.{field}")
            }
        };
        if let Some(field) = between(&inner, "missing field `", "`") {
            ConsentError::MissingField { path: join(field) }
        } else if let Some(field) = between(&inner, "unknown field `", "`") {
            ConsentError::UnexpectedField { path: join(field) }
        } else {
            ConsentError::InvalidBody {
                path: if path == "." { "$".into() } else { path },
                detail: strip_position(&inner),
            }
        }
    })
}

/// Refuses a body with a duplicate object member (at its path), a `null` where `nulls` allows
/// none, or trailing data.
fn unambiguous(body: &[u8], nulls: Nulls) -> Result<(), ConsentError> {
    use serde::de::DeserializeSeed;
    let de = &mut serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    Unambiguous(nulls)
        .deserialize(serde_path_to_error::Deserializer::new(&mut *de, &mut track))
        .map_err(|e| ConsentError::InvalidBody {
            path: match track.path().to_string() {
                p if p == "." => "$".into(),
                p => p,
            },
            detail: strip_position(&e.to_string()),
        })?;
    de.end().map_err(|e| ConsentError::InvalidBody {
        path: "$".into(),
        detail: strip_position(&e.to_string()),
    })
}

/// Any JSON value, refused when an object in it names a member twice, or holds a `null`
/// where [`Nulls`] says none may be.
#[derive(Clone, Copy)]
struct Unambiguous(Nulls);

/// Where a `null` may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nulls {
    /// Anywhere.
    Allowed,
    /// Nowhere but inside `SupplementaryData`.
    Refused,
    /// Not this value (a `SupplementaryData`), anything it holds.
    FreeForm,
}

impl Unambiguous {
    /// The check of the value of member `key` (`None`: of an array element).
    fn member(self, key: Option<&str>) -> Self {
        Self(match self.0 {
            Nulls::Refused if key == Some("SupplementaryData") => Nulls::FreeForm,
            Nulls::Refused => Nulls::Refused,
            Nulls::FreeForm | Nulls::Allowed => Nulls::Allowed,
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Unambiguous {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Unambiguous {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        match self.0 {
            Nulls::Allowed => Ok(()),
            Nulls::Refused | Nulls::FreeForm => Err(E::custom(
                "null is not a value of this member: leave the member out",
            )),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_element_seed(self.member(None))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = a.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the member `{key}` appears twice"
                )));
            }
            a.next_value_seed(self.member(Some(&key)))?;
            seen.insert(key);
        }
        Ok(())
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// serde_json appends " at line L column C"; keep the message, drop the position.
fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Parses an ISO 8601 date-time that carries a time zone, in every variation OB's "Date
/// Formats" rule says an ASPSP must accept: the offset as `Z`, `+hh:mm`, `+hhmm` or `+hh`,
/// with or without seconds and fractions of a second (after a dot or a comma). Bounded to years 1970..=9999 in UTC
/// (so `9999-12-31T23:59:59+00:00`, a common "no end", is accepted): every later conversion
/// (UTC rendering, Unix seconds, the UK dates of the consent page, whose summer time never
/// spans a new year) is then defined, so no stored consent can fail to render.
pub(crate) fn parse_datetime(path: &str, s: &str) -> Result<OffsetDateTime, ConsentError> {
    let invalid = |detail: String| ConsentError::InvalidDate {
        path: path.into(),
        detail,
    };
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|e| match iso8601_as_rfc3339(s) {
            Some(normal) => OffsetDateTime::parse(&normal, &Rfc3339),
            None => Err(e),
        })
        .map_err(|e| invalid(format!("not an ISO 8601 date-time with a time zone: {e}")))?;
    let utc = t
        .checked_to_offset(time::UtcOffset::UTC)
        .filter(|u| (1970..=9999).contains(&u.year()));
    match utc {
        Some(_) => Ok(t),
        None => Err(invalid(
            "the date is out of range (years 1970 to 9999)".into(),
        )),
    }
}

/// A date-time [`parse_datetime`] accepted, as an answer carries it: RFC 3339, the swagger's
/// `format: date-time`, which clients read with e.g. Go's `time.RFC3339` or Java's
/// `ISO_OFFSET_DATE_TIME` (neither reads `+0000`). Already RFC 3339: exactly as sent (OB echoes
/// the TPP's dates); another ISO 8601 form: rewritten with the same instant, offset and
/// fraction (`2030-01-01T00:00+0000` -> `2030-01-01T00:00:00+00:00`).
pub(crate) fn rfc3339_text(s: &str) -> String {
    if OffsetDateTime::parse(s, &Rfc3339).is_ok() {
        return s.to_owned();
    }
    iso8601_as_rfc3339(s).unwrap_or_else(|| s.to_owned())
}

/// An ISO 8601 extended-format date-time whose time or offset RFC 3339 does not allow
/// (`hh:mm` without seconds; a decimal comma; an offset `+hhmm` or `+hh`), rewritten in RFC 3339's form; `None`
/// when it is not of that shape (no time zone at all stays refused: its instant is unknown).
fn iso8601_as_rfc3339(s: &str) -> Option<String> {
    let (date, rest) = s.split_once(['T', 't'])?;
    let (time, offset) = match rest.strip_suffix(['Z', 'z']) {
        Some(time) => (time, "Z".to_string()),
        None => {
            let at = rest.rfind(['+', '-'])?;
            let (time, zone) = rest.split_at(at);
            let (sign, rest) = zone.split_at(1);
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            // ASCII only from here, so the splits below fall on character boundaries.
            if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
                return None;
            }
            // Exactly ±hh, ±hhmm or ±hh:mm.
            let (hh, mm) = match (rest.len(), rest.split_once(':')) {
                (2, None) => (rest, "00"),
                (4, None) => rest.split_at(2),
                (5, Some((hh, mm))) if hh.len() == 2 => (hh, mm),
                _ => return None,
            };
            if !digits(hh) || !digits(mm) {
                return None;
            }
            (time, format!("{sign}{hh}:{mm}"))
        }
    };
    // ISO 8601 4.2.2.4: the decimal sign is a comma or a dot; RFC 3339 has the dot only.
    let (clock, fraction) = match time.split_once(['.', ',']) {
        Some((clock, fraction)) => (clock, format!(".{fraction}")),
        None => (time, String::new()),
    };
    let clock = match clock.len() {
        // hh:mm; a fraction there would be of a minute, not of a second: not taken.
        5 if fraction.is_empty() => format!("{clock}:00"),
        8 => clock.to_string(),
        _ => return None,
    };
    Some(format!("{date}T{clock}{fraction}{offset}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod date_tests {
    use super::*;

    /// OB "Date Formats" (ISO 8601 allows a comma as the decimal sign, and prefers it): the
    /// same value as with a dot.
    #[test]
    fn co_1_a_decimal_comma_is_a_decimal_sign() {
        for (comma, dot) in [
            ("2030-01-01T10:43:07,5Z", "2030-01-01T10:43:07.5Z"),
            (
                "2030-01-01T10:43:07,125+0100",
                "2030-01-01T10:43:07.125+01:00",
            ),
            (
                "2030-01-01t10:43:07,000001-05:30",
                "2030-01-01T10:43:07.000001-05:30",
            ),
        ] {
            let t = parse_datetime("p", comma).unwrap_or_else(|e| panic!("{comma}: {e}"));
            assert_eq!(t, parse_datetime("p", dot).unwrap(), "{comma}");
        }
        // A fraction of a minute, a comma without digits, two decimal signs: not taken.
        for bad in [
            "2030-01-01T10:43,5Z",
            "2030-01-01T10:43:07,Z",
            "2030-01-01T10:43:07,5,5Z",
            "2030-01-01T10:43:07.5,5Z",
        ] {
            assert!(parse_datetime("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hardening_consent_dates_that_cannot_be_rendered_are_refused() {
        for bad in [
            "9999-12-31T23:59:59-23:59",
            "9999-12-31T23:00:00-01:00",
            "1969-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00+00:00",
        ] {
            assert!(
                parse_datetime("Data.ExpirationDateTime", bad).is_err(),
                "{bad}"
            );
        }
        let ok = parse_datetime("Data.ExpirationDateTime", "2030-01-01T00:00:00+05:30");
        assert!(ok.is_ok());
    }

    /// OB "Date Formats": every valid ISO 8601 variation of the time zone and of the
    /// seconds is accepted, as the same instant; no time zone, or not a date-time, is not.
    #[test]
    fn co_1_every_iso_8601_variation_of_zone_and_seconds_is_accepted() {
        let instant = parse_datetime("p", "2030-01-01T00:00:00+00:00").unwrap();
        for same in [
            "2030-01-01T00:00+00:00",
            "2030-01-01T00:00:00+0000",
            "2030-01-01T00:00:00+00",
            "2030-01-01T00:00Z",
            "2030-01-01T00:00:00.000Z",
            "2030-01-01T01:00:00+0100",
            "2029-12-31T23:00-01",
            "2030-01-01T05:30:00.5+0530",
        ] {
            let t = parse_datetime("p", same).unwrap_or_else(|e| panic!("{same}: {e}"));
            assert_eq!(t.unix_timestamp(), instant.unix_timestamp(), "{same}");
        }
        assert!(parse_datetime("p", "9999-12-31T23:59:59+00:00").is_ok());
        assert!(parse_datetime("p", "9999-12-31T23:59:59Z").is_ok());
        for bad in [
            "2030-01-01T00:00:00",
            "2030-01-01",
            "2030-01-01T00+00:00",
            "2030-01-01T00:00:00+5",
            "2030-01-01T00:00:00+00:0x",
            "2030-01-01T00:00:00+0:000",
            "2030-01-01T00:00:00+:0:0:0:0",
            "2030-01-01T00:00:00+05:",
            "2030-01-01T10:30.5Z",
            "2030-01-01T00:00:00+1\u{e9}2",
            "2030-01-01T00:00:00-\u{e9}\u{e9}",
            "2030-01-01T0\u{e9}:00Z",
            "2030-01-01T24:61:00Z",
            "tomorrow",
        ] {
            let e = parse_datetime("Data.ExpirationDateTime", bad)
                .unwrap_err()
                .to_ob();
            assert_eq!(
                e.errors[0].error_code.as_str(),
                "UK.OBIE.Field.InvalidDate",
                "{bad}"
            );
        }
    }
}

/// Renders a date-time as OB does: `2017-05-02T00:00:00+00:00`, in UTC, whole seconds.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Seconds since the epoch to a date-time (stored values are always in range).
pub(crate) fn from_unix(secs: i64) -> Result<OffsetDateTime, ConsentError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| ConsentError::Corrupt(format!("time {secs}: {e}")))
}

/// An OB account (`OBCashAccountDebtor4` / `OBCashAccountCreditor3` / CoF `DebtorAccount`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Account {
    /// Account scheme, e.g. `UK.OBIE.SortCodeAccountNumber`.
    pub scheme_name: String,
    /// The identification within the scheme.
    pub identification: String,
    /// The account holder's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Secondary identification (e.g. a building society roll number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_identification: Option<String>,
}

/// Account schemes this server accepts (OB external code set `OBExternalAccountIdentification4Code`).
const SCHEMES: &[&str] = &[
    "UK.OBIE.SortCodeAccountNumber",
    "UK.OBIE.IBAN",
    "UK.OBIE.BBAN",
    "UK.OBIE.PAN",
    "UK.OBIE.Paym",
];

/// The namespaced form of a scheme name: OB v3.1 namespaced the codes (`UK.OBIE.IBAN`), and
/// TPPs built to earlier versions still send the bare ones (`IBAN`); both are accepted and the
/// namespaced one is stored and answered.
pub(crate) fn namespaced_scheme(scheme: &str) -> Option<&'static str> {
    SCHEMES
        .iter()
        .copied()
        .find(|s| *s == scheme || s.strip_prefix("UK.OBIE.") == Some(scheme))
}

/// Rewrites `SchemeName` of the accounts named `members` inside `object` to its namespaced form
/// (unknown schemes are left for [`Account::check`] to refuse).
pub(crate) fn namespace_accounts(object: &mut serde_json::Value, members: &[&str]) {
    for member in members {
        if let Some(scheme) = object
            .get_mut(*member)
            .and_then(|a| a.get_mut("SchemeName"))
            && let Some(namespaced) = scheme.as_str().and_then(namespaced_scheme)
        {
            *scheme = namespaced.into();
        }
    }
}

impl Account {
    /// The account with its scheme name namespaced (`IBAN` -> `UK.OBIE.IBAN`).
    pub(crate) fn namespaced(mut self) -> Self {
        if let Some(n) = namespaced_scheme(&self.scheme_name) {
            self.scheme_name = n.to_owned();
        }
        self
    }

    /// Checks scheme, identification and name lengths; `name_required` for creditor accounts.
    pub(crate) fn check(&self, path: &str, name_required: bool) -> Result<(), ConsentError> {
        if !SCHEMES.contains(&self.scheme_name.as_str()) {
            return Err(ConsentError::UnsupportedScheme {
                path: format!("{path}.SchemeName"),
                scheme: self.scheme_name.clone(),
            });
        }
        check_len(&format!("{path}.Identification"), &self.identification, 256)?;
        if self.scheme_name == "UK.OBIE.SortCodeAccountNumber"
            && !(self.identification.len() == 14
                && self.identification.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConsentError::InvalidField {
                path: format!("{path}.Identification"),
                detail: "a sort code and account number is 14 digits".into(),
            });
        }
        match &self.name {
            Some(n) => check_len(&format!("{path}.Name"), n, 350)?,
            None if name_required => {
                return Err(ConsentError::MissingField {
                    path: format!("{path}.Name"),
                });
            }
            None => {}
        }
        if let Some(s) = &self.secondary_identification {
            check_len(&format!("{path}.SecondaryIdentification"), s, 34)?;
        }
        Ok(())
    }
}

/// A text field of 1..=`max` characters.
pub(crate) fn check_len(path: &str, s: &str, max: usize) -> Result<(), ConsentError> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(ConsentError::InvalidField {
            path: path.into(),
            detail: format!("length must be 1..{max}"),
        });
    }
    Ok(())
}

/// The canonical form of a JSON value: object members sorted by key at every level, no
/// insignificant whitespace. Two bodies that mean the same JSON have the same form.
pub(crate) fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// SHA-256 (hex) of the canonical form of a JSON body.
pub(crate) fn body_hash(body: &serde_json::Value) -> String {
    Sha256::digest(canonical_json(body).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn canonical_form_ignores_member_order_and_whitespace() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, {"y":2,"x":1}], "a": "s"}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":"s","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":"s","b":[1,{"x":1,"y":2}]}"#);
        assert_eq!(body_hash(&a), body_hash(&b));
        let c: serde_json::Value =
            serde_json::from_str(r#"{"a":"t","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_ne!(body_hash(&a), body_hash(&c));
    }

    #[test]
    fn co_1_datetimes_need_an_offset_and_render_with_one() {
        let t = parse_datetime("p", "2026-05-02T10:00:00+01:00").unwrap();
        assert_eq!(format_datetime(t), "2026-05-02T09:00:00+00:00");
        assert!(parse_datetime("p", "2026-05-02T10:00:00.123Z").is_ok());
        for bad in ["2026-05-02T10:00:00", "2026-05-02", "tomorrow"] {
            let err = parse_datetime("Data.ExpirationDateTime", bad).unwrap_err();
            assert!(matches!(err, ConsentError::InvalidDate { .. }), "{bad}");
        }
    }
}
