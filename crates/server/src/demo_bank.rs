//! `bulwark demo-bank`: a small stand-in for a bank's account API behind the gateway, so the
//! whole path TPP -> gateway -> bank can be tried with curl. It serves the OB Read/Write v3.1
//! accounts, account, balances and transactions resources of the demo PSUs from the database,
//! and trusts only what the gateway tells it: the PSU (`x-bulwark-psu`) and the accounts the
//! consent covers (`x-bulwark-accounts`). Plain HTTP: run it where only the gateway reaches it.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_store::{PsuAccountRecord, PsuStore};
use serde_json::{Value, json};

/// The demo bank's routes over the PSU directory.
pub fn router(store: Arc<dyn PsuStore>) -> Router {
    Router::new()
        .route(
            "/open-banking/v3.1/aisp/accounts",
            axum::routing::get(accounts),
        )
        .route(
            "/open-banking/v3.1/aisp/accounts/{account_id}",
            axum::routing::get(account),
        )
        .route(
            "/open-banking/v3.1/aisp/accounts/{account_id}/balances",
            axum::routing::get(balances),
        )
        .route(
            "/open-banking/v3.1/aisp/accounts/{account_id}/transactions",
            axum::routing::get(transactions),
        )
        .route(
            "/open-banking/v3.1/aisp/products",
            axum::routing::get(products),
        )
        .with_state(store)
}

/// The bank's product list: the same for every caller (behind the gateway, an application
/// token's route), and what the gateway benchmark proxies.
async fn products() -> Response {
    page(
        json!({"Product": [
            {"ProductName": "Everyday Current Account", "ProductType": "PersonalCurrentAccount", "ProductId": "PCA-1"},
            {"ProductName": "Easy Saver", "ProductType": "Other", "ProductId": "SAV-1"}
        ]}),
        "/open-banking/v3.1/aisp/products",
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The PSU's accounts the consent covers, from the gateway's headers.
async fn covered(store: &dyn PsuStore, h: &HeaderMap) -> Result<Vec<PsuAccountRecord>, Response> {
    let Some(psu) = header(h, "x-bulwark-psu") else {
        return Err((StatusCode::FORBIDDEN, "only the gateway may call this API").into_response());
    };
    let allowed: Vec<&str> = header(h, "x-bulwark-accounts")
        .unwrap_or_default()
        .split(',')
        .filter(|a| !a.is_empty())
        .collect();
    let all = store
        .psu_accounts(psu)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())?;
    Ok(all
        .into_iter()
        .filter(|a| allowed.contains(&a.account_id.as_str()))
        .collect())
}

fn account_json(a: &PsuAccountRecord) -> Value {
    json!({
        "AccountId": a.account_id,
        "Currency": a.currency,
        "AccountType": "Personal",
        "AccountSubType": "CurrentAccount",
        "Nickname": a.name,
        "Account": [{"SchemeName": a.scheme, "Identification": a.identification, "Name": a.name}]
    })
}

fn page(data: Value, self_link: &str) -> Response {
    Json(json!({"Data": data, "Links": {"Self": self_link}, "Meta": {"TotalPages": 1}}))
        .into_response()
}

/// A stable demo balance for an account: the same figures on every call.
fn demo_amount(account_id: &str) -> String {
    let n = account_id
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("{}.{:02}", 100 + n % 9_000, n % 100)
}

async fn accounts(State(store): State<Arc<dyn PsuStore>>, h: HeaderMap) -> Response {
    match covered(store.as_ref(), &h).await {
        Ok(list) => page(
            json!({"Account": list.iter().map(account_json).collect::<Vec<_>>()}),
            "/open-banking/v3.1/aisp/accounts",
        ),
        Err(r) => r,
    }
}

async fn one(
    store: &dyn PsuStore,
    h: &HeaderMap,
    account_id: &str,
) -> Result<PsuAccountRecord, Response> {
    covered(store, h)
        .await?
        .into_iter()
        .find(|a| a.account_id == account_id)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "no such account").into_response())
}

async fn account(
    State(store): State<Arc<dyn PsuStore>>,
    Path(account_id): Path<String>,
    h: HeaderMap,
) -> Response {
    match one(store.as_ref(), &h, &account_id).await {
        Ok(a) => page(
            json!({"Account": [account_json(&a)]}),
            &format!("/open-banking/v3.1/aisp/accounts/{account_id}"),
        ),
        Err(r) => r,
    }
}

async fn balances(
    State(store): State<Arc<dyn PsuStore>>,
    Path(account_id): Path<String>,
    h: HeaderMap,
) -> Response {
    match one(store.as_ref(), &h, &account_id).await {
        Ok(a) => page(
            json!({"Balance": [{
                "AccountId": a.account_id,
                "Amount": {"Amount": demo_amount(&a.account_id), "Currency": a.currency},
                "CreditDebitIndicator": "Credit",
                "Type": "InterimAvailable",
                "DateTime": "2026-12-01T09:00:00+00:00"
            }]}),
            &format!("/open-banking/v3.1/aisp/accounts/{account_id}/balances"),
        ),
        Err(r) => r,
    }
}

async fn transactions(
    State(store): State<Arc<dyn PsuStore>>,
    Path(account_id): Path<String>,
    h: HeaderMap,
) -> Response {
    match one(store.as_ref(), &h, &account_id).await {
        Ok(a) => page(
            json!({"Transaction": [
                {"AccountId": a.account_id, "TransactionId": format!("{}-t1", a.account_id),
                 "Amount": {"Amount": "12.50", "Currency": a.currency}, "CreditDebitIndicator": "Debit",
                 "Status": "Booked", "BookingDateTime": "2026-11-30T12:00:00+00:00",
                 "TransactionInformation": "Coffee Shop"},
                {"AccountId": a.account_id, "TransactionId": format!("{}-t2", a.account_id),
                 "Amount": {"Amount": "2100.00", "Currency": a.currency}, "CreditDebitIndicator": "Credit",
                 "Status": "Booked", "BookingDateTime": "2026-11-28T08:00:00+00:00",
                 "TransactionInformation": "Salary"}
            ]}),
            &format!("/open-banking/v3.1/aisp/accounts/{account_id}/transactions"),
        ),
        Err(r) => r,
    }
}
