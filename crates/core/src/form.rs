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
        let mut params = HashMap::with_capacity(8);
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = decode_pair(pair);
            if params.contains_key(&k) {
                return Err(FormError::Repeated(k));
            }
            params.insert(k, v);
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

/// One `name=value` pair, decoded exactly as `form_urlencoded` decodes it. Token requests are
/// mostly long base64url values (client assertions, tokens) with nothing to decode: those are
/// copied once after one UTF-8 check, the rest go through `form_urlencoded`.
fn decode_pair(pair: &[u8]) -> (String, String) {
    let plain = !pair.iter().any(|b| matches!(b, b'+' | b'%'));
    if plain && let Ok(text) = std::str::from_utf8(pair) {
        let (k, v) = text.split_once('=').unwrap_or((text, ""));
        return (k.to_owned(), v.to_owned());
    }
    match form_urlencoded::parse(pair).next() {
        Some((k, v)) => (k.into_owned(), v.into_owned()),
        None => (String::new(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 6749 3.1: an empty value counts as absent, for `get`, `require` and `iter` alike;
    /// a parameter sent twice is refused even when the second is empty (it would otherwise
    /// blank the first, or be read as the first).
    #[test]
    fn tk_8_empty_values_are_absent_and_still_count_as_repeats() {
        let form = Form::parse(b"grant_type=&scope=accounts&max_age=").unwrap();
        assert_eq!(form.get("grant_type"), None);
        assert_eq!(
            form.require("grant_type"),
            Err(FormError::Missing("grant_type".into()))
        );
        let present: Vec<(&str, &str)> = form.iter().collect();
        assert_eq!(present, vec![("scope", "accounts")]);
        assert_eq!(
            Form::parse(b"scope=accounts&scope=").unwrap_err(),
            FormError::Repeated("scope".into())
        );
    }

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

    #[test]
    fn tk_8_values_decode_as_form_urlencoded_decodes_them() {
        let bodies: [&[u8]; 10] = [
            b"a=1&b=x.y-z_~&c=",
            b"scope=accounts+payments&redirect_uri=https%3A%2F%2Ftpp.example%2Fcb",
            b"&&a=b&&c&d==e=",
            b"k%3D=v%26w&%zz=%E2%82%AC&bad=%FF%FE",
            b"raw=\xff\xfe&utf8=\xe2\x82\xac",
            b"=novalue&plus+key=1",
            b"",
            b"&",
            b"x=%",
            b"name=caf\xc3\xa9+au+lait",
        ];
        for body in bodies {
            let expected: HashMap<String, String> = form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let ours = Form::parse(body).unwrap();
            assert_eq!(ours.params, expected, "{}", String::from_utf8_lossy(body));
        }
    }
}
