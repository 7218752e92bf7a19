//! DS-2 `/jwks`: the public halves of the signing keys.

use axum::Json;
use axum::extract::State;

use crate::state::MetaState;

/// `GET /jwks`.
pub async fn jwks(State(meta): State<MetaState>) -> Json<serde_json::Value> {
    Json(meta.keys.jwks())
}
