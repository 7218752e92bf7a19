//! `account-access-consents` (UK Open Banking Read/Write API v3.1, Account and Transaction API
//! specification, "Account Access Consents"): the `OBReadConsent1` request, its CO-3 checks
//! (permissions and their dependencies, ExpirationDateTime not in the past, transaction window
//! in order) and the `OBReadConsentResponse1` data.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ConsentError;
use crate::permissions::{Permission, parse_permissions};
use crate::wire::{format_datetime, parse_datetime, parse_request, rfc3339_text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Data")]
    data: RequestData,
    #[serde(rename = "Risk")]
    risk: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RequestData {
    permissions: Vec<String>,
    #[serde(default)]
    expiration_date_time: Option<String>,
    #[serde(default)]
    transaction_from_date_time: Option<String>,
    #[serde(default)]
    transaction_to_date_time: Option<String>,
}

/// The validated content of an account-access consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountAccessDetails {
    /// The granted permission codes, sorted, without duplicates.
    pub permissions: Vec<Permission>,
    /// When the consent stops being usable; `None` for open-ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expiration_date_time: Option<OffsetDateTime>,
    /// Start of the transaction window.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub transaction_from_date_time: Option<OffsetDateTime>,
    /// End of the transaction window.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub transaction_to_date_time: Option<OffsetDateTime>,
    /// The `Risk` block as sent.
    pub risk: serde_json::Value,
    /// The date members exactly as the TPP wrote them, by member name: echoed in every answer
    /// (OB: never re-rendered into UTC), in RFC 3339's form ([`rfc3339_text`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub dates_as_sent: std::collections::BTreeMap<String, String>,
}

impl AccountAccessDetails {
    /// Parses and checks an `OBReadConsent1` body at `now` (CO-3).
    pub fn parse(body: &[u8], now: OffsetDateTime) -> Result<Self, ConsentError> {
        let req: Request = parse_request(body)?;
        // OBRisk2 (v3.1.10) is an object with no properties and additionalProperties false.
        if let Some(member) = req.risk.keys().next() {
            return Err(ConsentError::UnexpectedField {
                path: format!("Risk.{member}"),
            });
        }
        let d = req.data;
        let permissions = parse_permissions(&d.permissions)?;
        // OB v3.1.10 Account and Transaction API profile, "Permissions": "The permissions
        // array must contain at least ReadAccountsBasic or ReadAccountsDetail" (without the
        // account list no resource of the consent could be reached).
        if !permissions.iter().any(|p| {
            matches!(
                p,
                Permission::ReadAccountsBasic | Permission::ReadAccountsDetail
            )
        }) {
            return Err(ConsentError::InvalidField {
                path: "Data.Permissions".into(),
                detail: "must contain ReadAccountsBasic or ReadAccountsDetail".into(),
            });
        }
        let date = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_datetime(&format!("Data.{name}"), s))
                .transpose()
        };
        let expiration = date("ExpirationDateTime", &d.expiration_date_time)?;
        let from = date("TransactionFromDateTime", &d.transaction_from_date_time)?;
        let to = date("TransactionToDateTime", &d.transaction_to_date_time)?;
        if let Some(exp) = expiration
            && exp <= now
        {
            return Err(ConsentError::InvalidDate {
                path: "Data.ExpirationDateTime".into(),
                detail: "ExpirationDateTime is in the past".into(),
            });
        }
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(ConsentError::InvalidDate {
                path: "Data.TransactionFromDateTime".into(),
                detail: "TransactionFromDateTime is after TransactionToDateTime".into(),
            });
        }
        let dates_as_sent = [
            ("ExpirationDateTime", &d.expiration_date_time),
            ("TransactionFromDateTime", &d.transaction_from_date_time),
            ("TransactionToDateTime", &d.transaction_to_date_time),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.clone().map(|v| (name.to_owned(), v)))
        .collect();
        Ok(Self {
            permissions,
            expiration_date_time: expiration,
            transaction_from_date_time: from,
            transaction_to_date_time: to,
            risk: serde_json::Value::Object(req.risk),
            dates_as_sent,
        })
    }

    /// Adds this consent's members to the response `Data` object.
    pub(crate) fn render_into(&self, data: &mut serde_json::Map<String, serde_json::Value>) {
        let perms: Vec<&str> = self.permissions.iter().map(|p| p.as_str()).collect();
        data.insert("Permissions".into(), perms.into());
        for (name, value) in [
            ("ExpirationDateTime", self.expiration_date_time),
            ("TransactionFromDateTime", self.transaction_from_date_time),
            ("TransactionToDateTime", self.transaction_to_date_time),
        ] {
            if let Some(t) = value {
                let text = self
                    .dates_as_sent
                    .get(name)
                    .map_or_else(|| format_datetime(t), |s| rfc3339_text(s));
                data.insert(name.into(), text.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap()
    }

    fn parse(v: serde_json::Value) -> Result<AccountAccessDetails, ConsentError> {
        AccountAccessDetails::parse(v.to_string().as_bytes(), now())
    }

    fn ok_body() -> serde_json::Value {
        json!({
            "Data": {
                "Permissions": ["ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail", "ReadTransactionsCredits"],
                "ExpirationDateTime": "2027-01-01T00:00:00+00:00",
                "TransactionFromDateTime": "2026-01-01T00:00:00+00:00",
                "TransactionToDateTime": "2026-12-31T23:59:59+01:00"
            },
            "Risk": {}
        })
    }

    #[test]
    fn co_3_valid_request_parses() {
        let d = parse(ok_body()).unwrap();
        assert_eq!(d.permissions.len(), 4);
        assert!(d.expiration_date_time.is_some());
        let mut data = serde_json::Map::new();
        d.render_into(&mut data);
        assert_eq!(data["ExpirationDateTime"], "2027-01-01T00:00:00+00:00");
        // ob_dates_as_sent: echoed exactly as received (OB v3.1.10), not re-rendered in UTC;
        // the instant is still what the checks use.
        assert_eq!(data["TransactionToDateTime"], "2026-12-31T23:59:59+01:00");
        assert_eq!(
            d.transaction_to_date_time.map(|t| t.unix_timestamp()),
            Some(1_798_757_999)
        );
        // A consent stored before the as-sent dates were kept renders in UTC.
        let mut old = d.clone();
        old.dates_as_sent.clear();
        let mut data = serde_json::Map::new();
        old.render_into(&mut data);
        assert_eq!(data["TransactionToDateTime"], "2026-12-31T22:59:59+00:00");
    }

    /// CO-1: the answer's dates are RFC 3339 (the swagger's `format: date-time`, what Go's
    /// `time.RFC3339` and Java's `ISO_OFFSET_DATE_TIME` read): an ISO 8601 form RFC 3339 lacks
    /// is rewritten with the same instant, offset and fraction; an RFC 3339 one is as sent.
    #[test]
    fn co_1_dates_are_answered_in_rfc_3339() {
        for (sent, answered) in [
            ("2030-01-01T00:00:00+0000", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T00:00:00+00", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T00:00+00:00", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T05:30Z", "2030-01-01T05:30:00Z"),
            (
                "2030-01-01T01:00:00.250+0100",
                "2030-01-01T01:00:00.250+01:00",
            ),
            ("2029-12-31T23:00-01", "2029-12-31T23:00:00-01:00"),
            ("2030-01-01T10:43:07,5Z", "2030-01-01T10:43:07.5Z"),
            ("2030-01-01T10:43:07.5+01:00", "2030-01-01T10:43:07.5+01:00"),
        ] {
            let mut b = ok_body();
            b["Data"]["ExpirationDateTime"] = json!(sent);
            b["Data"]["TransactionFromDateTime"] = json!(sent);
            b["Data"]["TransactionToDateTime"] = json!(sent);
            let d = parse(b).unwrap();
            let mut data = serde_json::Map::new();
            d.render_into(&mut data);
            for name in [
                "ExpirationDateTime",
                "TransactionFromDateTime",
                "TransactionToDateTime",
            ] {
                assert_eq!(data[name], answered, "{name} {sent}");
                let t = OffsetDateTime::parse(
                    data[name].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                let instant = d.expiration_date_time.unwrap();
                assert_eq!(t, instant, "{sent}");
                assert_eq!(t.offset(), instant.offset(), "{sent}");
            }
        }
    }

    /// CO-1: an optional member sent as `null` is no value of its schema (a string): refused,
    /// not read as absent (which would make an open-ended consent).
    #[test]
    fn co_1_a_null_member_is_invalid() {
        let b = json!({"Data": {"Permissions": ["ReadAccountsBasic"], "ExpirationDateTime": null},
                       "Risk": {}});
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.status, 400);
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Invalid");
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.ExpirationDateTime"));
        let b = json!({"Data": {"Permissions": ["ReadAccountsBasic", null]}, "Risk": {}});
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Invalid");
        assert!(
            e.errors[0]
                .path
                .as_deref()
                .is_some_and(|p| p.starts_with("Data.Permissions")),
            "{e:?}"
        );
    }

    #[test]
    fn co_3_past_expiry_and_reversed_window_are_invalid_dates() {
        let mut b = ok_body();
        b["Data"]["ExpirationDateTime"] = json!("2020-01-01T00:00:00+00:00");
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.InvalidDate");
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.ExpirationDateTime"));
        // The present instant is already past: an expiry must lie ahead of the request.
        let mut b = ok_body();
        b["Data"]["ExpirationDateTime"] = json!("2025-06-15T15:06:40+00:00");
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.ExpirationDateTime"));
        let mut b = ok_body();
        b["Data"]["ExpirationDateTime"] = json!("2025-06-15T15:06:41+00:00");
        assert!(parse(b).is_ok(), "one second ahead");
        let mut b = ok_body();
        b["Data"]["TransactionFromDateTime"] = json!("2027-01-01T00:00:00+00:00");
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.InvalidDate");
        let mut b = ok_body();
        b["Data"]["TransactionToDateTime"] = json!("2026-12-31");
        assert!(matches!(
            parse(b).unwrap_err(),
            ConsentError::InvalidDate { .. }
        ));
    }

    #[test]
    fn co_1_shape_errors_carry_ob_codes_and_paths() {
        let mut b = ok_body();
        b["Data"].as_object_mut().unwrap().remove("Permissions");
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.status, 400);
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Missing");
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.Permissions"));
        let mut b = ok_body();
        b["Data"]["Extra"] = json!(1);
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Unexpected");
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.Extra"));
        let mut b = ok_body();
        b.as_object_mut().unwrap().remove("Risk");
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].path.as_deref(), Some("Risk"));
        // ob_account_access_risk_is_obrisk2: an empty object and nothing else (v3.1.10).
        let mut b = ok_body();
        b["Risk"] = json!({"PaymentContextCode": "Other"});
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Unexpected");
        assert_eq!(e.errors[0].path.as_deref(), Some("Risk.PaymentContextCode"));
        let e = AccountAccessDetails::parse(b"not json", now())
            .unwrap_err()
            .to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Invalid");
        let mut b = ok_body();
        b["Data"]["Permissions"] = json!("ReadBalances");
        let e = parse(b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.Permissions"));
    }
}
