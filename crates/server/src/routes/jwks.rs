//! DS-2 `/jwks`: the public halves of the signing keys.

use axum::Json;
use axum::extract::State;

use crate::state::MetaState;

/// `GET /jwks`: the token and ID token signing keys, then any other published key.
pub async fn jwks(State(meta): State<MetaState>) -> Json<serde_json::Value> {
    let mut set = meta.keys.jwks();
    if let Some(keys) = set
        .get_mut("keys")
        .and_then(serde_json::Value::as_array_mut)
    {
        keys.extend(
            meta.published
                .iter()
                .map(|k| serde_json::Value::Object(k.clone())),
        );
    }
    Json(set)
}
