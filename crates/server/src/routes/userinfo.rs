//! TK-5 / OIDC Core 5.3 `userinfo`: the PSU's subject and the consent, for a user access
//! token bound to the presented certificate whose consent still stands.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_core::{OAuthError, OAuthErrorCode};
use bulwark_resource::{RefusalStatus, ResourceRequest};
use bulwark_token::TokenKind;
use bulwark_web::{OAuthErrorResponse, PresentedChain, no_store};
use serde_json::json;

use crate::state::ConsentState;

fn invalid_token(description: String) -> Response {
    OAuthErrorResponse {
        error: OAuthError::new(OAuthErrorCode::InvalidToken, description),
        challenge_scheme: Some("Bearer".into()),
    }
    .into_response()
}

/// RFC 6750 3.1: a request without a bearer token gets the challenge without an error code.
fn no_token() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    no_store(response.headers_mut());
    if let Some(value) = (bulwark_web::BearerChallenge {
        realm: Some("bulwark"),
        ..bulwark_web::BearerChallenge::default()
    })
    .header_value()
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// RFC 6750 3.1: a valid token that may not do this (an application token, a certificate
/// that is not the organisation's QWAC, no `openid` scope) is 403 `insufficient_scope`.
fn insufficient_scope(description: &str, scope: Option<&str>) -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        Json(OAuthError::new(OAuthErrorCode::InsufficientScope, description).to_json()),
    )
        .into_response();
    no_store(response.headers_mut());
    if let Some(value) = (bulwark_web::BearerChallenge {
        realm: Some("bulwark"),
        error: Some(OAuthErrorCode::InsufficientScope),
        description: Some(description),
        scope,
    })
    .header_value()
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 503 `temporarily_unavailable`: the database could not be asked now.
fn unavailable() -> Response {
    OAuthErrorResponse {
        error: OAuthError::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the service is briefly unavailable; retry shortly",
        ),
        challenge_scheme: None,
    }
    .into_response()
}

/// `GET` or `POST /userinfo`.
pub async fn userinfo(
    State(s): State<ConsentState>,
    chain: PresentedChain,
    headers: HeaderMap,
) -> Response {
    let cert = match chain.0 {
        Ok(c) => c,
        Err(e) => return invalid_token(format!("client certificate: {}", e.reason())),
    };
    let admitted = s
        .guard
        .admit(&ResourceRequest {
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
            chain: &cert.chain,
            forwarded_by: cert.forwarded_by(),
            kind: TokenKind::User,
        })
        .await;
    let caller = match admitted {
        Ok(c) => c,
        Err(bulwark_resource::Refusal::NoToken) => return no_token(),
        Err(refusal) => {
            return match refusal.status() {
                RefusalStatus::Unavailable => unavailable(),
                RefusalStatus::Internal => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                RefusalStatus::InvalidToken => invalid_token(refusal.description()),
                RefusalStatus::Forbidden => insufficient_scope(&refusal.description(), None),
            };
        }
    };
    let Some(consent_id) = caller.claims.consent_id.clone() else {
        return insufficient_scope("not a user token", None);
    };
    // OIDC Core 5.3: userinfo serves tokens of an OpenID Connect request only.
    if !caller.claims.scope.split(' ').any(|s| s == "openid") {
        return insufficient_scope("the access token was not issued for openid", Some("openid"));
    }
    let now = time::OffsetDateTime::from_unix_timestamp(s.clock.unix())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    match s.service.is_authorised(&consent_id, now).await {
        Ok(true) => {}
        Ok(false) => return invalid_token("the consent is no longer authorised".into()),
        Err(bulwark_consent::ConsentError::Store(e)) if e.is_unavailable() => {
            tracing::warn!(error = %e, "userinfo deferred: database unavailable");
            return unavailable();
        }
        Err(e) => {
            tracing::error!(error = %e, "userinfo: consent look-up failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let mut response = Json(json!({
        "sub": caller.claims.sub,
        "openbanking_intent_id": consent_id,
    }))
    .into_response();
    no_store(response.headers_mut());
    response
}
