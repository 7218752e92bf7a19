//! The validated authorization request: what `authz` acts on, what a pushed request stores.

use bulwark_core::Profile;
use serde::{Deserialize, Serialize};

/// The Open Banking claim naming the consent an authorization is for (AZ-5).
pub const INTENT_CLAIM: &str = "openbanking_intent_id";

/// The authentication context classes Bulwark can report (OB Security Profile 5.2.2).
pub const SUPPORTED_ACRS: &[&str] = &["urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"];

/// The response types FAPI allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    /// `code` (FAPI 2.0; FAPI 1.0 Advanced only with JARM).
    #[serde(rename = "code")]
    Code,
    /// `code id_token` (FAPI 1.0 Advanced hybrid flow, 5.2.2-2).
    #[serde(rename = "code id_token")]
    CodeIdToken,
}

impl ResponseType {
    /// Parses the parameter; the order of the two words does not matter (OAuth 2.0 Multiple
    /// Response Types 3).
    pub fn parse(s: &str) -> Option<Self> {
        let mut words: Vec<&str> = s.split(' ').collect();
        words.sort_unstable();
        match words.as_slice() {
            ["code"] => Some(Self::Code),
            ["code", "id_token"] => Some(Self::CodeIdToken),
            _ => None,
        }
    }

    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::CodeIdToken => "code id_token",
        }
    }
}

/// Where and how the authorization response is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// Plain query parameters (RFC 6749 4.1.2).
    #[serde(rename = "query")]
    Query,
    /// Plain fragment (the hybrid flow's default).
    #[serde(rename = "fragment")]
    Fragment,
    /// JARM: one signed `response` JWT in the query.
    #[serde(rename = "query.jwt")]
    QueryJwt,
    /// JARM: one signed `response` JWT in the fragment.
    #[serde(rename = "fragment.jwt")]
    FragmentJwt,
}

impl ResponseMode {
    /// Resolves the `response_mode` parameter against the response type (JARM 2.3.4: `jwt`
    /// means `query.jwt` for `code` and `fragment.jwt` otherwise). `None` for an unknown mode.
    pub fn resolve(mode: Option<&str>, response_type: ResponseType) -> Option<Self> {
        let default_plain = match response_type {
            ResponseType::Code => Self::Query,
            ResponseType::CodeIdToken => Self::Fragment,
        };
        match mode {
            None => Some(default_plain),
            Some("query") => Some(Self::Query),
            Some("fragment") => Some(Self::Fragment),
            Some("query.jwt") => Some(Self::QueryJwt),
            Some("fragment.jwt") => Some(Self::FragmentJwt),
            Some("jwt") => Some(match response_type {
                ResponseType::Code => Self::QueryJwt,
                ResponseType::CodeIdToken => Self::FragmentJwt,
            }),
            Some(_) => None,
        }
    }

    /// True for the JARM modes.
    pub fn is_jwt(self) -> bool {
        matches!(self, Self::QueryJwt | Self::FragmentJwt)
    }

    /// True when the response travels in the fragment.
    pub fn is_fragment(self) -> bool {
        matches!(self, Self::Fragment | Self::FragmentJwt)
    }

    /// The parameter values discovery lists.
    pub const SUPPORTED: &'static [&'static str] =
        &["query", "fragment", "jwt", "query.jwt", "fragment.jwt"];
}

/// The `acr` the client asked for (OIDC Core 5.5.1.1, `acr_values` 3.1.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrRequest {
    /// Requested values, most preferred first.
    pub values: Vec<String>,
    /// Requested as an essential claim: the authentication must reach one of `values`.
    pub essential: bool,
}

impl AcrRequest {
    /// OIDC Core 5.5.1.1: whether a login that reached `acr` may answer this request. An
    /// essential request with values is met only by one of them; anything else is voluntary.
    pub fn met_by(&self, acr: Option<&str>) -> bool {
        if !self.essential || self.values.is_empty() {
            return true;
        }
        acr.is_some_and(|reached| self.values.iter().any(|v| v == reached))
    }
}

/// A validated authorization request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The profile it was judged by (AZ-3).
    pub profile: Profile,
    /// `code` or `code id_token`.
    pub response_type: ResponseType,
    /// Resolved response mode.
    pub response_mode: ResponseMode,
    /// The exact registered redirect URI.
    pub redirect_uri: String,
    /// Requested scopes.
    pub scope: Vec<String>,
    /// Opaque client state, returned as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// OIDC nonce, returned in the ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636), when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// The consent the request is for (AZ-5).
    pub intent_id: String,
    /// Requested authentication context.
    #[serde(default)]
    pub acr: AcrRequest,
    /// The End-User the client asked for by a `sub` claim with a `value` (OIDC Core 3.1.2.2,
    /// 5.5.1): only a PSU whose subject, as this client sees it, is this one may answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// OIDC `max_age`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// OIDC `prompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl AuthorizationRequest {
    /// True when the request asks for OpenID Connect (an ID token).
    pub fn is_openid(&self) -> bool {
        self.scope.iter().any(|s| s == "openid")
    }

    /// The scopes as one space-separated string.
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_5_an_essential_acr_is_met_only_by_one_of_its_values() {
        let sca = "urn:openbanking:psd2:sca";
        let ca = "urn:openbanking:psd2:ca";
        let essential = AcrRequest {
            values: vec![sca.into()],
            essential: true,
        };
        assert!(essential.met_by(Some(sca)));
        assert!(!essential.met_by(Some(ca)));
        assert!(!essential.met_by(None));
        let voluntary = AcrRequest {
            values: vec![sca.into()],
            essential: false,
        };
        assert!(voluntary.met_by(Some(ca)));
        assert!(AcrRequest::default().met_by(None));
    }

    #[test]
    fn az_3_response_types_and_modes_resolve_per_jarm() {
        assert_eq!(
            ResponseType::parse("id_token code"),
            Some(ResponseType::CodeIdToken)
        );
        assert_eq!(ResponseType::parse("token"), None);
        assert_eq!(ResponseType::parse("code token"), None);
        assert_eq!(
            ResponseMode::resolve(Some("jwt"), ResponseType::Code),
            Some(ResponseMode::QueryJwt)
        );
        assert_eq!(
            ResponseMode::resolve(Some("jwt"), ResponseType::CodeIdToken),
            Some(ResponseMode::FragmentJwt)
        );
        assert_eq!(
            ResponseMode::resolve(None, ResponseType::CodeIdToken),
            Some(ResponseMode::Fragment)
        );
        assert_eq!(
            ResponseMode::resolve(Some("form_post"), ResponseType::Code),
            None
        );
    }
}
