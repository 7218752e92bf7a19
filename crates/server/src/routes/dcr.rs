//! `POST /register` (RFC 7591 section 3, DCR-1..3) and `GET / PUT / DELETE
//! /register/{client_id}` (RFC 7592 section 2, DCR-4). The handlers turn HTTP into the `dcr`
//! crate's inputs; every decision is made there. TLS never fails for a missing or unwanted
//! certificate: the service answers with an RFC 7591 error.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_core::{OAuthError, OAuthErrorCode};
use bulwark_dcr::{DcrError, ManagementInput, RegistrationInput, RegistrationResponse};
use bulwark_resource::{RefusalStatus, ResourceRequest};
use bulwark_token::TokenKind;
use bulwark_web::{Bearer, ClientCert, OAuthErrorResponse, no_store};

use crate::state::RegistrationState;

/// A signed registration request: `application/jwt` as OB DCR 3.3's swagger names it, or
/// `application/jose` (RFC 7515 9.2.1), which TPPs and the OB DCR conformance tool send.
fn is_jwt(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            let ct = ct.trim();
            ct.eq_ignore_ascii_case("application/jwt")
                || ct.eq_ignore_ascii_case("application/jose")
        })
}

fn error(e: DcrError) -> Response {
    OAuthErrorResponse::from(e.to_oauth()).into_response()
}

/// A body that could not be read (over the size limit: 413; cut off: 400) answered as an
/// RFC 7591 error, so a TPP's registration code reads it like any other refusal.
fn unread_body(unread: &BytesRejection) -> Response {
    let description = if unread.status() == StatusCode::PAYLOAD_TOO_LARGE {
        "the registration request is larger than the server reads"
    } else {
        "the registration request could not be read"
    };
    let mut response = OAuthErrorResponse::from(OAuthError::new(
        OAuthErrorCode::InvalidClientMetadata,
        description,
    ))
    .into_response();
    *response.status_mut() = unread.status();
    response
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

/// The management call's credential. A bearer that is a JWT can only be an access token
/// (registration access tokens are opaque): the resource guard must admit it as an
/// application token (client_credentials) bound to this certificate, and the client it
/// names is passed on; otherwise the bearer is the RFC 7592 registration access token.
async fn management<'a>(
    s: &RegistrationState,
    client_id: &'a str,
    bearer: &'a Bearer,
    cert: &'a ClientCert,
) -> Result<(ManagementInput<'a>, Option<String>), Response> {
    let mut input = ManagementInput {
        client_id,
        access_token: bearer.token(),
        application_client: None,
        chain: &cert.chain,
        forwarded_by: cert.forwarded_by(),
    };
    let Some(token) = bearer.token().filter(|t| t.split('.').count() == 3) else {
        return Ok((input, None));
    };
    let authorization = format!("Bearer {token}");
    let admitted = s
        .guard
        .admit(&ResourceRequest {
            authorization: Some(&authorization),
            chain: &cert.chain,
            forwarded_by: cert.forwarded_by(),
            kind: TokenKind::Application,
        })
        .await;
    match admitted {
        Ok(caller) => {
            input.access_token = None;
            Ok((input, Some(caller.claims.client_id)))
        }
        Err(refusal) => Err(match refusal.status() {
            RefusalStatus::Unavailable => OAuthErrorResponse::from(OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "try again in a moment",
            ))
            .into_response(),
            RefusalStatus::Internal => error(DcrError::Internal(refusal.to_string())),
            RefusalStatus::InvalidToken | RefusalStatus::Forbidden => {
                error(DcrError::InvalidToken(format!(
                    "the access token is not an application token of this client for this certificate: {refusal}"
                )))
            }
        }),
    }
}

/// `POST /register`: 201 with the client information response.
pub async fn register(
    State(s): State<RegistrationState>,
    cert: ClientCert,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(unread) => return unread_body(&unread),
    };
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
    let (mut input, owner) = match management(&s, &client_id, &bearer, &cert).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    input.application_client = owner.as_deref();
    match s.dcr.read(&input).await {
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
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (mut input, owner) = match management(&s, &client_id, &bearer, &cert).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let body = match body {
        Ok(body) => body,
        Err(unread) => return unread_body(&unread),
    };
    input.application_client = owner.as_deref();
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
    let (mut input, owner) = match management(&s, &client_id, &bearer, &cert).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    input.application_client = owner.as_deref();
    match s.dcr.delete(&input).await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => error(e),
    }
}
