//! The one check of a redirect URI a client registers or sends (RFC 6749 3.1.2, FAPI 1.0 Adv
//! 5.2.2-20, FAPI 2.0 SP 5.3.1.2): an absolute https URL with a host, no userinfo and no
//! fragment. The URI also ends up in the pages' Content-Security-Policy (its origin in
//! `form-action`) and in `Location` headers, so it is held to plain URI characters: no
//! whitespace or control characters, and no `;` or `,` that could end a CSP directive or
//! source list.

/// Why a redirect URI is refused; the text is meant for the registrant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("redirect_uri {uri:?} {reason}")]
pub struct RedirectUriError {
    uri: String,
    reason: &'static str,
}

/// Checks one redirect URI (see the module comment).
pub fn check_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    let refuse = |reason| {
        Err(RedirectUriError {
            uri: uri.to_string(),
            reason,
        })
    };
    // RFC 3986 2: unreserved, reserved and `%`; minus the fragment and the CSP separators.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~:/?[]@!$&'()*+=%".contains(c);
    if !uri.chars().all(plain) {
        return refuse(
            "must be https without a fragment, whitespace, control characters, ';' or ','",
        );
    }
    let Some(rest) = uri.strip_prefix("https://") else {
        return refuse("must be https without a fragment");
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if authority.is_empty() {
        return refuse("must name a host");
    }
    if authority.contains('@') {
        return refuse("must not carry userinfo");
    }
    let Ok(url) = url::Url::parse(uri) else {
        return refuse("is not an absolute URL");
    };
    match url.host() {
        Some(url::Host::Domain(d))
            if !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') => {}
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
        _ => return refuse("must name a host (letters, digits, '-', '.', or an IP address)"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcr_2_redirect_uri_is_a_plain_https_url() {
        for ok in [
            "https://tpp.example/cb",
            "https://TPP.example:8443/cb?x=1&y=%20",
            "https://127.0.0.1/cb",
            "https://[::1]:8443/cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://tpp.example/cb",
            "https://tpp.example/cb#done",
            "https://tpp.example; frame-ancestors */cb",
            "https://tpp.example;/cb",
            "https://tpp.example,https://evil.example/cb",
            "https://tpp.example/c b",
            "https://tpp.example/cb\u{1}",
            "https://tpp.example/cb\r\nSet-Cookie: x=y",
            "https://tpp.example\\@evil.example/cb",
            "https://user@tpp.example/cb",
            "https://@tpp.example/cb",
            "https:///cb",
            "https://",
            "https://tpp.example'/cb",
            "https://tpp.example:99999/cb",
            "https://tpp.éxample/cb",
            "HTTPS://tpp.example/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad:?}");
        }
    }
}
