//! TK-3 `refresh_token` (RFC 6749 6): bound to the client and the consent; the new access
//! token is bound to the certificate presented now; a narrower `scope` may be asked, never a
//! wider one; the consent must still be Authorised (a revoked or expired consent kills its
//! refresh tokens at once). Rotation is off by default (FAPI 2.0 SP 5.3.2.1-? discourages it
//! for confidential clients) and can be turned on.

use bulwark_core::Form;
use bulwark_store::RefreshRecord;

use crate::TokenError;
use crate::grant::authorization_code::CodeGrant;

/// The grant's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRequest {
    /// The refresh token.
    pub refresh_token: String,
    /// A narrower scope, when asked.
    pub scope: Option<String>,
}

impl RefreshTokenRequest {
    /// Reads the grant's parameters; `refresh_token` is required.
    pub fn parse(form: &Form) -> Result<Self, TokenError> {
        Ok(Self {
            refresh_token: form.require("refresh_token")?.to_string(),
            scope: form.get("scope").map(str::to_string),
        })
    }
}

/// Checks the stored token against the request; returns the grant and the scope to issue.
pub fn check(
    req: &RefreshTokenRequest,
    stored: &RefreshRecord,
    client_id: &str,
    now: i64,
) -> Result<(CodeGrant, String), TokenError> {
    if stored.client_id != client_id {
        return Err(TokenError::Grant(
            "the refresh token was issued to another client".into(),
        ));
    }
    if stored.revoked_at.is_some() {
        return Err(TokenError::Grant("the refresh token was revoked".into()));
    }
    if stored.expires_at <= now {
        return Err(TokenError::Grant("the refresh token has expired".into()));
    }
    let grant: CodeGrant = serde_json::from_str(&stored.grant_data)
        .map_err(|e| TokenError::Internal(format!("stored refresh grant: {e}")))?;
    let scope = match &req.scope {
        None => grant.scope.clone(),
        Some(asked) => {
            let original: Vec<&str> = grant.scope.split(' ').collect();
            if let Some(extra) = asked
                .split_ascii_whitespace()
                .find(|s| !original.contains(s))
            {
                return Err(TokenError::Scope(format!(
                    "scope {extra} was not granted originally"
                )));
            }
            asked.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    if scope.is_empty() {
        return Err(TokenError::Scope("scope may not be empty".into()));
    }
    Ok((grant, scope))
}
