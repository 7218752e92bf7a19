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
