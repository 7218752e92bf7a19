//! OB v3.1.10 `GET /domestic-payment-consents/{ConsentId}/funds-confirmation` (Payment
//! Initiation API, mandatory): with the PSU's access token for the consent, once it is
//! Authorised, the TPP asks whether the debtor account can pay the `InstructedAmount` now.
//! Only the bank knows (its core banking system), so the answer comes from a hook the bank
//! implements; the default cannot tell, and the answer then carries no `FundsAvailableResult`
//! (it is optional in `OBWriteFundsConfirmationResponse1`).

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::consent::Consent;
use crate::error::ConsentError;
use crate::wire::format_datetime;

/// The bank's hook: can the consent's payment be made from the PSU's account now?
#[async_trait]
pub trait FundsCheck: Send + Sync {
    /// `Some(available)`, or `None` when the bank cannot tell.
    async fn funds_available(
        &self,
        consent: &Consent,
        now: OffsetDateTime,
    ) -> Result<Option<bool>, ConsentError>;
}

/// The default hook: the embedded server holds no balances, so it cannot tell.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFundsCheck;

#[async_trait]
impl FundsCheck for NoFundsCheck {
    async fn funds_available(
        &self,
        _consent: &Consent,
        _now: OffsetDateTime,
    ) -> Result<Option<bool>, ConsentError> {
        Ok(None)
    }
}

/// One funds-confirmation answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundsConfirmation {
    /// The bank's answer, when it could give one.
    pub available: Option<bool>,
    /// When the bank answered.
    pub at: OffsetDateTime,
}

impl FundsConfirmation {
    /// The `OBWriteFundsConfirmationResponse1` body, `Links.Self` = `self_link`.
    pub fn to_ob_json(&self, self_link: &str) -> Value {
        let data = match self.available {
            Some(available) => json!({"FundsAvailableResult": {
                "FundsAvailableDateTime": format_datetime(self.at),
                "FundsAvailable": available,
            }}),
            None => json!({}),
        };
        json!({"Data": data, "Links": {"Self": self_link}, "Meta": {}})
    }
}
