//! What the bank says about a domestic payment when its consent is created (OB v3.1.10
//! `OBWriteDomesticConsentResponse5.Data`): the cut-off time after which the consent can no
//! longer be authorised, when the payment is expected to execute and settle, and the charges.
//! Only the bank knows these (its cut-off times, its tariff), so they come from a hook the
//! bank implements; the default offers none (no cut-off, no expectations, no charges).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// One charge (`OBWriteDomesticConsentResponse5.Data.Charges[]`), as the bank words it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Charge {
    /// `BorneByDebtor`, `BorneByCreditor`, `FollowingServiceLevel` or `Shared`.
    pub charge_bearer: String,
    /// The bank's charge type code (e.g. `UK.OBIE.CHAPSOut`).
    #[serde(rename = "Type")]
    pub charge_type: String,
    /// The amount (`{"Amount": "1.88", "Currency": "GBP"}`).
    pub amount: Value,
}

/// The bank's terms for one payment consent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentTerms {
    /// After this instant the consent cannot be authorised.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub cut_off_date_time: Option<OffsetDateTime>,
    /// When the payment is expected to execute.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_execution_date_time: Option<OffsetDateTime>,
    /// When the payment is expected to settle.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_settlement_date_time: Option<OffsetDateTime>,
    /// Charges the bank levies (answered as `[]` when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<Charge>,
}

/// The bank's hook: terms for a domestic payment consent being created at `now` with this
/// `Initiation`. The default implementation gives none.
pub trait PaymentTermsProvider: Send + Sync {
    /// The terms; called once, when the consent is created, and stored with it.
    fn terms(&self, initiation: &Value, now: OffsetDateTime) -> PaymentTerms {
        let _ = (initiation, now);
        PaymentTerms::default()
    }
}

/// The default hook: no cut-off, no expectations, no charges.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPaymentTerms;

impl PaymentTermsProvider for NoPaymentTerms {}
