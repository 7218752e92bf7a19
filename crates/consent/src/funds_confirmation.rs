//! `funds-confirmation-consents` (UK Open Banking Read/Write API v3.1, Confirmation of Funds
//! API specification): the `OBFundsConfirmationConsent1` request, `ExpirationDateTime`
//! optional and not in the past, `DebtorAccount` required.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ConsentError;
use crate::wire::{
    Account, format_datetime, parse_body, parse_datetime, parse_request, rfc3339_text,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Data")]
    data: RequestData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RequestData {
    #[serde(default)]
    expiration_date_time: Option<String>,
    debtor_account: Account,
}

/// The validated content of a funds-confirmation consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FundsConfirmationDetails {
    /// When the consent stops being usable; `None` for open-ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expiration_date_time: Option<OffsetDateTime>,
    /// The account whose funds may be confirmed.
    pub debtor_account: Account,
    /// `ExpirationDateTime` exactly as the TPP wrote it, echoed in every answer in RFC 3339's
    /// form ([`rfc3339_text`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_as_sent: Option<String>,
}

impl FundsConfirmationDetails {
    /// Parses and checks an `OBFundsConfirmationConsent1` body at `now`.
    pub fn parse(body: &[u8], now: OffsetDateTime) -> Result<Self, ConsentError> {
        let req: Request = parse_request(body)?;
        let d = req.data;
        let expiration = d
            .expiration_date_time
            .as_deref()
            .map(|s| parse_datetime("Data.ExpirationDateTime", s))
            .transpose()?;
        if let Some(exp) = expiration
            && exp <= now
        {
            return Err(ConsentError::InvalidDate {
                path: "Data.ExpirationDateTime".into(),
                detail: "ExpirationDateTime is in the past".into(),
            });
        }
        let debtor_account = d.debtor_account.namespaced();
        debtor_account.check("Data.DebtorAccount", false)?;
        Ok(Self {
            expiration_date_time: expiration,
            debtor_account,
            expiration_as_sent: d.expiration_date_time.clone(),
        })
    }

    /// Adds this consent's members to the response `Data` object.
    pub(crate) fn render_into(&self, data: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(t) = self.expiration_date_time {
            let text = self
                .expiration_as_sent
                .as_deref()
                .map_or_else(|| format_datetime(t), rfc3339_text);
            data.insert("ExpirationDateTime".into(), text.into());
        }
        data.insert(
            "DebtorAccount".into(),
            serde_json::to_value(&self.debtor_account).unwrap_or_default(),
        );
    }
}

/// OB Confirmation of Funds v3.1.10 `POST /funds-confirmations` (`OBFundsConfirmation1`): the
/// `Data.ConsentId` a CBPII sends must be its token's consent ("This Id must match the intent
/// identifier"). The rest of the request (`Reference`, `InstructedAmount`) is the bank's to
/// read.
pub fn check_funds_request(consent_id: &str, body: &[u8]) -> Result<(), ConsentError> {
    #[derive(Deserialize)]
    struct FundsRequest {
        #[serde(rename = "Data")]
        data: FundsRequestData,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct FundsRequestData {
        consent_id: String,
    }
    let request: FundsRequest = parse_body(body)?;
    if request.data.consent_id != consent_id {
        return Err(ConsentError::RequestMismatch {
            path: "Data.ConsentId".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn co_1_debtor_account_required_expiry_optional() {
        let ok = json!({"Data": {"DebtorAccount": {
            "SchemeName": "UK.OBIE.IBAN", "Identification": "GB76LOYD30949301273801", "Name": "Andrea Smith"
        }}});
        let d = FundsConfirmationDetails::parse(ok.to_string().as_bytes(), now()).unwrap();
        assert!(d.expiration_date_time.is_none());
        let missing = json!({"Data": {"ExpirationDateTime": "2030-01-01T00:00:00Z"}});
        let e = FundsConfirmationDetails::parse(missing.to_string().as_bytes(), now())
            .unwrap_err()
            .to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Missing");
        assert_eq!(e.errors[0].path.as_deref(), Some("Data.DebtorAccount"));
        let mut past = ok.clone();
        past["Data"]["ExpirationDateTime"] = json!("2001-01-01T00:00:00Z");
        let e = FundsConfirmationDetails::parse(past.to_string().as_bytes(), now())
            .unwrap_err()
            .to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.InvalidDate");
    }

    /// CO-1: `ExpirationDateTime` is answered in RFC 3339, the same instant and offset.
    #[test]
    fn co_1_expiry_is_answered_in_rfc_3339() {
        for (sent, answered) in [
            ("2030-01-01T00:00:00+0000", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T00:00+00", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T00:00:00,25Z", "2030-01-01T00:00:00.25Z"),
            ("2030-01-01T00:00:00+01:00", "2030-01-01T00:00:00+01:00"),
        ] {
            let body = json!({"Data": {"ExpirationDateTime": sent, "DebtorAccount": {
                "SchemeName": "UK.OBIE.IBAN", "Identification": "GB76LOYD30949301273801"
            }}});
            let d = FundsConfirmationDetails::parse(body.to_string().as_bytes(), now()).unwrap();
            let mut data = serde_json::Map::new();
            d.render_into(&mut data);
            assert_eq!(data["ExpirationDateTime"], answered, "{sent}");
            let t = OffsetDateTime::parse(answered, &time::format_description::well_known::Rfc3339)
                .unwrap();
            assert_eq!(Some(t), d.expiration_date_time, "{sent}");
        }
    }
}
