//! DS-1 `/.well-known/openid-configuration` (OIDC Discovery 3, RFC 8414): endpoint URLs come
//! from the route table; capabilities from what the server actually implements.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

use super::Endpoint;
use crate::state::AppState;

/// The provider metadata document.
pub async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.config.issuer))
}

/// Builds the document for an issuer.
pub fn document(issuer: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("issuer".into(), issuer.into());
    let mut aliases = Map::new();
    for ep in Endpoint::ALL {
        if let Some(member) = ep.discovery_member() {
            let url = format!("{issuer}{}", ep.path());
            if ep.is_mtls() {
                aliases.insert(member.into(), url.clone().into());
            }
            doc.insert(member.into(), url.into());
        }
    }
    if !aliases.is_empty() {
        doc.insert("mtls_endpoint_aliases".into(), Value::Object(aliases));
    }
    Value::Object(doc)
}
