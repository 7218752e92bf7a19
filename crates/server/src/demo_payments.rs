//! The demo bank's domestic payments (OB Read/Write v3.1 PISP): it accepts a submission the
//! gateway admitted (`POST /domestic-payments`, 201 with the `DomesticPaymentId` it gives) and
//! answers reads of it (`GET /domestic-payments/{DomesticPaymentId}`, `.../payment-details`).
//! Payments live in memory, for the demo path TPP -> gateway -> bank; like the rest of the
//! demo bank it trusts the gateway, which checks that a read is the submitting client's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_core::{Rng, SystemRng};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const BASE: &str = "/open-banking/v3.1/pisp/domestic-payments";

/// Accepted payments by id, and by the client and `x-idempotency-key` that made them, under
/// one lock (two identical submissions at once make one payment).
type Payments = Arc<Mutex<Made>>;

#[derive(Default)]
struct Made {
    by_id: HashMap<String, Value>,
    by_key: HashMap<(String, String), String>,
}

/// The payment routes, with their own store.
pub fn router() -> Router {
    Router::new()
        .route(BASE, axum::routing::post(submit))
        .route(&format!("{BASE}/{{id}}"), axum::routing::get(read))
        .route(
            &format!("{BASE}/{{id}}/payment-details"),
            axum::routing::get(details),
        )
        .with_state(Payments::default())
}

fn from_gateway(h: &HeaderMap) -> bool {
    h.contains_key("x-bulwark-client-id")
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `POST /domestic-payments`: the submission as the gateway admitted it (equal to its
/// consent), accepted for settlement. OB idempotency: the same client's `x-idempotency-key`
/// sent again gets the payment made for it (201), not a second one.
async fn submit(State(payments): State<Payments>, h: HeaderMap, body: String) -> Response {
    if !from_gateway(&h) {
        return (StatusCode::FORBIDDEN, "only the gateway may call this API").into_response();
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
    };
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let key = header("x-bulwark-client-id").zip(header("x-idempotency-key"));
    let Ok(mut made) = payments.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "payments unavailable").into_response();
    };
    if let Some(resource) = key
        .as_ref()
        .and_then(|k| made.by_key.get(k))
        .and_then(|id| made.by_id.get(id))
    {
        return json_response(StatusCode::CREATED, resource.clone());
    }
    let id = SystemRng.uuid_v4();
    let at = now();
    let resource = json!({
        "Data": {
            "DomesticPaymentId": id,
            "ConsentId": request["Data"]["ConsentId"],
            "Status": "AcceptedSettlementInProcess",
            "CreationDateTime": at,
            "StatusUpdateDateTime": at,
            "Initiation": request["Data"]["Initiation"],
        },
        "Links": {"Self": format!("{BASE}/{id}")},
        "Meta": {},
    });
    if let Some(key) = key {
        made.by_key.insert(key, id.clone());
    }
    made.by_id.insert(id, resource.clone());
    json_response(StatusCode::CREATED, resource)
}

fn find(payments: &Payments, id: &str) -> Option<Value> {
    payments
        .lock()
        .ok()
        .and_then(|made| made.by_id.get(id).cloned())
}

fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"Code": "404", "Message": "no such payment", "Errors": [
            {"ErrorCode": "UK.OBIE.Resource.NotFound", "Message": "no such payment"}]}),
    )
}

/// `GET /domestic-payments/{DomesticPaymentId}`.
async fn read(State(payments): State<Payments>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if !from_gateway(&h) {
        return (StatusCode::FORBIDDEN, "only the gateway may call this API").into_response();
    }
    match find(&payments, &id) {
        Some(resource) => json_response(StatusCode::OK, resource),
        None => not_found(),
    }
}

/// `GET /domestic-payments/{DomesticPaymentId}/payment-details`.
async fn details(
    State(payments): State<Payments>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !from_gateway(&h) {
        return (StatusCode::FORBIDDEN, "only the gateway may call this API").into_response();
    }
    let Some(resource) = find(&payments, &id) else {
        return not_found();
    };
    json_response(
        StatusCode::OK,
        json!({
            "Data": {"PaymentStatus": [{
                "PaymentTransactionId": id,
                "Status": resource["Data"]["Status"],
                "StatusUpdateDateTime": resource["Data"]["StatusUpdateDateTime"],
            }]},
            "Links": {"Self": format!("{BASE}/{id}/payment-details")},
            "Meta": {},
        }),
    )
}
