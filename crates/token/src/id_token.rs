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
    #![allow(clippy::unwrap_used)]
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

    /// The hash is base64url (`-`, `_`), as `openssl dgst -sha256 -binary | head -c 16 |
    /// base64 | tr '+/' '-_'` gives for this value: a client comparing c_hash or s_hash with its
    /// own reads the URL-safe alphabet.
    #[test]
    fn tk_5_half_hash_is_base64url() {
        assert_eq!(half_hash("state-2"), "BGl3_iXYk-34WSfEoDgkiw");
    }

    fn claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: "https://as.bank.example".into(),
            sub: "pairwise-sub".into(),
            aud: "tpp-1".into(),
            exp: 2_000,
            iat: 1_000,
            auth_time: 990,
            nonce: Some("n-1".into()),
            acr: Some("urn:openbanking:psd2:sca".into()),
            c_hash: Some("c".into()),
            s_hash: Some("s".into()),
            at_hash: Some("at".into()),
            openbanking_intent_id: "aac-1".into(),
        }
    }

    /// OIDC Core 2 / 3.3.2.11: every claim under its own name, typed `JWT` (not an access
    /// token's `at+jwt`).
    #[test]
    fn tk_5_an_id_token_carries_every_claim_under_its_name() {
        let key = SigningKey::generate(bulwark_jose::Alg::Es256).unwrap();
        let token = sign_id_token(&key, &claims()).unwrap();
        let jws = bulwark_jose::Compact::parse(&token).unwrap();
        assert_eq!(jws.typ(), Some("JWT"));
        let body = serde_json::Value::Object(jws.claims().unwrap());
        assert_eq!(
            body,
            serde_json::json!({
                "iss": "https://as.bank.example", "sub": "pairwise-sub", "aud": "tpp-1",
                "exp": 2_000, "iat": 1_000, "auth_time": 990, "nonce": "n-1",
                "acr": "urn:openbanking:psd2:sca", "c_hash": "c", "s_hash": "s",
                "at_hash": "at", "openbanking_intent_id": "aac-1"
            })
        );
    }

    fn metadata(extra: serde_json::Value) -> bulwark_core::ClientMetadata {
        let mut m = serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(m).unwrap()
    }

    fn enc_key() -> serde_json::Value {
        let mut jwk = SigningKey::generate(bulwark_jose::Alg::Es256)
            .unwrap()
            .public_jwk()
            .clone();
        jwk.insert("use".into(), "enc".into());
        jwk.insert("alg".into(), "ECDH-ES".into());
        serde_json::Value::Object(jwk)
    }

    fn jwe_header(jwe: &str) -> serde_json::Value {
        let head = URL_SAFE_NO_PAD
            .decode(jwe.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice(&head).unwrap()
    }

    /// TK-5: a client that registered only `id_token_encrypted_response_alg` gets A256GCM
    /// (OIDC Registration's default, A128CBC-HS256, is not one Bulwark offers; A256GCM is the
    /// stronger of the two it does); one that registered encryption with no usable key gets no ID
    /// token at all, never a plain one.
    #[test]
    fn tk_5_encryption_defaults_to_a256gcm_and_never_falls_back_to_plain() {
        let meta = metadata(serde_json::json!({
            "id_token_encrypted_response_alg": "ECDH-ES",
            "jwks": {"keys": [enc_key()]},
        }));
        let jwe = for_client(&meta, "a.b.c".into(), None).unwrap();
        assert_eq!(jwe.split('.').count(), 5);
        let header = jwe_header(&jwe);
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["alg"], "ECDH-ES");
        assert_eq!(header["cty"], "JWT");
        let signing_only = metadata(serde_json::json!({
            "id_token_encrypted_response_alg": "ECDH-ES",
            "jwks": {"keys": [SigningKey::generate(bulwark_jose::Alg::Es256).unwrap().public_jwk()]},
        }));
        assert!(for_client(&signing_only, "a.b.c".into(), None).is_err());
        let no_keys = metadata(serde_json::json!({"id_token_encrypted_response_alg": "ECDH-ES"}));
        assert!(for_client(&no_keys, "a.b.c".into(), None).is_err());
        // A client that did not register encryption gets the signed token as it is.
        assert_eq!(
            for_client(&metadata(serde_json::json!({})), "a.b.c".into(), None).unwrap(),
            "a.b.c"
        );
    }
}
