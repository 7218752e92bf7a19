//! GW-1: which payments may be recorded as made under a consent, so that the gateway forwards
//! reads of them for the consent's client only. One rule for the gateway (a submission the
//! bank accepted) and for the operator's repair (`bulwark payments record`).

use crate::model::{ConsentKind, ConsentStatus};

/// The longest payment id recorded (`Data.DomesticPaymentId` is Max40Text in OB v3.1.10;
/// banks' own ids are kept up to this bound, beyond which an id is refused, never truncated).
pub const MAX_PAYMENT_ID_LEN: usize = 128;

/// A payment id that can be recorded: 1 to [`MAX_PAYMENT_ID_LEN`] bytes, none a control
/// character (it is printed in logs and on the operator's terminal).
pub fn is_recordable_payment_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_PAYMENT_ID_LEN && !id.chars().any(char::is_control)
}

/// Why a consent can have no payment recorded under it, or `None` when it can: a
/// domestic-payment consent its PSU authorised (Authorised, or Consumed by the payment).
/// `kind` and `status` are the stored forms.
pub fn refuses_payment(kind: &str, status: &str) -> Option<&'static str> {
    if ConsentKind::parse(kind) != Some(ConsentKind::DomesticPayment) {
        return Some("it is not a domestic payment consent");
    }
    match ConsentStatus::parse(status) {
        Some(ConsentStatus::Authorised | ConsentStatus::Consumed) => None,
        _ => Some("its PSU has not authorised it, so no payment can have been made under it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gw_1_only_sane_payment_ids_are_recorded() {
        assert!(is_recordable_payment_id("58923-001"));
        assert!(is_recordable_payment_id(&"p".repeat(MAX_PAYMENT_ID_LEN)));
        assert!(!is_recordable_payment_id(""));
        assert!(!is_recordable_payment_id(
            &"p".repeat(MAX_PAYMENT_ID_LEN + 1)
        ));
        assert!(!is_recordable_payment_id("pay\n1"));
        assert!(!is_recordable_payment_id("pay\u{1b}[2J"));
    }

    #[test]
    fn gw_1_a_payment_is_recorded_only_under_an_authorised_payment_consent() {
        assert_eq!(refuses_payment("domestic-payment", "Authorised"), None);
        assert_eq!(refuses_payment("domestic-payment", "Consumed"), None);
        for status in ["AwaitingAuthorisation", "Rejected", "nonsense"] {
            assert!(
                refuses_payment("domestic-payment", status).is_some(),
                "{status}"
            );
        }
        for kind in ["account-access", "funds-confirmation", "nonsense"] {
            assert!(refuses_payment(kind, "Authorised").is_some(), "{kind}");
        }
    }
}
