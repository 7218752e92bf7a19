//! `POST /register` (RFC 7591 section 3, DCR-1..3) and `GET / PUT / DELETE
//! /register/{client_id}` (RFC 7592 section 2, DCR-4). The handlers turn HTTP into the `dcr`
//! crate's inputs; every decision is made there. TLS never fails for a missing or unwanted
//! certificate: the service answers with an RFC 7591 error.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_dcr::{DcrError, ManagementInput, RegistrationInput, RegistrationResponse};
use rustls_pki_types::CertificateDer;

use crate::error::{OAuthErrorResponse, no_store};
use crate::listener::ConnectionInfo;
use crate::state::AppState;

/// The transport certificate chain and whether a proxy forwarded it.
type Chain = (Vec<CertificateDer<'static>>, bool);

fn chain(
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
) -> Result<Chain, OAuthErrorResponse> {
    crate::client_cert::presented_chain(state, info, headers)
}

fn is_jwt(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/jwt"))
}

/// RFC 6750 2.1: `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn error(e: DcrError) -> Response {
    OAuthErrorResponse::from(e.to_oauth()).into_response()
}

fn answer(status: StatusCode, body: RegistrationResponse) -> Response {
    let mut response = (status, Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

/// `POST /register`: 201 with the client information response.
pub async fn register(
    State(state): State<AppState>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (chain, forwarded) = match chain(&state, &info, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let input = RegistrationInput {
        is_jwt: is_jwt(&headers),
        body: &body,
        chain: &chain,
        forwarded_by: forwarded.then_some(&state.config.mtls),
    };
    match state.dcr.register(&input).await {
        Ok(r) => answer(StatusCode::CREATED, r),
        Err(e) => error(e),
    }
}

/// `GET /register/{client_id}`.
pub async fn read(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
) -> Response {
    let (chain, forwarded) = match chain(&state, &info, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let input = ManagementInput {
        client_id: &client_id,
        access_token: bearer(&headers),
        chain: &chain,
        forwarded_by: forwarded.then_some(&state.config.mtls),
    };
    match state.dcr.read(&input).await {
        Ok(r) => answer(StatusCode::OK, r),
        Err(e) => error(e),
    }
}

/// `PUT /register/{client_id}`: a signed re-registration.
pub async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (chain, forwarded) = match chain(&state, &info, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let forwarded_by = forwarded.then_some(&state.config.mtls);
    let input = ManagementInput {
        client_id: &client_id,
        access_token: bearer(&headers),
        chain: &chain,
        forwarded_by,
    };
    let registration = RegistrationInput {
        is_jwt: is_jwt(&headers),
        body: &body,
        chain: &chain,
        forwarded_by,
    };
    match state.dcr.update(&input, &registration).await {
        Ok(r) => answer(StatusCode::OK, r),
        Err(e) => error(e),
    }
}

/// `DELETE /register/{client_id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
) -> Response {
    let (chain, forwarded) = match chain(&state, &info, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let input = ManagementInput {
        client_id: &client_id,
        access_token: bearer(&headers),
        chain: &chain,
        forwarded_by: forwarded.then_some(&state.config.mtls),
    };
    match state.dcr.delete(&input).await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => error(e),
    }
}
