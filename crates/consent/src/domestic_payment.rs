//! `domestic-payment-consents` (UK Open Banking Read/Write API v3.1, Payment Initiation API
//! specification, "Domestic Payment Consents"): the `OBWriteDomesticConsent` request with its
//! `Initiation` (`InstructedAmount` as `OBActiveCurrencyAndAmount`: `^\d{1,13}(\.\d{1,5})?$`,
//! ISO 4217 `^[A-Z]{3}$`) and `Risk`. The Initiation and Risk are kept exactly as sent, since
//! payment details are immutable (CO-3) and the payment submission must match them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ConsentError;
use crate::wire::{Account, canonical_json, check_len, parse_body, parse_request, rfc3339_text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Data")]
    data: RequestData,
    #[serde(rename = "Risk")]
    risk: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RequestData {
    #[serde(default)]
    read_refund_account: Option<ReadRefundAccount>,
    initiation: Value,
    #[serde(default)]
    authorisation: Option<serde_json::Map<String, Value>>,
    #[serde(default, rename = "SCASupportData")]
    sca_support_data: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct Initiation {
    instruction_identification: String,
    end_to_end_identification: String,
    #[serde(default)]
    local_instrument: Option<String>,
    instructed_amount: InstructedAmount,
    #[serde(default)]
    debtor_account: Option<Account>,
    creditor_account: Account,
    #[serde(default)]
    creditor_postal_address: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    remittance_information: Option<RemittanceInformation>,
    #[serde(default)]
    supplementary_data: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct InstructedAmount {
    amount: String,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RemittanceInformation {
    #[serde(default)]
    unstructured: Option<String>,
    #[serde(default)]
    reference: Option<String>,
}

/// `Data.ReadRefundAccount` (v3.1.4 and later): whether the PISP asks to read the account a
/// refund would go to (the debtor's), answered in the payment's `Refund` by the bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadRefundAccount {
    /// The PISP asks for the refund account.
    Yes,
    /// It does not.
    No,
}

/// The validated content of a domestic-payment consent, kept as sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomesticPaymentDetails {
    /// `Data.ReadRefundAccount`, if sent (echoed in every answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_refund_account: Option<ReadRefundAccount>,
    /// `Data.Initiation` exactly as sent.
    pub initiation: Value,
    /// `Data.Authorisation`, if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation: Option<Value>,
    /// `Data.SCASupportData`, if sent.
    #[serde(
        default,
        rename = "SCASupportData",
        skip_serializing_if = "Option::is_none"
    )]
    pub sca_support_data: Option<Value>,
    /// `Risk` exactly as sent.
    pub risk: Value,
    /// The bank's terms, fixed when the consent was created.
    #[serde(default)]
    pub terms: crate::payment_terms::PaymentTerms,
}

const INIT: &str = "Data.Initiation";
/// The Initiation's account members.
const ACCOUNTS: &[&str] = &["CreditorAccount", "DebtorAccount"];

impl DomesticPaymentDetails {
    /// `Initiation.LocalInstrument`, when sent (checked against the bank's list by the
    /// service).
    pub fn local_instrument(&self) -> Option<&str> {
        self.initiation
            .get("LocalInstrument")
            .and_then(Value::as_str)
    }

    /// Parses and checks an `OBWriteDomesticConsent` body.
    pub fn parse(body: &[u8]) -> Result<Self, ConsentError> {
        let req: Request = parse_request(body)?;
        let mut raw = req.data.initiation;
        // Bare scheme names (`IBAN`) are stored and answered namespaced (`UK.OBIE.IBAN`).
        crate::wire::namespace_accounts(&mut raw, ACCOUNTS);
        let init: Initiation = parse_body(raw.to_string().as_bytes()).map_err(prefix)?;
        check_len(
            &format!("{INIT}.InstructionIdentification"),
            &init.instruction_identification,
            35,
        )?;
        check_len(
            &format!("{INIT}.EndToEndIdentification"),
            &init.end_to_end_identification,
            35,
        )?;
        if let Some(li) = &init.local_instrument {
            check_len(&format!("{INIT}.LocalInstrument"), li, 50)?;
        }
        check_amount(&init.instructed_amount.amount)?;
        check_currency(&init.instructed_amount.currency)?;
        init.creditor_account
            .check(&format!("{INIT}.CreditorAccount"), true)?;
        if let Some(d) = &init.debtor_account {
            d.check(&format!("{INIT}.DebtorAccount"), false)?;
        }
        if let Some(r) = &init.remittance_information {
            if let Some(u) = &r.unstructured {
                check_len(
                    &format!("{INIT}.RemittanceInformation.Unstructured"),
                    u,
                    140,
                )?;
            }
            if let Some(reference) = &r.reference {
                check_len(
                    &format!("{INIT}.RemittanceInformation.Reference"),
                    reference,
                    35,
                )?;
            }
        }
        if let Some(address) = &init.creditor_postal_address {
            crate::payment_schema::check_postal_address(
                &format!("{INIT}.CreditorPostalAddress"),
                &Value::Object(address.clone()),
            )?;
        }
        let _ = &init.supplementary_data;
        let risk = Value::Object(req.risk);
        crate::payment_schema::check_risk(&risk)?;
        let authorisation = req.data.authorisation.map(Value::Object);
        if let Some(a) = &authorisation {
            crate::payment_schema::check_authorisation(a)?;
        }
        let sca_support_data = req.data.sca_support_data.map(Value::Object);
        if let Some(s) = &sca_support_data {
            crate::payment_schema::check_sca_support_data(s)?;
        }
        Ok(Self {
            read_refund_account: req.data.read_refund_account,
            initiation: raw,
            authorisation,
            sca_support_data,
            risk,
            terms: Default::default(),
        })
    }

    /// Adds this consent's members to the response `Data` object.
    pub(crate) fn render_into(&self, data: &mut serde_json::Map<String, Value>) {
        if let Some(r) = self.read_refund_account {
            let word = match r {
                ReadRefundAccount::Yes => "Yes",
                ReadRefundAccount::No => "No",
            };
            data.insert("ReadRefundAccount".into(), word.into());
        }
        // OBWriteDomesticConsentResponse5: the bank's terms; Charges is 0..n, present as []
        // when the bank levies none.
        let t = &self.terms;
        for (name, at) in [
            ("CutOffDateTime", t.cut_off_date_time),
            ("ExpectedExecutionDateTime", t.expected_execution_date_time),
            (
                "ExpectedSettlementDateTime",
                t.expected_settlement_date_time,
            ),
        ] {
            if let Some(at) = at {
                data.insert(name.into(), crate::wire::format_datetime(at).into());
            }
        }
        data.insert(
            "Charges".into(),
            serde_json::to_value(&t.charges).unwrap_or_else(|_| Value::Array(Vec::new())),
        );
        data.insert("Initiation".into(), self.initiation.clone());
        if let Some(a) = &self.authorisation {
            // Kept as sent; its date answered in RFC 3339's form, as every answer's dates.
            let mut a = a.clone();
            if let Some(t) = a.get_mut("CompletionDateTime")
                && let Some(text) = t.as_str().map(rfc3339_text)
            {
                *t = text.into();
            }
            data.insert("Authorisation".into(), a);
        }
        if let Some(s) = &self.sca_support_data {
            data.insert("SCASupportData".into(), s.clone());
        }
    }

    /// CO-3: a payment submission (`OBWriteDomestic`: `Data.ConsentId`, `Data.Initiation`,
    /// `Risk`) must carry exactly the consent's Initiation and Risk.
    pub fn check_submission(&self, consent_id: &str, body: &[u8]) -> Result<(), ConsentError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Submission {
            #[serde(rename = "Data")]
            data: SubmissionData,
            #[serde(rename = "Risk")]
            risk: Value,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "PascalCase")]
        struct SubmissionData {
            consent_id: String,
            initiation: Value,
        }
        let mut s: Submission = parse_body(body)?;
        crate::wire::namespace_accounts(&mut s.data.initiation, ACCOUNTS);
        if s.data.consent_id != consent_id {
            return Err(ConsentError::PaymentMismatch {
                path: "Data.ConsentId".into(),
            });
        }
        if canonical_json(&s.data.initiation) != canonical_json(&self.initiation) {
            return Err(ConsentError::PaymentMismatch { path: INIT.into() });
        }
        if canonical_json(&s.risk) != canonical_json(&self.risk) {
            return Err(ConsentError::PaymentMismatch {
                path: "Risk".into(),
            });
        }
        Ok(())
    }
}

/// Paths inside the Initiation are reported from the body's root.
fn prefix(e: ConsentError) -> ConsentError {
    let p = |path: String| {
        if path == "$" {
            INIT.to_owned()
        } else {
            format!("{INIT}.{path}")
        }
    };
    match e {
        ConsentError::MissingField { path } => ConsentError::MissingField { path: p(path) },
        ConsentError::UnexpectedField { path } => ConsentError::UnexpectedField { path: p(path) },
        ConsentError::InvalidBody { path, detail } => ConsentError::InvalidBody {
            path: p(path),
            detail,
        },
        other => other,
    }
}

/// `OBActiveOrHistoricCurrencyAndAmount`: `^\d{1,13}(\.\d{1,5})?$` and greater than zero.
fn check_amount(amount: &str) -> Result<(), ConsentError> {
    let path = format!("{INIT}.InstructedAmount.Amount");
    let invalid = |detail: &str| ConsentError::InvalidField {
        path: path.clone(),
        detail: detail.into(),
    };
    let (int, frac) = match amount.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (amount, None),
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(int, 13) || frac.is_some_and(|f| !digits(f, 5)) {
        return Err(invalid("amount must match ^\\d{1,13}(\\.\\d{1,5})?$"));
    }
    let nonzero = int
        .bytes()
        .chain(frac.unwrap_or("").bytes())
        .any(|b| b != b'0');
    if !nonzero {
        return Err(invalid("amount must be greater than zero"));
    }
    Ok(())
}

/// ISO 4217 alphabetic code: `^[A-Z]{3}$`.
fn check_currency(currency: &str) -> Result<(), ConsentError> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ConsentError::InvalidField {
            path: format!("{INIT}.InstructedAmount.Currency"),
            detail: "currency must match ^[A-Z]{3}$".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    pub(crate) fn body(amount: &str, currency: &str) -> Value {
        json!({
            "Data": {"Initiation": {
                "InstructionIdentification": "ACME412",
                "EndToEndIdentification": "FRESCO.21302.GFX.20",
                "InstructedAmount": {"Amount": amount, "Currency": currency},
                "CreditorAccount": {
                    "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                    "Identification": "08080021325698",
                    "Name": "ACME Inc"
                },
                "RemittanceInformation": {"Reference": "FRESCO-101", "Unstructured": "Internal ops code 5120101"}
            }},
            "Risk": {"PaymentContextCode": "EcommerceGoods"}
        })
    }

    fn parse(v: &Value) -> Result<DomesticPaymentDetails, ConsentError> {
        DomesticPaymentDetails::parse(v.to_string().as_bytes())
    }

    /// ob_bare_scheme_names: `SortCodeAccountNumber` is accepted, stored namespaced, and a
    /// submission repeating the bare name still matches the consent.
    #[test]
    fn ob_bare_scheme_names_are_namespaced() {
        let mut b = body("10.00", "GBP");
        b["Data"]["Initiation"]["CreditorAccount"]["SchemeName"] = json!("SortCodeAccountNumber");
        b["Data"]["Initiation"]["DebtorAccount"] =
            json!({"SchemeName": "IBAN", "Identification": "GB76LOYD30949301273801"});
        let d = parse(&b).unwrap();
        assert_eq!(
            d.initiation["CreditorAccount"]["SchemeName"],
            "UK.OBIE.SortCodeAccountNumber"
        );
        assert_eq!(d.initiation["DebtorAccount"]["SchemeName"], "UK.OBIE.IBAN");
        let submission = json!({"Data": {"ConsentId": "pdc-1", "Initiation": b["Data"]["Initiation"]},
            "Risk": b["Risk"]});
        d.check_submission("pdc-1", submission.to_string().as_bytes())
            .unwrap();
        let mut unknown = body("10.00", "GBP");
        unknown["Data"]["Initiation"]["CreditorAccount"]["SchemeName"] = json!("OBIE.IBAN");
        assert!(matches!(
            parse(&unknown).unwrap_err(),
            ConsentError::UnsupportedScheme { .. }
        ));
    }

    /// CO-1: `Authorisation.CompletionDateTime` is answered in RFC 3339, the same instant and
    /// offset; the rest of the Authorisation as sent.
    #[test]
    fn co_1_completion_date_time_is_answered_in_rfc_3339() {
        for (sent, answered) in [
            ("2030-01-01T00:00+0000", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T00:00:00+00", "2030-01-01T00:00:00+00:00"),
            ("2030-01-01T00:00:00,5+0100", "2030-01-01T00:00:00.5+01:00"),
            ("2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        ] {
            let mut b = body("10.00", "GBP");
            b["Data"]["Authorisation"] =
                json!({"AuthorisationType": "Single", "CompletionDateTime": sent});
            let d = parse(&b).unwrap();
            let mut data = serde_json::Map::new();
            d.render_into(&mut data);
            assert_eq!(
                data["Authorisation"],
                json!({"AuthorisationType": "Single", "CompletionDateTime": answered}),
                "{sent}"
            );
            let rfc3339 = time::format_description::well_known::Rfc3339;
            assert!(time::OffsetDateTime::parse(answered, &rfc3339).is_ok());
        }
    }

    /// CO-1: an optional member sent as `null` is refused with its path (the swagger types it
    /// an object), not echoed as null; SupplementaryData is free-form and may hold one.
    #[test]
    fn co_1_a_null_member_is_invalid() {
        let mut b = body("10.00", "GBP");
        b["Data"]["Initiation"]["DebtorAccount"] = Value::Null;
        let e = parse(&b).unwrap_err().to_ob();
        assert_eq!(e.status, 400);
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Invalid");
        assert_eq!(
            e.errors[0].path.as_deref(),
            Some("Data.Initiation.DebtorAccount")
        );
        let mut b = body("10.00", "GBP");
        b["Risk"]["MerchantCategoryCode"] = Value::Null;
        let e = parse(&b).unwrap_err().to_ob();
        assert_eq!(
            e.errors[0].path.as_deref(),
            Some("Risk.MerchantCategoryCode")
        );
        let mut b = body("10.00", "GBP");
        b["Data"]["Initiation"]["SupplementaryData"] = json!({"Note": null});
        assert!(parse(&b).is_ok());
        let mut b = body("10.00", "GBP");
        b["Data"]["Initiation"]["SupplementaryData"] = Value::Null;
        assert!(parse(&b).is_err());
    }

    #[test]
    fn co_3_amounts() {
        for ok in ["1", "0.01", "165.88", "1234567890123.12345", "00001.5"] {
            assert!(parse(&body(ok, "GBP")).is_ok(), "{ok}");
        }
        for bad in [
            "0",
            "0.00",
            "-1",
            "-1.00",
            "1.2.3",
            "1.123456",
            "",
            ".5",
            "5.",
            "1e3",
            "12345678901234",
            " 1",
        ] {
            let e = parse(&body(bad, "GBP")).unwrap_err().to_ob();
            assert_eq!(
                e.errors[0].error_code.as_str(),
                "UK.OBIE.Field.Invalid",
                "{bad}"
            );
            assert_eq!(
                e.errors[0].path.as_deref(),
                Some("Data.Initiation.InstructedAmount.Amount"),
                "{bad}"
            );
        }
    }

    #[test]
    fn co_3_currencies() {
        for bad in ["gbp", "GBPX", "GB", "G1P", ""] {
            let e = parse(&body("1.00", bad)).unwrap_err().to_ob();
            assert_eq!(
                e.errors[0].path.as_deref(),
                Some("Data.Initiation.InstructedAmount.Currency"),
                "{bad}"
            );
        }
    }

    #[test]
    fn co_1_initiation_shape_errors_have_full_paths() {
        let mut b = body("1.00", "GBP");
        b["Data"]["Initiation"]["CreditorAccount"]
            .as_object_mut()
            .unwrap()
            .remove("Name");
        let e = parse(&b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Missing");
        assert_eq!(
            e.errors[0].path.as_deref(),
            Some("Data.Initiation.CreditorAccount.Name")
        );
        let mut b = body("1.00", "GBP");
        b["Data"]["Initiation"]["CreditorAccount"]["SchemeName"] = json!("UK.OBIE.Mars");
        let e = parse(&b).unwrap_err().to_ob();
        assert_eq!(
            e.errors[0].error_code.as_str(),
            "UK.OBIE.Unsupported.Scheme"
        );
        let mut b = body("1.00", "GBP");
        b["Data"]["Initiation"]["Surprise"] = json!(true);
        let e = parse(&b).unwrap_err().to_ob();
        assert_eq!(e.errors[0].error_code.as_str(), "UK.OBIE.Field.Unexpected");
        assert_eq!(
            e.errors[0].path.as_deref(),
            Some("Data.Initiation.Surprise")
        );
        let mut b = body("1.00", "GBP");
        b["Data"]["Initiation"]["InstructedAmount"]
            .as_object_mut()
            .unwrap()
            .remove("Currency");
        let e = parse(&b).unwrap_err().to_ob();
        assert_eq!(
            e.errors[0].path.as_deref(),
            Some("Data.Initiation.InstructedAmount.Currency")
        );
    }

    #[test]
    fn co_3_submission_must_match_the_consent() {
        let b = body("10.00", "GBP");
        let d = parse(&b).unwrap();
        let sub = |init: &Value, risk: &Value, id: &str| {
            json!({"Data": {"ConsentId": id, "Initiation": init}, "Risk": risk}).to_string()
        };
        let init = &b["Data"]["Initiation"];
        let risk = &b["Risk"];
        assert!(
            d.check_submission("pdc-1", sub(init, risk, "pdc-1").as_bytes())
                .is_ok()
        );
        let mut other = init.clone();
        other["InstructedAmount"]["Amount"] = json!("10.01");
        let e = d
            .check_submission("pdc-1", sub(&other, risk, "pdc-1").as_bytes())
            .unwrap_err();
        assert!(matches!(e, ConsentError::PaymentMismatch { .. }));
        assert!(
            d.check_submission("pdc-1", sub(init, &json!({}), "pdc-1").as_bytes())
                .is_err()
        );
        assert!(
            d.check_submission("pdc-1", sub(init, risk, "pdc-2").as_bytes())
                .is_err()
        );
    }

    /// CO-3 / GW-1: a submission another JSON parser could read as a different payment is
    /// refused: a member twice (the gateway would check the last CreditorAccount, a bank
    /// keeping the first would pay it), or anything after the JSON value.
    #[test]
    fn co_3_an_ambiguous_submission_is_refused() {
        let b = body("10.00", "GBP");
        let d = parse(&b).unwrap();
        let good = json!({"Data": {"ConsentId": "pdc-1", "Initiation": b["Data"]["Initiation"]},
                          "Risk": b["Risk"]})
        .to_string();
        assert!(d.check_submission("pdc-1", good.as_bytes()).is_ok());
        let creditor = b["Data"]["Initiation"]["CreditorAccount"].to_string();
        let attacker = r#"{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"99999999999999","Name":"Mallory"}"#;
        let twice = good.replacen(
            &format!(r#""CreditorAccount":{creditor}"#),
            &format!(r#""CreditorAccount":{attacker},"CreditorAccount":{creditor}"#),
            1,
        );
        assert_ne!(twice, good, "the duplicate is in the body");
        let e = d.check_submission("pdc-1", twice.as_bytes()).unwrap_err();
        assert!(
            matches!(e, ConsentError::InvalidBody { ref detail, .. } if detail.contains("CreditorAccount")),
            "{e:?}"
        );
        for trailing in [format!("{good} {{}}"), format!("{good}x")] {
            assert!(matches!(
                d.check_submission("pdc-1", trailing.as_bytes()),
                Err(ConsentError::InvalidBody { .. })
            ));
        }
        // Whitespace after the value is not data.
        assert!(
            d.check_submission("pdc-1", format!("{good}\n").as_bytes())
                .is_ok()
        );
    }
}
