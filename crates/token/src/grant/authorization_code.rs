//! TK-2 `authorization_code` (RFC 6749 4.1.3, RFC 7636 4.6, FAPI 2.0 SP 5.3.2.1, FAPI 1.0
//! Adv 5.2.2): the code is the client's, unexpired and unused; the `redirect_uri` is the one
//! of the authorization request; the PKCE verifier matches the S256 challenge. A second use
//! of a code revokes what the first use issued (RFC 6749 4.1.2). Every refusal is
//! `invalid_grant` and, except reuse, leaves the code usable by its rightful holder.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_core::Form;
use bulwark_store::CodeRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::TokenError;

/// The grant's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationCodeRequest {
    /// The code.
    pub code: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: Option<String>,
    /// RFC 7636 verifier.
    pub code_verifier: Option<String>,
}

impl AuthorizationCodeRequest {
    /// Reads the grant's parameters; `code` is required.
    pub fn parse(form: &Form) -> Result<Self, TokenError> {
        Ok(Self {
            code: form.require("code")?.to_string(),
            redirect_uri: form.get("redirect_uri").map(str::to_string),
            code_verifier: form.get("code_verifier").map(str::to_string),
        })
    }
}

/// What an authorization code grants: written by `authz` when the PSU authorises, read here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The authorization request's redirect URI.
    pub redirect_uri: String,
    /// PKCE S256 challenge, when the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The PSU's subject as this client sees it (pairwise per sector, AZ-8).
    pub sub: String,
    /// The request's nonce (ID token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// When the PSU authenticated.
    pub auth_time: i64,
    /// Authentication context reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The consent (`openbanking_intent_id`).
    pub consent_id: String,
}

impl CodeGrant {
    /// True when the grant includes OpenID Connect (an ID token is issued).
    pub fn is_openid(&self) -> bool {
        self.scope.split(' ').any(|s| s == "openid")
    }
}

/// Why a code cannot be exchanged, before anything is written.
pub fn check(
    req: &AuthorizationCodeRequest,
    code: &CodeRecord,
    grant: &CodeGrant,
    client_id: &str,
    now: i64,
) -> Result<(), TokenError> {
    if code.client_id != client_id {
        return Err(TokenError::Grant(
            "the code was issued to another client".into(),
        ));
    }
    if code.expires_at <= now {
        return Err(TokenError::Grant("the code has expired".into()));
    }
    // RFC 6749 4.1.3: redirect_uri, when the request had one (always, under FAPI), must be
    // sent again and be identical.
    if req.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(TokenError::Grant(
            "redirect_uri does not match the authorization request".into(),
        ));
    }
    match (&grant.code_challenge, &req.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier) || s256(verifier) != *challenge {
                return Err(TokenError::Grant(
                    "code_verifier does not match the code_challenge".into(),
                ));
            }
        }
        (Some(_), None) => {
            return Err(TokenError::Grant("code_verifier is required (PKCE)".into()));
        }
        (None, Some(_)) => {
            return Err(TokenError::Grant(
                "code_verifier sent for a request without code_challenge".into(),
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// RFC 7636 4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn fixture() -> (AuthorizationCodeRequest, CodeRecord, CodeGrant) {
        let grant = CodeGrant {
            redirect_uri: "https://tpp.example/cb".into(),
            code_challenge: Some(CHALLENGE.into()),
            scope: "openid accounts".into(),
            sub: "s".into(),
            nonce: None,
            auth_time: 1,
            acr: None,
            consent_id: "aac-1".into(),
        };
        let code = CodeRecord {
            code_hash: "h".into(),
            client_id: "tpp-1".into(),
            consent_id: "aac-1".into(),
            grant_data: serde_json::to_string(&grant).unwrap(),
            expires_at: 160,
            used_at: None,
            issued_jti: None,
            issued_exp: None,
            refresh_hash: None,
            grant_generation: 1,
        };
        let req = AuthorizationCodeRequest {
            code: "c".into(),
            redirect_uri: Some("https://tpp.example/cb".into()),
            code_verifier: Some(VERIFIER.into()),
        };
        (req, code, grant)
    }

    #[test]
    fn az_4_rfc7636_appendix_b_verifier_matches() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        let (req, code, grant) = fixture();
        assert!(check(&req, &code, &grant, "tpp-1", 100).is_ok());
    }

    /// The exchange's refusals are all `invalid_grant` (RFC 6749 5.2).
    fn is_invalid_grant(e: TokenError) -> bool {
        matches!(e, TokenError::Grant(_))
    }

    #[test]
    fn tk_2_wrong_client_redirect_verifier_or_expiry_is_invalid_grant() {
        let (req, code, grant) = fixture();
        assert!(check(&req, &code, &grant, "tpp-2", 100).is_err_and(is_invalid_grant));
        assert!(check(&req, &code, &grant, "tpp-1", 160).is_err_and(is_invalid_grant));
        let mut r = req.clone();
        r.redirect_uri = Some("https://tpp.example/cb2".into());
        assert!(check(&r, &code, &grant, "tpp-1", 100).is_err_and(is_invalid_grant));
        r = req.clone();
        r.redirect_uri = None;
        assert!(check(&r, &code, &grant, "tpp-1", 100).is_err_and(is_invalid_grant));
        r = req.clone();
        r.code_verifier = Some(format!("{VERIFIER}x"));
        assert!(check(&r, &code, &grant, "tpp-1", 100).is_err_and(is_invalid_grant));
        r.code_verifier = None;
        assert!(check(&r, &code, &grant, "tpp-1", 100).is_err_and(is_invalid_grant));
        // plain: the challenge itself as verifier
        r.code_verifier = Some(CHALLENGE.into());
        assert!(check(&r, &code, &grant, "tpp-1", 100).is_err_and(is_invalid_grant));
        // A verifier for a request that had no challenge (RFC 7636 4.6: a downgrade).
        let mut unchallenged = grant.clone();
        unchallenged.code_challenge = None;
        assert!(check(&req, &code, &unchallenged, "tpp-1", 100).is_err_and(is_invalid_grant));
        r.code_verifier = None;
        assert!(check(&r, &code, &unchallenged, "tpp-1", 100).is_ok());
    }

    /// RFC 7636 4.1: a verifier is 43 to 128 characters of the unreserved alphabet; one outside
    /// it is refused even when its S256 is the challenge (a client's weak verifier is not
    /// accepted as its proof).
    #[test]
    fn az_4_rfc7636_a_verifier_outside_its_length_or_alphabet_is_refused_even_when_it_matches() {
        let (req, code, grant) = fixture();
        let outcome = |verifier: String| {
            let challenged = CodeGrant {
                code_challenge: Some(s256(&verifier)),
                ..grant.clone()
            };
            let r = AuthorizationCodeRequest {
                code_verifier: Some(verifier),
                ..req.clone()
            };
            check(&r, &code, &challenged, "tpp-1", 100)
        };
        assert!(outcome("a".repeat(43)).is_ok());
        assert!(
            outcome(format!("{}-._~", "Z9".repeat(62))).is_ok(),
            "128 characters"
        );
        assert!(outcome("a".repeat(42)).is_err_and(is_invalid_grant));
        assert!(outcome("a".repeat(129)).is_err_and(is_invalid_grant));
        assert!(outcome(format!("{}+", "a".repeat(42))).is_err_and(is_invalid_grant));
        assert!(outcome(format!("{} ", "a".repeat(43))).is_err_and(is_invalid_grant));
    }

    /// The code is good to the second before its expiry; the client, the redirect URI and
    /// the verifier's whole S256 are compared exactly (RFC 6749 4.1.3 "identical"); a
    /// verifier holds only the unreserved characters; `openid` anywhere in the scope is OIDC.
    #[test]
    fn tk_2_every_comparison_is_exact() {
        let (req, code, grant) = fixture();
        assert!(check(&req, &code, &grant, "tpp-1", 159).is_ok());
        for client in ["tpp-10", "tpp-", "TPP-1", ""] {
            assert!(
                check(&req, &code, &grant, client, 100).is_err_and(is_invalid_grant),
                "{client}"
            );
        }
        for uri in [
            "https://TPP.example/cb",
            "https://tpp.example/CB",
            "https://tpp.example/cb/",
            "https://tpp.example/c",
        ] {
            let r = AuthorizationCodeRequest {
                redirect_uri: Some(uri.into()),
                ..req.clone()
            };
            assert!(
                check(&r, &code, &grant, "tpp-1", 100).is_err_and(is_invalid_grant),
                "{uri}"
            );
        }
        // A challenge sharing the verifier's S256 but for its last characters.
        let near = CodeGrant {
            code_challenge: Some(format!("{}AAAA", &CHALLENGE[..CHALLENGE.len() - 4])),
            ..grant.clone()
        };
        assert!(check(&req, &code, &near, "tpp-1", 100).is_err_and(is_invalid_grant));
        let padded = format!("{}=", "a".repeat(43));
        let r = AuthorizationCodeRequest {
            code_verifier: Some(padded.clone()),
            ..req.clone()
        };
        let challenged = CodeGrant {
            code_challenge: Some(s256(&padded)),
            ..grant.clone()
        };
        assert!(check(&r, &code, &challenged, "tpp-1", 100).is_err_and(is_invalid_grant));
        for (scope, openid) in [
            ("accounts openid", true),
            ("openid", true),
            ("openidx accounts", false),
            ("accounts", false),
        ] {
            let g = CodeGrant {
                scope: scope.into(),
                ..grant.clone()
            };
            assert_eq!(g.is_openid(), openid, "{scope}");
        }
    }
}
