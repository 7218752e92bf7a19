//! OP-4 probes: `/healthz` says the process is up; `/readyz` that it can reach its database.

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

/// Liveness: answering at all is the proof.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the database answers, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
