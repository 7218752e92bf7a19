//! `Data.Initiation.LocalInstrument` of a payment consent (OB v3.1.10 "Namespaced
//! Enumerations", `OBExternalLocalInstrument1Code`): the payment scheme the TPP asks for. OB
//! lists twelve `UK.OBIE.*` codes and lets a bank add its own in its namespace (two-letter
//! country code, its name, the value: `UK.Barclays.PingIt`); a code the bank does not support
//! is refused with 400 `UK.OBIE.Unsupported.LocalInstrument`.

use std::sync::Arc;

use crate::error::ConsentError;

/// The codes OB v3.1.10 defines: what a bank supports unless its configuration says otherwise.
pub const OB_LOCAL_INSTRUMENTS: [&str; 12] = [
    "UK.OBIE.BACS",
    "UK.OBIE.BalanceTransfer",
    "UK.OBIE.CHAPS",
    "UK.OBIE.Euro1",
    "UK.OBIE.FPS",
    "UK.OBIE.Link",
    "UK.OBIE.MoneyTransfer",
    "UK.OBIE.Paym",
    "UK.OBIE.SEPACreditTransfer",
    "UK.OBIE.SEPAInstantCreditTransfer",
    "UK.OBIE.SWIFT",
    "UK.OBIE.Target2",
];

/// The longest code accepted (the field's bound in this server; OB sets none).
const MAX_LEN: usize = 50;

/// The LocalInstrument codes a bank accepts in payment consents. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalInstruments(Arc<[String]>);

impl Default for LocalInstruments {
    /// Every code OB defines.
    fn default() -> Self {
        Self(
            OB_LOCAL_INSTRUMENTS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        )
    }
}

impl LocalInstruments {
    /// The bank's own list (configuration). Each code must be namespaced as OB requires
    /// (`CC.Name.Value`: a two-letter upper-case country code, then at least two dot-separated
    /// segments of letters, digits, `-` or `_`) and at most 50 characters. An empty list
    /// accepts no LocalInstrument at all (a consent without one is still accepted).
    pub fn parse(codes: &[String]) -> Result<Self, String> {
        for code in codes {
            if !is_namespaced(code) {
                return Err(format!(
                    "{code:?} is not a namespaced LocalInstrument code (e.g. UK.OBIE.FPS, \
                     UK.MyBank.Instant; at most {MAX_LEN} characters)"
                ));
            }
        }
        Ok(Self(codes.iter().cloned().collect()))
    }

    /// The codes accepted.
    pub fn codes(&self) -> &[String] {
        &self.0
    }

    /// Refuses a code the bank does not support (`path` names the field in the error).
    pub fn check(&self, path: &str, code: &str) -> Result<(), ConsentError> {
        if self.0.iter().any(|c| c == code) {
            Ok(())
        } else {
            Err(ConsentError::UnsupportedLocalInstrument {
                path: path.into(),
                code: code.into(),
            })
        }
    }
}

fn is_namespaced(code: &str) -> bool {
    let mut segments = code.split('.');
    let country = segments.next().unwrap_or_default();
    let rest: Vec<&str> = segments.collect();
    code.len() <= MAX_LEN
        && country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && rest.len() >= 2
        && rest.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ob_codes_are_the_default_and_pass_their_own_rule() {
        let ob = LocalInstruments::default();
        assert_eq!(ob.codes().len(), 12);
        for code in OB_LOCAL_INSTRUMENTS {
            assert!(is_namespaced(code), "{code}");
            assert!(ob.check("p", code).is_ok(), "{code}");
        }
    }

    #[test]
    fn co_3_unsupported_local_instrument_is_refused_with_its_ob_code() {
        let ob = LocalInstruments::default();
        for code in ["FPS", "uk.obie.fps", "UK.OBIE.FPS ", "UK.Bank.Instant", ""] {
            let err = ob
                .check("Data.Initiation.LocalInstrument", code)
                .unwrap_err();
            let ob_err = err.to_ob();
            assert_eq!(ob_err.status, 400);
            assert_eq!(
                ob_err.errors[0].error_code.as_str(),
                "UK.OBIE.Unsupported.LocalInstrument"
            );
            assert_eq!(
                ob_err.errors[0].path.as_deref(),
                Some("Data.Initiation.LocalInstrument")
            );
        }
    }

    #[test]
    fn a_bank_list_takes_its_own_namespaced_codes_only() {
        let own =
            LocalInstruments::parse(&["UK.OBIE.FPS".into(), "UK.MyBank.Instant-2".into()]).unwrap();
        assert!(own.check("p", "UK.MyBank.Instant-2").is_ok());
        assert!(own.check("p", "UK.OBIE.FPS").is_ok());
        assert!(own.check("p", "UK.OBIE.CHAPS").is_err(), "not offered");
        for bad in [
            "FPS",
            "UK.FPS",
            "uk.OBIE.FPS",
            "GBR.OBIE.FPS",
            "UK..FPS",
            "UK.OBIE.F P S",
            "UK.OBIE.",
        ] {
            assert!(LocalInstruments::parse(&[bad.into()]).is_err(), "{bad}");
        }
        let long = format!("UK.OBIE.{}", "X".repeat(43));
        assert!(LocalInstruments::parse(&[long]).is_err());
        let none = LocalInstruments::parse(&[]).unwrap();
        assert!(none.check("p", "UK.OBIE.FPS").is_err());
    }
}
