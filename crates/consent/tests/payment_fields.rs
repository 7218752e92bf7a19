//! CO-3: a domestic payment consent's fields are held to the OB v3.1.10 schema's bounds
//! (`OBWriteDomesticConsent4`): each just-too-long or malformed field is a 400 naming its path
//! and stores nothing, the longest allowed value is accepted, and what the TPP asked is
//! answered as asked. Every case on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[macro_use]
mod common;

use bulwark_consent::{ConsentKind, LocalInstruments};
use common::*;
use serde_json::{Value, json};

both_backends!(
    co_3_payment_fields_over_their_bounds_are_refused_and_store_nothing,
    co_3_read_refund_account_is_answered_as_asked,
);

/// A payment body changed by `edit` (a JSON pointer under the body and its new value).
fn edited(edit: &[(&str, Value)]) -> Value {
    let mut body = pay_body("10.00", "GBP");
    for (pointer, value) in edit {
        let (parent, member) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[member] = value.clone();
    }
    body
}

async fn create(
    env: &Env,
    body: &Value,
    key: &str,
) -> Result<Value, bulwark_consent::ConsentError> {
    env.svc
        .create(
            &caller("client-a", PISP),
            ConsentKind::DomesticPayment,
            body.to_string().as_bytes(),
            Some(key),
            at(0),
        )
        .await
        .map(|c| {
            c.consent
                .to_ob_json("https://bank/pisp/domestic-payment-consents/x", at(0))
        })
}

async fn co_3_payment_fields_over_their_bounds_are_refused_and_store_nothing(env: Env) {
    let init = "/Data/Initiation";
    let address = json!({"TownName": "London", "Country": "GB", "PostCode": "EC1A 1BB"});
    let refusals: Vec<(Vec<(String, Value)>, &str)> = vec![
        // Max35Text.
        (
            vec![(
                format!("{init}/EndToEndIdentification"),
                json!("e".repeat(36)),
            )],
            "Data.Initiation.EndToEndIdentification",
        ),
        (
            vec![(
                format!("{init}/RemittanceInformation/Reference"),
                json!("r".repeat(36)),
            )],
            "Data.Initiation.RemittanceInformation.Reference",
        ),
        // OBCashAccountDebtor4: a scheme OB does not define.
        (
            vec![(
                format!("{init}/DebtorAccount"),
                json!({"SchemeName": "UK.OBIE.Nonsense", "Identification": "08080021325698", "Name": "A Smith"}),
            )],
            "Data.Initiation.DebtorAccount",
        ),
        // OBPostalAddress6: CountryCode is ^[A-Z]{2,2}$; no member outside the schema.
        (
            vec![(
                format!("{init}/CreditorPostalAddress"),
                json!({"TownName": "London", "Country": "GBR"}),
            )],
            "Data.Initiation.CreditorPostalAddress.Country",
        ),
        (
            vec![(
                format!("{init}/CreditorPostalAddress"),
                json!({"TownName": "London", "Country": "GB", "Planet": "Earth"}),
            )],
            "Data.Initiation.CreditorPostalAddress",
        ),
        // OBRisk1: PaymentContextCode from its enumeration only.
        (
            vec![("/Risk/PaymentContextCode".into(), json!("Bribes"))],
            "Risk.PaymentContextCode",
        ),
    ];
    for (i, (edit, path)) in refusals.iter().enumerate() {
        let edit: Vec<(&str, Value)> = edit.iter().map(|(p, v)| (p.as_str(), v.clone())).collect();
        let err = create(&env, &edited(&edit), &format!("bad-{i}"))
            .await
            .expect_err(path);
        let ob = err.to_ob();
        assert_eq!(ob.status, 400, "{path}: {err}");
        let named = ob.errors[0].path.clone().unwrap_or_default();
        assert!(named.starts_with(path), "{path}: named {named:?} ({err})");
    }
    assert_eq!(env.stored().await, 0, "nothing stored");

    // The longest allowed values and well-formed optional members are accepted as sent.
    let longest = edited(&[
        (
            &format!("{init}/EndToEndIdentification"),
            json!("e".repeat(35)),
        ),
        (
            &format!("{init}/RemittanceInformation/Reference"),
            json!("r".repeat(35)),
        ),
        (
            &format!("{init}/DebtorAccount"),
            json!({"SchemeName": "UK.OBIE.IBAN", "Identification": "GB76LOYD30949301273801", "Name": "A Smith"}),
        ),
        (&format!("{init}/CreditorPostalAddress"), address.clone()),
    ]);
    let answered = create(&env, &longest, "good").await.unwrap();
    assert_eq!(
        answered["Data"]["Initiation"],
        longest["Data"]["Initiation"]
    );
    assert_eq!(env.stored().await, 1);
}

async fn co_3_read_refund_account_is_answered_as_asked(env: Env) {
    for (i, asked) in ["Yes", "No"].into_iter().enumerate() {
        let body = edited(&[("/Data/ReadRefundAccount", json!(asked))]);
        let answered = create(&env, &body, &format!("refund-{i}")).await.unwrap();
        assert_eq!(answered["Data"]["ReadRefundAccount"], asked);
    }
    let answered = create(&env, &pay_body("1.00", "GBP"), "none")
        .await
        .unwrap();
    assert!(answered["Data"].get("ReadRefundAccount").is_none());
}

#[test]
fn co_3_a_configured_local_instrument_code_is_at_most_50_characters() {
    // `UK.MyBank.` and 40 more characters: exactly 50 is a code, 51 is not.
    let fifty = format!("UK.MyBank.{}", "x".repeat(40));
    assert_eq!(fifty.len(), 50);
    assert!(LocalInstruments::parse(std::slice::from_ref(&fifty)).is_ok());
    let fifty_one = format!("{fifty}y");
    assert!(LocalInstruments::parse(&[fifty_one]).is_err());
}
