//! RFC 6750 2.1: the `Authorization: Bearer <token>` request header. The scheme is
//! case-insensitive (RFC 9110 11.1); the token is everything after one run of spaces.

/// The bearer token of an `Authorization` header value, or None when the header is not a
/// bearer credential or carries an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tk_6_bearer_scheme_is_case_insensitive_and_token_required() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    /// One space separates the scheme from the token (RFC 6750 2.1's `1*SP`), the scheme is
    /// the whole word, and the token is all the rest, surrounding whitespace aside: a second
    /// word is part of it (and then not a token anything accepts), never dropped.
    #[test]
    fn tk_6_the_scheme_is_a_whole_word_and_the_token_all_the_rest() {
        assert_eq!(bearer_token("Bearer\tabc"), None);
        assert_eq!(bearer_token("Bearerfoo abc"), None);
        assert_eq!(bearer_token("Bearer abc junk"), Some("abc junk"));
        assert_eq!(bearer_token("Bearer abc\t\r\n"), Some("abc"));
    }
}
