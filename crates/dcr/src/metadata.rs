//! DCR-2: the client metadata a registration request may ask for (RFC 7591 section 2, RFC 8705
//! section 2.1.2, FAPI 1.0 Advanced 5.2.2 / FAPI 2.0 SP 5.3 and OB DCR 3.3 rules), held to what
//! the software statement allows. Pure: fetching `sector_identifier_uri` and `jwks_uri` happens
//! in the service.

use bulwark_certs::PspRole;
use bulwark_core::{ClientMetadata, Profile};
use serde_json::{Map, Value};

use crate::DcrError;
use crate::ssa::SoftwareStatement;

/// Grant types a registered client may use.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "client_credentials", "refresh_token"];
/// Response types a registered client may use.
pub const RESPONSE_TYPES: [&str; 2] = ["code", "code id_token"];
/// Members of a JWK that only a private key has.
const PRIVATE_JWK_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// The scope each PSD2 role opens (CERT-7); `openid` is always allowed.
pub fn role_scope(role: PspRole) -> Option<&'static str> {
    match role {
        PspRole::AccountInformation => Some("accounts"),
        PspRole::PaymentInitiation => Some("payments"),
        PspRole::CardIssuing => Some("fundsconfirmations"),
        PspRole::AccountServicing => None,
    }
}

/// The scopes the SSA's roles allow, `openid` first.
pub fn allowed_scopes(ssa: &SoftwareStatement) -> Result<Vec<&'static str>, DcrError> {
    let mut scopes = vec!["openid"];
    for name in &ssa.software_roles {
        let role: PspRole = name.parse().map_err(|_| {
            DcrError::SoftwareStatement(format!("software_roles: unknown role {name:?}"))
        })?;
        if let Some(s) = role_scope(role)
            && !scopes.contains(&s)
        {
            scopes.push(s);
        }
    }
    Ok(scopes)
}

fn bad(msg: impl Into<String>) -> DcrError {
    DcrError::Metadata(msg.into())
}

/// Builds the metadata to register from the request's metadata claims and the verified SSA.
/// Unknown members are ignored; the SSA's software_id, org_id and roles always win; members a
/// Registration parameters kept in `ClientMetadata::extra`: ID token encryption (OIDC
/// Registration 2, TK-5) and the JARM response signing algorithm.
const HONOURED_EXTRA: &[&str] = &[
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "authorization_signed_response_alg",
];

/// The client's metadata from a registration request and its software statement (DCR-2):
/// the members a TPP must not set for itself (`software_id`, `org_id`, `software_roles`,
/// `resource_server`, `resources`, `fapi_profile`) are dropped, the statement's
/// `software_client_name` wins over a requested `client_name`, and the rest is checked.
/// `profile` is the bank's default FAPI profile, which the client will be held to: it picks
/// the default `response_types` (OB DCR 3.3: `code id_token` when not specified, which FAPI
/// 1.0 Advanced's hybrid flow is; a FAPI 2.0 bank, where only `code` works, answers with that
/// instead, as OB lets an ASPSP return the value it supports).
pub fn build(
    mut requested: Map<String, Value>,
    ssa: &SoftwareStatement,
    profile: Profile,
) -> Result<ClientMetadata, DcrError> {
    // The FAPI profile a client is held to is the bank's choice (AZ-3: configuration, or an
    // operator per client), never the registrant's: a TPP could pick the weaker one.
    for name in [
        "software_id",
        "org_id",
        "software_roles",
        "resource_server",
        "resources",
        "fapi_profile",
    ] {
        requested.remove(name);
    }
    if requested.get("tls_client_certificate_bound_access_tokens") == Some(&Value::Bool(false)) {
        return Err(bad(
            "tls_client_certificate_bound_access_tokens must be true (FAPI: certificate-bound tokens)",
        ));
    }
    if !requested.contains_key("token_endpoint_auth_method") {
        return Err(bad(
            "token_endpoint_auth_method is required: private_key_jwt, tls_client_auth or self_signed_tls_client_auth",
        ));
    }
    let mut meta: ClientMetadata =
        serde_json::from_value(Value::Object(requested)).map_err(|e| {
            bad(format!(
                "{e} (token_endpoint_auth_method must be private_key_jwt, tls_client_auth or self_signed_tls_client_auth)"
            ))
        })?;
    // Of the registration parameters without a field of their own, keep those Bulwark honours
    // (validated with the rest); anything else a registrant sends is ignored.
    meta.extra
        .retain(|name, _| HONOURED_EXTRA.contains(&name.as_str()));
    meta.software_id = Some(ssa.software_id.clone());
    meta.org_id = Some(ssa.org_id.clone());
    meta.software_roles = ssa.software_roles.clone();
    meta.tls_client_certificate_bound_access_tokens = true;
    // RFC 7591 3.1.1: the software statement's values take precedence; the PSU pages show
    // the name the directory vouches for, not one the registrant chose.
    if ssa.software_client_name.is_some() {
        meta.client_name = ssa.software_client_name.clone();
    }
    // OB CEG: the PSU pages must name the TPP (its trading name) and its agent, if any.
    if meta
        .client_name
        .as_deref()
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(bad(
            "client_name is required when the software statement has no software_client_name: \
             the bank's pages must show its customers who is asking",
        ));
    }
    // From the statement only: a registrant's own value went with the other unknown members.
    if let Some(org) = &ssa.software_on_behalf_of_org {
        meta.extra.insert(
            ClientMetadata::ON_BEHALF_OF.into(),
            Value::String(org.clone()),
        );
    }

    redirect_uris(&meta, ssa)?;
    if meta.grant_types.is_empty() {
        meta.grant_types = vec!["authorization_code".into()];
    }
    if let Some(g) = meta
        .grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(bad(format!(
            "grant type {g:?} is not allowed (authorization_code, client_credentials, refresh_token)"
        )));
    }
    // RFC 7591 2.1: grant and response types must agree; only the code grant has a response.
    let code_grant = meta.grant_types.iter().any(|g| g == "authorization_code");
    if meta.response_types.is_empty() && code_grant {
        meta.response_types = vec![match profile {
            Profile::Fapi1Advanced => "code id_token".into(),
            Profile::Fapi2 => "code".into(),
        }];
    }
    if !meta.response_types.is_empty() && !code_grant {
        return Err(bad(
            "response_types need the authorization_code grant type (RFC 7591 2.1)",
        ));
    }
    if let Some(r) = meta
        .response_types
        .iter()
        .find(|r| !RESPONSE_TYPES.contains(&r.as_str()))
    {
        return Err(bad(format!(
            "response type {r:?} is not allowed (\"code\" or \"code id_token\")"
        )));
    }
    let allowed = allowed_scopes(ssa)?;
    match &meta.scope {
        None => meta.scope = Some(allowed.join(" ")),
        Some(_) => {
            if let Some(s) = meta.scopes().find(|s| !allowed.contains(s)) {
                return Err(bad(format!(
                    "scope {s:?} is not allowed for software_roles {:?} (accounts needs AISP, payments PISP, fundsconfirmations CBPII)",
                    ssa.software_roles
                )));
            }
        }
    }
    match meta.application_type.as_deref() {
        None => meta.application_type = Some("web".into()),
        Some("web") => {}
        Some(other) => {
            return Err(bad(format!("application_type must be web, not {other:?}")));
        }
    }
    if let Some(uri) = &meta.sector_identifier_uri
        && !uri.starts_with("https://")
    {
        return Err(bad("sector_identifier_uri must be an https URL"));
    }
    if meta.jwks.is_none() && meta.jwks_uri.is_none() {
        meta.jwks_uri = ssa.software_jwks_endpoint.clone();
        if meta.jwks_uri.is_none() {
            meta.jwks = ssa.software_jwks.clone();
        }
    }
    if let Some(keys) = meta
        .jwks
        .as_ref()
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        && keys
            .iter()
            .any(|k| PRIVATE_JWK_MEMBERS.iter().any(|m| k.get(m).is_some()))
    {
        return Err(bad("jwks must hold public keys only"));
    }
    bulwark_clients::validate_metadata(&meta).map_err(|e| bad(e.0))?;
    Ok(meta)
}

/// Redirect URIs: required, each a plain https URL (`check_redirect_uri`), each one listed in
/// the SSA.
fn redirect_uris(meta: &ClientMetadata, ssa: &SoftwareStatement) -> Result<(), DcrError> {
    if meta.redirect_uris.is_empty() {
        return Err(DcrError::RedirectUri(
            "redirect_uris is required (a subset of the software statement's software_redirect_uris)"
                .into(),
        ));
    }
    for uri in &meta.redirect_uris {
        bulwark_clients::check_redirect_uri(uri)
            .map_err(|e| DcrError::RedirectUri(e.to_string()))?;
        if !ssa.software_redirect_uris.contains(uri) {
            return Err(DcrError::RedirectUri(format!(
                "redirect_uri {uri:?} is not among the software statement's software_redirect_uris"
            )));
        }
    }
    Ok(())
}

/// The sector identifier document (OIDC Core 8.1) must list every registered redirect URI.
pub fn check_sector_document(doc: &Value, redirect_uris: &[String]) -> Result<(), DcrError> {
    let listed: Vec<&str> = doc
        .as_array()
        .ok_or_else(|| bad("sector_identifier_uri must return a JSON array of URIs"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match redirect_uris.iter().find(|u| !listed.contains(&u.as_str())) {
        Some(u) => Err(bad(format!(
            "redirect_uri {u:?} is not listed at the sector_identifier_uri"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
