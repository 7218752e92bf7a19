//! `bulwark demo-bank`: a small stand-in for a bank's account API behind the gateway, so the
//! whole path TPP -> gateway -> bank can be tried with curl. It serves the OB Read/Write v3.1
//! accounts, account, balances and transactions resources of the demo PSUs from the database,
//! and trusts only what the gateway tells it: the PSU (`x-bulwark-psu`), the accounts the
//! consent covers (`x-bulwark-accounts`), and what the consent grants (`x-bulwark-permissions`,
//! `x-bulwark-transaction-from`/`-to`), which shape its answers as OB's permission table has
//! it: account identifications only with `ReadAccountsDetail`, `TransactionInformation` only
//! with `ReadTransactionsDetail`, credits and debits only with `ReadTransactionsCredits` /
//! `ReadTransactionsDebits`, and no transaction booked outside the consent's window. Plain
//! HTTP: run it where only the gateway reaches it. Domestic payments: `demo_payments`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_store::{PsuAccountRecord, PsuStore};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
        .merge(crate::demo_payments::router())
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

/// What the consent grants, from the gateway's headers.
struct Grant<'a> {
    permissions: Vec<&'a str>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

impl<'a> Grant<'a> {
    fn of(h: &'a HeaderMap) -> Self {
        let at = |name| header(h, name).and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok());
        Self {
            permissions: header(h, "x-bulwark-permissions")
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.is_empty())
                .collect(),
            from: at("x-bulwark-transaction-from"),
            to: at("x-bulwark-transaction-to"),
        }
    }

    fn has(&self, permission: &str) -> bool {
        self.permissions.contains(&permission)
    }

    /// Inside the consent's transaction window.
    fn in_window(&self, booked: OffsetDateTime) -> bool {
        self.from.is_none_or(|from| booked >= from) && self.to.is_none_or(|to| booked <= to)
    }
}

/// An account as the consent may see it: its identification (`Account`) only with Detail.
fn account_json(a: &PsuAccountRecord, grant: &Grant<'_>) -> Value {
    let mut account = json!({
        "AccountId": a.account_id,
        "Currency": a.currency,
        "AccountType": "Personal",
        "AccountSubType": "CurrentAccount",
        "Nickname": a.name,
    });
    if grant.has("ReadAccountsDetail") {
        account["Account"] =
            json!([{"SchemeName": a.scheme, "Identification": a.identification, "Name": a.name}]);
    }
    account
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
    let grant = Grant::of(&h);
    match covered(store.as_ref(), &h).await {
        Ok(list) => page(
            json!({"Account": list.iter().map(|a| account_json(a, &grant)).collect::<Vec<_>>()}),
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
            json!({"Account": [account_json(&a, &Grant::of(&h))]}),
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
    let a = match one(store.as_ref(), &h, &account_id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let grant = Grant::of(&h);
    let booked = [
        (
            "t1",
            "12.50",
            "Debit",
            "2026-11-30T12:00:00+00:00",
            "Coffee Shop",
        ),
        (
            "t2",
            "2100.00",
            "Credit",
            "2026-11-28T08:00:00+00:00",
            "Salary",
        ),
    ];
    let list: Vec<Value> = booked
        .iter()
        .filter(|(_, _, side, at, _)| {
            let permitted = match *side {
                "Credit" => grant.has("ReadTransactionsCredits"),
                _ => grant.has("ReadTransactionsDebits"),
            };
            permitted && OffsetDateTime::parse(at, &Rfc3339).is_ok_and(|at| grant.in_window(at))
        })
        .map(|(id, amount, side, at, information)| {
            let mut t = json!({
                "AccountId": a.account_id, "TransactionId": format!("{}-{id}", a.account_id),
                "Amount": {"Amount": amount, "Currency": a.currency}, "CreditDebitIndicator": side,
                "Status": "Booked", "BookingDateTime": at,
            });
            if grant.has("ReadTransactionsDetail") {
                t["TransactionInformation"] = json!(information);
            }
            t
        })
        .collect();
    page(
        json!({"Transaction": list}),
        &format!("/open-banking/v3.1/aisp/accounts/{account_id}/transactions"),
    )
}
