//! The token endpoint's grants (RFC 6749 4, TK-1), one file each. The form is parsed once
//! into a [`TokenRequest`]; each grant then applies its own rules.

pub mod client_credentials;

use bulwark_core::Form;

use crate::TokenError;

/// A token request, parsed from the form before the client is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 4.4: the client acting for itself.
    ClientCredentials(client_credentials::ClientCredentialsRequest),
}

impl TokenRequest {
    /// The `grant_type` values this server implements, for discovery
    /// (`grant_types_supported`).
    pub const SUPPORTED: &'static [&'static str] = &["client_credentials"];

    /// Reads `grant_type` and the grant's parameters. An unknown grant, or one this server
    /// does not implement yet, is `unsupported_grant_type` (RFC 6749 5.2).
    pub fn parse(form: &Form) -> Result<Self, TokenError> {
        let grant = form.require("grant_type")?;
        match grant {
            "client_credentials" => Ok(Self::ClientCredentials(
                client_credentials::ClientCredentialsRequest::parse(form),
            )),
            other => Err(TokenError::UnsupportedGrant(other.to_string())),
        }
    }

    /// The `grant_type` value, as the client metadata's `grant_types` lists it.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::ClientCredentials(_) => "client_credentials",
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
        for g in ["authorization_code", "refresh_token", "password", "urn:x"] {
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
    }
}
