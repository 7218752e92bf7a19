//! CERT-2: client certificates forwarded by a TLS-terminating proxy. RFC 9440 `Client-Cert`
//! (an RFC 8941 sf-binary item) and `Client-Cert-Chain` (a list of sf-binary items), or a
//! configured header holding URL-encoded PEM (nginx `$ssl_client_escaped_cert`). Honoured only
//! from configured proxy addresses; no HTTP framework types here, the caller passes a lookup.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ipnet::IpNet;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

/// RFC 9440 section 2.2 header carrying the leaf.
pub const CLIENT_CERT: &str = "client-cert";
/// RFC 9440 section 2.3 header carrying the intermediates.
pub const CLIENT_CERT_CHAIN: &str = "client-cert-chain";
/// Upper bound on one header value; a certificate chain never needs more.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Upper bound on the number of certificates accepted from a proxy.
const MAX_CHAIN: usize = 10;

/// Where the client certificate comes from (the `mode` key of `[mtls]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtlsMode {
    /// Bulwark terminates TLS itself; the TLS chain is used and forwarding headers are ignored.
    #[default]
    Direct,
    /// A proxy terminates TLS and forwards the certificate in a header.
    Proxy,
}

/// The `[mtls]` configuration section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsSettings {
    /// `direct` (default) or `proxy`.
    #[serde(default)]
    pub mode: MtlsMode,
    /// Proxy addresses (CIDRs) whose certificate headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Optional header with URL-encoded PEM (e.g. `X-SSL-Client-Cert`). When set, it is the
    /// only one read (RFC 9440 `Client-Cert`/`Client-Cert-Chain` are ignored, with a warning);
    /// unset, the RFC 9440 headers are read.
    #[serde(default)]
    pub header: Option<String>,
    /// Validate the forwarded chain again against the trust anchors (default true). When false
    /// the proxy's verdict is trusted and only the certificate's content is read.
    #[serde(default = "default_true")]
    pub revalidate_issuer: bool,
}

fn default_true() -> bool {
    true
}

impl Default for MtlsSettings {
    fn default() -> Self {
        Self {
            mode: MtlsMode::Direct,
            trusted_proxies: Vec::new(),
            header: None,
            revalidate_issuer: true,
        }
    }
}

impl MtlsSettings {
    /// True when `peer` is one of the trusted proxies (IPv4-mapped IPv6 addresses are
    /// canonicalised first).
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// The trusted proxy ranges reaching beyond private address space (`0.0.0.0/0`, a public
    /// block): a peer there may send any TPP's public certificate as its header and be
    /// believed, with no TLS proof of the key, so such a setting is worth a warning.
    pub fn trusted_beyond_private(&self) -> Vec<IpNet> {
        const INTERNAL: [&str; 10] = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "::1/128",
            "fc00::/7",
            "fe80::/10",
            "::ffff:127.0.0.0/104",
        ];
        let internal: Vec<IpNet> = INTERNAL.iter().filter_map(|n| n.parse().ok()).collect();
        self.trusted_proxies
            .iter()
            .filter(|net| !internal.iter().any(|i| i.contains(*net)))
            .copied()
            .collect()
    }
}

/// Why a forwarded certificate header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// A certificate header came from an address that is not a trusted proxy (spoofing attempt
    /// or misconfiguration).
    #[error("client certificate header {header} from untrusted peer {peer}")]
    UntrustedPeer {
        /// Which header.
        header: String,
        /// Who sent it.
        peer: IpAddr,
    },
    /// The header value cannot be decoded.
    #[error("malformed {header} header: {detail}")]
    Malformed {
        /// Which header.
        header: String,
        /// What is wrong.
        detail: String,
    },
    /// `Client-Cert-Chain` without `Client-Cert`, or both the RFC 9440 and the PEM header.
    #[error("inconsistent client certificate headers: {0}")]
    Inconsistent(String),
}

impl ProxyError {
    /// Short stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UntrustedPeer { .. } => "untrusted_proxy",
            Self::Malformed { .. } => "malformed_cert_header",
            Self::Inconsistent(_) => "inconsistent_cert_headers",
        }
    }
}

/// CERT-2: the client chain a trusted proxy forwarded, leaf first.
///
/// * `direct` mode: always `Ok(None)`; the caller uses the TLS chain and forwarding headers are
///   ignored (they cannot override the handshake).
/// * `proxy` mode, trusted peer: the chain from the headers, or `Ok(None)` when the proxy sent
///   none (no client certificate). With `header` configured only that header is read and
///   RFC 9440 headers are ignored (the proxy must overwrite whichever header it uses).
/// * `proxy` mode, any other peer: an error if any certificate header is present, else `None`.
///
/// `header` looks a header up by its lower-case name and returns its raw value.
pub fn extract_proxied_chain<'h>(
    settings: &MtlsSettings,
    peer: IpAddr,
    header: impl Fn(&str) -> Option<&'h [u8]>,
) -> Result<Option<Vec<CertificateDer<'static>>>, ProxyError> {
    if settings.mode == MtlsMode::Direct {
        return Ok(None);
    }
    let pem_name = settings.header.as_ref().map(|h| h.to_ascii_lowercase());
    // With a PEM header configured, that header is the only source: a proxy that sets only it
    // may pass a caller's own RFC 9440 headers through, and believing those would let anyone
    // present another TPP's (public) certificate.
    let (leaf, chain) = if pem_name.is_some() {
        if header(CLIENT_CERT).is_some() || header(CLIENT_CERT_CHAIN).is_some() {
            tracing::warn!(target: "bulwark::security", %peer, "ignoring RFC 9440 certificate headers: [mtls] header is configured");
        }
        (None, None)
    } else {
        (header(CLIENT_CERT), header(CLIENT_CERT_CHAIN))
    };
    let pem = pem_name.as_deref().and_then(|n| header(n).map(|v| (n, v)));

    if !settings.is_trusted_proxy(peer) {
        let present = [
            leaf.map(|_| CLIENT_CERT),
            chain.map(|_| CLIENT_CERT_CHAIN),
            pem.map(|(n, _)| n),
        ];
        if let Some(name) = present.into_iter().flatten().next() {
            let err = ProxyError::UntrustedPeer {
                header: name.to_owned(),
                peer,
            };
            tracing::warn!(target: "bulwark::security", %peer, header = name, reason = err.reason(), "client certificate header from untrusted peer");
            return Err(err);
        }
        return Ok(None);
    }

    let result = match (leaf, chain, pem) {
        (None, None, None) => Ok(None),
        (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => Err(ProxyError::Inconsistent(
            "both RFC 9440 and PEM certificate headers present".into(),
        )),
        (None, Some(_), None) => Err(ProxyError::Inconsistent(
            "Client-Cert-Chain without Client-Cert".into(),
        )),
        (Some(leaf), chain, None) => parse_rfc9440(leaf, chain),
        (None, None, Some((name, value))) => parse_escaped_pem(name, value),
    };
    if let Err(e) = &result {
        tracing::warn!(target: "bulwark::security", %peer, reason = e.reason(), error = %e, "rejected forwarded client certificate");
    }
    result
}

fn malformed(header: &str, detail: impl Into<String>) -> ProxyError {
    ProxyError::Malformed {
        header: header.to_owned(),
        detail: detail.into(),
    }
}

fn header_str<'a>(name: &str, raw: &'a [u8]) -> Result<&'a str, ProxyError> {
    if raw.len() > MAX_HEADER_BYTES {
        return Err(malformed(name, "too long"));
    }
    std::str::from_utf8(raw)
        .map(str::trim)
        .map_err(|_| malformed(name, "not ASCII"))
}

fn parse_rfc9440(
    leaf: &[u8],
    chain: Option<&[u8]>,
) -> Result<Option<Vec<CertificateDer<'static>>>, ProxyError> {
    let leaf_s = header_str(CLIENT_CERT, leaf)?;
    let mut certs = vec![sf_binary(CLIENT_CERT, leaf_s)?];
    if let Some(chain) = chain {
        let chain_s = header_str(CLIENT_CERT_CHAIN, chain)?;
        if !chain_s.is_empty() {
            for member in chain_s.split(',') {
                certs.push(sf_binary(CLIENT_CERT_CHAIN, member.trim())?);
                if certs.len() > MAX_CHAIN {
                    return Err(malformed(CLIENT_CERT_CHAIN, "too many certificates"));
                }
            }
        }
    }
    Ok(Some(certs))
}

/// One RFC 8941 section 3.3.5 byte sequence `:base64:`, parameters (`;k=v`) ignored.
fn sf_binary(name: &str, item: &str) -> Result<CertificateDer<'static>, ProxyError> {
    let bare = item.split(';').next().unwrap_or("").trim();
    let inner = bare
        .strip_prefix(':')
        .and_then(|s| s.strip_suffix(':'))
        .ok_or_else(|| malformed(name, "not an sf-binary item (expected :base64:)"))?;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let der = LENIENT
        .decode(inner)
        .map_err(|e| malformed(name, format!("bad base64: {e}")))?;
    if der.is_empty() {
        return Err(malformed(name, "empty certificate"));
    }
    Ok(CertificateDer::from(der))
}

fn parse_escaped_pem(
    name: &str,
    raw: &[u8],
) -> Result<Option<Vec<CertificateDer<'static>>>, ProxyError> {
    let s = header_str(name, raw)?;
    // nginx sends an empty value (or "-" in some log-style setups) when no certificate came.
    if s.is_empty() || s == "-" || s == "(null)" {
        return Ok(None);
    }
    let pem = percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(name, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(malformed(name, "no PEM certificate"));
    }
    if certs.len() > MAX_CHAIN {
        return Err(malformed(name, "too many certificates"));
    }
    Ok(Some(certs))
}
