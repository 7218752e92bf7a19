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

/// Certificate headers a caller might send to impersonate a forwarded certificate upstream.
const CERTIFICATE_HEADERS: &[&str] = &["client-cert", "client-cert-chain", "x-ssl-client-cert"];

/// Forwarding headers: what the caller claims about the path it came by is not passed on.
const FORWARDING_HEADERS: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-real-ip",
];

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The upstream client.
pub struct Upstream {
    client: hyper_util::client::legacy::Client<Connector, Body>,
    timeout: Duration,
}

fn is_dropped(name: &HeaderName, extra: Option<&str>) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || CERTIFICATE_HEADERS.contains(&n)
        || FORWARDING_HEADERS.contains(&n)
        || n.starts_with("x-bulwark-")
        || n == "x-fapi-interaction-id"
        || extra.is_some_and(|h| n.eq_ignore_ascii_case(h))
}

impl Upstream {
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
    /// when the upstream cannot be reached or does not answer within the timeout).
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
    ) -> Result<Response, String> {
        let url = format!("{}{path_and_query}", route.upstream);
        // Defence in depth: the upstream must be asked for exactly the path the policy saw.
        let path = path_and_query.split('?').next().unwrap_or_default();
        let uri: axum::http::Uri = url
            .parse()
            .map_err(|e| format!("upstream URL {url:?}: {e}"))?;
        if !uri.path().ends_with(path) {
            return Err(format!("upstream URL {url:?} would not keep the path"));
        }
        // The caller's headers, moved (not copied), minus what must not reach the upstream.
        let mut out = headers;
        // RFC 9110 7.6.1: the headers `Connection` names are hop-by-hop too.
        let named: Vec<String> = out
            .get_all(axum::http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
            .collect();
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
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                out.insert(HeaderName::from_static(name), v);
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
        }
        set("x-bulwark-cert-thumbprint", &admitted.cert_thumbprint);
        set("x-fapi-interaction-id", interaction_id);
        let mut req = axum::http::Request::new(Body::from(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = out;
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| format!("upstream {}: no answer in time", route.upstream))?
            .map_err(|e| format!("upstream {}: {e}", route.upstream))?;
        let (mut parts, incoming) = resp.into_parts();
        for name in HOP_BY_HOP.iter().filter(|n| **n != "content-length") {
            parts.headers.remove(*name);
        }
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
    use super::*;

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
