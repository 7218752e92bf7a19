//! The one way Bulwark calls out over HTTP (OCSP and CRLs, client `jwks_uri`, software
//! directories, `sector_identifier_uri`): every call bounded end to end by a timeout, redirects
//! never followed (a redirect could lead a fetch anywhere the first host chooses), https only
//! unless a caller needs plain http (OCSP and CRLs are served over http by design, RFC 5280
//! 4.2.1.13 / RFC 6960 A.1, and are signed), and the response size capped while it streams in,
//! so a hostile server cannot make us buffer more than the cap.

use std::time::Duration;

/// How an [`OutboundHttp`] client behaves.
#[derive(Clone, Debug)]
pub struct OutboundSettings {
    /// Bound on one exchange, connect to last byte.
    pub timeout: Duration,
    /// Refuse `http:` URLs (everything but revocation data).
    pub https_only: bool,
    /// Extra trust anchors (DER) for https, beside the system's roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// The `User-Agent` sent.
    pub user_agent: &'static str,
    /// Refuse hosts that are (or resolve to) loopback, private, link-local and other
    /// non-public addresses: fetches of URLs a TPP chose (`jwks_uri`, `sector_identifier_uri`,
    /// `software_jwks_endpoint`) must not reach the bank's internal network (SSRF).
    pub public_only: bool,
    /// A client certificate chain and key (PEM) presented in every handshake: for a server
    /// that authenticates its callers with mTLS (the gateway at the introspection endpoint).
    pub identity_pem: Option<Vec<u8>>,
}

impl OutboundSettings {
    /// https only, no extra roots.
    pub fn https(timeout: Duration, user_agent: &'static str) -> Self {
        Self {
            timeout,
            https_only: true,
            extra_roots: Vec::new(),
            user_agent,
            public_only: false,
            identity_pem: None,
        }
    }
}

/// True for an address on the public internet: not loopback, private (RFC 1918, ULA),
/// link-local, CGNAT shared space, documentation, benchmarking, multicast, broadcast,
/// unspecified or reserved.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b))
        }
    }
}

/// A resolver that answers only with public addresses (see [`is_public`]).
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Why an outbound call gave no usable body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL was refused before any connection (not https, not a URL).
    #[error("refused URL: {0}")]
    Refused(String),
    /// No answer within the timeout.
    #[error("timed out after {0} ms")]
    Timeout(u128),
    /// The connection or the exchange failed.
    #[error("fetch failed: {0}")]
    Transport(String),
    /// An answer other than 200-299 (redirects included: they are not followed).
    #[error("HTTP {0}")]
    Status(u16),
    /// The body passed the size cap while streaming.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
}

/// A shared outbound HTTP client; cheap to clone.
#[derive(Clone, Debug)]
pub struct OutboundHttp {
    client: reqwest::Client,
    timeout: Duration,
    public_only: bool,
}

impl OutboundHttp {
    /// Builds the client. Installs ring as the process's rustls provider when none is (reqwest
    /// is built without one).
    pub fn new(settings: &OutboundSettings) -> Result<Self, String> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(settings.https_only)
            .user_agent(settings.user_agent);
        if settings.public_only {
            // Through a proxy the proxy resolves the name (CONNECT host), so the public-only
            // rule could not be kept: such fetches go direct.
            builder = builder
                .dns_resolver(std::sync::Arc::new(PublicOnlyResolver))
                .no_proxy();
        }
        if let Some(pem) = &settings.identity_pem {
            builder = builder.identity(
                reqwest::Identity::from_pem(pem).map_err(|e| format!("client identity: {e}"))?,
            );
        }
        for der in &settings.extra_roots {
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_der(der).map_err(|e| format!("outbound CA: {e}"))?,
            );
        }
        Ok(Self {
            client: builder.build().map_err(|e| format!("HTTP client: {e}"))?,
            timeout: settings.timeout,
            public_only: settings.public_only,
        })
    }

    /// A literal IP host is not resolved, so the resolver cannot refuse it: checked here.
    fn check_host(&self, url: &str) -> Result<(), OutboundError> {
        if !self.public_only {
            return Ok(());
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| OutboundError::Refused(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| OutboundError::Refused("no host".into()))?;
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .ok();
        match literal {
            Some(ip) if !is_public(ip) => Err(OutboundError::Refused(
                "the address is not a public one".into(),
            )),
            _ => Ok(()),
        }
    }

    /// `GET url`, the body capped at `max` bytes.
    pub async fn get(&self, url: &str, max: usize) -> Result<Vec<u8>, OutboundError> {
        self.check_host(url)?;
        self.exchange(self.client.get(url), self.timeout, max).await
    }

    /// `POST url` with a body of `content_type`, accepting `accept`, the answer capped at
    /// `max` bytes, within `timeout` (at most the client's own).
    pub async fn post(
        &self,
        url: &str,
        (content_type, accept): (&'static str, &'static str),
        body: Vec<u8>,
        timeout: Duration,
        max: usize,
    ) -> Result<Vec<u8>, OutboundError> {
        self.check_host(url)?;
        let req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::ACCEPT, accept)
            .body(body);
        self.exchange(req, timeout.min(self.timeout), max).await
    }

    /// `GET url` within `timeout` (at most the client's own), the body capped at `max` bytes.
    pub async fn get_within(
        &self,
        url: &str,
        timeout: Duration,
        max: usize,
    ) -> Result<Vec<u8>, OutboundError> {
        self.check_host(url)?;
        self.exchange(self.client.get(url), timeout.min(self.timeout), max)
            .await
    }

    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        timeout: Duration,
        max: usize,
    ) -> Result<Vec<u8>, OutboundError> {
        let exchange = async {
            let classify = |e| classify(e, timeout);
            let mut resp = req.timeout(timeout).send().await.map_err(classify)?;
            if !resp.status().is_success() {
                return Err(OutboundError::Status(resp.status().as_u16()));
            }
            if resp
                .content_length()
                .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
            {
                return Err(OutboundError::TooLarge(max));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max {
                    return Err(OutboundError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(OutboundError::Timeout(timeout.as_millis())),
        }
    }
}

fn classify(e: reqwest::Error, timeout: Duration) -> OutboundError {
    if e.is_timeout() {
        OutboundError::Timeout(timeout.as_millis())
    } else if e.is_builder() {
        OutboundError::Refused(e.to_string())
    } else if e.is_connect() {
        OutboundError::Transport("connection failed".into())
    } else {
        OutboundError::Transport(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn hardening_ssrf_public_addresses_only() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "198.18.0.1",
            "224.0.0.1",
            // Each range to its edges: reserved 240/4, CGNAT 100.64/10, benchmarking
            // 198.18/15, documentation (v4 and v6), IETF 192.0.0/24, multicast, ULA fc00::/7,
            // link-local fe80::/10, NAT64 64:ff9b::/96 (here 10.0.0.1 behind it).
            "240.0.0.1",
            "100.127.255.255",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.0.0.8",
            "ff02::1",
            "fc00::1",
            "febf::1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "151.101.1.69",
            "2a00:1450:4009:81f::200e",
            "100.63.255.255",
            "100.128.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn hardening_ssrf_private_hosts_are_refused_before_connecting() {
        let addr = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()).await;
        let client = OutboundHttp::new(&OutboundSettings {
            https_only: false,
            public_only: true,
            identity_pem: None,
            ..OutboundSettings::https(Duration::from_secs(2), "test")
        })
        .unwrap();
        let literal = client.get(&format!("http://{addr}/x"), 100).await;
        assert!(
            matches!(literal, Err(OutboundError::Refused(_))),
            "{literal:?}"
        );
        let named = client
            .get(&format!("http://localhost:{}/x", addr.port()), 100)
            .await;
        assert!(
            named.is_err(),
            "localhost resolves to loopback only: {named:?}"
        );
        let open = OutboundHttp::new(&OutboundSettings {
            https_only: false,
            ..OutboundSettings::https(Duration::from_secs(2), "test")
        })
        .unwrap();
        assert_eq!(
            open.get(&format!("http://{addr}/x"), 100).await.unwrap(),
            b"{}"
        );
    }

    /// A loopback HTTP server answering every connection with `response`.
    async fn serve(response: Vec<u8>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock.write_all(&response).await;
                });
            }
        });
        addr
    }

    fn plain() -> OutboundHttp {
        OutboundHttp::new(&OutboundSettings {
            timeout: Duration::from_secs(2),
            https_only: false,
            extra_roots: Vec::new(),
            user_agent: "test",
            public_only: false,
            identity_pem: None,
        })
        .unwrap()
    }

    /// A literal address in a TPP's URL is held to the same rule as a resolved one, written
    /// plain or in brackets (IPv6): refused before any connection.
    #[tokio::test]
    async fn hardening_ssrf_literal_addresses_are_refused_before_connecting() {
        let client = OutboundHttp::new(&OutboundSettings {
            https_only: false,
            public_only: true,
            ..OutboundSettings::https(Duration::from_secs(2), "test")
        })
        .unwrap();
        for url in [
            "http://10.0.0.1:1/jwks",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:1/jwks",
            "http://[fd00::1]:1/jwks",
            "http://[::ffff:192.168.0.1]:1/jwks",
        ] {
            let refused = client.get(url, 100).await;
            assert!(
                matches!(refused, Err(OutboundError::Refused(_))),
                "{url}: {refused:?}"
            );
        }
    }

    /// The size cap to the byte, announced (Content-Length) or streamed: `max` bytes are read,
    /// one more is refused.
    #[tokio::test]
    async fn cert_4_outbound_bodies_are_capped_to_the_byte() {
        let mut announced = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
        announced.extend(std::iter::repeat_n(b'a', 1_000));
        let announced = serve(announced).await;
        let mut streamed = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        streamed.extend(std::iter::repeat_n(b'a', 1_000));
        let streamed = serve(streamed).await;
        for addr in [announced, streamed] {
            let url = format!("http://{addr}/");
            assert_eq!(plain().get(&url, 1_000).await.unwrap().len(), 1_000);
            assert_eq!(
                plain().get(&url, 999).await,
                Err(OutboundError::TooLarge(999))
            );
        }
    }

    /// A POST (OCSP) waits at most the time it is given, never the client's longer bound.
    #[tokio::test]
    async fn cert_4_an_outbound_post_is_bounded_by_its_own_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        let started = std::time::Instant::now();
        let hung = plain()
            .post(
                &format!("http://{addr}/ocsp"),
                ("application/ocsp-request", "application/ocsp-response"),
                vec![0],
                Duration::from_millis(100),
                100,
            )
            .await;
        assert_eq!(hung, Err(OutboundError::Timeout(100)));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn cert_4_outbound_redirects_are_not_followed() {
        let addr = serve(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        )
        .await;
        let err = plain().get(&format!("http://{addr}/"), 100).await;
        assert_eq!(err, Err(OutboundError::Status(302)));
    }

    #[tokio::test]
    async fn cert_4_outbound_bodies_over_the_cap_are_refused_while_streaming() {
        // No Content-Length: the cap has to hold while the chunks arrive.
        let mut response = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        response.extend(std::iter::repeat_n(b'a', 10_000));
        let addr = serve(response).await;
        let err = plain().get(&format!("http://{addr}/"), 1_000).await;
        assert_eq!(err, Err(OutboundError::TooLarge(1_000)));
        let ok = plain()
            .get(&format!("http://{addr}/"), 20_000)
            .await
            .unwrap();
        assert_eq!(ok.len(), 10_000);
    }

    #[tokio::test]
    async fn ca_1_outbound_https_only_refuses_plain_http() {
        let client =
            OutboundHttp::new(&OutboundSettings::https(Duration::from_secs(1), "test")).unwrap();
        assert!(matches!(
            client.get("http://127.0.0.1:1/", 10).await,
            Err(OutboundError::Refused(_))
        ));
    }
}
