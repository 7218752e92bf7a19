//! OP-4 liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::MetaState;

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise and once the node is shutting
/// down.
pub async fn readyz(State(meta): State<MetaState>) -> (StatusCode, &'static str) {
    if meta.readiness.shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match meta.readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
