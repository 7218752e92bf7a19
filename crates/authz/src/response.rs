//! AZ-7: the authorization response, in the mode the request asked for. Plain query and
//! fragment responses carry `iss` (RFC 9207; FAPI 2.0 SP 5.3.1.2-? requires it); JARM
//! responses are one signed JWT (`response`) with `iss`, `aud`, `exp` inside; the hybrid flow
//! adds the ID token in the fragment. Only ever built for a redirect URI the request pipeline
//! validated against the client's registration.

use bulwark_core::OAuthError;
use bulwark_jose::SigningKey;
use bulwark_par::{AuthorizationRequest, ResponseMode};
use serde_json::{Map, Value, json};

/// Signs JARM responses.
#[derive(Debug)]
pub struct ResponseSigner<'a> {
    /// Our issuer.
    pub issuer: &'a str,
    /// The key (the client's registered `authorization_signed_response_alg`, else the default).
    pub key: &'a SigningKey,
    /// Now, Unix seconds.
    pub now: i64,
    /// Lifetime of the response JWT, seconds.
    pub lifetime: i64,
}

/// The redirect for a successful authorization.
pub fn success_redirect(
    req: &AuthorizationRequest,
    code: &str,
    id_token: Option<&str>,
    signer: &ResponseSigner<'_>,
) -> Result<String, String> {
    let mut params: Vec<(&str, String)> = vec![("code", code.to_string())];
    if let Some(t) = id_token {
        params.push(("id_token", t.to_string()));
    }
    finish(req, params, signer)
}

/// The redirect for an error the client may see (RFC 6749 4.1.2.1).
pub fn error_redirect(
    req: &AuthorizationRequest,
    error: &OAuthError,
    signer: &ResponseSigner<'_>,
) -> Result<String, String> {
    let mut params: Vec<(&str, String)> = vec![("error", error.code.as_str().to_string())];
    if let Some(d) = &error.description {
        params.push(("error_description", d.clone()));
    }
    finish(req, params, signer)
}

fn finish(
    req: &AuthorizationRequest,
    mut params: Vec<(&str, String)>,
    signer: &ResponseSigner<'_>,
) -> Result<String, String> {
    if let Some(state) = &req.state {
        params.push(("state", state.clone()));
    }
    let params = if req.response_mode.is_jwt() {
        vec![("response", jarm(req, &params, signer)?)]
    } else {
        params.push(("iss", signer.issuer.to_string()));
        params
    };
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        encoded.append_pair(k, v);
    }
    let encoded = encoded.finish();
    let uri = &req.redirect_uri;
    Ok(match req.response_mode {
        ResponseMode::Query | ResponseMode::QueryJwt => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}{encoded}")
        }
        ResponseMode::Fragment | ResponseMode::FragmentJwt => format!("{uri}#{encoded}"),
    })
}

/// JARM 2.1/2.3: the response parameters as claims of a signed JWT.
fn jarm(
    req: &AuthorizationRequest,
    params: &[(&str, String)],
    signer: &ResponseSigner<'_>,
) -> Result<String, String> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(signer.issuer));
    claims.insert("aud".into(), json!(req.client_id));
    claims.insert(
        "exp".into(),
        json!(signer.now.saturating_add(signer.lifetime)),
    );
    claims.insert("iat".into(), json!(signer.now));
    for (k, v) in params {
        claims.insert((*k).to_string(), Value::String(v.clone()));
    }
    let payload = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
    signer
        .key
        .sign_compact("JWT", &payload)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bulwark_core::{OAuthErrorCode, Profile};
    use bulwark_jose::{Alg, Compact};
    use bulwark_par::{AcrRequest, ResponseType};

    fn request(mode: ResponseMode) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "tpp-1".into(),
            profile: Profile::Fapi2,
            response_type: ResponseType::Code,
            response_mode: mode,
            redirect_uri: "https://tpp.example/cb?app=1".into(),
            scope: vec!["openid".into(), "accounts".into()],
            state: Some("st&=ate".into()),
            nonce: None,
            code_challenge: None,
            intent_id: "aac-1".into(),
            acr: AcrRequest::default(),
            max_age: None,
            prompt: None,
            sub: None,
        }
    }

    #[test]
    fn az_7_query_response_carries_iss_and_state_encoded() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let signer = ResponseSigner {
            issuer: "https://as.example",
            key: &key,
            now: 100,
            lifetime: 300,
        };
        let url = success_redirect(&request(ResponseMode::Query), "c0de", None, &signer).unwrap();
        assert_eq!(
            url,
            "https://tpp.example/cb?app=1&code=c0de&state=st%26%3Date&iss=https%3A%2F%2Fas.example"
        );
        let err = OAuthError::new(OAuthErrorCode::AccessDenied, "the customer said no");
        let url = error_redirect(&request(ResponseMode::Fragment), &err, &signer).unwrap();
        assert!(url.starts_with("https://tpp.example/cb?app=1#error=access_denied&"));
    }

    #[test]
    fn az_7_jarm_response_is_one_signed_jwt() {
        let key = SigningKey::generate(Alg::Ps256).unwrap();
        let signer = ResponseSigner {
            issuer: "https://as.example",
            key: &key,
            now: 100,
            lifetime: 300,
        };
        let url =
            success_redirect(&request(ResponseMode::QueryJwt), "c0de", None, &signer).unwrap();
        let (_, response) = url.split_once("&response=").unwrap();
        assert!(!response.contains('&'));
        let jws = Compact::parse(response).unwrap();
        let claims = jws.claims().unwrap();
        assert_eq!(claims["code"], "c0de");
        assert_eq!(claims["aud"], "tpp-1");
        assert_eq!(claims["state"], "st&=ate");
        assert_eq!(claims["exp"], 400);
    }
}
