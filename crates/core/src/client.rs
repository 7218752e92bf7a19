//! The client model: a registered TPP application with its RFC 7591 metadata.
//!
//! Only FAPI client authentication methods exist (CA-4: no public clients, no client secrets).

use serde::{Deserialize, Serialize};

/// How a client authenticates at the token, PAR, introspection and revocation endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// RFC 7523 signed JWT assertion with a key from the client's JWKS (CA-1).
    PrivateKeyJwt,
    /// RFC 8705 2.1: PKI-validated certificate matching a registered DN or SAN (CA-2).
    TlsClientAuth,
    /// RFC 8705 2.2: a self-signed certificate matching a key in the client's JWKS (CA-3).
    SelfSignedTlsClientAuth,
}

impl AuthMethod {
    /// The RFC 7591 metadata value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Every supported method, for discovery metadata.
    pub const ALL: [AuthMethod; 3] = [
        Self::PrivateKeyJwt,
        Self::TlsClientAuth,
        Self::SelfSignedTlsClientAuth,
    ];
}

/// Whether a client may act at all. A suspended client can do nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    /// The client may authenticate and obtain tokens.
    Active,
    /// Every request from the client is refused.
    Suspended,
}

impl ClientStatus {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the stored text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// RFC 7591 client metadata, with the names the RFC (and RFC 8705, OB DCR) gives them.
/// Unknown members are kept in `extra` so nothing a registrant sent is silently lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Human-readable name shown to PSUs on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Exact redirect URIs (https only under FAPI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// The client authentication method.
    pub token_endpoint_auth_method: AuthMethod,
    /// The JWS algorithm of private_key_jwt assertions (PS256 or ES256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// Grant types the client may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
    /// Response types the client may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    /// Space-separated scopes the client may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client's public keys by value (a JWK Set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where the client's public keys are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 8705 2.1.2: expected subject DN of a tls_client_auth certificate (RFC 4514).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// RFC 8705 2.1.2: expected dNSName SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    /// RFC 8705 2.1.2: expected uniformResourceIdentifier SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    /// RFC 8705 2.1.2: expected iPAddress SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    /// RFC 8705 2.1.2: expected rfc822Name SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// RFC 8705 3.4: access tokens are bound to the client certificate (always, under FAPI).
    #[serde(default = "default_true")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// JWS algorithm of request objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// JWS algorithm of ID tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// OIDC application type (`web` under FAPI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// OIDC sector identifier URI for pairwise subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// Software identifier from the software statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Organisation identifier from the software statement (OB `org_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// OB software roles (AISP, PISP, CBPII).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software_roles: Vec<String>,
    /// RFC 8707 resource indicators this client may ask tokens for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// AZ-3: the FAPI profile this client's authorization requests are judged by, when it
    /// differs from the server's default (`fapi2` or `fapi1-advanced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fapi_profile: Option<crate::Profile>,
    /// A resource server: may introspect any token, not only its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resource_server: bool,
    /// Any other metadata the registrant sent, kept as is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ClientMetadata {
    /// TK-5: the `alg` the client's ID tokens are encrypted with, when it registered one.
    pub fn id_token_encryption_alg(&self) -> Option<&str> {
        self.extra
            .get("id_token_encrypted_response_alg")
            .and_then(serde_json::Value::as_str)
    }

    /// The hosts of the registered redirect URIs, lower-cased (OIDC Core 8.1: on more than
    /// one host, a pairwise `sub` needs a `sector_identifier_uri`).
    pub fn redirect_hosts(&self) -> std::collections::BTreeSet<String> {
        self.redirect_uris
            .iter()
            .map(|u| uri_host(u).to_ascii_lowercase())
            .collect()
    }

    /// Where the metadata keeps the organisation the client's software acts for, taken from
    /// its software statement (OB directory `software_on_behalf_of_org`) at registration.
    pub const ON_BEHALF_OF: &'static str = "software_on_behalf_of_org";

    /// The name the bank's pages show for the client (OB CEG: the TPP's trading name and, when
    /// an agent acts for it, the agent's name; OB's guidance: the agent is the SSA's
    /// `software_on_behalf_of_org`); the client id when it has no name. A directory reference
    /// (a URI) in that field is no name a customer can read, and is left out.
    pub fn display_name(&self, client_id: &str) -> String {
        let name = self
            .client_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(client_id);
        match self
            .extra
            .get(Self::ON_BEHALF_OF)
            .and_then(serde_json::Value::as_str)
            .filter(|agent| !agent.contains("://"))
        {
            Some(agent) => format!("{name} (agent: {agent})"),
            None => name.to_owned(),
        }
    }

    /// The profile the client is judged by: its own, else the server default (AZ-3).
    pub fn profile(&self, default: crate::Profile) -> crate::Profile {
        self.fapi_profile.unwrap_or(default)
    }

    /// The scopes the client may request, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_ascii_whitespace()
    }
}

/// A registered client as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The client identifier.
    pub client_id: String,
    /// Its registered metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
    /// Active or suspended.
    pub status: ClientStatus,
    /// Registration time, Unix seconds (RFC 7591 `client_id_issued_at`).
    pub client_id_issued_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// The host of an absolute URI (no port, no user info; an IPv6 literal keeps its brackets).
pub fn uri_host(uri: &str) -> &str {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ca_4_client_secret_methods_do_not_parse() {
        let r: Result<ClientMetadata, _> = serde_json::from_value(
            serde_json::json!({"token_endpoint_auth_method": "client_secret_basic"}),
        );
        assert!(r.is_err());
        let r: Result<ClientMetadata, _> =
            serde_json::from_value(serde_json::json!({"token_endpoint_auth_method": "none"}));
        assert!(r.is_err());
    }

    #[test]
    fn metadata_round_trips_and_keeps_unknown_members() {
        let m: ClientMetadata = serde_json::from_value(serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "scope": "accounts payments",
            "logo_uri": "https://tpp.example/logo.png"
        }))
        .unwrap();
        assert!(m.tls_client_certificate_bound_access_tokens);
        assert_eq!(m.scopes().collect::<Vec<_>>(), ["accounts", "payments"]);
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["logo_uri"], "https://tpp.example/logo.png");
    }

    fn meta(extra: serde_json::Value) -> ClientMetadata {
        let mut m = serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(m).unwrap()
    }

    /// OIDC Core 8.1: the hosts of the redirect URIs, as hosts (case and port aside), decide
    /// whether a pairwise `sub` needs a `sector_identifier_uri`; a blank `client_name` is no
    /// name (the PSU reads the client id); a client's own FAPI profile wins over the default;
    /// `suspended` is stored and read back as suspension.
    #[test]
    fn az_8_redirect_hosts_names_profiles_and_status_read_as_meant() {
        let m = meta(serde_json::json!({"redirect_uris": [
            "https://TPP.example/cb", "https://tpp.example:8443/other", "https://tpp.example/cb2"
        ]}));
        assert_eq!(
            m.redirect_hosts().into_iter().collect::<Vec<_>>(),
            ["tpp.example"]
        );
        assert_eq!(uri_host("https://u@tpp.example:8443/x?y#z"), "tpp.example");
        assert_eq!(uri_host("https://[2001:db8::1]:8443/x"), "[2001:db8::1]");
        assert_eq!(
            meta(serde_json::json!({"client_name": "  "})).display_name("tpp-1"),
            "tpp-1"
        );
        assert_eq!(
            meta(serde_json::json!({"client_name": "TPP App"})).display_name("tpp-1"),
            "TPP App"
        );
        let fapi1 = meta(serde_json::json!({"fapi_profile": "fapi1-advanced"}));
        assert_eq!(
            fapi1.profile(crate::Profile::Fapi2),
            crate::Profile::Fapi1Advanced
        );
        assert_eq!(
            meta(serde_json::json!({})).profile(crate::Profile::Fapi1Advanced),
            crate::Profile::Fapi1Advanced
        );
        assert_eq!(
            ClientStatus::parse("suspended"),
            Some(ClientStatus::Suspended)
        );
        assert_eq!(ClientStatus::parse("active"), Some(ClientStatus::Active));
        assert_eq!(ClientStatus::parse("Suspended"), None);
    }
}
