//! RFC 6750 section 3 `WWW-Authenticate: Bearer` challenges, built in one place so the
//! server's bank APIs and the gateway answer a missing, bad or under-scoped token alike.

use axum::http::HeaderValue;
use bulwark_core::OAuthErrorCode;

/// A `Bearer` challenge (RFC 6750 3): the one builder of `WWW-Authenticate` values for bearer
/// tokens, so every answer quotes its attributes the same way. A request that carried no token
/// gets no `error` (3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BearerChallenge<'a> {
    /// `realm`, when the answer names one.
    pub realm: Option<&'a str>,
    /// `error`: one of RFC 6750 3.1's `invalid_request`, `invalid_token`,
    /// `insufficient_scope`.
    pub error: Option<OAuthErrorCode>,
    /// `error_description`, for a person reading it.
    pub description: Option<&'a str>,
    /// `scope`: the scope the resource needs (with `insufficient_scope`).
    pub scope: Option<&'a str>,
}

impl BearerChallenge<'_> {
    /// The header value: `Bearer` followed by the attributes present, in the order realm,
    /// error, error_description, scope, e.g.
    /// `Bearer realm="bulwark", error="invalid_token", error_description="expired"`.
    pub fn value(&self) -> String {
        let error = self.error.map(OAuthErrorCode::as_str);
        let attributes: Vec<String> = [
            ("realm", self.realm),
            ("error", error),
            ("error_description", self.description),
            ("scope", self.scope),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name}=\"{}\"", quoted_text(v))))
        .collect();
        if attributes.is_empty() {
            "Bearer".into()
        } else {
            format!("Bearer {}", attributes.join(", "))
        }
    }

    /// [`Self::value`] as a header value; none when the text cannot be one (a control
    /// character in the description).
    pub fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.value()).ok()
    }
}

/// The text of a quoted attribute: RFC 6750 3 allows neither `"` nor `\` in `error_description`
/// or `scope` (not even escaped), so each becomes `'`, which also keeps the quoted-string
/// (RFC 9110 5.6.4) closed where it should be.
fn quoted_text(text: &str) -> String {
    text.replace(['"', '\\'], "'")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn rfc_6750_no_token_has_no_error_code() {
        let c = BearerChallenge {
            realm: Some("bulwark"),
            ..Default::default()
        };
        assert_eq!(c.value(), "Bearer realm=\"bulwark\"");
        assert_eq!(BearerChallenge::default().value(), "Bearer");
    }

    #[test]
    fn rfc_6750_invalid_token_with_description() {
        let c = BearerChallenge {
            realm: Some("bulwark"),
            error: Some(OAuthErrorCode::InvalidToken),
            description: Some("the access token was revoked"),
            scope: None,
        };
        assert_eq!(
            c.value(),
            "Bearer realm=\"bulwark\", error=\"invalid_token\", error_description=\"the access token was revoked\""
        );
        let no_realm = BearerChallenge { realm: None, ..c };
        assert_eq!(
            no_realm.value(),
            "Bearer error=\"invalid_token\", error_description=\"the access token was revoked\""
        );
    }

    #[test]
    fn rfc_6750_insufficient_scope_names_the_scope() {
        let c = BearerChallenge {
            realm: Some("bulwark"),
            error: Some(OAuthErrorCode::InsufficientScope),
            description: None,
            scope: Some("payments"),
        };
        assert_eq!(
            c.header_value().unwrap(),
            "Bearer realm=\"bulwark\", error=\"insufficient_scope\", scope=\"payments\""
        );
        let bad = BearerChallenge {
            error: Some(OAuthErrorCode::InvalidRequest),
            ..Default::default()
        };
        assert_eq!(bad.value(), "Bearer error=\"invalid_request\"");
    }

    #[test]
    fn rfc_6750_quotes_and_backslashes_cannot_break_out_of_an_attribute() {
        let c = BearerChallenge {
            realm: None,
            error: Some(OAuthErrorCode::InvalidToken),
            description: Some(r#"bad", error="x\"#),
            scope: Some(r#"a"b\c"#),
        };
        assert_eq!(
            c.value(),
            r#"Bearer error="invalid_token", error_description="bad', error='x'", scope="a'b'c""#
        );
        // Exactly the delimiting quotes remain.
        assert_eq!(c.value().matches('"').count(), 6);
        let control = BearerChallenge {
            description: Some("line\nbreak"),
            ..Default::default()
        };
        assert!(control.header_value().is_none());
    }
}
