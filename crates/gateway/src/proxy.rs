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

/// The largest upstream answer passed on (bytes).
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

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

/// The upstream client.
pub struct Upstream {
    client: reqwest::Client,
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
    /// A pooled client trusting the system roots and `extra_roots` (DER) for https upstreams.
    pub fn new(extra_roots: &[Vec<u8>], timeout: Duration) -> Result<Self, String> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .user_agent("bulwark-gateway");
        for der in extra_roots {
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_der(der).map_err(|e| format!("upstream CA: {e}"))?,
            );
        }
        Ok(Self {
            client: builder
                .build()
                .map_err(|e| format!("upstream client: {e}"))?,
        })
    }

    /// Sends the request upstream and returns its answer (502 when the upstream cannot be
    /// reached or answers too much).
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
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("upstream URL {url:?}: {e}"))?;
        if !parsed.path().ends_with(path) {
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
        let resp = self
            .client
            .request(method, &url)
            .headers(out)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("upstream {}: {e}", route.upstream))?;
        let status = resp.status();
        let mut answer_headers = HeaderMap::new();
        for (name, value) in resp.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                answer_headers.append(name.clone(), value.clone());
            }
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE as u64)
        {
            return Err(format!("upstream {}: answer too large", route.upstream));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("upstream {}: {e}", route.upstream))?;
        if bytes.len() > MAX_RESPONSE {
            return Err(format!("upstream {}: answer too large", route.upstream));
        }
        let mut response = (
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            Body::from(bytes),
        )
            .into_response();
        response.headers_mut().extend(answer_headers);
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
