//! Forwarding an admitted request to its upstream: one pooled HTTP client (HTTP/1.1, and
//! HTTP/2 where an https upstream offers it), the request's method, path, query and body, its
//! headers minus hop-by-hop ones and minus anything under the gateway's own names or a
//! certificate header, plus the facts the gateway established. The answer goes back unchanged
//! except for hop-by-hop headers.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::policy::Admitted;
use crate::route::Route;

/// Hop-by-hop headers (RFC 9110 7.6.1) and the request's own framing.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Certificate headers a caller might send to impersonate a forwarded certificate upstream
/// (RFC 9440, and the names nginx, Apache, Envoy (`x-forwarded-client-cert`, dropped with
/// every `x-forwarded-*`), Azure and AWS load balancers use).
const CERTIFICATE_HEADERS: &[&str] = &[
    "client-cert",
    "client-cert-chain",
    "x-ssl-client-cert",
    "x-client-cert",
    "ssl-client-cert",
    "x-ssl-cert",
    "x-arr-clientcert",
    "x-amzn-mtls-clientcert",
];

/// Prefixes of the headers load balancers set beside the certificate itself (its verification
/// result, subject, issuer, serial: nginx `X-SSL-Client-*`, Apache `SSL_CLIENT_*`, AWS ALB
/// `X-Amzn-Mtls-Clientcert-*`): an upstream that trusts one of them must not get the caller's.
const CERTIFICATE_HEADER_PREFIXES: &[&str] = &[
    "x-ssl-client-",
    "ssl-client-",
    "x-amzn-mtls-clientcert-",
    "x-client-cert-",
    "x-client-verify",
    "x-client-dn",
];

/// Forwarding headers (with every `x-forwarded-*`): what the caller claims about the path it
/// came by is not passed on.
const FORWARDING_HEADERS: &[&str] = &["forwarded", "x-real-ip"];

/// Headers some frameworks let override the URL or the method the upstream acts on (IIS URL
/// Rewrite, Symfony, Laminas, Rails/Express method override): the upstream must act on the
/// request line that passed the policy.
const OVERRIDE_HEADERS: &[&str] = &[
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// Why a request got no answer from its upstream (answered 502). Whether the request may
/// have reached the bank decides what a consumed payment consent may become.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Never sent: the upstream URL was refused before any connection.
    #[error("upstream URL {0}")]
    Url(String),
    /// Never delivered: no connection could be made (refused, unresolvable, TLS handshake
    /// failed), so the upstream certainly did not see the request.
    #[error("upstream {0}: cannot connect")]
    Unreachable(String),
    /// Maybe delivered: no answer within the timeout, or the exchange broke after the
    /// connection was made. The bank may have acted on it.
    #[error("upstream {0}")]
    NoAnswer(String),
    /// Never sent: a fact the upstream must get cannot be written as the header's value.
    #[error("the value of {0} cannot be written as a header")]
    Header(&'static str),
}

impl UpstreamError {
    /// True when the upstream certainly never saw the request (nothing it could have acted on).
    pub fn never_delivered(&self) -> bool {
        matches!(self, Self::Url(_) | Self::Unreachable(_) | Self::Header(_))
    }
}

/// The upstream client.
pub struct Upstream {
    client: hyper_util::client::legacy::Client<Connector, Body>,
    timeout: Duration,
}

/// RFC 9110 7.6.1: the headers a message's `Connection` header names are hop-by-hop too.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .filter(|n| !n.is_empty())
        .collect()
}

/// End-to-end headers the gateway judges a request by and forwards as judged: the bearer
/// token, the payment's idempotency key (remembered with the consumed consent and matched on a
/// resubmission), the detached signature, and what frames and types the body compared with
/// the consent.
const JUDGED_HEADERS: &[&str] = &[
    "authorization",
    "content-encoding",
    "content-type",
    "x-idempotency-key",
    "x-jws-signature",
];

/// A judged header the request's `Connection` header names, if any. RFC 9110 7.6.1 has a
/// proxy drop what `Connection` names, so the upstream would not get the header the decision
/// rested on: `Connection: x-idempotency-key` would let every resubmission of a payment reach
/// the bank without its key, and a bank that does not insist on one would pay again. Such a
/// request is refused rather than forwarded without it.
pub(crate) fn judged_header_named_by_connection(headers: &HeaderMap) -> Option<String> {
    connection_named(headers)
        .into_iter()
        .find(|n| JUDGED_HEADERS.contains(&n.replace('_', "-").as_str()))
}

/// Removes from an upstream answer its hop-by-hop headers, those its `Connection` header
/// names included. `Content-Length` stays: it frames the body passed back as it came.
fn strip_response_hop_by_hop(headers: &mut HeaderMap) {
    let named = connection_named(headers);
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
        .filter(|n| *n != "content-length")
    {
        headers.remove(name);
    }
}

/// True for a caller's header the upstream must not see. Names are judged as an upstream
/// that reads `_` as `-` (CGI and WSGI variable names, where `X-Bulwark_Accounts` and
/// `X-Bulwark-Accounts` are one variable) would read them.
fn is_dropped(name: &HeaderName, extra: Option<&str>) -> bool {
    let raw = name.as_str();
    let n: std::borrow::Cow<'_, str> = if raw.contains('_') {
        raw.replace('_', "-").into()
    } else {
        raw.into()
    };
    let n = n.as_ref();
    HOP_BY_HOP.contains(&n)
        || CERTIFICATE_HEADERS.contains(&n)
        || CERTIFICATE_HEADER_PREFIXES.iter().any(|p| n.starts_with(p))
        || FORWARDING_HEADERS.contains(&n)
        || OVERRIDE_HEADERS.contains(&n)
        || n.starts_with("x-forwarded-")
        || n.starts_with("x-bulwark-")
        || n == "x-fapi-interaction-id"
        // Another spelling of the idempotency key the policy judged (it remembers and matches
        // `x-idempotency-key` exactly): the upstream must not key the payment on a value the
        // gateway never saw.
        || (n == "x-idempotency-key" && raw != n)
        || extra.is_some_and(|h| same_name(n, h))
}

/// Header names equal as a CGI/WSGI upstream compares them: ASCII case and `_`/`-` aside.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |c: u8| match c {
        b'_' => b'-',
        c => c.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

impl Upstream {
    /// How long an upstream has to answer (its headers, then, for an answer the gateway reads,
    /// its body).
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// A pooled client trusting the web PKI roots and `extra_roots` (DER) for https
    /// upstreams.
    pub fn new(extra_roots: &[Vec<u8>], timeout: Duration) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("upstream CA: {e}"))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("upstream TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(256)
                .build(connector);
        Ok(Self { client, timeout })
    }

    /// Sends the request upstream and returns its answer, streamed (an error, answered 502,
    /// when the upstream cannot be reached or does not answer within the timeout; which of
    /// the two it was is in the error).
    #[allow(clippy::too_many_arguments)]
    pub async fn forward(
        &self,
        route: &Route,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        cert_header: Option<&str>,
        body: Bytes,
        admitted: &Admitted,
        interaction_id: &str,
    ) -> Result<Response, UpstreamError> {
        let url = format!("{}{path_and_query}", route.upstream);
        // Defence in depth: the upstream must be asked for exactly the path the policy saw.
        let path = path_and_query.split('?').next().unwrap_or_default();
        let uri: axum::http::Uri = url
            .parse()
            .map_err(|e| UpstreamError::Url(format!("{url:?}: {e}")))?;
        if !uri.path().ends_with(path) {
            return Err(UpstreamError::Url(format!(
                "{url:?} would not keep the path"
            )));
        }
        // The caller's headers, moved (not copied), minus what must not reach the upstream.
        let mut out = headers;
        let named = connection_named(&out);
        let dropped: Vec<HeaderName> = out
            .keys()
            .filter(|name| {
                is_dropped(name, cert_header) || named.iter().any(|n| n == name.as_str())
            })
            .cloned()
            .collect();
        for name in dropped {
            out.remove(&name);
        }
        // A fact that cannot be written as a header value stops the request: forwarded
        // without it, the bank would see no restriction where there is one.
        let mut unwritable: Option<&'static str> = None;
        let mut set = |name: &'static str, value: &str| match HeaderValue::from_str(value) {
            Ok(v) => {
                out.insert(HeaderName::from_static(name), v);
            }
            Err(_) => {
                unwritable.get_or_insert(name);
            }
        };
        set("x-bulwark-client-id", &admitted.client_id);
        if let Some(c) = &admitted.consent_id {
            set("x-bulwark-consent-id", c);
        }
        if let Some(p) = &admitted.psu {
            set("x-bulwark-psu", p);
        }
        if admitted.consent_id.is_some() {
            set("x-bulwark-accounts", &admitted.accounts.join(","));
            set("x-bulwark-permissions", &admitted.permissions.join(","));
        }
        if let Some(from) = &admitted.transaction_from {
            set("x-bulwark-transaction-from", from);
        }
        if let Some(to) = &admitted.transaction_to {
            set("x-bulwark-transaction-to", to);
        }
        set("x-bulwark-cert-thumbprint", &admitted.cert_thumbprint);
        if route.payment_submission {
            // The gateway reads the answer (the payment id it records): uncompressed.
            set("accept-encoding", "identity");
        }
        set("x-fapi-interaction-id", interaction_id);
        if let Some(name) = unwritable {
            return Err(UpstreamError::Header(name));
        }
        let mut req = axum::http::Request::new(Body::from(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = out;
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| UpstreamError::NoAnswer(format!("{}: no answer in time", route.upstream)))?
            .map_err(|e| {
                // A connect error (refused, DNS, TLS handshake, connect timeout) comes before
                // any byte of the request is written; anything later may have reached it.
                if e.is_connect() {
                    UpstreamError::Unreachable(format!("{}: {e}", route.upstream))
                } else {
                    UpstreamError::NoAnswer(format!("{}: {e}", route.upstream))
                }
            })?;
        let (mut parts, incoming) = resp.into_parts();
        strip_response_hop_by_hop(&mut parts.headers);
        let mut response = (
            StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            Body::new(incoming),
        )
            .into_response();
        *response.headers_mut() = parts.headers;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// GW-1: a caller's header is judged as a CGI/WSGI upstream reads its name (`_` is `-`,
    /// any case), the configured certificate header included.
    #[test]
    fn gw_1_dropped_headers_are_judged_as_an_upstream_reads_their_names() {
        let dropped =
            |n: &'static str| is_dropped(&HeaderName::from_static(n), Some("X-SSL-Client-Cert"));
        for name in [
            "x-bulwark_accounts",
            "x_bulwark_psu",
            "x_forwarded_for",
            "x-forwarded-prefix",
            "x-original-url",
            "x_http_method_override",
            "x_ssl_client_cert",
            "x-ssl-client-cert",
            "x_fapi_interaction_id",
            "x_idempotency_key",
            "x-idempotency_key",
            "x-ssl-client-verify",
            "x_ssl_client_s_dn",
            "ssl-client-verify",
            "x-amzn-mtls-clientcert-leaf",
            "x-amzn-mtls-clientcert-subject",
            "x-client-cert-chain-0",
            "x-client-verify",
            "x-client-dn",
        ] {
            assert!(dropped(name), "{name}");
        }
        for name in [
            "x-end-to-end",
            "x-client-request-id",
            "content-type",
            "x-idempotency-key",
            "x-jws-signature",
        ] {
            assert!(!dropped(name), "{name}");
        }
        assert!(same_name("X-Custom_Cert", "x-custom-cert"));
        assert!(!same_name("x-custom-cert", "x-custom-certs"));
    }

    #[test]
    fn gw_1_response_hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Upstream-Hop , close"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-upstream-hop", "secret"),
            ("content-length", "12"),
            ("content-type", "application/json"),
            ("x-fapi-interaction-id", "abc"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h.append(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("x-second-hop"),
        );
        h.insert(
            HeaderName::from_static("x-second-hop"),
            HeaderValue::from_static("1"),
        );
        strip_response_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            ["content-length", "content-type", "x-fapi-interaction-id"]
        );
    }

    /// A route of one GET path to `upstream`, application token.
    fn route_to(upstream: String) -> Route {
        Route::new(&crate::config::RouteConfig {
            method: "GET".into(),
            path: "/x".into(),
            upstream,
            token: crate::config::TokenKindConfig::Application,
            api: "products".into(),
            scope: None,
            account_param: None,
            payment_submission: false,
            idempotent_upstream: false,
            payment_param: None,
        })
        .unwrap()
    }

    /// What the policy admitted for an application token.
    fn admitted() -> Admitted {
        Admitted {
            client_id: "c".into(),
            consent_id: None,
            psu: None,
            accounts: Vec::new(),
            permissions: Vec::new(),
            transaction_from: None,
            transaction_to: None,
            cert_thumbprint: "t".into(),
            consumed_at: None,
        }
    }

    /// A loopback upstream that answers with the request headers it received (as JSON) and
    /// with hop-by-hop headers of its own, one of them named by its `Connection` header.
    async fn header_echo() -> String {
        let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
            let seen: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").into()))
                .collect();
            (
                [
                    ("connection", "X-Upstream-Hop"),
                    ("x-upstream-hop", "internal"),
                    ("proxy-authenticate", "Basic realm=\"inner\""),
                    ("x-end-to-end", "kept"),
                ],
                serde_json::Value::Object(seen).to_string(),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// GW-1 through a real upstream: the caller's `Host`, the headers its `Connection` names
    /// (in any case), a method override and a certificate header under a common name never
    /// reach the bank, which sees its own authority as `Host`, the gateway's facts and the
    /// end-to-end headers; the bank's hop-by-hop headers never reach the caller.
    #[tokio::test]
    async fn gw_1_what_crosses_the_gateway_in_each_direction() {
        let upstream = header_echo().await;
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("host", "bank-internal.example"),
            ("connection", "keep-alive, X-Caller-Hop"),
            ("x-caller-hop", "1"),
            ("x-http-method", "DELETE"),
            ("x-ssl-client-cert", "-----BEGIN CERTIFICATE-----"),
            ("x-end-to-end", "kept"),
        ] {
            headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let response = Upstream::new(&[], Duration::from_secs(5))
            .unwrap()
            .forward(
                &route_to(upstream.clone()),
                Method::GET,
                "/x",
                headers,
                Some("X-Forwarded-Tls-Cert"),
                Bytes::new(),
                &admitted(),
                "interaction-1",
            )
            .await
            .unwrap();
        let back: Vec<String> = response.headers().keys().map(|k| k.to_string()).collect();
        for hop in ["connection", "x-upstream-hop", "proxy-authenticate"] {
            assert!(!back.iter().any(|k| k == hop), "{hop} came back: {back:?}");
        }
        assert_eq!(response.headers()["x-end-to-end"], "kept");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            seen["host"],
            upstream.trim_start_matches("http://"),
            "{seen}"
        );
        for gone in ["x-caller-hop", "x-http-method", "x-ssl-client-cert"] {
            assert!(seen.get(gone).is_none(), "{gone} reached the bank: {seen}");
        }
        assert_eq!(seen["x-end-to-end"], "kept");
        assert_eq!(seen["x-bulwark-client-id"], "c");
        assert_eq!(seen["x-bulwark-cert-thumbprint"], "t");
        assert_eq!(seen["x-fapi-interaction-id"], "interaction-1");
    }

    /// GW-1: a fact that cannot be written as a header value (a control character in an
    /// account id) stops the request before the bank: forwarded without `x-bulwark-accounts`
    /// the bank would read no account restriction at all.
    #[tokio::test]
    async fn gw_1_a_fact_that_cannot_be_a_header_stops_the_request() {
        let upstream = header_echo().await;
        let mut facts = admitted();
        facts.consent_id = Some("consent-1".into());
        facts.accounts = vec!["acc-1".into(), "acc\u{1}2".into()];
        let err = Upstream::new(&[], Duration::from_secs(5))
            .unwrap()
            .forward(
                &route_to(upstream),
                Method::GET,
                "/x",
                HeaderMap::new(),
                None,
                Bytes::new(),
                &facts,
                "id",
            )
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, UpstreamError::Header("x-bulwark-accounts")),
            "{err}"
        );
        assert!(err.never_delivered());
    }

    #[tokio::test]
    async fn gw_1_an_upstream_that_refuses_connections_never_saw_the_request() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let route = route_to(format!("http://127.0.0.1:{port}"));
        let upstream = Upstream::new(&[], Duration::from_secs(5)).unwrap();
        let err = upstream
            .forward(
                &route,
                Method::GET,
                "/x",
                HeaderMap::new(),
                None,
                Bytes::new(),
                &admitted(),
                "id",
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(err, UpstreamError::Unreachable(_)), "{err}");
        assert!(err.never_delivered());
        assert!(!UpstreamError::NoAnswer("timeout".into()).never_delivered());
    }

    #[test]
    fn gw_1_caller_headers_under_gateway_names_are_dropped() {
        for h in [
            "x-bulwark-client-id",
            "x-bulwark-accounts",
            "client-cert",
            "connection",
            "x-fapi-interaction-id",
        ] {
            assert!(is_dropped(&HeaderName::from_static(h), None), "{h}");
        }
        assert!(is_dropped(
            &HeaderName::from_static("x-tls-cert"),
            Some("X-TLS-Cert")
        ));
        assert!(!is_dropped(&HeaderName::from_static("accept"), None));
        assert!(!is_dropped(&HeaderName::from_static("authorization"), None));
    }
}
