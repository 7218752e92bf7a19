//! The one place Open Banking errors become responses (OB Read/Write API "Error Response
//! Structure"): the status, the `OBErrorResponse1` body carrying the interaction id as its
//! `Id`, and the interaction id header. A refused bearer token is answered the RFC 6750 way.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_consent::{ObError, ObErrorCode, ObErrorDetail};

use crate::challenge::BearerChallenge;
use crate::interaction::InteractionId;

/// An OB error for the request with this interaction id.
pub fn ob_response(err: &ObError, id: &InteractionId) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = err.clone().with_id(id.as_str().to_string()).to_json();
    let mut response = (status, Json(body)).into_response();
    crate::no_store(response.headers_mut());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    id.stamp(response)
}

/// How long a TPP is asked to wait after a 503: about the time a database restart or a
/// failover takes (docs/operations.md).
pub const RETRY_AFTER_SECS: &str = "2";

/// An OB error built from one code and message (403, 404, 500).
pub fn ob_error(
    status: StatusCode,
    code: ObErrorCode,
    message: &str,
    path: Option<&str>,
    id: &InteractionId,
) -> Response {
    ob_response(
        &ObError {
            status: status.as_u16(),
            code: bulwark_consent::status_text(status.as_u16()).into(),
            id: id.as_str().to_string(),
            message: bulwark_consent::ob_text(message),
            errors: vec![ObErrorDetail {
                error_code: code,
                message: bulwark_consent::ob_text(message),
                path: path.map(bulwark_consent::ob_text),
            }],
        },
        id,
    )
}

/// 500 with no detail; the detail is logged.
pub fn ob_internal(detail: &str, id: &InteractionId) -> Response {
    tracing::error!(error = %detail, interaction_id = id.as_str(), "bank API failure");
    ob_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ObErrorCode::UnexpectedError,
        "the server could not complete the request",
        None,
        id,
    )
}

/// 503 with `Retry-After`: a dependency (the database) is unreachable now; the detail is logged.
pub fn ob_unavailable(detail: &str, id: &InteractionId) -> Response {
    tracing::warn!(error = %detail, interaction_id = id.as_str(), "bank API deferred: a dependency is unavailable");
    ob_error(
        StatusCode::SERVICE_UNAVAILABLE,
        ObErrorCode::UnexpectedError,
        "the service is briefly unavailable; retry shortly",
        None,
        id,
    )
}

/// RFC 6750 3.1: 401 with a `Bearer error="invalid_token"` challenge.
pub fn invalid_token(description: &str, id: &InteractionId) -> Response {
    bearer_401(
        BearerChallenge {
            realm: None,
            error: Some(bulwark_core::OAuthErrorCode::InvalidToken),
            description: Some(description),
            scope: None,
        },
        id,
    )
}

/// 401 for a request without a bearer token (none sent, or another scheme such as Basic):
/// RFC 6750 3.1, a request that lacks authentication information gets the challenge without
/// an error code.
pub fn no_token(id: &InteractionId) -> Response {
    bearer_401(BearerChallenge::default(), id)
}

fn bearer_401(challenge: BearerChallenge<'_>, id: &InteractionId) -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Some(v) = challenge.header_value() {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    id.stamp(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn op_2_an_ob_outage_answer_is_503_with_retry_after_and_no_detail() {
        let id = InteractionId::of(&axum::http::HeaderMap::new());
        let response = ob_unavailable("database: connection refused", &id);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        // The 2 seconds docs/operations.md promises (about a restart's or a failover's length).
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body = futures_body(response);
        assert!(body.contains("503 ServiceUnavailable"), "{body}");
        assert!(!body.contains("connection refused"), "{body}");
    }

    /// A server failure tells the TPP nothing of its cause (the detail goes to the log), and no
    /// OB error answer may be cached.
    #[test]
    fn op_2_an_ob_failure_answer_has_no_detail_and_is_not_cached() {
        let id = InteractionId::of(&axum::http::HeaderMap::new());
        let response = ob_internal("relation \"consents\" does not exist", &id);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::PRAGMA], "no-cache");
        let body = futures_body(response);
        assert!(!body.contains("relation"), "{body}");
        assert!(body.contains("UK.OBIE.UnexpectedError"), "{body}");
    }

    #[test]
    fn rfc_6750_an_invalid_token_challenge_keeps_its_quotes_closed() {
        let id = InteractionId::of(&axum::http::HeaderMap::new());
        let response = invalid_token("kid \"k1\" unknown", &id);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"kid 'k1' unknown\""
        );
    }

    fn futures_body(response: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
