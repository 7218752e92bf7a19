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
    /// The bank answers a repeated `x-idempotency-key` with the payment it made (OB
    /// idempotency), so the same submission sent again is forwarded again.
    pub idempotent_upstream: bool,
    /// The payment path parameter, for a payment read.
    pub payment_param: Option<String>,
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
        for (name, param) in [
            ("account_param", &c.account_param),
            ("payment_param", &c.payment_param),
        ] {
            if let Some(p) = param
                && !segments.contains(&Segment::Param(p.clone()))
            {
                return Err(format!("route {}: {name} {p:?} is not in the path", c.path));
            }
        }
        if !(c.upstream.starts_with("http://") || c.upstream.starts_with("https://")) {
            return Err(format!("route {}: upstream must be an http(s) URL", c.path));
        }
        let method = c.method.to_ascii_uppercase();
        check_policy(c, api, &method, &segments)
            .map_err(|why| format!("route {method} {}: {why}", c.path))?;
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
            idempotent_upstream: c.idempotent_upstream,
            payment_param: c.payment_param.clone(),
        })
    }

    /// The captured parameters when `method` and `path` match. A path an upstream could read
    /// differently from how it matched here (dot segments, backslashes, encoded dots,
    /// slashes or backslashes) matches nothing: the upstream gets exactly the path that
    /// passed the policy.
    pub fn matches(&self, method: &str, path: &str) -> Option<Vec<(String, String)>> {
        // RFC 9110 9.1: methods are case-sensitive (`post` is not POST).
        if method != self.method || !is_plain(path) {
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

    /// The payment the path names, for a payment read.
    pub fn payment<'a>(&self, params: &'a [(String, String)]) -> Option<&'a str> {
        captured(params, self.payment_param.as_deref()?)
    }

    /// The account the path names, for an account-scoped route.
    pub fn account<'a>(&self, params: &'a [(String, String)]) -> Option<&'a str> {
        captured(params, self.account_param.as_deref()?)
    }
}

/// The value captured for the path parameter `name`.
fn captured<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses a route whose policy would silently check less than Open Banking v3.1.10 asks of
/// its API (the swagger's security scheme per operation, the permission table, CO-3/CO-4):
/// - a `POST` to `domestic-payments` is a payment submission: without `payment_submission`
///   its body would not be held to the consent, which would not be consumed, so the payment
///   could be replayed; and `payment_submission` means exactly that `POST` with a PSU token;
/// - other `domestic-payments` operations (`GET /domestic-payments/{DomesticPaymentId}`,
///   `.../payment-details`) take a client-credentials token (`TPPOAuth2Security`): after the
///   submission the consent is Consumed, so a PSU-token route would refuse every read;
/// - account-access and funds-confirmation operations take the PSU's token
///   (`PSUOAuth2Security`): an application token carries no consent, so no status, permission
///   or account would be checked. The one exception is `products` on a path without
///   parameters, which a bank may serve as a catalogue the same for every caller (its product
///   data, not an account's);
/// - an account-access path names an account in the segment after `accounts` (whatever its
///   parameter is called) and wherever it has an `{AccountId}` segment (in any letter case):
///   that account must be among the consent's selected ones, so `account_param` must name
///   that very parameter;
/// - a `domestic-payments` path with a `{DomesticPaymentId}` segment (any letter case) names a
///   payment, which must be one the calling client submitted: it needs `payment_param`, which
///   belongs on such reads only.
fn check_policy(
    c: &RouteConfig,
    api: ResourceApi,
    method: &str,
    segments: &[Segment],
) -> Result<(), String> {
    use bulwark_consent::ConsentKind as K;
    let psu = matches!(c.token, TokenKindConfig::Psu);
    let has_params = segments.iter().any(|s| matches!(s, Segment::Param(_)));
    let names_account = segments
        .iter()
        .any(|s| matches!(s, Segment::Param(name) if name.eq_ignore_ascii_case("AccountId")));
    if c.payment_param.is_some() && (api != ResourceApi::DomesticPayment || method == "POST") {
        return Err("payment_param is for reads of a domestic payment".into());
    }
    if api == ResourceApi::DomesticPayment && method != "POST" {
        // The segment after `domestic-payments` names the payment, whatever the parameter is
        // called: it must be the one checked.
        let named = segments
            .iter()
            .position(|s| matches!(s, Segment::Literal(l) if l == "domestic-payments"))
            .and_then(|i| segments.get(i + 1));
        match (named, &c.payment_param) {
            (Some(Segment::Param(name)), Some(p)) if name == p => {}
            _ => {
                return Err(
                    "a read of a domestic payment names it in the segment after \
                            domestic-payments ({DomesticPaymentId}), and payment_param must \
                            name that parameter, so only the client that made the payment \
                            reads it"
                        .into(),
                );
            }
        }
    }
    let submission = api == ResourceApi::DomesticPayment && method == "POST";
    if submission && !c.payment_submission {
        return Err("a POST to domestic-payments is a payment submission: set \
                    payment_submission = true, so its body is held to the consent and the \
                    consent pays once"
            .into());
    }
    if c.payment_submission && !(submission && psu) {
        return Err("payment_submission is for POST domestic-payments with a PSU token".into());
    }
    if c.idempotent_upstream && !c.payment_submission {
        return Err("idempotent_upstream is for payment_submission routes".into());
    }
    match api.consent_kind() {
        K::DomesticPayment if !submission && psu => Err(
            "a domestic payment is read with a client-credentials token (token = \
             \"application\"): after its submission the consent is Consumed"
                .into(),
        ),
        K::FundsConfirmation if !psu => Err(
            "funds confirmations take the PSU's token: an application token names no consent"
                .into(),
        ),
        K::AccountAccess if !psu && (api != ResourceApi::Products || has_params) => Err(format!(
            "{} takes the PSU's token: an application token names no consent, so no \
             permission or account would be checked (only a products catalogue without path \
             parameters may take an application token)",
            api.as_str()
        )),
        K::AccountAccess if psu => account_checked(c, segments, names_account),
        _ => Ok(()),
    }
}

/// The account an account-access path names is the one `account_param` checks: the segment
/// after `accounts` names it, whatever the parameter is called (`{id}` is as much an account
/// as `{AccountId}`), and an `{AccountId}` elsewhere needs checking too.
fn account_checked(
    c: &RouteConfig,
    segments: &[Segment],
    names_account: bool,
) -> Result<(), String> {
    let after_accounts = segments
        .iter()
        .position(|s| matches!(s, Segment::Literal(l) if l == "accounts"))
        .and_then(|i| segments.get(i + 1));
    match (after_accounts, &c.account_param) {
        (Some(Segment::Param(name)), Some(p)) if name == p => Ok(()),
        (Some(Segment::Param(name)), _) => Err(format!(
            "the path names an account in the segment after accounts ({{{name}}}): set \
             account_param = \"{name}\", so the account must be one the consent covers"
        )),
        _ if names_account && c.account_param.is_none() => Err(
            "the path names an {AccountId}: set account_param = \"AccountId\", so the \
             account must be one the consent covers"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// True for a path without anything an URL parser or an application server would rewrite:
/// no `.` or `..` segment; segments of RFC 3986 `pchar`s only, without `;` (Tomcat and Jetty
/// cut a segment at `;`, so `..;` would be `..`) and so without `\`; no percent-encoded
/// dot, slash, backslash, semicolon, NUL or percent (decoded twice by some upstreams), no
/// `%u` escape (IIS), and no percent-encoded control character (a line break in a log or a
/// header downstream) or byte above ASCII (an overlong UTF-8 `%c0%ae` is a dot to old
/// decoders, a full-width `%ef%bc%8e` to a Unicode-normalising one).
pub fn is_plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    !["%2e", "%2f", "%5c", "%3b", "%00", "%25"]
        .iter()
        .any(|e| lower.contains(e))
        && path
            .split('/')
            .all(|s| s != "." && s != ".." && plain_segment(s.as_bytes()))
}

/// RFC 3986 3.3 `pchar`s (unreserved, pct-encoded, sub-delims, `:`, `@`) less `;`, the
/// encoded bytes printable ASCII only.
fn plain_segment(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = |j: usize| {
                    s.get(j)
                        .and_then(|c| char::from(*c).to_digit(16))
                        .and_then(|d| u8::try_from(d).ok())
                };
                let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) else {
                    return false;
                };
                let byte = high << 4 | low;
                if !(0x20..0x7f).contains(&byte) {
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
            idempotent_upstream: false,
            payment_param: None,
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
        // RFC 9110 9.1: the configured `get` is GET; a request's `get` is another method.
        assert!(
            r.matches("get", "/open-banking/v3.1/aisp/accounts/acc-1/balances")
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
            // Overlong UTF-8 dots (old decoders), full-width dots (Unicode normalisation),
            // bytes that are no UTF-8 at all, encoded line breaks and DEL.
            "/open-banking/v3.1/aisp/accounts/%c0%ae%c0%ae/balances",
            "/open-banking/v3.1/aisp/accounts/%e0%80%ae%e0%80%ae/balances",
            "/open-banking/v3.1/aisp/accounts/%ef%bc%8e%ef%bc%8e/balances",
            "/open-banking/v3.1/aisp/accounts/acc%ff/balances",
            "/open-banking/v3.1/aisp/accounts/acc%0d%0aX-Injected:%201/balances",
            "/open-banking/v3.1/aisp/accounts/acc%7f/balances",
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
                    idempotent_upstream: false,
                    payment_param: None,
                }
            })
            .is_err()
        );
    }

    fn config(method: &str, path: &str, api: &str, token: TokenKindConfig) -> RouteConfig {
        RouteConfig {
            method: method.into(),
            path: path.into(),
            upstream: "http://u".into(),
            token,
            api: api.into(),
            scope: None,
            account_param: None,
            payment_submission: false,
            idempotent_upstream: false,
            payment_param: None,
        }
    }

    #[test]
    fn gw_1_a_route_that_would_check_less_than_its_api_needs_is_refused() {
        use TokenKindConfig::{Application, Psu};
        let pay = "/open-banking/v3.1/pisp/domestic-payments";
        let read = "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}";
        let balances = "/open-banking/v3.1/aisp/accounts/{AccountId}/balances";
        let refused = [
            // A submission not held to its consent.
            config("POST", pay, "domestic-payments", Psu),
            // payment_submission on anything but POST domestic-payments with a PSU token.
            RouteConfig {
                payment_submission: true,
                ..config("POST", pay, "domestic-payments", Application)
            },
            RouteConfig {
                payment_submission: true,
                ..config("GET", "/open-banking/v3.1/aisp/accounts", "accounts", Psu)
            },
            // Idempotent re-forwarding on anything but a payment submission.
            RouteConfig {
                idempotent_upstream: true,
                ..config("GET", "/open-banking/v3.1/aisp/accounts", "accounts", Psu)
            },
            // A payment read with a PSU token (its consent is Consumed by then).
            RouteConfig {
                payment_param: Some("DomesticPaymentId".into()),
                ..config("GET", read, "domestic-payments", Psu)
            },
            // A payment in the path, read by any client (however its parameter is spelt).
            config("GET", read, "domestic-payments", Application),
            config(
                "GET",
                "/open-banking/v3.1/pisp/domestic-payments/{domesticPaymentId}/payment-details",
                "domestic-payments",
                Application,
            ),
            // A payment read whose parameter is named otherwise, or checks another segment.
            config(
                "GET",
                "/open-banking/v3.1/pisp/domestic-payments/{id}",
                "domestic-payments",
                Application,
            ),
            RouteConfig {
                payment_param: Some("X".into()),
                ..config(
                    "GET",
                    "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}/{X}",
                    "domestic-payments",
                    Application,
                )
            },
            config(
                "GET",
                "/open-banking/v3.1/pisp/domestic-payments/fixed",
                "domestic-payments",
                Application,
            ),
            // payment_param off a payment read (a POST naming a payment in its path).
            RouteConfig {
                payment_param: Some("DomesticPaymentId".into()),
                ..config("POST", read, "domestic-payments", Psu)
            },
            RouteConfig {
                payment_param: Some("AccountId".into()),
                ..config("GET", balances, "balances", Psu)
            },
            // Application tokens where the API needs a consent.
            config(
                "GET",
                "/open-banking/v3.1/aisp/accounts",
                "accounts",
                Application,
            ),
            config(
                "GET",
                "/open-banking/v3.1/aisp/offers",
                "offers",
                Application,
            ),
            config(
                "POST",
                "/open-banking/v3.1/cbpii/funds-confirmations",
                "funds-confirmations",
                Application,
            ),
            // An account in the path, unchecked (however its parameter is spelt).
            config("GET", balances, "balances", Psu),
            config(
                "GET",
                "/open-banking/v3.1/aisp/accounts/{accountId}/balances",
                "balances",
                Psu,
            ),
            // An account after `accounts` under another name, or the wrong segment checked.
            config(
                "GET",
                "/open-banking/v3.1/aisp/accounts/{id}/balances",
                "balances",
                Psu,
            ),
            RouteConfig {
                account_param: Some("StatementId".into()),
                ..config(
                    "GET",
                    "/open-banking/v3.1/aisp/accounts/{AccountId}/statements/{StatementId}/file",
                    "statements",
                    Psu,
                )
            },
            // A PSU's product, with an application token.
            config(
                "GET",
                "/open-banking/v3.1/aisp/accounts/{AccountId}/product",
                "products",
                Application,
            ),
        ];
        for c in refused {
            let Err(why) = Route::new(&c) else {
                panic!("accepted: {} {} {:?}", c.method, c.path, c.token);
            };
            // Refused for what it would check, not for its shape (each of these is a
            // well-formed route).
            assert!(
                ![
                    "must start with /",
                    "is not in the path",
                    "upstream must be"
                ]
                .iter()
                .any(|shape| why.contains(shape)),
                "{} {} {:?}: {why}",
                c.method,
                c.path,
                c.token
            );
        }
        let accepted = [
            RouteConfig {
                payment_submission: true,
                ..config("POST", pay, "domestic-payments", Psu)
            },
            RouteConfig {
                payment_param: Some("DomesticPaymentId".into()),
                ..config("GET", read, "domestic-payments", Application)
            },
            RouteConfig {
                payment_param: Some("PaymentId".into()),
                ..config(
                    "GET",
                    "/open-banking/v3.1/pisp/domestic-payments/{PaymentId}/payment-details",
                    "domestic-payments",
                    Application,
                )
            },
            config(
                "GET",
                "/open-banking/v3.1/aisp/products",
                "products",
                Application,
            ),
            config("GET", "/open-banking/v3.1/aisp/products", "products", Psu),
            RouteConfig {
                account_param: Some("AccountId".into()),
                ..config("GET", balances, "balances", Psu)
            },
            RouteConfig {
                account_param: Some("id".into()),
                ..config(
                    "GET",
                    "/open-banking/v3.1/aisp/accounts/{id}/balances",
                    "balances",
                    Psu,
                )
            },
            RouteConfig {
                account_param: Some("AccountId".into()),
                ..config(
                    "GET",
                    "/open-banking/v3.1/aisp/accounts/{AccountId}/statements/{StatementId}/file",
                    "statements",
                    Psu,
                )
            },
            config(
                "POST",
                "/open-banking/v3.1/cbpii/funds-confirmations",
                "funds-confirmations",
                Psu,
            ),
        ];
        for c in accepted {
            assert!(
                Route::new(&c).is_ok(),
                "{} {} {:?}",
                c.method,
                c.path,
                c.token
            );
        }
    }
}
