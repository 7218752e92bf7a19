//! DS-2 `/jwks`: the public halves of the server's signing keys.

use axum::Json;
use axum::extract::State;

use crate::state::AppState;

/// The JWK Set (`kid` = RFC 7638 thumbprint).
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.keys.jwks())
}
