//! AZ-8 pairwise subject identifiers (OIDC Core 8.1): one PSU gets a different `sub` at each
//! sector (the host of the client's `sector_identifier_uri`, else of its redirect URI), so
//! two TPPs cannot correlate a customer by `sub`; the same sector always gets the same value.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_core::ClientMetadata;
use sha2::{Digest, Sha256};

/// How `sub` is derived for a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectType {
    /// The PSU's own subject identifier.
    Public,
    /// A per-sector hash with a server secret.
    Pairwise {
        /// The server's secret salt (configuration; never published).
        salt: Vec<u8>,
    },
}

/// The sector a client belongs to: the host of `sector_identifier_uri`, else the host of its
/// (first) redirect URI.
pub fn sector_of(meta: &ClientMetadata, redirect_uri: &str) -> String {
    let uri = meta
        .sector_identifier_uri
        .as_deref()
        .unwrap_or(redirect_uri);
    host_of(uri).to_ascii_lowercase()
}

fn host_of(uri: &str) -> &str {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if host_port.starts_with('[') {
        return match host_port.find(']') {
            Some(end) => &host_port[..=end],
            None => host_port,
        };
    }
    match host_port.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    }
}

impl SubjectType {
    /// The `sub` the client at `sector` sees for the PSU `local`.
    pub fn subject(&self, sector: &str, local: &str) -> String {
        match self {
            Self::Public => local.to_string(),
            Self::Pairwise { salt } => {
                let mut h = Sha256::new();
                h.update(sector.as_bytes());
                h.update([0]);
                h.update(local.as_bytes());
                h.update([0]);
                h.update(salt);
                URL_SAFE_NO_PAD.encode(h.finalize())
            }
        }
    }

    /// The `subject_types_supported` value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise { .. } => "pairwise",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_8_pairwise_differs_per_sector_and_is_stable() {
        let s = SubjectType::Pairwise {
            salt: b"salt".to_vec(),
        };
        let a = s.subject("tpp-a.example", "psu-1");
        assert_eq!(a, s.subject("tpp-a.example", "psu-1"));
        assert_ne!(a, s.subject("tpp-b.example", "psu-1"));
        assert_ne!(a, s.subject("tpp-a.example", "psu-2"));
        assert_ne!(a, "psu-1");
        let other_salt = SubjectType::Pairwise {
            salt: b"pepper".to_vec(),
        };
        assert_ne!(a, other_salt.subject("tpp-a.example", "psu-1"));
        assert_eq!(SubjectType::Public.subject("x", "psu-1"), "psu-1");
    }

    #[test]
    fn az_8_sector_is_the_host() {
        assert_eq!(host_of("https://TPP.example:8443/cb?x=1"), "TPP.example");
        assert_eq!(host_of("https://tpp.example/cb"), "tpp.example");
        assert_eq!(host_of("https://[::1]:443/cb"), "[::1]");
    }
}
