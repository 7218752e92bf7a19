//! Matching a request to a configured route: the method and the path pattern, segment by
//! segment, `{Name}` capturing one non-empty segment.

use bulwark_consent::ResourceApi;
use bulwark_token::TokenKind;

use crate::config::{RouteConfig, TokenKindConfig};

/// A route, checked and ready to match.
#[derive(Clone, Debug)]
pub struct Route {
    /// The method, upper case.
    pub method: String,
    /// The pattern as configured.
    pub pattern: String,
    /// `METHOD pattern` (`GET /open-banking/v3.1/aisp/accounts/{AccountId}/balances`): the
    /// `route` label of the gateway's metrics, one value per configured route.
    pub label: String,
    segments: Vec<Segment>,
    /// The upstream base URL, without a trailing slash.
    pub upstream: String,
    /// The token kind it takes.
    pub kind: TokenKind,
    /// The resource API.
    pub api: ResourceApi,
    /// The scope the token must carry.
    pub scope: String,
    /// The account path parameter, if account-scoped.
    pub account_param: Option<String>,
    /// A payment submission.
    pub payment_submission: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The scope an API's tokens carry by default.
fn default_scope(api: ResourceApi) -> &'static str {
    match api.consent_kind() {
        bulwark_consent::ConsentKind::AccountAccess => "accounts",
        bulwark_consent::ConsentKind::DomesticPayment => "payments",
        bulwark_consent::ConsentKind::FundsConfirmation => "fundsconfirmations",
    }
}

impl Route {
    /// Checks a configured route.
    pub fn new(c: &RouteConfig) -> Result<Self, String> {
        let api = ResourceApi::parse(&c.api)
            .ok_or_else(|| format!("route {} {}: unknown api {:?}", c.method, c.path, c.api))?;
        if !c.path.starts_with('/') {
            return Err(format!("route path {:?} must start with /", c.path));
        }
        let segments: Vec<Segment> = c
            .path
            .split('/')
            .skip(1)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_string()),
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        if let Some(p) = &c.account_param
            && !segments.contains(&Segment::Param(p.clone()))
        {
            return Err(format!(
                "route {}: account_param {p:?} is not in the path",
                c.path
            ));
        }
        if !(c.upstream.starts_with("http://") || c.upstream.starts_with("https://")) {
            return Err(format!("route {}: upstream must be an http(s) URL", c.path));
        }
        let method = c.method.to_ascii_uppercase();
        Ok(Self {
            label: format!("{method} {}", c.path),
            method,
            pattern: c.path.clone(),
            segments,
            upstream: c.upstream.trim_end_matches('/').to_string(),
            kind: match c.token {
                TokenKindConfig::Psu => TokenKind::User,
                TokenKindConfig::Application => TokenKind::Application,
            },
            api,
            scope: c
                .scope
                .clone()
                .unwrap_or_else(|| default_scope(api).to_string()),
            account_param: c.account_param.clone(),
            payment_submission: c.payment_submission,
        })
    }

    /// The captured parameters when `method` and `path` match. A path an upstream could read
    /// differently from how it matched here (dot segments, backslashes, encoded dots,
    /// slashes or backslashes) matches nothing: the upstream gets exactly the path that
    /// passed the policy.
    pub fn matches(&self, method: &str, path: &str) -> Option<Vec<(String, String)>> {
        if !method.eq_ignore_ascii_case(&self.method) || !is_plain(path) {
            return None;
        }
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((name.clone(), part.to_string()));
                }
                _ => return None,
            }
        }
        Some(params)
    }

    /// The account the path names, for an account-scoped route.
    pub fn account<'a>(&self, params: &'a [(String, String)]) -> Option<&'a str> {
        let name = self.account_param.as_deref()?;
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// True for a path without anything an URL parser or an application server would rewrite:
/// no `.` or `..` segment; segments of RFC 3986 `pchar`s only, without `;` (Tomcat and Jetty
/// cut a segment at `;`, so `..;` would be `..`) and so without `\`; no percent-encoded
/// dot, slash, backslash, semicolon, NUL or percent (decoded twice by some upstreams), and
/// no `%u` escape (IIS).
pub fn is_plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    !["%2e", "%2f", "%5c", "%3b", "%00", "%25"]
        .iter()
        .any(|e| lower.contains(e))
        && path
            .split('/')
            .all(|s| s != "." && s != ".." && plain_segment(s.as_bytes()))
}

/// RFC 3986 3.3 `pchar`s (unreserved, pct-encoded, sub-delims, `:`, `@`) less `;`.
fn plain_segment(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = |j: usize| s.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&c) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The first route matching the request, with its path parameters.
pub fn find<'r, R: std::borrow::Borrow<Route>>(
    routes: &'r [R],
    method: &str,
    path: &str,
) -> Option<(&'r R, Vec<(String, String)>)> {
    routes
        .iter()
        .find_map(|r| r.borrow().matches(method, path).map(|p| (r, p)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn route(path: &str, account: Option<&str>) -> Route {
        Route::new(&RouteConfig {
            method: "get".into(),
            path: path.into(),
            upstream: "http://127.0.0.1:9/".into(),
            token: TokenKindConfig::Psu,
            api: "balances".into(),
            scope: None,
            account_param: account.map(str::to_string),
            payment_submission: false,
        })
        .unwrap()
    }

    #[test]
    fn gw_1_routes_match_method_and_segments() {
        let r = route(
            "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
            Some("AccountId"),
        );
        let p = r
            .matches("GET", "/open-banking/v3.1/aisp/accounts/acc-1/balances")
            .unwrap();
        assert_eq!(r.account(&p), Some("acc-1"));
        assert_eq!(r.scope, "accounts");
        assert_eq!(
            r.label,
            "GET /open-banking/v3.1/aisp/accounts/{AccountId}/balances"
        );
        assert_eq!(r.upstream, "http://127.0.0.1:9");
        assert!(
            r.matches("POST", "/open-banking/v3.1/aisp/accounts/acc-1/balances")
                .is_none()
        );
        assert!(
            r.matches("GET", "/open-banking/v3.1/aisp/accounts//balances")
                .is_none()
        );
        assert!(
            r.matches("GET", "/open-banking/v3.1/aisp/accounts/acc-1")
                .is_none()
        );
        assert!(
            r.matches("GET", "/open-banking/v3.1/aisp/accounts/acc-1/balances/x")
                .is_none()
        );
        // Nothing an URL parser would rewrite on the way upstream.
        for tricky in [
            "/open-banking/v3.1/aisp/accounts/x\\..\\acc-2/balances",
            "/open-banking/v3.1/aisp/accounts/%2e%2e/balances",
            "/open-banking/v3.1/aisp/accounts/..%2Facc-2/balances",
            "/open-banking/v3.1/aisp/accounts/../balances",
            "/open-banking/v3.1/aisp/accounts/acc%5c1/balances",
            // Tomcat/Jetty path parameters: `..;` is `..` to them.
            "/open-banking/v3.1/aisp/accounts/..;/balances",
            "/open-banking/v3.1/aisp/accounts/acc-1;x=1/balances",
            "/open-banking/v3.1/aisp/accounts/acc-1%3b/balances",
            // Double encoding and IIS %u escapes.
            "/open-banking/v3.1/aisp/accounts/%252e%252e/balances",
            "/open-banking/v3.1/aisp/accounts/%u002e%u002e/balances",
            "/open-banking/v3.1/aisp/accounts/acc%00/balances",
            "/open-banking/v3.1/aisp/accounts/acc\"1/balances",
        ] {
            assert!(r.matches("GET", tricky).is_none(), "{tricky}");
        }
        // Ordinary identifiers, with a percent-encoded space, still match.
        for plain in [
            "/open-banking/v3.1/aisp/accounts/acc-1/balances",
            "/open-banking/v3.1/aisp/accounts/7d1a_f0~9.x/balances",
            "/open-banking/v3.1/aisp/accounts/acc%201/balances",
        ] {
            assert!(r.matches("GET", plain).is_some(), "{plain}");
        }
        assert!(
            Route::new(&RouteConfig {
                api: "nonsense".into(),
                ..RouteConfig {
                    method: "GET".into(),
                    path: "/x".into(),
                    upstream: "http://u".into(),
                    token: TokenKindConfig::Psu,
                    api: String::new(),
                    scope: None,
                    account_param: None,
                    payment_submission: false,
                }
            })
            .is_err()
        );
    }
}
