//! Extractors: a malformed request is answered in our error format (STYLE.md, axum examples),
//! never with axum's plain-text rejection.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use bulwark_certs::{MtlsMode, MtlsSettings};
use bulwark_core::{Form, OAuthError};
use rustls_pki_types::CertificateDer;

use crate::error::OAuthErrorResponse;
use crate::listener::ConnectionInfo;

/// The `[mtls]` settings, as handler state provides them to [`ClientCert`].
#[derive(Clone, Debug)]
pub struct MtlsConfig(pub Arc<MtlsSettings>);

/// The certificate chain a request presented (CERT-1 from the handshake, CERT-2 from a trusted
/// proxy's headers), leaf first; empty when none was presented.
#[derive(Clone, Debug)]
pub struct ClientCert {
    /// The chain, leaf first (shared with the connection: no copy per request).
    pub chain: Arc<[CertificateDer<'static>]>,
    /// The proxy settings when a trusted proxy forwarded it (the validator then follows
    /// `revalidate_issuer`); None for the TLS handshake's own chain.
    pub forwarded_by: Option<Arc<MtlsSettings>>,
}

impl ClientCert {
    /// The settings to pass to the protocol crates' `forwarded_by`.
    pub fn forwarded_by(&self) -> Option<&MtlsSettings> {
        self.forwarded_by.as_deref()
    }
}

/// Reads the presented chain. A certificate header from an untrusted peer, or a malformed
/// one, is refused (logged on `bulwark::security`) with the proxy error's reason code.
pub fn presented_chain(
    mtls: &Arc<MtlsSettings>,
    info: &ConnectionInfo,
    headers: &HeaderMap,
) -> Result<ClientCert, bulwark_certs::ProxyError> {
    // RFC 9440 2.2 / RFC 8941: the certificate header is one item; a second occurrence means
    // a proxy appended instead of replacing, and the first one may be the caller's. The chain
    // header is a list, which may legitimately span several lines: they are joined.
    let mut joined_chain: Option<Vec<u8>> = None;
    if mtls.mode == MtlsMode::Proxy {
        let configured = mtls.header.as_ref().map(|h| h.to_ascii_lowercase());
        for name in std::iter::once("client-cert").chain(configured.as_deref()) {
            if headers.get_all(name).iter().count() > 1 {
                let err = bulwark_certs::ProxyError::Inconsistent(format!(
                    "the {name} header is repeated"
                ));
                tracing::warn!(target: "bulwark::security", peer = %info.peer, reason = err.reason(), error = %err, "client certificate header refused");
                return Err(err);
            }
        }
        let lines: Vec<&[u8]> = headers
            .get_all("client-cert-chain")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if lines.len() > 1 {
            joined_chain = Some(lines.join(&b", "[..]));
        }
    }
    let proxied = bulwark_certs::extract_proxied_chain(mtls, info.peer.ip(), |name| {
        match (&joined_chain, name) {
            (Some(joined), "client-cert-chain") => Some(joined.as_slice()),
            _ => headers.get(name).map(|v| v.as_bytes()),
        }
    })
    .inspect_err(|e| {
        tracing::warn!(target: "bulwark::security", peer = %info.peer, reason = e.reason(), error = %e, "client certificate header refused");
    })?;
    Ok(match (proxied, mtls.mode) {
        (Some(chain), _) => ClientCert {
            chain: Arc::from(chain),
            forwarded_by: Some(mtls.clone()),
        },
        (None, MtlsMode::Proxy) => ClientCert {
            chain: Arc::from(Vec::new()),
            forwarded_by: Some(mtls.clone()),
        },
        (None, MtlsMode::Direct) => ClientCert {
            chain: info.client_chain.clone(),
            forwarded_by: None,
        },
    })
}

/// The presented chain, or the proxy header's refusal, for routes that answer a refusal in
/// their own protocol (the bank APIs answer 401 `invalid_token`).
#[derive(Debug)]
pub struct PresentedChain(pub Result<ClientCert, bulwark_certs::ProxyError>);

impl PresentedChain {
    /// At the OAuth endpoints a refused certificate header is `invalid_client`.
    pub fn for_oauth(self) -> Result<ClientCert, OAuthErrorResponse> {
        self.0.map_err(|e| {
            OAuthError::invalid_client(format!(
                "client certificate header refused ({})",
                e.reason()
            ))
            .into()
        })
    }
}

impl<S> FromRequestParts<S> for PresentedChain
where
    S: Send + Sync,
    MtlsConfig: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let MtlsConfig(mtls) = MtlsConfig::from_ref(state);
        let info = parts
            .extensions
            .get::<ConnectionInfo>()
            .cloned()
            .unwrap_or_else(ConnectionInfo::none);
        Ok(Self(presented_chain(&mtls, &info, &parts.headers)))
    }
}

/// At the OAuth endpoints a refused certificate header is `invalid_client`.
impl<S> FromRequestParts<S> for ClientCert
where
    S: Send + Sync,
    MtlsConfig: FromRef<S>,
{
    type Rejection = OAuthErrorResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(PresentedChain(result)) = PresentedChain::from_request_parts(parts, state).await;
        result.map_err(|e| {
            OAuthError::invalid_client(format!(
                "client certificate header refused ({})",
                e.reason()
            ))
            .into()
        })
    }
}

/// The bearer token of the `Authorization` header (RFC 6750 2.1), if it holds one.
#[derive(Clone, Debug, Default)]
pub struct Bearer(pub Option<String>);

impl Bearer {
    /// The token, if any.
    pub fn token(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bulwark_core::bearer_token)
                .map(str::to_string),
        ))
    }
}

/// An RFC 6749 form body (`application/x-www-form-urlencoded`, no repeated parameter), with the
/// scheme of any `Authorization` header the client sent (echoed on `invalid_client`).
#[derive(Clone, Debug)]
pub struct OAuthForm {
    /// The parsed form.
    pub form: Form,
    /// The scheme of the `Authorization` header, when one was sent.
    pub authorization_scheme: Option<String>,
}

/// RFC 6749 3.2, RFC 7662 2.1, RFC 7009 2.1: exactly `application/x-www-form-urlencoded`
/// (any case), with no parameter but a UTF-8 `charset` (the body is read as UTF-8).
fn is_form_urlencoded(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        && parts.filter(|p| !p.is_empty()).all(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("charset")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthErrorResponse;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_form_urlencoded);
        if !is_form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let authorization_scheme = headers.get(header::AUTHORIZATION).map(|v| {
            v.to_str()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("Basic")
                .to_string()
        });
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| OAuthError::invalid_request("the body could not be read"))?;
        let form = Form::parse(&body).map_err(OAuthError::from)?;
        Ok(Self {
            form,
            authorization_scheme,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use axum::http::Request as HttpRequest;

    /// The DER "certificates" below are opaque bytes: extraction never parses them.
    const LEAF: &[u8] = &[1, 2, 3];
    const CA: &[u8] = &[4, 5, 6];
    const ROOT: &[u8] = &[7, 8, 9];
    const PROXY_OWN: &[u8] = &[9, 9, 9];

    fn proxy_mode(header: Option<&str>) -> Arc<MtlsSettings> {
        Arc::new(MtlsSettings {
            mode: MtlsMode::Proxy,
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            header: header.map(str::to_string),
            ..MtlsSettings::default()
        })
    }

    /// A connection from `peer` whose TLS handshake presented `own` (a proxy's own client
    /// certificate, when the balancer authenticates itself to the backend).
    fn connection(peer: &str, own: &[u8]) -> ConnectionInfo {
        ConnectionInfo {
            peer: peer.parse().unwrap(),
            client_chain: Arc::from(vec![CertificateDer::from(own.to_vec())]),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        h
    }

    fn ders(chain: &[CertificateDer<'static>]) -> Vec<Vec<u8>> {
        chain.iter().map(|c| c.to_vec()).collect()
    }

    /// CERT-2: behind a balancer the TLS peer is the balancer. Its own client certificate is
    /// never taken for the caller's: without a certificate header the caller presented none.
    /// A forwarded chain, or none, is marked as forwarded (its validation follows
    /// `revalidate_issuer`); in direct mode the handshake's chain is the caller's and
    /// certificate headers are ignored.
    #[test]
    fn cert_2_behind_a_proxy_its_own_certificate_is_never_the_callers() {
        let proxy = proxy_mode(None);
        let from_balancer = connection("10.0.0.5:4433", PROXY_OWN);
        let none = presented_chain(&proxy, &from_balancer, &HeaderMap::new()).unwrap();
        assert!(none.chain.is_empty());
        assert!(none.forwarded_by().is_some());
        let forwarded = presented_chain(
            &proxy,
            &from_balancer,
            &headers(&[("client-cert", ":AQID:"), ("client-cert-chain", ":BAUG:")]),
        )
        .unwrap();
        assert_eq!(ders(&forwarded.chain), vec![LEAF.to_vec(), CA.to_vec()]);
        assert!(forwarded.forwarded_by().is_some());

        let direct = Arc::new(MtlsSettings::default());
        let tls = presented_chain(
            &direct,
            &connection("192.0.2.1:4433", LEAF),
            &headers(&[("client-cert", ":BAUG:")]),
        )
        .unwrap();
        assert_eq!(ders(&tls.chain), vec![LEAF.to_vec()]);
        assert!(tls.forwarded_by().is_none());
    }

    /// RFC 9440 2.2: the certificate header is one item, so a second line (a proxy that
    /// appended instead of replacing, after the caller's own) is refused, as is a repeated
    /// configured PEM header; the chain header is a list, and its lines are one list.
    #[test]
    fn cert_2_a_repeated_certificate_header_is_refused_and_chain_lines_are_joined() {
        let from_balancer = connection("10.0.0.5:4433", PROXY_OWN);
        let rfc9440 = proxy_mode(None);
        let twice = presented_chain(
            &rfc9440,
            &from_balancer,
            &headers(&[("client-cert", ":AQID:"), ("client-cert", ":BAUG:")]),
        );
        assert!(
            matches!(twice, Err(bulwark_certs::ProxyError::Inconsistent(_))),
            "{twice:?}"
        );
        let pem = proxy_mode(Some("X-SSL-Client-Cert"));
        let twice = presented_chain(
            &pem,
            &from_balancer,
            &headers(&[("x-ssl-client-cert", "a"), ("x-ssl-client-cert", "b")]),
        );
        assert!(
            matches!(twice, Err(bulwark_certs::ProxyError::Inconsistent(_))),
            "{twice:?}"
        );
        let split = presented_chain(
            &rfc9440,
            &from_balancer,
            &headers(&[
                ("client-cert", ":AQID:"),
                ("client-cert-chain", ":BAUG:"),
                ("client-cert-chain", ":BwgJ:"),
            ]),
        )
        .unwrap();
        assert_eq!(
            ders(&split.chain),
            vec![LEAF.to_vec(), CA.to_vec(), ROOT.to_vec()]
        );
    }

    /// At the OAuth endpoints a refused certificate header is the client's failure to
    /// authenticate (RFC 6749 5.2 `invalid_client`), not a malformed request.
    #[tokio::test]
    async fn cert_2_a_refused_certificate_header_is_invalid_client() {
        let request = HttpRequest::get("/token")
            .header("client-cert", ":AQID:")
            .extension(connection("203.0.113.9:4433", LEAF))
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let state = MtlsConfig(proxy_mode(None));
        let refused = ClientCert::from_request_parts(&mut parts, &state)
            .await
            .unwrap_err();
        assert_eq!(
            refused.error.code,
            bulwark_core::OAuthErrorCode::InvalidClient
        );
        assert!(
            refused
                .error
                .description
                .as_deref()
                .is_some_and(|d| d.contains("untrusted_proxy")),
            "{:?}",
            refused.error
        );
    }

    /// RFC 6750 2.1 through the extractor: the scheme in any case, the token trimmed, and a
    /// header with no token is no bearer token.
    #[tokio::test]
    async fn tk_6_the_bearer_extractor_reads_the_token_as_rfc_6750_writes_it() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
        ] {
            let request = HttpRequest::get("/")
                .header(header::AUTHORIZATION, value)
                .body(())
                .unwrap();
            let (mut parts, ()) = request.into_parts();
            let Ok(bearer) = Bearer::from_request_parts(&mut parts, &()).await;
            assert_eq!(bearer.token(), token, "{value:?}");
        }
    }

    /// RFC 6749 3.2: a token request without a Content-Type is not a form.
    #[tokio::test]
    async fn hardening_a_form_without_a_content_type_is_refused() {
        let request = Request::post("/token")
            .body(axum::body::Body::from("grant_type=client_credentials"))
            .unwrap();
        let refused = OAuthForm::from_request(request, &()).await.unwrap_err();
        assert_eq!(
            refused.error.code,
            bulwark_core::OAuthErrorCode::InvalidRequest
        );
        let request = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from("grant_type=client_credentials"))
            .unwrap();
        let form = OAuthForm::from_request(request, &()).await.unwrap();
        assert_eq!(form.form.get("grant_type"), Some("client_credentials"));
    }

    /// RFC 6749 3.2: the form media type exactly, a UTF-8 charset at most.
    #[test]
    fn hardening_the_form_media_type_is_matched_exactly() {
        for ok in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "application/x-www-form-urlencoded;charset=\"utf-8\"",
        ] {
            assert!(super::is_form_urlencoded(ok), "{ok}");
        }
        for bad in [
            "application/x-www-form-urlencodedXYZ",
            "application/x-www-form-urlencoded-json",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
            "application/x-www-form-urlencoded; boundary=x",
            "application/json",
            "",
        ] {
            assert!(!super::is_form_urlencoded(bad), "{bad}");
        }
    }
}
