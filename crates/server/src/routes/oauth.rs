//! The client-authenticated form endpoints: `/token` (TK-1), `/introspect` (TK-6) and
//! `/revoke` (TK-7). Each handler hands the parsed form and the presented certificate to the
//! token service and renders the result; every decision is made in the `token` crate. The form
//! is judged before the certificate header (a malformed request is `invalid_request` whatever
//! else is wrong with it).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bulwark_token::{AuthInput, TokenError};
use bulwark_web::{ClientCert, OAuthErrorResponse, OAuthForm, PresentedChain, no_store};

use super::Endpoint;
use crate::state::OAuthState;

/// `POST /token`.
pub async fn token(
    State(s): State<OAuthState>,
    chain: PresentedChain,
    form: OAuthForm,
) -> Response {
    let cert = match chain.for_oauth() {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let url = endpoint_url(&s, Endpoint::Token);
    let input = input(&form, &cert, &url);
    answer(s.tokens.token(&input).await.map(Json), &form)
}

/// `POST /introspect`.
pub async fn introspect(
    State(s): State<OAuthState>,
    chain: PresentedChain,
    form: OAuthForm,
) -> Response {
    let cert = match chain.for_oauth() {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let url = endpoint_url(&s, Endpoint::Introspect);
    let input = input(&form, &cert, &url);
    answer(s.tokens.introspect(&input).await.map(Json), &form)
}

/// `POST /revoke`: 200 with an empty body (RFC 7009 2.2).
pub async fn revoke(
    State(s): State<OAuthState>,
    chain: PresentedChain,
    form: OAuthForm,
) -> Response {
    let cert = match chain.for_oauth() {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let url = endpoint_url(&s, Endpoint::Revoke);
    let input = input(&form, &cert, &url);
    answer(
        s.tokens.revoke(&input).await.map(|()| StatusCode::OK),
        &form,
    )
}

fn endpoint_url(s: &OAuthState, endpoint: Endpoint) -> String {
    format!("{}{}", s.issuer, endpoint.path())
}

/// The client-authentication input of a form endpoint (token, introspection, revocation, PAR).
pub(super) fn input<'a>(form: &'a OAuthForm, cert: &'a ClientCert, url: &'a str) -> AuthInput<'a> {
    AuthInput {
        form: &form.form,
        chain: &cert.chain,
        endpoint_url: url,
        authorization_header: form.authorization_scheme.is_some(),
        forwarded_by: cert.forwarded_by(),
    }
}

/// Success with `no-store` (RFC 6749 5.1), or the RFC error.
fn answer(result: Result<impl IntoResponse, TokenError>, form: &OAuthForm) -> Response {
    match result {
        Ok(body) => {
            let mut response = body.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => {
            match &e {
                TokenError::Internal(detail) => {
                    tracing::error!(error = %detail, "token service failure");
                }
                TokenError::Unavailable(detail) => {
                    tracing::warn!(error = %detail, "token request deferred: database unavailable");
                }
                TokenError::ClientAuth(detail) => {
                    tracing::warn!(target: "bulwark::security", reason = %detail, "invalid_client answered");
                }
                _ => {}
            }
            OAuthErrorResponse {
                error: e.to_oauth(),
                challenge_scheme: form.authorization_scheme.clone(),
            }
            .into_response()
        }
    }
}
