//! The one place protocol errors become HTTP responses (STYLE.md 3): RFC status codes,
//! `Cache-Control: no-store` always, `WWW-Authenticate` where the RFC asks for it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_core::OAuthError;

/// An OAuth error response, optionally answering an `Authorization` scheme the client tried.
#[derive(Debug)]
pub struct OAuthErrorResponse {
    /// The wire error.
    pub error: OAuthError,
    /// RFC 6749 5.2: the scheme of an Authorization header the client used, echoed in
    /// `WWW-Authenticate` on `invalid_client`.
    pub challenge_scheme: Option<String>,
}

impl From<OAuthError> for OAuthErrorResponse {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            challenge_scheme: None,
        }
    }
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(self.error.to_json())).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if let (bulwark_core::OAuthErrorCode::InvalidClient, Some(scheme)) =
            (self.error.code, &self.challenge_scheme)
            && let Ok(value) = HeaderValue::from_str(&format!("{scheme} realm=\"bulwark\""))
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        // RFC 9110 10.2.3: tell the client when to retry a request that met an outage.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(crate::ob_error::RETRY_AFTER_SECS),
            );
        }
        // RFC 6750 3.1: a bad bearer token is answered with a Bearer challenge.
        if self.error.code == bulwark_core::OAuthErrorCode::InvalidToken {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bulwark\", error=\"invalid_token\""),
            );
        }
        response
    }
}

/// RFC 6749 5.1: token responses must not be cached.
pub fn no_store(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bulwark_core::OAuthErrorCode;

    /// RFC 6749 5.2: `invalid_client` after an Authorization header challenges with the scheme
    /// the client used; RFC 6750 3.1: `invalid_token` with a Bearer challenge naming the error;
    /// every error answer is not to be cached (RFC 6749 5.1, both headers).
    #[test]
    fn rfc_6749_error_answers_challenge_as_the_rfcs_ask_and_are_not_cached() {
        let client = OAuthErrorResponse {
            error: OAuthError::invalid_client("no such client"),
            challenge_scheme: Some("Digest".into()),
        }
        .into_response();
        assert_eq!(client.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            client.headers()[header::WWW_AUTHENTICATE],
            "Digest realm=\"bulwark\""
        );
        assert_eq!(client.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(client.headers()[header::PRAGMA], "no-cache");
        let token =
            OAuthErrorResponse::from(OAuthError::new(OAuthErrorCode::InvalidToken, "expired"))
                .into_response();
        assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            token.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"bulwark\", error=\"invalid_token\""
        );
    }

    #[test]
    fn op_2_an_outage_answer_says_when_to_retry() {
        let response = OAuthErrorResponse {
            error: OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, "retry shortly"),
            challenge_scheme: None,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static(crate::ob_error::RETRY_AFTER_SECS))
        );
        let refused = OAuthErrorResponse {
            error: OAuthError::invalid_request("bad"),
            challenge_scheme: None,
        }
        .into_response();
        assert!(refused.headers().get(header::RETRY_AFTER).is_none());
    }
}
