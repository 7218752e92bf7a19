//! CO-3 / CO-4: the UK Open Banking v3.1 account-access permission codes (Account and
//! Transaction API specification, "Permissions"), their dependency rules, and which
//! permissions each resource API needs.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ConsentError;

macro_rules! permissions {
    ($($name:ident),* $(,)?) => {
        /// An OB v3.1 account-access permission code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name,
            )*
        }

        impl Permission {
            /// Every permission code, in the spec's (alphabetical) order.
            pub const ALL: &'static [Permission] = &[$(Self::$name),*];

            /// The code as written in `Data.Permissions`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }
    };
}

permissions!(
    ReadAccountsBasic,
    ReadAccountsDetail,
    ReadBalances,
    ReadBeneficiariesBasic,
    ReadBeneficiariesDetail,
    ReadDirectDebits,
    ReadOffers,
    ReadPAN,
    ReadParty,
    ReadPartyPSU,
    ReadProducts,
    ReadScheduledPaymentsBasic,
    ReadScheduledPaymentsDetail,
    ReadStandingOrdersBasic,
    ReadStandingOrdersDetail,
    ReadStatementsBasic,
    ReadStatementsDetail,
    ReadTransactionsBasic,
    ReadTransactionsCredits,
    ReadTransactionsDebits,
    ReadTransactionsDetail,
);

impl Permission {
    /// Parses a code; unknown codes are `None` (and rejected by [`parse_permissions`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const PATH: &str = "Data.Permissions";

/// Parses and checks `Data.Permissions` (CO-3): at least one code, every code known, and the
/// spec's dependency rule: `ReadTransactionsBasic` / `ReadTransactionsDetail` need
/// `ReadTransactionsCredits` and/or `ReadTransactionsDebits`, and those need Basic or Detail.
/// Duplicates are dropped; the result is sorted.
pub fn parse_permissions(codes: &[String]) -> Result<Vec<Permission>, ConsentError> {
    if codes.is_empty() {
        return Err(ConsentError::InvalidField {
            path: PATH.into(),
            detail: "at least one permission is required".into(),
        });
    }
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        let p = Permission::parse(code).ok_or_else(|| ConsentError::InvalidField {
            path: PATH.into(),
            detail: format!("unknown permission {code:?}"),
        })?;
        out.push(p);
    }
    out.sort();
    out.dedup();
    check_dependencies(&out)?;
    Ok(out)
}

fn check_dependencies(perms: &[Permission]) -> Result<(), ConsentError> {
    use Permission as P;
    let has = |p| perms.contains(&p);
    let level = has(P::ReadTransactionsBasic) || has(P::ReadTransactionsDetail);
    let direction = has(P::ReadTransactionsCredits) || has(P::ReadTransactionsDebits);
    if level && !direction {
        return Err(ConsentError::InvalidField {
            path: PATH.into(),
            detail: "ReadTransactionsBasic/Detail need ReadTransactionsCredits and/or \
                     ReadTransactionsDebits"
                .into(),
        });
    }
    if direction && !level {
        return Err(ConsentError::InvalidField {
            path: PATH.into(),
            detail: "ReadTransactionsCredits/Debits need ReadTransactionsBasic or \
                     ReadTransactionsDetail"
                .into(),
        });
    }
    Ok(())
}

/// A resource API a consent can be used for (CO-4), as the gateway or a resource server names
/// the request it is about to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceApi {
    /// `/accounts`, `/accounts/{AccountId}`.
    Accounts,
    /// `/balances`, `/accounts/{AccountId}/balances`.
    Balances,
    /// `/transactions`, `/accounts/{AccountId}/transactions`.
    Transactions,
    /// `/beneficiaries`.
    Beneficiaries,
    /// `/direct-debits`.
    DirectDebits,
    /// `/standing-orders`.
    StandingOrders,
    /// `/scheduled-payments`.
    ScheduledPayments,
    /// `/statements`, `/accounts/{AccountId}/statements` and `.../statements/{StatementId}`.
    Statements,
    /// `/accounts/{AccountId}/statements/{StatementId}/file`: the statement download, which OB
    /// grants with `ReadStatementsDetail` only.
    StatementFile,
    /// `/accounts/{AccountId}/statements/{StatementId}/transactions`: a statement's
    /// transactions, which OB grants with the transaction permissions (not the statement ones).
    StatementTransactions,
    /// `/accounts/{AccountId}/party`, `/accounts/{AccountId}/parties`.
    Party,
    /// `/party`: the PSU's own party record.
    PartyPsu,
    /// `/products`.
    Products,
    /// `/offers`.
    Offers,
    /// `/domestic-payments` (submission against a domestic-payment consent).
    DomesticPayment,
    /// `/funds-confirmations` against a funds-confirmation consent.
    FundsConfirmation,
}

impl ResourceApi {
    /// Every API.
    pub const ALL: [ResourceApi; 16] = [
        Self::Accounts,
        Self::Balances,
        Self::Transactions,
        Self::Beneficiaries,
        Self::DirectDebits,
        Self::StandingOrders,
        Self::ScheduledPayments,
        Self::Statements,
        Self::StatementFile,
        Self::StatementTransactions,
        Self::Party,
        Self::PartyPsu,
        Self::Products,
        Self::Offers,
        Self::DomesticPayment,
        Self::FundsConfirmation,
    ];

    /// The API of a short name ([`Self::as_str`]), e.g. in the gateway's route configuration.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// A short name for errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accounts => "accounts",
            Self::Balances => "balances",
            Self::Transactions => "transactions",
            Self::Beneficiaries => "beneficiaries",
            Self::DirectDebits => "direct-debits",
            Self::StandingOrders => "standing-orders",
            Self::ScheduledPayments => "scheduled-payments",
            Self::Statements => "statements",
            Self::StatementFile => "statement-file",
            Self::StatementTransactions => "statement-transactions",
            Self::Party => "party",
            Self::PartyPsu => "party-psu",
            Self::Products => "products",
            Self::Offers => "offers",
            Self::DomesticPayment => "domestic-payments",
            Self::FundsConfirmation => "funds-confirmations",
        }
    }

    /// The consent kind the API is used with.
    pub fn consent_kind(self) -> crate::model::ConsentKind {
        use crate::model::ConsentKind as K;
        match self {
            Self::DomesticPayment => K::DomesticPayment,
            Self::FundsConfirmation => K::FundsConfirmation,
            Self::Accounts
            | Self::Balances
            | Self::Transactions
            | Self::Beneficiaries
            | Self::DirectDebits
            | Self::StandingOrders
            | Self::ScheduledPayments
            | Self::Statements
            | Self::StatementFile
            | Self::StatementTransactions
            | Self::Party
            | Self::PartyPsu
            | Self::Products
            | Self::Offers => K::AccountAccess,
        }
    }

    /// For account-access APIs, the permissions of which the consent needs at least one (the
    /// Basic or Detail variant). Empty for payment and funds-confirmation APIs.
    pub fn required_permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Self::Accounts => &[P::ReadAccountsBasic, P::ReadAccountsDetail],
            Self::Balances => &[P::ReadBalances],
            Self::Transactions => &[P::ReadTransactionsBasic, P::ReadTransactionsDetail],
            Self::Beneficiaries => &[P::ReadBeneficiariesBasic, P::ReadBeneficiariesDetail],
            Self::DirectDebits => &[P::ReadDirectDebits],
            Self::StandingOrders => &[P::ReadStandingOrdersBasic, P::ReadStandingOrdersDetail],
            Self::ScheduledPayments => &[
                P::ReadScheduledPaymentsBasic,
                P::ReadScheduledPaymentsDetail,
            ],
            Self::Statements => &[P::ReadStatementsBasic, P::ReadStatementsDetail],
            Self::StatementFile => &[P::ReadStatementsDetail],
            Self::StatementTransactions => &[P::ReadTransactionsBasic, P::ReadTransactionsDetail],
            Self::Party => &[P::ReadParty],
            Self::PartyPsu => &[P::ReadPartyPSU],
            Self::Products => &[P::ReadProducts],
            Self::Offers => &[P::ReadOffers],
            Self::DomesticPayment | Self::FundsConfirmation => &[],
        }
    }

    /// True when `perms` cover this API.
    pub fn covered_by(self, perms: &[Permission]) -> bool {
        let needed = self.required_permissions();
        needed.is_empty() || needed.iter().any(|p| perms.contains(p))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn co_3_all_21_codes_parse_and_unknown_is_rejected() {
        assert_eq!(Permission::ALL.len(), 21);
        let all: Vec<String> = Permission::ALL.iter().map(|p| p.to_string()).collect();
        assert_eq!(parse_permissions(&all).unwrap(), Permission::ALL);
        let err = parse_permissions(&codes(&["ReadAccountsBasic", "ReadEverything"])).unwrap_err();
        assert!(matches!(err, ConsentError::InvalidField { .. }), "{err}");
        assert!(parse_permissions(&[]).is_err());
        // Codes are case-sensitive.
        assert!(parse_permissions(&codes(&["readaccountsbasic"])).is_err());
    }

    #[test]
    fn co_3_transaction_permissions_depend_on_each_other() {
        for bad in [
            &["ReadTransactionsBasic"][..],
            &["ReadTransactionsDetail", "ReadAccountsBasic"],
            &["ReadTransactionsCredits"],
            &["ReadTransactionsDebits", "ReadTransactionsCredits"],
        ] {
            assert!(parse_permissions(&codes(bad)).is_err(), "{bad:?}");
        }
        for good in [
            &["ReadTransactionsBasic", "ReadTransactionsCredits"][..],
            &["ReadTransactionsDetail", "ReadTransactionsDebits"],
            &[
                "ReadTransactionsDetail",
                "ReadTransactionsBasic",
                "ReadTransactionsCredits",
                "ReadTransactionsDebits",
            ],
            &["ReadBalances", "ReadBalances"],
        ] {
            assert!(parse_permissions(&codes(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn co_4_every_account_api_maps_to_a_permission() {
        use ResourceApi as R;
        for api in [
            R::Accounts,
            R::Balances,
            R::Transactions,
            R::Beneficiaries,
            R::DirectDebits,
            R::StandingOrders,
            R::ScheduledPayments,
            R::Statements,
            R::StatementFile,
            R::StatementTransactions,
            R::Party,
            R::PartyPsu,
            R::Products,
            R::Offers,
        ] {
            assert!(!api.required_permissions().is_empty(), "{api:?}");
            assert!(!api.covered_by(&[]));
            assert!(api.covered_by(api.required_permissions()));
        }
        assert!(R::Accounts.covered_by(&[Permission::ReadAccountsDetail]));
        assert!(!R::Balances.covered_by(&[Permission::ReadAccountsDetail]));
        // OB's permission table: the statement file needs Detail; a statement's transactions
        // need the transaction permissions, not the statement ones.
        assert!(!R::StatementFile.covered_by(&[Permission::ReadStatementsBasic]));
        assert!(R::StatementFile.covered_by(&[Permission::ReadStatementsDetail]));
        assert!(!R::StatementTransactions.covered_by(&[
            Permission::ReadStatementsBasic,
            Permission::ReadStatementsDetail
        ]));
        assert!(R::StatementTransactions.covered_by(&[
            Permission::ReadTransactionsBasic,
            Permission::ReadTransactionsCredits
        ]));
        for api in ResourceApi::ALL {
            assert_eq!(ResourceApi::parse(api.as_str()), Some(api));
        }
    }
}
