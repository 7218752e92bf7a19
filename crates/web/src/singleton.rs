//! Header fields that must appear at most once (RFC 9110 5.3: a recipient may not combine
//! repeated fields that are not lists). When a proxy appends instead of replacing, or a caller
//! sends two, which one a component reads is a guess: `Authorization` decides who the caller
//! is, the Open Banking headers what it signed or asked. A request repeating one is refused
//! before any handler sees it.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The fields refused when repeated (lower case).
pub const SINGLETON_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "dpop",
    "x-jws-signature",
    "x-idempotency-key",
    "x-fapi-interaction-id",
    "x-fapi-auth-date",
    "x-fapi-customer-ip-address",
    "x-customer-user-agent",
];

/// Middleware: 400 for a request that repeats a [`SINGLETON_HEADERS`] field: OAuth's
/// `invalid_request`, or under the bank APIs' prefix the OB error structure
/// (`UK.OBIE.Header.Invalid`, the header as `Path`).
pub async fn refuse_repeated(req: Request, next: Next) -> Response {
    let repeated = SINGLETON_HEADERS
        .iter()
        .find(|name| req.headers().get_all(**name).iter().nth(1).is_some());
    match repeated {
        None => next.run(req).await,
        Some(name) => {
            tracing::warn!(target: "bulwark::security", header = %name, path = %req.uri().path(), "request refused: repeated header");
            let message = format!("the {name} header is repeated");
            // The bank APIs answer every error in the OB error structure; OAuth endpoints in
            // RFC 6749's.
            if req
                .uri()
                .path()
                .starts_with(crate::interaction::BANK_API_PREFIX)
            {
                let id = crate::interaction::InteractionId::of(req.headers());
                return crate::ob_error::ob_error(
                    StatusCode::BAD_REQUEST,
                    bulwark_consent::ObErrorCode::HeaderInvalid,
                    &message,
                    Some(name),
                    &id,
                );
            }
            let body = serde_json::json!({
                "error": "invalid_request",
                "error_description": message,
            });
            let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tower::ServiceExt;

    fn app() -> axum::Router {
        axum::Router::new()
            .route("/", axum::routing::post(|| async { "ok" }))
            .layer(axum::middleware::from_fn(refuse_repeated))
    }

    /// The fields whose second line would change who the caller is or what it signed, named
    /// here rather than read from the list under test.
    #[test]
    fn hardening_the_fields_that_decide_identity_and_signatures_are_singletons() {
        for name in [
            "authorization",
            "content-type",
            "content-length",
            "dpop",
            "x-jws-signature",
            "x-idempotency-key",
            "x-fapi-interaction-id",
            "x-fapi-auth-date",
            "x-fapi-customer-ip-address",
            "x-customer-user-agent",
        ] {
            assert!(SINGLETON_HEADERS.contains(&name), "{name}");
        }
    }

    /// Outside the bank APIs the refusal is RFC 6749's `invalid_request`, not cached; under
    /// them the OB error structure naming the header.
    #[tokio::test]
    async fn hardening_a_repeated_header_is_refused_in_each_endpoints_own_format() {
        let app = axum::Router::new()
            .route("/token", axum::routing::post(|| async { "ok" }))
            .route(
                "/open-banking/v3.1/aisp/accounts",
                axum::routing::get(|| async { "ok" }),
            )
            .layer(axum::middleware::from_fn(refuse_repeated));
        let oauth = Request::post("/token")
            .header("dpop", "a")
            .header("dpop", "b")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(oauth).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
        let bank = Request::get("/open-banking/v3.1/aisp/accounts")
            .header("x-idempotency-key", "a")
            .header("x-idempotency-key", "b")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(bank).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid",
            "{body}"
        );
        assert_eq!(body["Errors"][0]["Path"], "x-idempotency-key", "{body}");
    }

    #[tokio::test]
    async fn hardening_repeated_singleton_headers_are_refused() {
        for name in SINGLETON_HEADERS {
            let req = Request::post("/")
                .header(*name, "a")
                .header(*name, "b")
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{name}");
        }
        // Once each, and list-valued fields repeated, pass.
        let req = Request::post("/")
            .header("authorization", "Bearer a")
            .header("accept", "application/json")
            .header("accept", "text/plain")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
