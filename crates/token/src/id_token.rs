//! TK-5 ID tokens (OIDC Core 2, 3.3.2.11): `sub` (pairwise per sector, AZ-8), `nonce`,
//! `auth_time`, `acr`, the hash claims that bind the front-channel values (`c_hash`,
//! `s_hash`, `at_hash`) and `openbanking_intent_id`. In the FAPI 1.0 Advanced hybrid flow the
//! ID token is the detached signature of the code and state (5.2.2.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_jose::SigningKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// OIDC Core 3.1.3.6 / 3.3.2.11: base64url of the left half of SHA-256 of the value (PS256
/// and ES256 both hash with SHA-256).
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The claims of an ID token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdTokenClaims {
    /// Our issuer.
    pub iss: String,
    /// The PSU's subject as this client sees it.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Unix seconds.
    pub exp: i64,
    /// Unix seconds.
    pub iat: i64,
    /// When the PSU authenticated.
    pub auth_time: i64,
    /// The request's nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The authentication context reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Hash of the code (hybrid flow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    /// Hash of the state (FAPI 1.0 Adv 5.2.2.2-2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s_hash: Option<String>,
    /// Hash of the access token issued with it (token endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The consent (Open Banking).
    pub openbanking_intent_id: String,
}

/// Signs ID token claims (`typ: JWT`).
pub fn sign_id_token(key: &SigningKey, claims: &IdTokenClaims) -> Result<String, String> {
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    key.sign_compact("JWT", &payload).map_err(|e| e.to_string())
}

/// The ID token as the client receives it: the signed JWT, encrypted to the client's key when
/// it registered `id_token_encrypted_response_alg` / `_enc`. The key comes from its `jwks` by
/// value, else from `fetched` (its `jwks_uri`, `ClientDirectory::id_token_encryption_keys`); a client that asked
/// for encryption never gets a plain ID token.
pub fn for_client(
    meta: &bulwark_core::ClientMetadata,
    signed: String,
    fetched: Option<&bulwark_jose::PublicKeySet>,
) -> Result<String, String> {
    let Some(alg) = meta.id_token_encryption_alg() else {
        return Ok(signed);
    };
    let enc = meta
        .extra
        .get("id_token_encrypted_response_enc")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("A256GCM");
    let key = match &meta.jwks {
        Some(jwks) => bulwark_jose::encrypt::encryption_key(jwks, alg),
        None => fetched.and_then(|keys| keys.encryption_key(alg)),
    }
    .ok_or_else(|| format!("the client registered {alg} ID token encryption but no key"))?;
    bulwark_jose::encrypt::encrypt_jwt(&signed, key, alg, enc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenID Connect Core 1.0 Appendix A.4's example: the code's `c_hash` and the access
    /// token's `at_hash` (the left half of SHA-256, base64url; the same values `openssl dgst
    /// -sha256` gives).
    #[test]
    fn tk_5_half_hash_gives_the_oidc_core_examples() {
        assert_eq!(
            half_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
