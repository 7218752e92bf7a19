//! The parts of a domestic payment consent that are kept exactly as sent (for CO-3 matching)
//! but must still be what Read/Write v3.1.10 allows (`payment-initiation-openapi.json` of
//! OpenBankingUK/read-write-api-specs, tag v3.1.10r6): `Risk` (`OBRisk1`), `Data.Authorisation`,
//! `Data.SCASupportData` (`OBSCASupportData1`) and `Initiation.CreditorPostalAddress`
//! (`OBPostalAddress6`). Enumerations, lengths and patterns are the swagger's; objects declared
//! `additionalProperties: false` there refuse unknown members here.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ConsentError;
use crate::wire::{check_len, parse_body, parse_datetime};

/// Parses `value` as `T`, reporting every path from the body's root (`at` is the value's own).
pub(crate) fn parse_at<T: DeserializeOwned>(at: &str, value: &Value) -> Result<T, ConsentError> {
    let p = |path: String| {
        if path == "$" {
            at.to_owned()
        } else {
            format!("{at}.{path}")
        }
    };
    parse_body(value.to_string().as_bytes()).map_err(|e| match e {
        ConsentError::MissingField { path } => ConsentError::MissingField { path: p(path) },
        ConsentError::UnexpectedField { path } => ConsentError::UnexpectedField { path: p(path) },
        ConsentError::InvalidBody { path, detail } => ConsentError::InvalidBody {
            path: p(path),
            detail,
        },
        other => other,
    })
}

fn len(path: &str, field: &str, v: Option<&String>, max: usize) -> Result<(), ConsentError> {
    v.map_or(Ok(()), |s| check_len(&format!("{path}.{field}"), s, max))
}

fn len_between(path: &str, s: &str, min: usize, max: usize) -> Result<(), ConsentError> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(ConsentError::InvalidField {
            path: path.into(),
            detail: format!("length must be {min}..{max}"),
        });
    }
    Ok(())
}

fn country(path: &str, c: Option<&String>) -> Result<(), ConsentError> {
    match c {
        Some(c) if !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) => {
            Err(ConsentError::InvalidField {
                path: format!("{path}.Country"),
                detail: "must match ^[A-Z]{2,2}$".into(),
            })
        }
        _ => Ok(()),
    }
}

/// `AddressLine`: at most `max` lines of 1..70 characters.
fn address_lines(at: &str, lines: &[String], max: usize) -> Result<(), ConsentError> {
    if lines.len() > max {
        return Err(ConsentError::InvalidField {
            path: format!("{at}.AddressLine"),
            detail: format!("at most {max} lines"),
        });
    }
    lines
        .iter()
        .try_for_each(|line| check_len(&format!("{at}.AddressLine"), line, 70))
}

/// `OBRisk1.PaymentContextCode`.
#[derive(Deserialize)]
enum PaymentContextCode {
    BillingGoodsAndServicesInAdvance,
    BillingGoodsAndServicesInArrears,
    PispPayee,
    EcommerceMerchantInitiatedPayment,
    FaceToFacePointOfSale,
    TransferToSelf,
    TransferToThirdParty,
    // Deprecated in v3.1.10, still valid.
    BillPayment,
    EcommerceGoods,
    EcommerceServices,
    Other,
    PartyToParty,
}

/// `OBExternalExtendedAccountType1Code`.
#[derive(Deserialize)]
enum BeneficiaryAccountType {
    Business,
    BusinessSavingsAccount,
    Charity,
    Collection,
    Corporate,
    Ewallet,
    Government,
    Investment,
    #[serde(rename = "ISA")]
    Isa,
    JointPersonal,
    Pension,
    Personal,
    PersonalSavingsAccount,
    Premier,
    Wealth,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
#[allow(dead_code)] // read by serde: the enums and booleans are validated by their types
struct Risk {
    payment_context_code: Option<PaymentContextCode>,
    merchant_category_code: Option<String>,
    merchant_customer_identification: Option<String>,
    contract_present_inidicator: Option<bool>,
    beneficiary_prepopulated_indicator: Option<bool>,
    payment_purpose_code: Option<String>,
    beneficiary_account_type: Option<BeneficiaryAccountType>,
    delivery_address: Option<DeliveryAddress>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeliveryAddress {
    #[serde(default)]
    address_line: Vec<String>,
    street_name: Option<String>,
    building_number: Option<String>,
    post_code: Option<String>,
    town_name: String,
    country_sub_division: Option<String>,
    country: String,
}

/// `Risk` of a payment consent (`OBRisk1`).
pub(crate) fn check_risk(risk: &Value) -> Result<(), ConsentError> {
    let r: Risk = parse_at("Risk", risk)?;
    if let Some(m) = &r.merchant_category_code {
        len_between("Risk.MerchantCategoryCode", m, 3, 4)?;
    }
    len(
        "Risk",
        "MerchantCustomerIdentification",
        r.merchant_customer_identification.as_ref(),
        70,
    )?;
    if let Some(p) = &r.payment_purpose_code {
        len_between("Risk.PaymentPurposeCode", p, 3, 4)?;
    }
    if let Some(a) = &r.delivery_address {
        let at = "Risk.DeliveryAddress";
        address_lines(at, &a.address_line, 2)?;
        len(at, "StreetName", a.street_name.as_ref(), 70)?;
        len(at, "BuildingNumber", a.building_number.as_ref(), 16)?;
        len(at, "PostCode", a.post_code.as_ref(), 16)?;
        check_len(&format!("{at}.TownName"), &a.town_name, 35)?;
        len(
            at,
            "CountrySubDivision",
            a.country_sub_division.as_ref(),
            35,
        )?;
        country(at, Some(&a.country))?;
    }
    Ok(())
}

#[derive(Deserialize)]
enum AuthorisationType {
    Any,
    Single,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
#[allow(dead_code)] // read by serde: the enum is validated by its type
struct Authorisation {
    authorisation_type: AuthorisationType,
    completion_date_time: Option<String>,
}

/// `Data.Authorisation`: `AuthorisationType` (`Any`, `Single`) required, `CompletionDateTime`
/// an ISO 8601 date-time.
pub(crate) fn check_authorisation(a: &Value) -> Result<(), ConsentError> {
    let a: Authorisation = parse_at("Data.Authorisation", a)?;
    if let Some(t) = &a.completion_date_time {
        parse_datetime("Data.Authorisation.CompletionDateTime", t)?;
    }
    Ok(())
}

#[derive(Deserialize)]
enum ScaExemptionType {
    BillPayment,
    ContactlessTravel,
    EcommerceGoods,
    EcommerceServices,
    Kiosk,
    Parking,
    PartyToParty,
}

#[derive(Deserialize)]
enum AuthenticationApproach {
    #[serde(rename = "CA")]
    Ca,
    #[serde(rename = "SCA")]
    Sca,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)] // read by serde: the enums are validated by their types
struct ScaSupportData {
    #[serde(rename = "RequestedSCAExemptionType")]
    requested_sca_exemption_type: Option<ScaExemptionType>,
    applied_authentication_approach: Option<AuthenticationApproach>,
    reference_payment_order_id: Option<String>,
}

/// `Data.SCASupportData` (`OBSCASupportData1`).
pub(crate) fn check_sca_support_data(s: &Value) -> Result<(), ConsentError> {
    let s: ScaSupportData = parse_at("Data.SCASupportData", s)?;
    len(
        "Data.SCASupportData",
        "ReferencePaymentOrderId",
        s.reference_payment_order_id.as_ref(),
        40,
    )
}

#[derive(Deserialize)]
enum AddressType {
    Business,
    Correspondence,
    DeliveryTo,
    MailTo,
    #[serde(rename = "POBox")]
    PoBox,
    Postal,
    Residential,
    Statement,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
#[allow(dead_code)] // read by serde: the enum is validated by its type
struct PostalAddress {
    address_type: Option<AddressType>,
    department: Option<String>,
    sub_department: Option<String>,
    street_name: Option<String>,
    building_number: Option<String>,
    post_code: Option<String>,
    town_name: Option<String>,
    country_sub_division: Option<String>,
    country: Option<String>,
    #[serde(default)]
    address_line: Vec<String>,
}

/// `Data.Initiation.CreditorPostalAddress` (`OBPostalAddress6`).
pub(crate) fn check_postal_address(at: &str, v: &Value) -> Result<(), ConsentError> {
    let a: PostalAddress = parse_at(at, v)?;
    len(at, "Department", a.department.as_ref(), 70)?;
    len(at, "SubDepartment", a.sub_department.as_ref(), 70)?;
    len(at, "StreetName", a.street_name.as_ref(), 70)?;
    len(at, "BuildingNumber", a.building_number.as_ref(), 16)?;
    len(at, "PostCode", a.post_code.as_ref(), 16)?;
    len(at, "TownName", a.town_name.as_ref(), 35)?;
    len(
        at,
        "CountrySubDivision",
        a.country_sub_division.as_ref(),
        35,
    )?;
    country(at, a.country.as_ref())?;
    address_lines(at, &a.address_line, 7)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn path(e: ConsentError) -> String {
        match e {
            ConsentError::InvalidBody { path, .. }
            | ConsentError::InvalidField { path, .. }
            | ConsentError::MissingField { path }
            | ConsentError::UnexpectedField { path }
            | ConsentError::InvalidDate { path, .. } => path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ob_payment_risk_follows_obrisk1() {
        // The spec's own example passes.
        check_risk(&json!({
            "PaymentContextCode": "EcommerceGoods", "MerchantCategoryCode": "5967",
            "MerchantCustomerIdentification": "053598653254",
            "ContractPresentInidicator": true, "BeneficiaryPrepopulatedIndicator": false,
            "PaymentPurposeCode": "CASH", "BeneficiaryAccountType": "ISA",
            "DeliveryAddress": {"AddressLine": ["Flat 7", "Acacia Lodge"], "StreetName": "Acacia Avenue",
                "BuildingNumber": "27", "PostCode": "GU31 2ZZ", "TownName": "Sparsholt",
                "CountrySubDivision": "Wessex", "Country": "UK"}
        }))
        .unwrap();
        check_risk(&json!({})).unwrap();
        for (risk, at) in [
            (
                json!({"PaymentContextCode": "Groceries"}),
                "Risk.PaymentContextCode",
            ),
            (
                json!({"MerchantCategoryCode": "59671"}),
                "Risk.MerchantCategoryCode",
            ),
            (json!({"Surprise": 1}), "Risk.Surprise"),
            (
                json!({"ContractPresentInidicator": "yes"}),
                "Risk.ContractPresentInidicator",
            ),
            (
                json!({"BeneficiaryAccountType": "Savings"}),
                "Risk.BeneficiaryAccountType",
            ),
            (
                json!({"DeliveryAddress": {"Country": "GB"}}),
                "Risk.DeliveryAddress.TownName",
            ),
            (
                json!({"DeliveryAddress": {"TownName": "X", "Country": "gbr"}}),
                "Risk.DeliveryAddress.Country",
            ),
            (
                json!({"DeliveryAddress": {"TownName": "X", "Country": "GB", "AddressLine": ["a", "b", "c"]}}),
                "Risk.DeliveryAddress.AddressLine",
            ),
        ] {
            assert_eq!(path(check_risk(&risk).unwrap_err()), at, "{risk}");
        }
    }

    #[test]
    fn ob_payment_authorisation_and_sca_support_data_follow_the_schema() {
        check_authorisation(&json!({"AuthorisationType": "Single", "CompletionDateTime": "2027-01-01T10:00:00+00:00"})).unwrap();
        check_authorisation(&json!({"AuthorisationType": "Any"})).unwrap();
        for (a, at) in [
            (json!({}), "Data.Authorisation.AuthorisationType"),
            (
                json!({"AuthorisationType": "Double"}),
                "Data.Authorisation.AuthorisationType",
            ),
            (
                json!({"AuthorisationType": "Any", "CompletionDateTime": "tomorrow"}),
                "Data.Authorisation.CompletionDateTime",
            ),
            (
                json!({"AuthorisationType": "Any", "Extra": 1}),
                "Data.Authorisation.Extra",
            ),
        ] {
            assert_eq!(path(check_authorisation(&a).unwrap_err()), at, "{a}");
        }
        check_sca_support_data(&json!({"RequestedSCAExemptionType": "EcommerceGoods", "AppliedAuthenticationApproach": "SCA", "ReferencePaymentOrderId": "pdc-1"})).unwrap();
        for (s, at) in [
            (
                json!({"RequestedSCAExemptionType": "Trusted"}),
                "Data.SCASupportData.RequestedSCAExemptionType",
            ),
            (
                json!({"AppliedAuthenticationApproach": "2FA"}),
                "Data.SCASupportData.AppliedAuthenticationApproach",
            ),
            (
                json!({"ReferencePaymentOrderId": "x".repeat(41)}),
                "Data.SCASupportData.ReferencePaymentOrderId",
            ),
        ] {
            assert_eq!(path(check_sca_support_data(&s).unwrap_err()), at, "{s}");
        }
    }

    #[test]
    fn ob_creditor_postal_address_follows_obpostaladdress6() {
        let at = "Data.Initiation.CreditorPostalAddress";
        check_postal_address(at, &json!({"AddressType": "Business", "StreetName": "High St", "BuildingNumber": "1", "PostCode": "EC1A 1BB", "TownName": "London", "Country": "GB", "AddressLine": ["Floor 3"]})).unwrap();
        for (a, p) in [
            (json!({"AddressType": "Home"}), "AddressType"),
            (json!({"Country": "United Kingdom"}), "Country"),
            (json!({"Unknown": "x"}), "Unknown"),
            (json!({"PostCode": "x".repeat(17)}), "PostCode"),
        ] {
            assert_eq!(
                path(check_postal_address(at, &a).unwrap_err()),
                format!("{at}.{p}"),
                "{a}"
            );
        }
    }
}
