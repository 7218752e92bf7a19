//! The client-authenticated form endpoints: `/token` (TK-1), `/introspect` (TK-6) and
//! `/revoke` (TK-7). Each handler turns HTTP into an [`AuthInput`] and the result into a
//! response; every decision is made in the `token` crate.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bulwark_core::OAuthError;
use bulwark_token::{AuthInput, Form, TokenError};
use rustls_pki_types::CertificateDer;

use super::Endpoint;
use crate::error::{OAuthErrorResponse, no_store};
use crate::listener::ConnectionInfo;
use crate::state::AppState;

/// A parsed client request to one of the form endpoints.
struct FormRequest {
    form: Form,
    chain: Vec<CertificateDer<'static>>,
    forwarded: bool,
    authorization_scheme: Option<String>,
}

fn parse(
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<FormRequest, OAuthErrorResponse> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let form = Form::parse(body)?;
    let (chain, forwarded) = crate::client_cert::presented_chain(state, info, headers)?;
    let authorization_scheme = headers.get(header::AUTHORIZATION).map(|v| {
        v.to_str()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("Basic")
            .to_string()
    });
    Ok(FormRequest {
        form,
        chain,
        forwarded,
        authorization_scheme,
    })
}

fn error(e: TokenError, scheme: Option<String>) -> Response {
    if let TokenError::Internal(detail) = &e {
        tracing::error!(error = %detail, "token service failure");
    }
    OAuthErrorResponse {
        error: e.to_oauth(),
        challenge_scheme: scheme,
    }
    .into_response()
}

fn input<'a>(state: &'a AppState, req: &'a FormRequest, url: &'a str) -> AuthInput<'a> {
    AuthInput {
        form: &req.form,
        chain: &req.chain,
        endpoint_url: url,
        authorization_header: req.authorization_scheme.is_some(),
        forwarded_by: req.forwarded.then_some(&state.config.mtls),
    }
}

/// `POST /token`.
pub async fn token(
    State(state): State<AppState>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(Endpoint::Token, &state, &info, &headers, &body).await
}

/// `POST /introspect`.
pub async fn introspect(
    State(state): State<AppState>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(Endpoint::Introspect, &state, &info, &headers, &body).await
}

/// `POST /revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    info: axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(Endpoint::Revoke, &state, &info, &headers, &body).await
}

/// The shared shape of the three endpoints: parse, call the token service, answer with
/// `no-store` (RFC 6749 5.1) or the RFC error.
async fn handle(
    endpoint: Endpoint,
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let req = match parse(state, info, headers, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let url = state.endpoint_url(endpoint);
    let input = input(state, &req, &url);
    let result = match endpoint {
        Endpoint::Token => state
            .tokens
            .token(&input)
            .await
            .map(|t| Json(t).into_response()),
        Endpoint::Introspect => state
            .tokens
            .introspect(&input)
            .await
            .map(|v| Json(v).into_response()),
        _ => state
            .tokens
            .revoke(&input)
            .await
            .map(|()| axum::http::StatusCode::OK.into_response()),
    };
    match result {
        Ok(mut response) => {
            no_store(response.headers_mut());
            response
        }
        Err(e) => error(e, req.authorization_scheme),
    }
}
