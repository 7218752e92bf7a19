//! DS-1 `/.well-known/openid-configuration` (OIDC Discovery 3, RFC 8414): endpoint URLs come
//! from the route table; capabilities from what the server actually implements.

use axum::Json;
use axum::extract::State;
use bulwark_core::AuthMethod;
use bulwark_jose::Alg;
use serde_json::{Map, Value, json};

use super::Endpoint;
use crate::state::MetaState;

/// The provider metadata document.
pub async fn openid_configuration(State(meta): State<MetaState>) -> Json<Value> {
    Json(document(&meta.issuer, &meta.capabilities))
}

/// What the configuration decides about the advertised capabilities.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// `pairwise` or `public` (AZ-8).
    pub subject_type: &'static str,
    /// Every client must use PAR (FAPI 2.0 default profile, or `[par] require_par`).
    pub require_par: bool,
}

/// Builds the document for an issuer.
pub fn document(issuer: &str, caps: &Capabilities) -> Value {
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
    let methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
    doc.insert(
        "grant_types_supported".into(),
        json!(bulwark_token::TokenRequest::SUPPORTED),
    );
    doc.insert(
        "token_endpoint_auth_methods_supported".into(),
        json!(methods),
    );
    doc.insert(
        "token_endpoint_auth_signing_alg_values_supported".into(),
        json!(algs),
    );
    doc.insert(
        "introspection_endpoint_auth_methods_supported".into(),
        json!(methods),
    );
    doc.insert(
        "introspection_endpoint_auth_signing_alg_values_supported".into(),
        json!(algs),
    );
    doc.insert(
        "revocation_endpoint_auth_methods_supported".into(),
        json!(methods),
    );
    doc.insert(
        "revocation_endpoint_auth_signing_alg_values_supported".into(),
        json!(algs),
    );
    doc.insert(
        "tls_client_certificate_bound_access_tokens".into(),
        true.into(),
    );
    doc.insert(
        "require_pushed_authorization_requests".into(),
        caps.require_par.into(),
    );
    doc.insert(
        "request_parameter_supported".into(),
        (!caps.require_par).into(),
    );
    doc.insert("request_uri_parameter_supported".into(), false.into());
    doc.insert(
        "authorization_response_iss_parameter_supported".into(),
        true.into(),
    );
    doc.insert(
        "response_types_supported".into(),
        json!([
            bulwark_par::ResponseType::Code.as_str(),
            bulwark_par::ResponseType::CodeIdToken.as_str()
        ]),
    );
    doc.insert(
        "response_modes_supported".into(),
        json!(bulwark_par::ResponseMode::SUPPORTED),
    );
    for member in [
        "request_object_signing_alg_values_supported",
        "id_token_signing_alg_values_supported",
        "authorization_signing_alg_values_supported",
    ] {
        doc.insert(member.into(), json!(algs));
    }
    doc.insert("subject_types_supported".into(), json!([caps.subject_type]));
    doc.insert(
        "id_token_encryption_alg_values_supported".into(),
        json!(bulwark_jose::encrypt::KEY_ALGS),
    );
    doc.insert(
        "id_token_encryption_enc_values_supported".into(),
        json!(bulwark_jose::encrypt::CONTENT_ENCS),
    );
    doc.insert("claims_parameter_supported".into(), true.into());
    doc.insert(
        "claims_supported".into(),
        json!([
            "sub",
            "acr",
            "auth_time",
            "nonce",
            bulwark_par::INTENT_CLAIM
        ]),
    );
    doc.insert(
        "acr_values_supported".into(),
        json!(bulwark_par::SUPPORTED_ACRS),
    );
    doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
    doc.insert(
        "scopes_supported".into(),
        json!(["openid", "accounts", "payments", "fundsconfirmations"]),
    );
    Value::Object(doc)
}

/// `GET /openapi.json`: the API contract (`crate::openapi`).
pub async fn openapi(State(s): State<MetaState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(crate::openapi::document(&s.issuer)).into_response()
}
