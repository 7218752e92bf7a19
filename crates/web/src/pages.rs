//! What every HTML page Bulwark serves (the PSU pages now, the staff console next) shares:
//! the security headers (a strict CSP with no script at all, no framing, no caching, no
//! referrer), cookies with safe attributes, and reading a cookie back. One implementation, so
//! no page can forget a header.

use axum::http::header::{self, HeaderMap, HeaderValue};

/// The Content-Security-Policy of a page. `form_action` lists the origins a form on the page
/// may be sent to, or redirected to after sending (Chromium applies `form-action` to the
/// redirect too); the page's own origin is always allowed.
///
/// An entry that is not a plain origin (`origin_of` of it is not itself) is left out: a value
/// with `;` or `,` would otherwise add directives (`frame-ancestors *` ahead of ours, and CSP
/// keeps the first) or sources.
pub fn csp(form_action: &[&str]) -> String {
    let mut actions = String::from("'self'");
    for origin in form_action.iter().filter(|o| origin_of(o) == Some(**o)) {
        actions.push(' ');
        actions.push_str(origin);
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {actions}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Sets the headers every page carries: CSP, `no-store`, no framing, no sniffing, no referrer,
/// and HSTS (RFC 6797): a browser that has seen the bank's pages once never again follows a
/// plain-http link to them, where a network attacker could plant a session cookie.
pub fn page_headers(headers: &mut HeaderMap, form_action: &[&str]) {
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    // Never a page without a CSP: if the origins cannot go into a header, the page goes out
    // without them (its form's redirect may be blocked, its content may not be framed).
    if let Ok(v) =
        HeaderValue::from_str(&csp(form_action)).or_else(|_| HeaderValue::from_str(&csp(&[])))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    crate::no_store(headers);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// The origin (`scheme://host[:port]`) of an absolute URL, for `form-action`; `None` unless
/// the URL's authority parses as a host (letters, digits, `-`, `.`, or a bracketed IPv6
/// address) with an optional numeric port, so nothing else from the URL reaches the CSP.
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let mut letters = scheme.chars();
    if !letters.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !letters.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            let ok = !addr.is_empty()
                && addr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            (ok, port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            (ok, port)
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    (host_ok && port_ok).then_some(&url[..scheme.len() + 3 + end])
}

/// How a browser may send a cookie back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Only on requests from our own pages.
    Strict,
    /// Also on top-level navigations from other sites (a TPP redirecting to `/authorize`).
    Lax,
}

/// A `Set-Cookie` value: always `Secure` and `HttpOnly`, scoped to `path`, living `max_age`
/// seconds (0 deletes it).
///
/// Every cookie of ours carries a name prefix that browsers enforce (RFC 6265bis 4.1.3): a
/// cookie for the whole host is `__Host-` (a sibling subdomain cannot plant one, and it must have
/// `Path=/`), a path-scoped one `__Secure-` (no plain-http answer can plant one). A name
/// without either, or a `__Host-` name with another path, is a programming error (in a
/// browser such a cookie is dropped or open to planting) that debug builds, and so the tests,
/// stop at.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: SameSite,
) -> String {
    debug_assert!(
        (name.starts_with("__Host-") && path == "/") || name.starts_with("__Secure-"),
        "cookie {name} on {path} lacks the prefix its scope needs"
    );
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; Secure; HttpOnly; SameSite={same_site}"
    )
}

/// The value of cookie `name` in the request, if sent (exactly once).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                if found.is_some() {
                    // Two cookies of one name (e.g. different paths): trust neither.
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn az_6_cookies_carry_the_prefix_browsers_enforce() {
        assert_eq!(
            set_cookie("__Host-s", "v", "/", 60, SameSite::Lax),
            "__Host-s=v; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            set_cookie("__Secure-i", "", "/authorize/i/x", 0, SameSite::Strict),
            "__Secure-i=; Path=/authorize/i/x; Max-Age=0; Secure; HttpOnly; SameSite=Strict"
        );
        if !cfg!(debug_assertions) {
            return;
        }
        for (name, path) in [("s", "/"), ("__Host-s", "/staff"), ("__host-s", "/")] {
            let made = std::panic::catch_unwind(|| set_cookie(name, "v", path, 1, SameSite::Lax));
            assert!(made.is_err(), "{name} on {path}");
        }
    }

    /// A hostile redirect URI (registered before registration refused it) adds nothing to
    /// the CSP: no second `frame-ancestors` ahead of ours, no lost header.
    #[test]
    fn az_6_csp_keeps_one_frame_ancestors_none_for_a_hostile_origin() {
        let hostile = "https://tpp.example; frame-ancestors */cb";
        assert_eq!(origin_of(hostile), None);
        assert_eq!(
            origin_of("https://tpp.example,https://evil.example/cb"),
            None
        );
        assert_eq!(origin_of("https://user@tpp.example/cb"), None);
        assert_eq!(origin_of("https://tpp.example\u{1}/cb"), None);
        assert_eq!(
            origin_of("https://TPP.example:8443/cb?x#y"),
            Some("https://TPP.example:8443")
        );
        assert_eq!(
            origin_of("https://[::1]:8443/cb"),
            Some("https://[::1]:8443")
        );
        for form_action in [
            vec![hostile],
            vec!["https://tpp.example; frame-ancestors *"],
            vec!["https://tpp.example\u{1}"],
            vec!["https://tpp.example\n"],
        ] {
            let mut headers = HeaderMap::new();
            page_headers(&mut headers, &form_action);
            let policy = headers
                .get(header::CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert_eq!(
                policy.matches("frame-ancestors").count(),
                1,
                "{form_action:?}: {policy}"
            );
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert!(policy.contains("form-action 'self';"), "{policy}");
        }
    }

    #[test]
    fn az_6_csp_has_no_script_and_no_framing() {
        let c = csp(&["https://tpp.example"]);
        assert!(c.contains("default-src 'none'"));
        assert!(c.contains("form-action 'self' https://tpp.example"));
        assert!(c.contains("frame-ancestors 'none'"));
        assert!(!c.contains("script-src"));
        assert!(!c.contains("unsafe"));
    }

    /// Every page carries the whole set, with these values: a page that lost one (a sniffed
    /// type, a referrer with the interaction's URL, an opener from the TPP's window, a `<base>`
    /// redirecting the forms) is a page no test would otherwise notice.
    #[test]
    fn az_6_every_page_carries_the_whole_set_of_security_headers() {
        let mut h = HeaderMap::new();
        page_headers(&mut h, &["https://tpp.example"]);
        let expected = [
            ("strict-transport-security", "max-age=31536000"),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'self'; img-src 'self'; \
                 form-action 'self' https://tpp.example; frame-ancestors 'none'; base-uri 'none'",
            ),
            ("cache-control", "no-store"),
            ("pragma", "no-cache"),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-opener-policy", "same-origin"),
        ];
        for (name, value) in expected {
            assert_eq!(
                h.get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{name}"
            );
        }
        assert_eq!(h.len(), expected.len());
    }

    #[test]
    fn az_7_origin_of_an_url() {
        assert_eq!(
            origin_of("https://tpp.example:8443/cb?x=1"),
            Some("https://tpp.example:8443")
        );
        assert_eq!(
            origin_of("https://tpp.example"),
            Some("https://tpp.example")
        );
        assert_eq!(origin_of("nonsense"), None);
        assert_eq!(origin_of("https:///cb"), None);
        assert_eq!(origin_of("https://"), None);
    }

    #[test]
    fn az_6_cookies_are_read_once_and_set_safely() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; bulwark_ia=xyz"),
        );
        assert_eq!(cookie(&h, "bulwark_ia"), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);
        // A name is matched whole: a cookie a sibling subdomain could plant under a longer
        // name (no prefix) is not the prefixed one.
        let mut planted = HeaderMap::new();
        planted.insert(
            header::COOKIE,
            HeaderValue::from_static("x__Host-bulwark_session=planted"),
        );
        assert_eq!(cookie(&planted, "__Host-bulwark_session"), None);
        h.append(header::COOKIE, HeaderValue::from_static("bulwark_ia=other"));
        assert_eq!(cookie(&h, "bulwark_ia"), None);
        let s = set_cookie(
            "__Secure-bulwark_ia",
            "v",
            "/authorize/i/1",
            600,
            SameSite::Lax,
        );
        assert!(s.contains("Secure") && s.contains("HttpOnly") && s.contains("SameSite=Lax"));
    }
}
