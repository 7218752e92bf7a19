//! `application/x-www-form-urlencoded` request bodies (RFC 6749 section 3.2): parsed into a map
//! with repeated parameters refused (section 3.1: "Request and response parameters MUST NOT be
//! included more than once"), which serde-based form parsing would silently accept.

use std::collections::HashMap;

use crate::OAuthError;

/// Why a form body is not acceptable; both are RFC 6749 `invalid_request`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// RFC 6749 3.1: a parameter sent more than once.
    #[error("parameter {0} is repeated")]
    Repeated(String),
    /// A required parameter is absent or empty.
    #[error("missing parameter {0}")]
    Missing(String),
}

impl From<FormError> for OAuthError {
    fn from(e: FormError) -> Self {
        OAuthError::invalid_request(e.to_string())
    }
}

/// A parsed form body.
#[derive(Clone, Debug, Default)]
pub struct Form {
    params: HashMap<String, String>,
}

impl Form {
    /// Parses a form body; a repeated parameter is `invalid_request`.
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        let mut params = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(FormError::Repeated(k.to_string()));
            }
        }
        Ok(Self { params })
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, FormError> {
        self.get(name)
            .ok_or_else(|| FormError::Missing(name.to_string()))
    }

    /// Every parameter with a non-empty value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Builds a form from pairs (tests, internal callers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            params: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tk_8_repeated_parameters_are_refused() {
        let err = Form::parse(b"grant_type=client_credentials&scope=a&scope=b").unwrap_err();
        assert_eq!(err, FormError::Repeated("scope".into()));
        assert_eq!(OAuthError::from(err).code.as_str(), "invalid_request");
        let form =
            Form::parse(b"grant_type=client_credentials&scope=accounts%20payments&x=").unwrap();
        assert_eq!(form.get("scope"), Some("accounts payments"));
        assert_eq!(form.get("x"), None);
        assert!(form.require("client_id").is_err());
    }
}
