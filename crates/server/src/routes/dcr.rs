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
use bulwark_web::{Bearer, ClientCert, OAuthErrorResponse, no_store};

use crate::state::RegistrationState;

fn is_jwt(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/jwt"))
}

fn error(e: DcrError) -> Response {
    OAuthErrorResponse::from(e.to_oauth()).into_response()
}

fn answer(status: StatusCode, body: RegistrationResponse) -> Response {
    let mut response = (status, Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

fn registration<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
    cert: &'a ClientCert,
) -> RegistrationInput<'a> {
    RegistrationInput {
        is_jwt: is_jwt(headers),
        body,
        chain: &cert.chain,
        forwarded_by: cert.forwarded_by(),
    }
}

fn management<'a>(
    client_id: &'a str,
    bearer: &'a Bearer,
    cert: &'a ClientCert,
) -> ManagementInput<'a> {
    ManagementInput {
        client_id,
        access_token: bearer.token(),
        chain: &cert.chain,
        forwarded_by: cert.forwarded_by(),
    }
}

/// `POST /register`: 201 with the client information response.
pub async fn register(
    State(s): State<RegistrationState>,
    cert: ClientCert,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match s.dcr.register(&registration(&headers, &body, &cert)).await {
        Ok(r) => answer(StatusCode::CREATED, r),
        Err(e) => error(e),
    }
}

/// `GET /register/{client_id}`.
pub async fn read(
    State(s): State<RegistrationState>,
    Path(client_id): Path<String>,
    cert: ClientCert,
    bearer: Bearer,
) -> Response {
    match s.dcr.read(&management(&client_id, &bearer, &cert)).await {
        Ok(r) => answer(StatusCode::OK, r),
        Err(e) => error(e),
    }
}

/// `PUT /register/{client_id}`: a signed re-registration.
pub async fn update(
    State(s): State<RegistrationState>,
    Path(client_id): Path<String>,
    cert: ClientCert,
    bearer: Bearer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let input = management(&client_id, &bearer, &cert);
    match s
        .dcr
        .update(&input, &registration(&headers, &body, &cert))
        .await
    {
        Ok(r) => answer(StatusCode::OK, r),
        Err(e) => error(e),
    }
}

/// `DELETE /register/{client_id}`: 204.
pub async fn delete(
    State(s): State<RegistrationState>,
    Path(client_id): Path<String>,
    cert: ClientCert,
    bearer: Bearer,
) -> Response {
    match s.dcr.delete(&management(&client_id, &bearer, &cert)).await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => error(e),
    }
}
