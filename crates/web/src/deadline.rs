//! A deadline on each whole request (reading the body, deciding, answering): a client that
//! trickles its body, or anything that hangs behind a handler, is cut off with 408 instead of
//! holding a connection and a task forever. The TLS handshake and header deadlines live in the
//! listener; this bounds what comes after the headers.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware state: how long one request may take.
#[derive(Clone, Copy, Debug)]
pub struct RequestDeadline(pub Duration);

/// Runs the request within the deadline; past it, 408 and the connection is closed.
pub async fn limit(State(deadline): State<RequestDeadline>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline.0, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::info!(
                deadline_ms = deadline.0.as_millis() as u64,
                "request deadline passed"
            );
            let mut response = StatusCode::REQUEST_TIMEOUT.into_response();
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tower::ServiceExt;

    /// Past the deadline: 408, and the connection closes (bytes of the unread body must not
    /// be read as a next request).
    #[tokio::test]
    async fn hardening_a_request_past_its_deadline_is_408_and_closes_the_connection() {
        let app = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/quick", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                RequestDeadline(Duration::from_millis(20)),
                limit,
            ));
        let get = |path: &str| {
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let late = app.clone().oneshot(get("/slow")).await.unwrap();
        assert_eq!(late.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(late.headers()[axum::http::header::CONNECTION], "close");
        let quick = app.oneshot(get("/quick")).await.unwrap();
        assert_eq!(quick.status(), StatusCode::OK);
        assert!(
            quick
                .headers()
                .get(axum::http::header::CONNECTION)
                .is_none()
        );
    }
}
