//! The token endpoint's grants (RFC 6749 4, TK-1), one file each. The form is parsed once
//! into a [`TokenRequest`]; each grant then applies its own rules.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use bulwark_core::Form;

use crate::TokenError;

/// A token request, parsed from the form before the client is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 4.4: the client acting for itself.
    ClientCredentials(client_credentials::ClientCredentialsRequest),
    /// RFC 6749 4.1.3: a code for tokens (TK-2).
    AuthorizationCode(authorization_code::AuthorizationCodeRequest),
    /// RFC 6749 6: a refresh token for a new access token (TK-3).
    RefreshToken(refresh_token::RefreshTokenRequest),
}

impl TokenRequest {
    /// The `grant_type` values this server implements, for discovery
    /// (`grant_types_supported`).
    pub const SUPPORTED: &'static [&'static str] =
        &["client_credentials", "authorization_code", "refresh_token"];

    /// Reads `grant_type` and the grant's parameters. An unknown grant, or one this server
    /// does not implement yet, is `unsupported_grant_type` (RFC 6749 5.2).
    pub fn parse(form: &Form) -> Result<Self, TokenError> {
        let grant = form.require("grant_type")?;
        match grant {
            "client_credentials" => Ok(Self::ClientCredentials(
                client_credentials::ClientCredentialsRequest::parse(form),
            )),
            "authorization_code" => Ok(Self::AuthorizationCode(
                authorization_code::AuthorizationCodeRequest::parse(form)?,
            )),
            "refresh_token" => Ok(Self::RefreshToken(
                refresh_token::RefreshTokenRequest::parse(form)?,
            )),
            other => Err(TokenError::UnsupportedGrant(other.to_string())),
        }
    }

    /// The `grant_type` value, as the client metadata's `grant_types` lists it.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::ClientCredentials(_) => "client_credentials",
            Self::AuthorizationCode(_) => "authorization_code",
            Self::RefreshToken(_) => "refresh_token",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tk_8_grant_type_is_required_and_known() {
        let none = TokenRequest::parse(&Form::from_pairs([("scope", "accounts")]));
        assert!(matches!(none, Err(TokenError::BadRequest(_))));
        for g in ["password", "implicit", "urn:x"] {
            let r = TokenRequest::parse(&Form::from_pairs([("grant_type", g)]));
            assert!(
                matches!(r, Err(TokenError::UnsupportedGrant(ref n)) if n == g),
                "{g}"
            );
        }
        let cc = TokenRequest::parse(&Form::from_pairs([
            ("grant_type", "client_credentials"),
            ("scope", "accounts payments"),
        ]))
        .unwrap();
        assert_eq!(cc.grant_type(), "client_credentials");
        assert!(TokenRequest::SUPPORTED.contains(&cc.grant_type()));
        // The code and refresh grants need their own parameter before any client is judged.
        let no_code =
            TokenRequest::parse(&Form::from_pairs([("grant_type", "authorization_code")]));
        assert!(matches!(no_code, Err(TokenError::BadRequest(_))));
        let no_rt = TokenRequest::parse(&Form::from_pairs([("grant_type", "refresh_token")]));
        assert!(matches!(no_rt, Err(TokenError::BadRequest(_))));
    }
}
