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
/// first registered redirect URI (OIDC Core 8.1), so the PSU's `sub` does not change with the
/// redirect URI a request names. (`redirect_uri`, the one the request used, only for a client
/// with none registered.)
pub fn sector_of(meta: &ClientMetadata, redirect_uri: &str) -> String {
    let uri = meta
        .sector_identifier_uri
        .as_deref()
        .or_else(|| meta.redirect_uris.first().map(String::as_str))
        .unwrap_or(redirect_uri);
    bulwark_core::client::uri_host(uri).to_ascii_lowercase()
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
    #![allow(clippy::expect_used)]
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
    fn az_8_the_sector_does_not_follow_the_requested_redirect_uri() {
        let meta: ClientMetadata = serde_json::from_value(serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "redirect_uris": ["https://app.tpp.example/cb", "https://APP.tpp.example/cb2"]
        }))
        .expect("metadata");
        assert_eq!(
            sector_of(&meta, "https://app.tpp.example/cb2"),
            "app.tpp.example"
        );
        let with_sector: ClientMetadata = serde_json::from_value(serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
            "sector_identifier_uri": "https://tpp.example/sector.json"
        }))
        .expect("metadata");
        assert_eq!(
            sector_of(&with_sector, "https://b.example/cb"),
            "tpp.example"
        );
        assert_eq!(
            sector_of(&with_sector, "https://a.example/cb"),
            "tpp.example"
        );
        assert_eq!(with_sector.redirect_hosts().len(), 2);
        assert_eq!(meta.redirect_hosts().len(), 1);
    }

    #[test]
    fn az_8_sector_is_the_host() {
        assert_eq!(
            bulwark_core::client::uri_host("https://TPP.example:8443/cb?x=1"),
            "TPP.example"
        );
        assert_eq!(
            bulwark_core::client::uri_host("https://tpp.example/cb"),
            "tpp.example"
        );
        assert_eq!(
            bulwark_core::client::uri_host("https://[::1]:443/cb"),
            "[::1]"
        );
    }
}
