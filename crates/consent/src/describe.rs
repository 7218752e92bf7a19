//! AZ-6: a consent in the words a customer reads. [`describe`] turns a [`Consent`] into the
//! heading, plain-language lines and facts the consent page shows the PSU before they
//! authorise it: the OB permissions of an account-access consent (Account and Transaction API
//! specification, "Permissions"), the payee and amount of a domestic payment (Payment
//! Initiation API, `OBWriteDomesticConsent` `Initiation`), the account of a funds
//! confirmation. Pure functions: no HTTP, no clock, no templates.
//!
//! Dates are shown as the UK calendar date ("31 December 2026", GMT or BST); amounts are
//! never rounded, so the page cannot show a sum other than the one that will be paid.

use serde_json::Value;
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset};

use crate::account_access::AccountAccessDetails;
use crate::consent::{Consent, ConsentDetails};
use crate::domestic_payment::DomesticPaymentDetails;
use crate::funds_confirmation::FundsConfirmationDetails;
use crate::permissions::Permission;
use crate::wire::Account;

/// What the consent page shows a PSU, in plain language (AZ-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentSummary {
    /// The page heading, e.g. "Share your account information".
    pub heading: String,
    /// One or two sentences under the heading saying what authorising does.
    pub intro: String,
    /// Labelled facts (a definition list): access period, transaction window, account.
    pub facts: Vec<Fact>,
    /// What the TPP will be able to see, by OB data cluster (CEG "Permissions and Data
    /// Clusters": described at cluster level, with a drill-down to each permission).
    pub clusters: Vec<DataCluster>,
    /// The payment, for a payment consent.
    pub payment: Option<PaymentLines>,
    /// True when the PSU must choose accounts on the page (account access, or a payment
    /// whose consent names no account to pay from).
    pub needs_accounts: bool,
    /// The account the consent itself names (a payment's DebtorAccount, a funds
    /// confirmation's account): the PSU must hold it for the consent to be authorised.
    pub named_account: Option<Account>,
}

/// A labelled fact, e.g. "Access until" / "31 December 2026".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// What the value is.
    pub label: String,
    /// The value, formatted for reading.
    pub value: String,
}

/// One OB data cluster of an account-access consent ("Your Account Details", ...), with the
/// permissions of it the consent grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataCluster {
    /// The cluster in the CEG's language, e.g. "Your Regular Payments".
    pub name: String,
    /// Its permissions the consent grants, in the spec's order.
    pub lines: Vec<PermissionLine>,
}

/// One kind of information an account-access consent shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionLine {
    /// The permission in the CEG's permission language, e.g. "Your account balance".
    pub title: String,
    /// A sentence saying what exactly is shared.
    pub detail: String,
}

/// The OB Customer Experience Guidelines' data clusters, in their order.
const CLUSTERS: [&str; 6] = [
    "Your Account Details",
    "Your Regular Payments",
    "Your Account Transactions",
    "Your Statements",
    "Your Account Features and Benefits",
    "Contact and party details",
];

/// The data cluster a permission belongs to (CEG "Permissions and Data Clusters").
fn cluster_of(p: Permission) -> &'static str {
    use Permission as P;
    match p {
        P::ReadAccountsBasic | P::ReadAccountsDetail | P::ReadBalances | P::ReadPAN => CLUSTERS[0],
        P::ReadBeneficiariesBasic
        | P::ReadBeneficiariesDetail
        | P::ReadDirectDebits
        | P::ReadStandingOrdersBasic
        | P::ReadStandingOrdersDetail
        | P::ReadScheduledPaymentsBasic
        | P::ReadScheduledPaymentsDetail => CLUSTERS[1],
        P::ReadTransactionsBasic
        | P::ReadTransactionsDetail
        | P::ReadTransactionsCredits
        | P::ReadTransactionsDebits => CLUSTERS[2],
        P::ReadStatementsBasic | P::ReadStatementsDetail => CLUSTERS[3],
        P::ReadProducts | P::ReadOffers => CLUSTERS[4],
        P::ReadParty | P::ReadPartyPSU => CLUSTERS[5],
    }
}

/// The payment of a domestic-payment consent, formatted for reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentLines {
    /// The amount with its currency, e.g. "£1,234.50", "€10.00", "10.00 USD".
    pub amount: String,
    /// The payee's name as the TPP sent it.
    pub creditor_name: String,
    /// The payee's account, e.g. "Sort code 12-34-56, account 12345678".
    pub creditor_account: String,
    /// The payment reference the payee will see, if any.
    pub reference: Option<String>,
}

/// Describes `consent` for the PSU's consent page (AZ-6).
pub fn describe(consent: &Consent) -> ConsentSummary {
    match &consent.details {
        ConsentDetails::AccountAccess(d) => account_access(d),
        ConsentDetails::DomesticPayment(d) => domestic_payment(d),
        ConsentDetails::FundsConfirmation(d) => funds_confirmation(d),
    }
}

fn account_access(d: &AccountAccessDetails) -> ConsentSummary {
    let mut facts = vec![access_until(d.expiration_date_time)];
    if let Some(from) = d.transaction_from_date_time {
        facts.push(fact("Transactions from", long_date(from)));
    }
    if let Some(to) = d.transaction_to_date_time {
        facts.push(fact("Transactions to", long_date(to)));
    }
    // OB CEG: the period the transaction data is asked for, also when it is all of it.
    let transactions = d.permissions.iter().any(|p| {
        matches!(
            p,
            Permission::ReadTransactionsBasic | Permission::ReadTransactionsDetail
        )
    });
    if transactions
        && d.transaction_from_date_time.is_none()
        && d.transaction_to_date_time.is_none()
    {
        facts.push(fact("Transactions", "All the history we hold".into()));
    }
    ConsentSummary {
        heading: "Share your account information".into(),
        intro: "You choose which accounts to share. They will be able to see the information \
                below about those accounts until access ends, and you can stop sharing at any \
                time."
            .into(),
        facts,
        clusters: clusters(&d.permissions),
        payment: None,
        needs_accounts: true,
        named_account: None,
    }
}

fn domestic_payment(d: &DomesticPaymentDetails) -> ConsentSummary {
    let init = &d.initiation;
    let debtor = account_at(init, "DebtorAccount");
    let creditor = account_at(init, "CreditorAccount");
    let payment = PaymentLines {
        amount: format_amount(
            str_at(init, &["InstructedAmount", "Amount"]).unwrap_or_default(),
            str_at(init, &["InstructedAmount", "Currency"]).unwrap_or_default(),
        ),
        creditor_name: str_at(init, &["CreditorAccount", "Name"])
            .unwrap_or_default()
            .to_owned(),
        creditor_account: creditor.as_ref().map(account_text).unwrap_or_default(),
        reference: str_at(init, &["RemittanceInformation", "Reference"]).map(str::to_owned),
    };
    let (intro, mut facts) = match &debtor {
        Some(a) => (
            "If you authorise it, this payment will be made once from the account below. \
             Check the details before you continue.",
            vec![fact("Pay from", account_text(a))],
        ),
        None => (
            "If you authorise it, this payment will be made once from the account you choose. \
             Check the details before you continue.",
            Vec::new(),
        ),
    };
    // The bank's own terms, fixed when the consent was made: when it expects to pay, and
    // what it charges (OB CEG: charges shown before the PSU authorises, on the same page).
    if let Some(at) = d.terms.expected_execution_date_time {
        facts.push(fact("Expected payment date", long_date(at)));
    }
    for charge in &d.terms.charges {
        let bearer = match charge.charge_bearer.as_str() {
            "BorneByDebtor" => "paid by you",
            "BorneByCreditor" => "paid by the payee",
            "Shared" => "shared between you and the payee",
            _ => "as the payment scheme sets",
        };
        let amount = format_amount(
            str_at(&charge.amount, &["Amount"]).unwrap_or_default(),
            str_at(&charge.amount, &["Currency"]).unwrap_or_default(),
        );
        facts.push(fact("Charge", format!("{amount}, {bearer}")));
    }
    ConsentSummary {
        heading: "Make a payment".into(),
        intro: intro.into(),
        facts,
        clusters: Vec::new(),
        payment: Some(payment),
        needs_accounts: debtor.is_none(),
        named_account: debtor,
    }
}

fn funds_confirmation(d: &FundsConfirmationDetails) -> ConsentSummary {
    ConsentSummary {
        heading: "Allow checks that you have enough money".into(),
        intro: "They will be able to ask whether this account has enough money for a payment. \
                They get a yes or no answer only: they will not see your balance or your \
                transactions."
            .into(),
        facts: vec![
            fact("Account", account_text(&d.debtor_account)),
            access_until(d.expiration_date_time),
        ],
        clusters: Vec::new(),
        payment: None,
        needs_accounts: false,
        named_account: Some(d.debtor_account.clone()),
    }
}

fn fact(label: &str, value: String) -> Fact {
    Fact {
        label: label.into(),
        value,
    }
}

fn access_until(expires: Option<OffsetDateTime>) -> Fact {
    fact(
        "Access until",
        expires.map_or_else(|| "Until you cancel it".to_owned(), long_date),
    )
}

/// The granted permissions by data cluster, one line per kind of information, in the spec's
/// order. A Basic code is left out when its Detail code is also granted (Detail includes
/// it), and `ReadTransactionsCredits` / `ReadTransactionsDebits` say which transactions the
/// transactions line is about.
fn clusters(perms: &[Permission]) -> Vec<DataCluster> {
    CLUSTERS
        .iter()
        .map(|name| DataCluster {
            name: (*name).to_owned(),
            lines: Permission::ALL
                .iter()
                .copied()
                .filter(|p| perms.contains(p) && cluster_of(*p) == *name)
                .filter_map(|p| permission_line(p, perms))
                .collect(),
        })
        .filter(|c| !c.lines.is_empty())
        .collect()
}

fn permission_line(p: Permission, perms: &[Permission]) -> Option<PermissionLine> {
    use Permission as P;
    let has = |q: Permission| perms.contains(&q);
    let line = |title: &str, detail: &str| {
        Some(PermissionLine {
            title: title.into(),
            detail: detail.into(),
        })
    };
    let (payments, which) = match (
        has(P::ReadTransactionsCredits),
        has(P::ReadTransactionsDebits),
    ) {
        (true, false) => ("Money paid into", "incoming "),
        (false, true) => ("Money paid out of", "outgoing "),
        (true, true) | (false, false) => ("Money paid into and out of", ""),
    };
    match p {
        P::ReadAccountsBasic if has(P::ReadAccountsDetail) => None,
        P::ReadAccountsBasic => line(
            "Any other name by which you refer to this account and/or the currency of the account",
            "The name, type and currency of the accounts you choose",
        ),
        P::ReadAccountsDetail => line(
            "Your account name, number and sort-code",
            "The name, type and currency of the accounts you choose, with their sort codes and \
             account numbers",
        ),
        P::ReadBalances => line(
            "Your account balance",
            "The current and available balance of the accounts you choose",
        ),
        P::ReadBeneficiariesBasic if has(P::ReadBeneficiariesDetail) => None,
        P::ReadBeneficiariesBasic => line(
            "Payee agreements you have set up",
            "The names of the people and businesses you have set up to pay",
        ),
        P::ReadBeneficiariesDetail => line(
            "Details of Payee agreements you have set up",
            "The people and businesses you have set up to pay, with their sort codes and \
             account numbers",
        ),
        P::ReadDirectDebits => line(
            "Your Direct Debits",
            "Who you pay by Direct Debit, and the amount of the last payment",
        ),
        P::ReadOffers => line(
            "Offers available on your account",
            "Offers we have made to you, such as balance transfers or credit limit increases",
        ),
        P::ReadPAN => line(
            "Your card number",
            "The full long number of cards on the accounts you choose, not only the last four \
             digits",
        ),
        P::ReadParty => line(
            "The full legal name(s) of account holder(s). Address(es), telephone number(s) and \
             email address(es)",
            "The names, addresses and contact details of the holders of the accounts you choose",
        ),
        P::ReadPartyPSU => line(
            "Your full legal name, address, telephone number(s) and email address(es)",
            "Your name, address, email address and phone numbers as we hold them",
        ),
        P::ReadProducts => line(
            "Product details – fees, charges, interest, benefits/rewards",
            "The product each account you choose is, with its fees, charges and interest rates",
        ),
        P::ReadScheduledPaymentsBasic if has(P::ReadScheduledPaymentsDetail) => None,
        P::ReadScheduledPaymentsBasic => line(
            "Recurring and future dated payments",
            "Future-dated payments set up on the accounts you choose: when, how much and to whom",
        ),
        P::ReadScheduledPaymentsDetail => line(
            "Details of recurring and future dated payments",
            "Future-dated payments set up on the accounts you choose, with the sort code and \
             account number of each payee",
        ),
        P::ReadStandingOrdersBasic if has(P::ReadStandingOrdersDetail) => None,
        P::ReadStandingOrdersBasic => line(
            "Your Standing Orders",
            "Regular payments set up on the accounts you choose: how often, how much and to whom",
        ),
        P::ReadStandingOrdersDetail => line(
            "Details of your Standing Orders",
            "Regular payments set up on the accounts you choose, with the sort code and account \
             number of each payee",
        ),
        P::ReadStatementsBasic if has(P::ReadStatementsDetail) => None,
        P::ReadStatementsBasic => line(
            "Information contained in your statement",
            "The dates and summary of each statement for the accounts you choose",
        ),
        P::ReadStatementsDetail => line(
            "Details of information contained in your statement",
            "Each statement for the accounts you choose, with its amounts, fees and interest",
        ),
        P::ReadTransactionsBasic if has(P::ReadTransactionsDetail) => None,
        P::ReadTransactionsBasic => Some(PermissionLine {
            title: format!("Your {which}transactions"),
            detail: format!("{payments} the accounts you choose: dates, amounts and descriptions"),
        }),
        P::ReadTransactionsDetail => Some(PermissionLine {
            title: format!("Details of your {which}transactions"),
            detail: format!(
                "{payments} the accounts you choose: dates, amounts and descriptions, with who \
                 paid or was paid and the payment reference"
            ),
        }),
        // These two only narrow the transactions line above.
        P::ReadTransactionsCredits | P::ReadTransactionsDebits => None,
    }
}

/// "31 December 2026": the date in the UK when `t` happens.
fn long_date(t: OffsetDateTime) -> String {
    let t = uk_time(t);
    format!("{} {} {}", t.day(), month_name(t.month()), t.year())
}

/// `t` in UK civil time: GMT, or BST (UTC+1) from 01:00 UTC on the last Sunday of March to
/// 01:00 UTC on the last Sunday of October. BST never spans a new year, so the shift cannot
/// leave the representable range.
fn uk_time(t: OffsetDateTime) -> OffsetDateTime {
    let utc = t.to_offset(UtcOffset::UTC);
    // March and October both have 31 days.
    let change = |month: Month| -> Option<OffsetDateTime> {
        let last = Date::from_calendar_date(utc.year(), month, 31).ok()?;
        let back = Duration::days(i64::from(last.weekday().number_days_from_sunday()));
        Some(last.checked_sub(back)?.with_hms(1, 0, 0).ok()?.assume_utc())
    };
    match (
        change(Month::March),
        change(Month::October),
        UtcOffset::from_hms(1, 0, 0),
    ) {
        (Some(start), Some(end), Ok(bst)) if start <= utc && utc < end => utc.to_offset(bst),
        _ => utc,
    }
}

fn month_name(m: Month) -> &'static str {
    match m {
        Month::January => "January",
        Month::February => "February",
        Month::March => "March",
        Month::April => "April",
        Month::May => "May",
        Month::June => "June",
        Month::July => "July",
        Month::August => "August",
        Month::September => "September",
        Month::October => "October",
        Month::November => "November",
        Month::December => "December",
    }
}

/// The string at `path` in a JSON object, if there is one.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(*key))?.as_str()
}

/// The account object at `key` of the Initiation, if present and well formed.
fn account_at(init: &Value, key: &str) -> Option<Account> {
    init.get(key)
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// An account identification as a customer reads it: "Sort code 12-34-56, account 12345678"
/// for `UK.OBIE.SortCodeAccountNumber`, an IBAN in groups of four, anything else as sent.
fn account_text(a: &Account) -> String {
    account_identification(&a.scheme_name, &a.identification)
}

/// An OB account identification (SchemeName, Identification) in the words the pages use.
pub fn account_identification(scheme: &str, id: &str) -> String {
    match scheme {
        "UK.OBIE.SortCodeAccountNumber"
            if id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()) =>
        {
            // 14 ASCII digits: every index below is a char boundary.
            format!(
                "Sort code {}-{}-{}, account {}",
                &id[0..2],
                &id[2..4],
                &id[4..6],
                &id[6..]
            )
        }
        "UK.OBIE.IBAN" => group_iban(id),
        _ => id.to_owned(),
    }
}

/// "GB76LOYD30949301273801" -> "GB76 LOYD 3094 9301 2738 01" (spaces in the input ignored).
fn group_iban(iban: &str) -> String {
    let chars: Vec<char> = iban.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An OB amount (`^\d{1,13}(\.\d{1,5})?$`) with its ISO 4217 currency: "£1,234.50",
/// "€10.00", "1,234.50 USD", "1,000 JPY". GBP, EUR and USD get exactly two decimals unless
/// the amount has non-zero digits beyond them, which are kept rather than rounded away.
/// Other currencies keep the decimals as sent. Anything that is not an OB amount is shown
/// as sent, followed by the currency.
fn format_amount(amount: &str, currency: &str) -> String {
    let Some(number) = format_number(amount, currency) else {
        return format!("{amount} {currency}").trim().to_owned();
    };
    match currency {
        "GBP" => format!("£{number}"),
        "EUR" => format!("€{number}"),
        _ => format!("{number} {currency}").trim().to_owned(),
    }
}

fn format_number(amount: &str, currency: &str) -> Option<String> {
    let (int, frac) = match amount.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (amount, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.unwrap_or("");
    let frac = if matches!(currency, "GBP" | "EUR" | "USD") {
        let kept = frac.trim_end_matches('0');
        if kept.len() <= 2 {
            format!("{kept:0<2}")
        } else {
            kept.to_owned()
        }
    } else {
        frac.to_owned()
    };
    let mut out = thousands(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

/// "1234567" -> "1,234,567" (ASCII digits only).
fn thousands(int: &str) -> String {
    let mut out = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::ConsentStatus;
    use serde_json::json;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    fn consent(details: ConsentDetails) -> Consent {
        let t = at("2026-06-01T09:00:00Z");
        Consent {
            id: "aac-1".into(),
            client_id: "tpp-1".into(),
            stored_status: ConsentStatus::AwaitingAuthorisation,
            psu_id: None,
            selected_accounts: Vec::new(),
            created_at: t,
            status_updated_at: t,
            details,
        }
    }

    fn access(perms: &[Permission]) -> AccountAccessDetails {
        AccountAccessDetails {
            permissions: perms.to_vec(),
            expiration_date_time: None,
            transaction_from_date_time: None,
            transaction_to_date_time: None,
            risk: json!({}),
            dates_as_sent: Default::default(),
        }
    }

    fn payment(initiation: Value) -> Consent {
        consent(ConsentDetails::DomesticPayment(DomesticPaymentDetails {
            terms: Default::default(),
            read_refund_account: None,
            initiation,
            authorisation: None,
            sca_support_data: None,
            risk: json!({}),
        }))
    }

    fn initiation() -> Value {
        json!({
            "InstructionIdentification": "ACME412",
            "EndToEndIdentification": "FRESCO.21302.GFX.20",
            "InstructedAmount": {"Amount": "1234.5", "Currency": "GBP"},
            "CreditorAccount": {
                "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                "Identification": "08080021325698",
                "Name": "ACME Inc"
            },
            "RemittanceInformation": {"Reference": "FRESCO-101", "Unstructured": "ops 5120101"}
        })
    }

    fn titles(s: &ConsentSummary) -> Vec<&str> {
        lines(s).iter().map(|l| l.title.as_str()).collect()
    }

    fn lines(s: &ConsentSummary) -> Vec<&PermissionLine> {
        s.clusters.iter().flat_map(|c| &c.lines).collect()
    }

    fn cluster_names(s: &ConsentSummary) -> Vec<&str> {
        s.clusters.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn az_6_account_access_permissions_in_plain_language() {
        use Permission as P;
        let s = describe(&consent(ConsentDetails::AccountAccess(access(&[
            P::ReadAccountsDetail,
            P::ReadBalances,
            P::ReadTransactionsCredits,
            P::ReadTransactionsDetail,
        ]))));
        assert_eq!(s.heading, "Share your account information");
        assert!(s.needs_accounts);
        assert!(s.payment.is_none());
        assert_eq!(
            cluster_names(&s),
            ["Your Account Details", "Your Account Transactions"]
        );
        assert_eq!(
            titles(&s),
            [
                "Your account name, number and sort-code",
                "Your account balance",
                "Details of your incoming transactions",
            ]
        );
        assert_eq!(
            lines(&s)[1].detail,
            "The current and available balance of the accounts you choose"
        );
        assert!(
            lines(&s)[2]
                .detail
                .starts_with("Money paid into the accounts")
        );
        for line in lines(&s) {
            assert!(!line.title.contains("Read"), "{line:?}");
            assert!(!line.detail.contains("Read"), "{line:?}");
        }
    }

    #[test]
    fn az_6_basic_is_folded_into_detail() {
        use Permission as P;
        let s = describe(&consent(ConsentDetails::AccountAccess(access(&[
            P::ReadAccountsBasic,
            P::ReadAccountsDetail,
            P::ReadStandingOrdersBasic,
            P::ReadTransactionsBasic,
            P::ReadTransactionsDebits,
            P::ReadTransactionsDetail,
        ]))));
        assert_eq!(
            titles(&s),
            [
                "Your account name, number and sort-code",
                "Your Standing Orders",
                "Details of your outgoing transactions",
            ]
        );
        assert!(lines(&s)[2].detail.starts_with("Money paid out of"));
    }

    #[test]
    fn az_6_every_permission_has_words() {
        let s = describe(&consent(ConsentDetails::AccountAccess(access(
            Permission::ALL,
        ))));
        // 21 codes: 6 Basic codes folded into their Detail, Credits and Debits into the
        // transactions line.
        assert_eq!(lines(&s).len(), Permission::ALL.len() - 6 - 2);
        // Every CEG data cluster, in the CEG's order.
        assert_eq!(cluster_names(&s), CLUSTERS);
        for &p in Permission::ALL {
            let s = describe(&consent(ConsentDetails::AccountAccess(access(&[p]))));
            let folded = matches!(
                p,
                Permission::ReadTransactionsCredits | Permission::ReadTransactionsDebits
            );
            assert_eq!(lines(&s).len(), usize::from(!folded), "{p}");
            for line in lines(&s) {
                assert!(!line.title.is_empty() && !line.detail.is_empty(), "{p}");
            }
        }
    }

    #[test]
    fn az_6_account_access_dates() {
        let mut d = access(&[Permission::ReadBalances]);
        let s = describe(&consent(ConsentDetails::AccountAccess(d.clone())));
        assert_eq!(
            s.facts,
            [Fact {
                label: "Access until".into(),
                value: "Until you cancel it".into()
            }]
        );
        d.expiration_date_time = Some(at("2026-12-31T23:59:59+00:00"));
        d.transaction_from_date_time = Some(at("2026-01-01T00:30:00+01:00"));
        d.transaction_to_date_time = Some(at("2026-08-01T00:00:00+01:00"));
        let s = describe(&consent(ConsentDetails::AccountAccess(d)));
        let facts: Vec<(&str, &str)> = s
            .facts
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            facts,
            [
                ("Access until", "31 December 2026"),
                ("Transactions from", "31 December 2025"),
                ("Transactions to", "1 August 2026"),
            ]
        );
        // Transactions without a window: the page says the whole history is asked for.
        let s = describe(&consent(ConsentDetails::AccountAccess(access(&[
            Permission::ReadTransactionsBasic,
            Permission::ReadTransactionsCredits,
        ]))));
        assert!(
            s.facts
                .iter()
                .any(|f| f.label == "Transactions" && f.value == "All the history we hold"),
            "{:?}",
            s.facts
        );
    }

    #[test]
    fn az_6_payment_amount_formatted() {
        for (amount, currency, shown) in [
            ("1234.5", "GBP", "£1,234.50"),
            ("10.5", "GBP", "£10.50"),
            ("165.88", "GBP", "£165.88"),
            ("1", "GBP", "£1.00"),
            ("0.01", "GBP", "£0.01"),
            ("00001.5", "GBP", "£1.50"),
            ("10.50000", "GBP", "£10.50"),
            ("10.125", "GBP", "£10.125"),
            ("1234567890123.12345", "EUR", "€1,234,567,890,123.12345"),
            ("999", "EUR", "€999.00"),
            ("1234.5", "USD", "1,234.50 USD"),
            ("1000", "JPY", "1,000 JPY"),
            ("12.345", "BHD", "12.345 BHD"),
            ("1,000", "GBP", "1,000 GBP"),
            ("", "GBP", "GBP"),
            ("1.2.3", "GBP", "1.2.3 GBP"),
            ("-5", "GBP", "-5 GBP"),
            ("½", "GBP", "½ GBP"),
        ] {
            assert_eq!(
                format_amount(amount, currency),
                shown,
                "{amount} {currency}"
            );
        }
    }

    #[test]
    fn az_6_payment_lines() {
        let s = describe(&payment(initiation()));
        assert_eq!(s.heading, "Make a payment");
        assert!(s.clusters.is_empty());
        assert!(s.facts.is_empty());
        assert!(s.needs_accounts, "no DebtorAccount: the PSU picks one");
        assert_eq!(
            s.payment.unwrap(),
            PaymentLines {
                amount: "£1,234.50".into(),
                creditor_name: "ACME Inc".into(),
                creditor_account: "Sort code 08-08-00, account 21325698".into(),
                reference: Some("FRESCO-101".into()),
            }
        );
    }

    /// OB CEG: the bank's charges and expected payment date are on the page the PSU
    /// authorises on.
    #[test]
    fn az_6_payment_terms_are_shown() {
        let mut c = payment(initiation());
        if let ConsentDetails::DomesticPayment(d) = &mut c.details {
            d.terms.expected_execution_date_time = Some(at("2026-12-07T09:00:00Z"));
            d.terms.charges = vec![crate::payment_terms::Charge {
                charge_bearer: "BorneByDebtor".into(),
                charge_type: "UK.OBIE.CHAPSOut".into(),
                amount: json!({"Amount": "1.88", "Currency": "GBP"}),
            }];
        }
        let facts: Vec<(String, String)> = describe(&c)
            .facts
            .into_iter()
            .map(|f| (f.label, f.value))
            .collect();
        assert_eq!(
            facts,
            [
                ("Expected payment date".into(), "7 December 2026".into()),
                ("Charge".into(), "£1.88, paid by you".into()),
            ]
        );
    }

    #[test]
    fn az_6_payment_with_debtor_account_needs_no_choice() {
        let mut init = initiation();
        init["DebtorAccount"] = json!({
            "SchemeName": "UK.OBIE.IBAN",
            "Identification": "GB76LOYD30949301273801"
        });
        init["CreditorAccount"] = json!({
            "SchemeName": "UK.OBIE.Paym",
            "Identification": "07700900123",
            "Name": "Jo Bloggs"
        });
        init.as_object_mut()
            .unwrap()
            .remove("RemittanceInformation");
        let s = describe(&payment(init));
        assert!(!s.needs_accounts);
        assert_eq!(
            s.facts,
            [Fact {
                label: "Pay from".into(),
                value: "GB76 LOYD 3094 9301 2738 01".into()
            }]
        );
        let p = s.payment.unwrap();
        assert_eq!(p.creditor_account, "07700900123");
        assert_eq!(p.reference, None);
    }

    #[test]
    fn az_6_odd_payment_never_panics() {
        for init in [
            json!({}),
            json!(null),
            json!({"InstructedAmount": {"Amount": 5, "Currency": null}}),
            json!({"CreditorAccount": {"SchemeName": "UK.OBIE.SortCodeAccountNumber",
                                       "Identification": "12-34-56 1234"}}),
            json!({"CreditorAccount": {"SchemeName": "UK.OBIE.SortCodeAccountNumber",
                                       "Identification": "١٢٣٤٥٦٧٨٩٠١٢٣٤"}}),
            json!({"DebtorAccount": null}),
        ] {
            let s = describe(&payment(init));
            assert!(s.payment.is_some());
        }
        let mut init = initiation();
        init["CreditorAccount"]["Identification"] = json!("12-34-56 1234");
        let s = describe(&payment(init));
        assert_eq!(s.payment.unwrap().creditor_account, "12-34-56 1234");
    }

    #[test]
    fn az_6_funds_confirmation() {
        let s = describe(&consent(ConsentDetails::FundsConfirmation(
            FundsConfirmationDetails {
                expiration_date_time: Some(at("2027-01-01T00:00:00Z")),
                expiration_as_sent: None,
                debtor_account: Account {
                    scheme_name: "UK.OBIE.SortCodeAccountNumber".into(),
                    identification: "12345612345678".into(),
                    name: Some("Andrea Smith".into()),
                    secondary_identification: None,
                },
            },
        )));
        assert_eq!(s.heading, "Allow checks that you have enough money");
        assert!(!s.needs_accounts);
        assert!(s.payment.is_none());
        assert!(s.clusters.is_empty());
        assert_eq!(
            s.facts,
            [
                Fact {
                    label: "Account".into(),
                    value: "Sort code 12-34-56, account 12345678".into()
                },
                Fact {
                    label: "Access until".into(),
                    value: "1 January 2027".into()
                },
            ]
        );
    }

    #[test]
    fn az_6_dates_are_uk_dates() {
        for (instant, shown) in [
            ("2026-03-29T00:59:59Z", "29 March 2026"),
            ("2026-03-29T23:00:00Z", "30 March 2026"),
            ("2026-10-24T23:30:00Z", "25 October 2026"),
            ("2026-10-25T23:30:00Z", "25 October 2026"),
            ("2026-07-31T23:59:59+00:00", "1 August 2026"),
            ("2026-12-31T23:59:59Z", "31 December 2026"),
            ("9999-12-31T23:59:59Z", "31 December 9999"),
        ] {
            assert_eq!(long_date(at(instant)), shown, "{instant}");
        }
    }

    #[test]
    fn az_6_iban_grouping() {
        assert_eq!(
            group_iban("GB76 LOYD3094 9301273801"),
            "GB76 LOYD 3094 9301 2738 01"
        );
        assert_eq!(group_iban(""), "");
        assert_eq!(thousands("0"), "0");
        assert_eq!(thousands("100"), "100");
        assert_eq!(thousands("1000"), "1,000");
        assert_eq!(thousands("123456"), "123,456");
    }
}
