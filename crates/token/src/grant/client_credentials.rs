//! TK-1 `client_credentials` (RFC 6749 4.4): an application token for the client itself,
//! bound to its certificate (FAPI 1 Adv 5.2.2-5, FAPI 2 SP 5.3.2.1: access tokens are always
//! sender-constrained), for the requested scopes it may have, and for an RFC 8707 `resource`
//! it registered.

use bulwark_core::Form;

use crate::TokenError;
use crate::access_token::{AccessTokenClaims, Confirmation, TokenKind};
use bulwark_clients::AuthenticatedClient;

/// The grant's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCredentialsRequest {
    /// `scope`, when sent.
    pub scope: Option<String>,
    /// RFC 8707 `resource`, when sent.
    pub resource: Option<String>,
}

impl ClientCredentialsRequest {
    /// Reads the grant's parameters.
    pub fn parse(form: &Form) -> Self {
        Self {
            scope: form.get("scope").map(str::to_string),
            resource: form.get("resource").map(str::to_string),
        }
    }
}

/// What the grant needs from the service.
#[derive(Debug)]
pub struct Issue<'a> {
    /// Our issuer.
    pub issuer: &'a str,
    /// `aud` when no resource is requested.
    pub default_audience: &'a str,
    /// Token lifetime, seconds.
    pub lifetime_secs: i64,
    /// Now, Unix seconds.
    pub now: i64,
    /// A fresh token id.
    pub jti: String,
}

/// Decides the claims of the token, or why none is issued.
pub fn claims(
    req: &ClientCredentialsRequest,
    client: &AuthenticatedClient,
    issue: Issue<'_>,
) -> Result<AccessTokenClaims, TokenError> {
    let meta = &client.client.client.metadata;
    // The client's registration for this grant type is checked once, by the token service.
    let cert = client.cert.as_ref().ok_or_else(|| {
        TokenError::ClientAuth("a client certificate is required to bind the access token".into())
    })?;
    let allowed: Vec<&str> = meta.scopes().filter(|s| *s != "openid").collect();
    let granted: Vec<&str> = match &req.scope {
        None => allowed.clone(),
        Some(requested) => requested
            .split_ascii_whitespace()
            .filter(|s| allowed.contains(s))
            .collect(),
    };
    if granted.is_empty() {
        return Err(TokenError::Scope(
            "none of the requested scopes is allowed for this client".into(),
        ));
    }
    let aud = match &req.resource {
        Some(resource) => {
            if !is_absolute_uri(resource) {
                return Err(TokenError::Resource(
                    "resource must be an absolute URI without a fragment".into(),
                ));
            }
            if !meta.resources.iter().any(|r| r == resource) {
                return Err(TokenError::Resource(
                    "the client may not request tokens for this resource".into(),
                ));
            }
            resource.clone()
        }
        None => issue.default_audience.to_string(),
    };
    let client_id = client.client.client.client_id.clone();
    Ok(AccessTokenClaims {
        iss: issue.issuer.to_string(),
        sub: client_id.clone(),
        aud,
        exp: issue.now.saturating_add(issue.lifetime_secs),
        iat: issue.now,
        jti: issue.jti,
        client_id,
        scope: granted.join(" "),
        cnf: Confirmation {
            x5t_s256: cert.x5t_s256.clone(),
        },
        token_kind: TokenKind::Application,
        consent_id: None,
        openbanking_intent_id: None,
        grant_generation: None,
    })
}

/// RFC 8707 2: an absolute URI without a fragment.
fn is_absolute_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !rest.is_empty()
                && !s.contains('#')
        }
        None => false,
    }
}
