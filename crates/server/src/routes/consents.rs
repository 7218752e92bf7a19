//! CO-1 OB v3.1 consent APIs: account-access, domestic-payment and funds-confirmation consents.
//! Every call needs an application access token bound to the presented certificate, a QWAC
//! with the PSD2 role for the API (CERT-7, checked by the consent crate with the token's
//! scope), and gets `x-fapi-interaction-id` echoed. All decisions live in `bulwark-consent`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_consent::{
    Caller, ConsentError, ConsentKind, ObError, ObErrorCode, ObErrorDetail, SignedRequest,
};
use bulwark_token::access_token::TokenKind;
use serde_json::Value;

use crate::listener::ConnectionInfo;
use crate::resource_auth::{ApiAuthError, ApiCaller, authorize};
use crate::state::AppState;

const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// The interaction id of a request: the TPP's, when it sent a sane one, else a new UUID.
fn interaction_id(headers: &HeaderMap) -> String {
    headers
        .get(&INTERACTION_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(bulwark_core::random::uuid_v4, str::to_string)
}

fn with_interaction_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(INTERACTION_ID, value);
    }
    response
}

fn ob_response(err: &ObError, id: &str) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = err.clone().with_id(id.to_string()).to_json();
    with_interaction_id((status, Json(body)).into_response(), id)
}

fn consent_error(e: &ConsentError, id: &str) -> Response {
    ob_response(&e.to_ob(), id)
}

fn ob(status: u16, code: ObErrorCode, message: &str, path: Option<&str>, id: &str) -> Response {
    let text = match status {
        403 => "403 Forbidden",
        404 => "404 NotFound",
        _ => "500 InternalServerError",
    };
    ob_response(
        &ObError {
            status,
            code: text.into(),
            id: id.to_string(),
            message: message.to_string(),
            errors: vec![ObErrorDetail {
                error_code: code,
                message: message.to_string(),
                path: path.map(str::to_string),
            }],
        },
        id,
    )
}

fn internal(detail: &str, id: &str) -> Response {
    tracing::error!(error = %detail, interaction_id = id, "consent API failure");
    ob(
        500,
        ObErrorCode::UnexpectedError,
        "the server could not complete the request",
        None,
        id,
    )
}

fn auth_error(e: &ApiAuthError, id: &str) -> Response {
    match e {
        ApiAuthError::InvalidToken(reason) => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            let challenge =
                format!("Bearer error=\"invalid_token\", error_description=\"{reason}\"");
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            with_interaction_id(response, id)
        }
        ApiAuthError::Forbidden(reason) => ob(
            403,
            ObErrorCode::HeaderInvalid,
            reason,
            Some("Authorization"),
            id,
        ),
        ApiAuthError::Internal(detail) => internal(detail, id),
    }
}

fn collection_path(kind: ConsentKind) -> &'static str {
    match kind {
        ConsentKind::AccountAccess => "/open-banking/v3.1/aisp/account-access-consents",
        ConsentKind::DomesticPayment => "/open-banking/v3.1/pisp/domestic-payment-consents",
        ConsentKind::FundsConfirmation => "/open-banking/v3.1/cbpii/funds-confirmation-consents",
    }
}

fn self_link(state: &AppState, kind: ConsentKind, consent_id: &str) -> String {
    format!(
        "{}{}/{consent_id}",
        state.config.issuer,
        collection_path(kind)
    )
}

async fn caller(
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
) -> Result<(ApiCaller, Caller), ApiAuthError> {
    let api = authorize(state, info, headers, TokenKind::Application).await?;
    let caller = Caller::new(
        api.claims.client_id.clone(),
        Some(api.tpp.clone()),
        &api.claims.scope,
    );
    Ok((api, caller))
}

/// CO-6: the detached `x-jws-signature`, verified when sent and required when configured
/// globally or for the client (`require_jws_signature` metadata).
async fn check_signature(
    state: &AppState,
    api: &ApiCaller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Result<(), ConsentError>, String> {
    let client = match state.tokens.registry().get(&api.claims.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(Err(ConsentError::NotFound)),
        Err(e) => return Err(e.to_string()),
    };
    let meta = &client.client.metadata;
    let required = state.config.consents.require_jws_signature
        || meta
            .extra
            .get("require_jws_signature")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let header = headers.get("x-jws-signature").and_then(|v| v.to_str().ok());
    if header.is_none() && !required {
        return Ok(Ok(()));
    }
    let jwks = match state.tokens.registry().keys(&client, None).await {
        Ok(keys) => serde_json::json!({
            "keys": keys.keys().iter().map(|k| Value::Object(k.jwk().clone())).collect::<Vec<_>>()
        }),
        Err(_) => serde_json::json!({ "keys": [] }),
    };
    let expected_iss = match (&meta.org_id, &meta.software_id) {
        (Some(org), Some(software)) => format!("{org}/{software}"),
        _ => client.client.client_id.clone(),
    };
    Ok(state
        .consents_jws
        .verify(
            &SignedRequest {
                header,
                body,
                client_jwks: &jwks,
                expected_iss: &expected_iss,
                required,
            },
            state.clock.now(),
        )
        .await
        .map(|_| ()))
}

/// `POST /{kind}-consents`.
pub async fn create(
    kind: ConsentKind,
    state: AppState,
    info: ConnectionInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = interaction_id(&headers);
    let (api, caller) = match caller(&state, &info, &headers).await {
        Ok(c) => c,
        Err(e) => return auth_error(&e, &id),
    };
    if let Err(e) = caller.authorize(kind) {
        return consent_error(&e, &id);
    }
    match check_signature(&state, &api, &headers, &body).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return consent_error(&e, &id),
        Err(detail) => return internal(&detail, &id),
    }
    let key = headers
        .get("x-idempotency-key")
        .and_then(|v| v.to_str().ok());
    let now = state.clock.now();
    match state.consents.create(&caller, kind, &body, key, now).await {
        Ok(created) => {
            let json = created
                .consent
                .to_ob_json(&self_link(&state, kind, &created.consent.id), now);
            with_interaction_id((StatusCode::CREATED, Json(json)).into_response(), &id)
        }
        Err(e) => consent_error(&e, &id),
    }
}

/// `GET /{kind}-consents/{ConsentId}`.
pub async fn get(
    kind: ConsentKind,
    state: AppState,
    info: ConnectionInfo,
    headers: HeaderMap,
    consent_id: String,
) -> Response {
    let id = interaction_id(&headers);
    let (_, caller) = match caller(&state, &info, &headers).await {
        Ok(c) => c,
        Err(e) => return auth_error(&e, &id),
    };
    let now = state.clock.now();
    match state.consents.get(&caller, kind, &consent_id, now).await {
        Ok(consent) => {
            let json = consent.to_ob_json(&self_link(&state, kind, &consent.id), now);
            with_interaction_id(Json(json).into_response(), &id)
        }
        Err(e) => consent_error(&e, &id),
    }
}

/// `DELETE /{kind}-consents/{ConsentId}`.
pub async fn delete(
    kind: ConsentKind,
    state: AppState,
    info: ConnectionInfo,
    headers: HeaderMap,
    consent_id: String,
) -> Response {
    let id = interaction_id(&headers);
    let (_, caller) = match caller(&state, &info, &headers).await {
        Ok(c) => c,
        Err(e) => return auth_error(&e, &id),
    };
    match state
        .consents
        .delete(&caller, kind, &consent_id, state.clock.now())
        .await
    {
        Ok(()) => with_interaction_id(StatusCode::NO_CONTENT.into_response(), &id),
        Err(e) => consent_error(&e, &id),
    }
}

/// Route helpers binding a consent kind to the generic handlers.
pub mod bind {
    use super::*;
    use axum::Extension;
    use axum::routing::{MethodRouter, delete as del, get as g, post};

    /// POST on a collection.
    pub fn collection(kind: ConsentKind) -> MethodRouter<AppState> {
        post(
            move |State(s): State<AppState>,
                  Extension(i): Extension<ConnectionInfo>,
                  h: HeaderMap,
                  b: Bytes| { super::create(kind, s, i, h, b) },
        )
    }

    /// GET (and DELETE where the API has it) on one consent.
    pub fn item(kind: ConsentKind) -> MethodRouter<AppState> {
        let router = g(
            move |State(s): State<AppState>,
                  Extension(i): Extension<ConnectionInfo>,
                  h: HeaderMap,
                  Path(c): Path<String>| { super::get(kind, s, i, h, c) },
        );
        match kind {
            ConsentKind::DomesticPayment => router,
            ConsentKind::AccountAccess | ConsentKind::FundsConfirmation => router.merge(del(
                move |State(s): State<AppState>,
                      Extension(i): Extension<ConnectionInfo>,
                      h: HeaderMap,
                      Path(c): Path<String>| { super::delete(kind, s, i, h, c) },
            )),
        }
    }
}
