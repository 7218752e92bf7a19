//! CO-1 consent APIs end to end over real TLS with tokens from the token endpoint and QWACs
//! made in the test: create / get / delete of each kind (account access on SQLite and
//! PostgreSQL, domestic payment, funds confirmation), idempotency, x-fapi-interaction-id, OB
//! errors for bad input with nothing stored. Access checks are in `consents_access.rs`,
//! x-jws-signature in `consents_signatures.rs`.

use bulwark_certs::PspRole;
use bulwark_store::ConsentStore;
use serde_json::json;

use crate::support::consents::{
    AISP, CBPII, PISP, aac_body, as_tpp, assert_ob, call, cof_body, pay_body, stored, tpp,
};
use crate::support::{Harness, both_backends};

both_backends!(
    co_1_account_access_consent_create_get_delete_with_interaction_id,
    co_1_account_access_consent_create_get_delete_on_postgres => account_access_case
);

async fn account_access_case(h: Harness) {
    let (c, token) = tpp(&h, "aisp-1", &[PspRole::AccountInformation]).await;
    let created = call(
        &h,
        Some(&c.identity),
        reqwest::Method::POST,
        AISP,
        Some(&token),
        Some(&aac_body()),
        &[(
            "x-fapi-interaction-id",
            "93bac548-d2de-4546-b106-880a5018460d",
        )],
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.headers["x-fapi-interaction-id"],
        "93bac548-d2de-4546-b106-880a5018460d"
    );
    assert_eq!(created.body["Data"]["Status"], "AwaitingAuthorisation");
    let id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        created.body["Links"]["Self"],
        format!("https://localhost:8443{AISP}/{id}")
    );

    let got = as_tpp(&h, &c, &token).get(&format!("{AISP}/{id}")).await;
    assert_eq!(got.status, 200);
    assert!(
        got.headers.contains_key("x-fapi-interaction-id"),
        "generated when absent"
    );
    assert_eq!(
        got.body["Data"]["Permissions"],
        json!(["ReadAccountsDetail", "ReadBalances"])
    );

    // Another TPP cannot see it.
    let (other, other_token) = tpp(&h, "aisp-2", &[PspRole::AccountInformation]).await;
    let hidden = as_tpp(&h, &other, &other_token)
        .get(&format!("{AISP}/{id}"))
        .await;
    // ob_status_codes: another TPP's consent is 403; an unknown id 400 NotFound (OB v3.1.10).
    assert_ob(&hidden, 403, "UK.OBIE.Resource.ConsentMismatch");
    let unknown = as_tpp(&h, &c, &token)
        .get(&format!("{AISP}/aac-does-not-exist"))
        .await;
    assert_ob(&unknown, 400, "UK.OBIE.Resource.NotFound");

    let deleted = as_tpp(&h, &c, &token).delete(&format!("{AISP}/{id}")).await;
    assert_eq!(deleted.status, 204);
    // ob_soft_delete: afterwards the consent is gone for the TPP (GET and DELETE are 400
    // NotFound); the bank keeps the row (Rejected) and its audit trail.
    let after = as_tpp(&h, &c, &token).get(&format!("{AISP}/{id}")).await;
    assert_ob(&after, 400, "UK.OBIE.Resource.NotFound");
    let again = as_tpp(&h, &c, &token).delete(&format!("{AISP}/{id}")).await;
    assert_ob(&again, 400, "UK.OBIE.Resource.NotFound");
    let kept = h.store.get_consent(&id).await.unwrap().unwrap();
    assert_eq!(kept.status, "Rejected");

    // Bad input: a clear OB error and nothing stored.
    let before = stored(&h).await;
    let mut bad = aac_body();
    bad["Data"]["Permissions"] = json!(["ReadMinds"]);
    let refused = as_tpp(&h, &c, &token).post(AISP, &bad, &[]).await;
    assert_ob(&refused, 400, "UK.OBIE.Field.Invalid");
    let malformed = as_tpp(&h, &c, &token)
        .post(AISP, &json!("not an object"), &[])
        .await;
    assert_ob(&malformed, 400, "UK.OBIE.Field.Invalid");
    assert_eq!(stored(&h).await, before);
}

#[tokio::test]
async fn co_1_domestic_payment_consent_idempotency() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "pisp-1", &[PspRole::PaymentInitiation]).await;
    let key = [("x-idempotency-key", "idem-1")];
    let first = as_tpp(&h, &c, &token)
        .post(PISP, &pay_body("165.88"), &key)
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = as_tpp(&h, &c, &token)
        .post(PISP, &pay_body("165.88"), &key)
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(
        again.body["Data"]["ConsentId"],
        first.body["Data"]["ConsentId"]
    );
    let other = as_tpp(&h, &c, &token)
        .post(PISP, &pay_body("999.00"), &key)
        .await;
    assert_ob(&other, 400, "UK.OBIE.Header.Invalid");
    let missing = as_tpp(&h, &c, &token)
        .post(PISP, &pay_body("1.00"), &[])
        .await;
    assert_ob(&missing, 400, "UK.OBIE.Header.Missing");
    let zero = as_tpp(&h, &c, &token)
        .post(PISP, &pay_body("0"), &[("x-idempotency-key", "idem-2")])
        .await;
    assert_ob(&zero, 400, "UK.OBIE.Field.Invalid");
    assert_eq!(stored(&h).await, 1);
    let id = first.body["Data"]["ConsentId"].as_str().unwrap();
    let got = as_tpp(&h, &c, &token).get(&format!("{PISP}/{id}")).await;
    assert_eq!(
        got.body["Data"]["Initiation"]["InstructedAmount"]["Amount"],
        "165.88"
    );
    // Payment consents have no DELETE.
    let del = as_tpp(&h, &c, &token).delete(&format!("{PISP}/{id}")).await;
    assert_eq!(del.status, 405);
}

#[tokio::test]
async fn co_1_funds_confirmation_consent_create_get_delete() {
    // ob_links_self: Links.Self is on the bank's API host (consents.api_base), not the issuer.
    let h =
        Harness::start(|c| c.consents.api_base = Some("https://api.bank.example/".into())).await;
    let (c, token) = tpp(&h, "cbpii-1", &[PspRole::CardIssuing]).await;
    // ob_bare_scheme_names: a bare scheme name is accepted and answered namespaced.
    let mut body = cof_body();
    body["Data"]["DebtorAccount"]["SchemeName"] = json!("IBAN");
    let created = as_tpp(&h, &c, &token).post(CBPII, &body, &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["Data"]["DebtorAccount"]["SchemeName"],
        "UK.OBIE.IBAN"
    );
    // A consent names accounts: no cache on the way may keep it.
    assert_eq!(created.headers["cache-control"], "no-store");
    let id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        created.body["Links"]["Self"],
        format!("https://api.bank.example{CBPII}/{id}")
    );
    assert_eq!(
        as_tpp(&h, &c, &token)
            .get(&format!("{CBPII}/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        as_tpp(&h, &c, &token)
            .delete(&format!("{CBPII}/{id}"))
            .await
            .status,
        204
    );
}

both_backends!(
    ob_read_refund_account_is_accepted_stored_and_echoed,
    ob_read_refund_account_is_accepted_stored_and_echoed_on_postgres => read_refund_account_case
);

/// ob_read_refund_account (OB fidelity 4): `Data.ReadRefundAccount` (v3.1.4+) in the shape of the
/// spec's own example is accepted, stored and echoed on create and read; a value outside
/// `Yes`/`No` is `UK.OBIE.Field.Invalid` at its path and stores nothing.
async fn read_refund_account_case(h: Harness) {
    let (c, token) = tpp(&h, "pisp-refund", &[PspRole::PaymentInitiation]).await;
    let body = json!({
        "Data": {
            "ReadRefundAccount": "Yes",
            "Initiation": {
                "InstructionIdentification": "ACME412",
                "EndToEndIdentification": "FRESCO.21302.GFX.20",
                "InstructedAmount": {"Amount": "165.88", "Currency": "GBP"},
                "CreditorAccount": {
                    "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                    "Identification": "08080021325698",
                    "Name": "ACME Inc",
                    "SecondaryIdentification": "0002"
                },
                "RemittanceInformation": {"Reference": "FRESCO-101", "Unstructured": "Internal ops code 5120101"}
            }
        },
        "Risk": {
            "PaymentContextCode": "EcommerceGoods",
            "MerchantCategoryCode": "5967",
            "MerchantCustomerIdentification": "053598653254",
            "DeliveryAddress": {
                "AddressLine": ["Flat 7", "Acacia Lodge"],
                "StreetName": "Acacia Avenue",
                "BuildingNumber": "27",
                "PostCode": "GU31 2ZZ",
                "TownName": "Sparsholt",
                "CountrySubDivision": "Wessex",
                "Country": "UK"
            }
        }
    });
    let created = as_tpp(&h, &c, &token)
        .post(PISP, &body, &[("x-idempotency-key", "refund-1")])
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["Data"]["ReadRefundAccount"], "Yes");
    // ob_empty_arrays: Charges (0..n) is present as [].
    assert_eq!(created.body["Data"]["Charges"], json!([]));
    let id = created.body["Data"]["ConsentId"].as_str().unwrap();
    let read = as_tpp(&h, &c, &token).get(&format!("{PISP}/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["Data"]["ReadRefundAccount"], "Yes");

    let mut bad = body.clone();
    bad["Data"]["ReadRefundAccount"] = json!("Maybe");
    let refused = as_tpp(&h, &c, &token)
        .post(PISP, &bad, &[("x-idempotency-key", "refund-2")])
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Field.Invalid");
    assert_eq!(refused.body["Errors"][0]["Path"], "Data.ReadRefundAccount");
    assert_eq!(stored(&h).await, 1);
}

/// ob_content_negotiation (OB fidelity 11): a consent body of another type is 415, an Accept
/// the API cannot serve is 406, both as OB errors naming the header; nothing is stored.
#[tokio::test]
async fn ob_content_type_415_and_accept_406() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-media", &[PspRole::AccountInformation]).await;
    let client = crate::support::http_client(&h.dev_ca, Some(&c.identity));
    let body = aac_body().to_string();
    let wrong_type = client
        .post(h.url(AISP))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 415);
    let err: serde_json::Value = wrong_type.json().await.unwrap();
    assert_eq!(err["Errors"][0]["Path"], "Content-Type");
    let wrong_accept = client
        .post(h.url(AISP))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/xml")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_accept.status().as_u16(), 406);
    assert_eq!(stored(&h).await, 0);
    let fine = client
        .post(h.url(AISP))
        .bearer_auth(&token)
        .header("content-type", "application/json; charset=utf-8")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status().as_u16(), 201);
    let id = fine.json::<serde_json::Value>().await.unwrap()["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let get_xml = client
        .get(h.url(&format!("{AISP}/{id}")))
        .bearer_auth(&token)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(get_xml.status().as_u16(), 406);
}

/// ob_permissions (OB fidelity 10): a bank offering only some permissions refuses a consent
/// asking for another with `UK.OBIE.Field.Invalid` at `Data.Permissions`, storing nothing.
#[tokio::test]
async fn ob_unsupported_permissions_are_refused() {
    let h = Harness::start(|c| {
        c.consents.supported_permissions = Some(vec![
            "ReadAccountsBasic".into(),
            "ReadAccountsDetail".into(),
            "ReadBalances".into(),
        ])
    })
    .await;
    let (c, token) = tpp(&h, "aisp-perms", &[PspRole::AccountInformation]).await;
    let mut body = aac_body();
    body["Data"]["Permissions"] = json!(["ReadAccountsDetail", "ReadPAN"]);
    let refused = as_tpp(&h, &c, &token).post(AISP, &body, &[]).await;
    assert_ob(&refused, 400, "UK.OBIE.Field.Invalid");
    assert_eq!(refused.body["Errors"][0]["Path"], "Data.Permissions");
    assert_eq!(stored(&h).await, 0);
    let ok = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}

/// OB v3.1.10 "Namespaced Enumerations": a payment consent naming a LocalInstrument the bank
/// does not support is 400 `UK.OBIE.Unsupported.LocalInstrument` at
/// `Data.Initiation.LocalInstrument`, storing nothing; by default every OB code is supported,
/// and a bank's configured list replaces them (its own namespaced codes included).
#[tokio::test]
async fn co_3_unsupported_local_instrument_is_refused() {
    let with = |code: &str| {
        let mut body = pay_body("10.00");
        body["Data"]["Initiation"]["LocalInstrument"] = json!(code);
        body
    };
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "pisp-li", &[PspRole::PaymentInitiation]).await;
    let tpp_api = as_tpp(&h, &c, &token);
    let refused = tpp_api
        .post(
            PISP,
            &with("UK.MyBank.Instant"),
            &[("x-idempotency-key", "li-1")],
        )
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Unsupported.LocalInstrument");
    assert_eq!(
        refused.body["Errors"][0]["Path"],
        "Data.Initiation.LocalInstrument"
    );
    assert_eq!(stored(&h).await, 0);
    let ok = tpp_api
        .post(PISP, &with("UK.OBIE.FPS"), &[("x-idempotency-key", "li-2")])
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert_eq!(
        ok.body["Data"]["Initiation"]["LocalInstrument"],
        "UK.OBIE.FPS"
    );

    let h = Harness::start(|c| {
        c.consents.supported_local_instruments =
            Some(vec!["UK.OBIE.FPS".into(), "UK.MyBank.Instant".into()])
    })
    .await;
    let (c, token) = tpp(&h, "pisp-li", &[PspRole::PaymentInitiation]).await;
    let tpp_api = as_tpp(&h, &c, &token);
    let refused = tpp_api
        .post(
            PISP,
            &with("UK.OBIE.CHAPS"),
            &[("x-idempotency-key", "li-3")],
        )
        .await;
    assert_ob(&refused, 400, "UK.OBIE.Unsupported.LocalInstrument");
    assert_eq!(stored(&h).await, 0);
    let ok = tpp_api
        .post(
            PISP,
            &with("UK.MyBank.Instant"),
            &[("x-idempotency-key", "li-4")],
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    // Without a LocalInstrument the bank picks the scheme: accepted.
    let ok = tpp_api
        .post(PISP, &pay_body("11.00"), &[("x-idempotency-key", "li-5")])
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}

/// ob_fapi_headers (OB fidelity 17): `x-fapi-auth-date` and `x-fapi-customer-ip-address` are
/// checked when sent (`UK.OBIE.Header.Invalid` naming the header) and pass when well formed.
#[tokio::test]
async fn ob_fapi_customer_headers_are_validated() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-fapi", &[PspRole::AccountInformation]).await;
    let bad = as_tpp(&h, &c, &token)
        .post(AISP, &aac_body(), &[("x-fapi-customer-ip-address", "nope")])
        .await;
    assert_ob(&bad, 400, "UK.OBIE.Header.Invalid");
    assert_eq!(bad.body["Errors"][0]["Path"], "x-fapi-customer-ip-address");
    let bad = as_tpp(&h, &c, &token)
        .post(AISP, &aac_body(), &[("x-fapi-auth-date", "2017-09-10")])
        .await;
    assert_eq!(bad.body["Errors"][0]["Path"], "x-fapi-auth-date");
    assert_eq!(stored(&h).await, 0);
    let ok = as_tpp(&h, &c, &token)
        .post(
            AISP,
            &aac_body(),
            &[
                ("x-fapi-auth-date", "Sun, 10 Sep 2017 19:43:31 GMT"),
                ("x-fapi-customer-ip-address", "104.25.212.99"),
            ],
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}

both_backends!(
    /// ob_17: the customer headers of the request behind each change (creation, the TPP's
    /// DELETE) are kept, as sent, in that change's audit row; a request without them leaves
    /// the row's columns empty.
    ob_17_fapi_customer_headers_are_kept_in_the_consent_audit,
    ob_17_fapi_customer_headers_are_kept_in_the_consent_audit_on_postgres => customer_audit_case
);

async fn customer_audit_case(h: Harness) {
    let (c, token) = tpp(&h, "aisp-audit", &[PspRole::AccountInformation]).await;
    let created = as_tpp(&h, &c, &token)
        .post(
            AISP,
            &aac_body(),
            &[
                ("x-fapi-auth-date", "Sun, 10 Sep 2017 19:43:31 UTC"),
                ("x-fapi-customer-ip-address", "104.25.212.99"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["Data"]["ConsentId"].as_str().unwrap();
    let deleted = call(
        &h,
        Some(&c.identity),
        reqwest::Method::DELETE,
        &format!("{AISP}/{id}"),
        Some(&token),
        None,
        &[("x-fapi-customer-ip-address", "2001:db8::7")],
    )
    .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    let history = h.store.consent_history(id).await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        history[0].customer.auth_date.as_deref(),
        Some("Sun, 10 Sep 2017 19:43:31 UTC")
    );
    assert_eq!(
        history[0].customer.ip_address.as_deref(),
        Some("104.25.212.99")
    );
    assert_eq!(history[1].to_status, "Rejected");
    assert_eq!(history[1].customer.auth_date, None);
    assert_eq!(
        history[1].customer.ip_address.as_deref(),
        Some("2001:db8::7")
    );

    // Without the headers the row keeps nothing.
    let plain = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    let id = plain.body["Data"]["ConsentId"].as_str().unwrap();
    let history = h.store.consent_history(id).await.unwrap();
    assert_eq!(history[0].customer, bulwark_store::FapiCustomer::default());
}

/// OB Read/Write "Response Headers": `x-fapi-interaction-id` comes back on every answer of
/// the bank APIs, including the ones no consent handler makes (a method the resource does
/// not have, a repeated header), and a repeated header is refused in the OB error structure.
#[tokio::test]
async fn co_1_every_bank_api_answer_carries_the_interaction_id() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-1", &[PspRole::AccountInformation]).await;
    let id = "93bac548-d2de-4546-b106-880a5018460d";
    let not_allowed = call(
        &h,
        Some(&c.identity),
        reqwest::Method::PUT,
        &format!("{AISP}/aac-anything"),
        Some(&token),
        None,
        &[("x-fapi-interaction-id", id)],
    )
    .await;
    assert_eq!(not_allowed.status, 405);
    assert_eq!(not_allowed.headers["x-fapi-interaction-id"], id);

    let repeated = crate::support::http_client(&h.dev_ca, Some(&c.identity))
        .post(h.url(AISP))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("x-fapi-interaction-id", id)
        .header("x-idempotency-key", "first")
        .header("x-idempotency-key", "second")
        .body(aac_body().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status().as_u16(), 400);
    assert_eq!(repeated.headers()["x-fapi-interaction-id"], id);
    let body: serde_json::Value = repeated.json().await.unwrap();
    assert_eq!(body["Code"], "400 BadRequest");
    assert_eq!(body["Id"], id);
    assert_eq!(body["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid");
    assert_eq!(body["Errors"][0]["Path"], "x-idempotency-key");
    assert_eq!(stored(&h).await, 0, "nothing stored");
}
