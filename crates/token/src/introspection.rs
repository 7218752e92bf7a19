//! TK-6 introspection answers (RFC 7662 2.2): `{"active": false}` with nothing else for any
//! token that is not currently valid for the caller, or the token's claims when it is.

use serde::Serialize;

use crate::access_token::{AccessTokenClaims, Confirmation, TokenKind};

/// An introspection response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// The token's claims when active.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub token: Option<ActiveToken>,
}

/// What an active token's introspection shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveToken {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scope: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Always `Bearer` (the binding is in `cnf`).
    pub token_type: &'static str,
    /// Application or user.
    pub token_kind: TokenKind,
    /// RFC 8705 3.2: the certificate binding.
    pub cnf: Confirmation,
    /// The consent a user token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
}

impl Introspection {
    /// The answer for a token that is not active.
    pub const INACTIVE: Self = Self {
        active: false,
        token: None,
    };

    /// The answer for an active token.
    pub fn active(claims: AccessTokenClaims) -> Self {
        Self {
            active: true,
            token: Some(ActiveToken {
                iss: claims.iss,
                sub: claims.sub,
                aud: claims.aud,
                client_id: claims.client_id,
                scope: claims.scope,
                exp: claims.exp,
                iat: claims.iat,
                jti: claims.jti,
                token_type: "Bearer",
                token_kind: claims.token_kind,
                cnf: claims.cnf,
                consent_id: claims.consent_id,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tk_6_inactive_says_nothing_else() {
        let v = serde_json::to_value(Introspection::INACTIVE).unwrap();
        assert_eq!(v, serde_json::json!({"active": false}));
    }
}
