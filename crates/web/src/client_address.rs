//! The address a request comes from, for per-address limits (AZ-6 login throttling, the staff
//! console's). Behind a load balancer (`mtls.mode = "proxy"`) the TCP peer is the balancer, and
//! every customer would share one counter: the address then comes from `X-Forwarded-For`, read
//! from the right and believed only as far as the hops are trusted proxies. Anything a caller
//! wrote further left is theirs to choose, so it is never used.

use std::net::IpAddr;

use axum::http::HeaderMap;
use bulwark_certs::{MtlsMode, MtlsSettings};

/// The client's address: the TCP peer, or behind trusted proxies the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_address(mtls: &MtlsSettings, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if mtls.mode != MtlsMode::Proxy || !mtls.is_trusted_proxy(peer) {
        return peer;
    }
    // RFC 7230 3.2.2: repeated header lines are one comma-separated list, in order.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut address = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Unreadable: stop at the last hop a trusted proxy vouched for.
            return address;
        };
        address = ip;
        if !mtls.is_trusted_proxy(ip) {
            return ip;
        }
    }
    address
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]` or `v4:port` as some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn proxy_mode() -> MtlsSettings {
        MtlsSettings {
            mode: MtlsMode::Proxy,
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..MtlsSettings::default()
        }
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn az_6_behind_trusted_proxies_the_customer_address_counts() {
        let m = proxy_mode();
        let lb = ip("10.0.0.5");
        assert_eq!(
            client_address(&m, lb, &headers(&["203.0.113.7"])),
            ip("203.0.113.7")
        );
        // Two trusted hops, and a value the caller wrote on the left: never believed.
        assert_eq!(
            client_address(&m, lb, &headers(&["6.6.6.6, 198.51.100.2", "10.1.2.3"])),
            ip("198.51.100.2")
        );
        assert_eq!(
            client_address(&m, lb, &headers(&["[2001:db8::1]", "192.0.2.9:4711"])),
            ip("192.0.2.9")
        );
        // No header, or an unreadable hop: the last address a trusted proxy vouched for.
        assert_eq!(client_address(&m, lb, &HeaderMap::new()), lb);
        assert_eq!(
            client_address(&m, lb, &headers(&["198.51.100.2, garbage"])),
            lb
        );
    }

    /// Proxy addresses in a server that terminates TLS itself (direct mode) change nothing:
    /// `X-Forwarded-For` is a caller's text there, whoever the peer is.
    #[test]
    fn az_6_direct_mode_never_reads_the_header_even_from_a_listed_proxy() {
        let direct = MtlsSettings {
            mode: MtlsMode::Direct,
            ..proxy_mode()
        };
        assert_eq!(
            client_address(&direct, ip("10.0.0.5"), &headers(&["203.0.113.7"])),
            ip("10.0.0.5")
        );
    }

    /// An IPv4 address written as IPv4-mapped IPv6 is the same address: a mapped trusted
    /// proxy hop is skipped like its IPv4 form, and a mapped customer address counts under
    /// its IPv4 form (one throttle key per customer, however the proxy writes it).
    #[test]
    fn az_6_an_ipv4_mapped_hop_is_its_ipv4_address() {
        let m = proxy_mode();
        let lb = ip("10.0.0.5");
        assert_eq!(
            client_address(&m, lb, &headers(&["198.51.100.2, ::ffff:10.1.2.3"])),
            ip("198.51.100.2")
        );
        assert_eq!(
            client_address(&m, lb, &headers(&["::ffff:203.0.113.7"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn az_6_the_header_is_ignored_from_anyone_but_a_trusted_proxy() {
        let spoof = headers(&["203.0.113.7"]);
        let m = proxy_mode();
        assert_eq!(client_address(&m, ip("192.0.2.1"), &spoof), ip("192.0.2.1"));
        let direct = MtlsSettings::default();
        assert_eq!(
            client_address(&direct, ip("10.0.0.5"), &spoof),
            ip("10.0.0.5")
        );
    }
}
