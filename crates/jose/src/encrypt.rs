//! TK-5: ID tokens encrypted for a client that registered for it (OIDC Core 10.2, RFC 7516):
//! the signed JWT nested in a compact JWE (`cty: JWT`), key management RSA-OAEP, RSA-OAEP-256 or
//! ECDH-ES, content encryption A256GCM or A128GCM, to the client's encryption key.

use josekit::jwe::{self, JweHeader};
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

use crate::JoseError;

/// The key management algorithms a client may register (`id_token_encrypted_response_alg`).
pub const KEY_ALGS: &[&str] = &["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"];
/// The content encryptions a client may register (`id_token_encrypted_response_enc`).
pub const CONTENT_ENCS: &[&str] = &["A256GCM", "A128GCM"];

/// The client's key for `alg` in its JWK Set: `use` absent or `enc`, the right `kty`, an
/// `alg` absent or equal, and strong enough (an RSA modulus of 2048 bits or more, FAPI 2.0 SP
/// 5.4; an EC key on P-256). `None` when it has none.
pub fn encryption_key<'a>(jwks: &'a Value, alg: &str) -> Option<&'a Map<String, Value>> {
    let kty = match alg {
        "RSA-OAEP" | "RSA-OAEP-256" => "RSA",
        "ECDH-ES" => "EC",
        _ => return None,
    };
    jwks.get("keys")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|k| {
            k.get("kty").and_then(Value::as_str) == Some(kty)
                && k.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "enc")
                && k.get("alg")
                    .and_then(Value::as_str)
                    .is_none_or(|a| a == alg)
                && strong_enough(k)
        })
}

/// An RSA key of at least 2048 bits, or an EC key with P-256 coordinates.
fn strong_enough(key: &Map<String, Value>) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = |member: &str| {
        key.get(member)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
    };
    match key.get("kty").and_then(Value::as_str) {
        Some("RSA") => bytes("n").is_some_and(|n| n.iter().skip_while(|b| **b == 0).count() >= 256),
        Some("EC") => {
            key.get("crv").and_then(Value::as_str) == Some("P-256")
                && bytes("x").is_some_and(|x| x.len() == 32)
                && bytes("y").is_some_and(|y| y.len() == 32)
        }
        _ => false,
    }
}

/// Encrypts a signed JWT to `key` (a public JWK).
pub fn encrypt_jwt(
    jwt: &str,
    key: &Map<String, Value>,
    alg: &str,
    enc: &str,
) -> Result<String, JoseError> {
    if !CONTENT_ENCS.contains(&enc) {
        return Err(JoseError::InvalidKey(format!(
            "content encryption {enc} is not supported"
        )));
    }
    let jwk = Jwk::from_map(key.clone()).map_err(|e| JoseError::InvalidKey(e.to_string()))?;
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    header.set_content_type("JWT");
    if let Some(kid) = key.get("kid").and_then(Value::as_str) {
        header.set_key_id(kid);
    }
    let bad = |e: josekit::JoseError| JoseError::InvalidKey(e.to_string());
    match alg {
        "RSA-OAEP" => {
            let encrypter = jwe::RSA_OAEP.encrypter_from_jwk(&jwk).map_err(bad)?;
            jwe::serialize_compact(jwt.as_bytes(), &header, &encrypter).map_err(bad)
        }
        "RSA-OAEP-256" => {
            let encrypter = jwe::RSA_OAEP_256.encrypter_from_jwk(&jwk).map_err(bad)?;
            jwe::serialize_compact(jwt.as_bytes(), &header, &encrypter).map_err(bad)
        }
        "ECDH-ES" => {
            let encrypter = jwe::ECDH_ES.encrypter_from_jwk(&jwk).map_err(bad)?;
            jwe::serialize_compact(jwt.as_bytes(), &header, &encrypter).map_err(bad)
        }
        other => Err(JoseError::InvalidKey(format!(
            "key management algorithm {other} is not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// FAPI 2.0 SP 5.4: an RSA encryption key under 2048 bits, or an EC key off P-256, is no
    /// key to encrypt an ID token to.
    #[test]
    fn tk_5_weak_encryption_keys_are_not_used() {
        let rsa = |bits| json!({"keys": [rsa_enc(bits, json!({"use": "enc"}))]});
        assert!(encryption_key(&rsa(2048), "RSA-OAEP").is_some());
        assert!(encryption_key(&rsa(1024), "RSA-OAEP").is_none());
        let zero = json!({"keys": [{"kty": "RSA", "use": "enc", "n": "AA", "e": "AQAB"}]});
        assert!(encryption_key(&zero, "RSA-OAEP").is_none());
        let p384: Map<String, Value> = jwe::ECDH_ES
            .generate_ec_key_pair(josekit::jwk::alg::ec::EcCurve::P384)
            .unwrap()
            .to_jwk_public_key()
            .into();
        assert!(encryption_key(&json!({"keys": [p384]}), "ECDH-ES").is_none());
    }

    /// TK-5: the ID token comes back out of the JWE with the recipient's private key, under the
    /// registered key management algorithm, naming the recipient's key and `cty: JWT`.
    #[test]
    fn tk_5_id_token_round_trips_through_rsa_oaep_and_ecdh_es() {
        let pair = |alg: &str| match alg {
            "RSA-OAEP" => jwe::RSA_OAEP
                .generate_key_pair(2048)
                .map(|k| (k.to_jwk_private_key(), k.to_jwk_public_key())),
            "RSA-OAEP-256" => jwe::RSA_OAEP_256
                .generate_key_pair(2048)
                .map(|k| (k.to_jwk_private_key(), k.to_jwk_public_key())),
            _ => jwe::ECDH_ES
                .generate_ec_key_pair(josekit::jwk::alg::ec::EcCurve::P256)
                .map(|k| (k.to_jwk_private_key(), k.to_jwk_public_key())),
        };
        for alg in ["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"] {
            let (private, public) = pair(alg).unwrap();
            let mut public_map: Map<String, Value> = public.as_ref().clone();
            public_map.insert("use".into(), json!("enc"));
            public_map.insert("kid".into(), json!(format!("{alg}-key")));
            let jwks = json!({"keys": [{"kty": "OKP", "use": "sig"}, Value::Object(public_map)]});
            let key = encryption_key(&jwks, alg).unwrap();
            let jwe_text = encrypt_jwt("a.b.c", key, alg, "A256GCM").unwrap();
            assert_eq!(jwe_text.split('.').count(), 5);
            let decrypter: Box<dyn jwe::JweDecrypter> = match alg {
                "RSA-OAEP" => Box::new(jwe::RSA_OAEP.decrypter_from_jwk(&private).unwrap()),
                "RSA-OAEP-256" => Box::new(jwe::RSA_OAEP_256.decrypter_from_jwk(&private).unwrap()),
                _ => Box::new(jwe::ECDH_ES.decrypter_from_jwk(&private).unwrap()),
            };
            let (payload, header) = jwe::deserialize_compact(&jwe_text, &*decrypter).unwrap();
            assert_eq!(payload, b"a.b.c");
            assert_eq!(header.content_type(), Some("JWT"));
            assert_eq!(header.algorithm(), Some(alg));
            assert_eq!(header.key_id(), Some(format!("{alg}-key").as_str()));
        }
        assert!(encryption_key(&json!({"keys": []}), "RSA-OAEP").is_none());
    }

    /// A public RSA encryption JWK of `bits` with `members` added (`use`, `alg`, `kid`).
    fn rsa_enc(bits: u32, members: Value) -> Value {
        let mut k: Map<String, Value> = josekit::jwk::alg::rsa::RsaKeyPair::generate(bits)
            .unwrap()
            .to_jwk_public_key()
            .into();
        k.extend(members.as_object().unwrap().clone());
        Value::Object(k)
    }

    /// TK-5 / RFC 7517 4.2, 4.4: the key an ID token is encrypted to is one published for
    /// encryption, of the algorithm's key type, registered for that algorithm when it names
    /// one; a modulus padded with zero bytes to look 2048 bits long is as weak as it is.
    #[test]
    fn tk_5_the_encryption_key_is_the_one_for_the_algorithm() {
        let kid = |jwks: &Value, alg| {
            encryption_key(jwks, alg).map(|k| k["kid"].as_str().unwrap().to_owned())
        };
        let jwks = json!({"keys": [
            rsa_enc(2048, json!({"use": "sig", "kid": "signing"})),
            rsa_enc(2048, json!({"use": "enc", "alg": "RSA-OAEP", "kid": "oaep"})),
            rsa_enc(2048, json!({"use": "enc", "alg": "RSA-OAEP-256", "kid": "oaep-256"})),
        ]});
        assert_eq!(kid(&jwks, "RSA-OAEP").as_deref(), Some("oaep"));
        assert_eq!(kid(&jwks, "RSA-OAEP-256").as_deref(), Some("oaep-256"));
        // No EC key: an RSA key (here one that names no algorithm) is no key for ECDH-ES,
        // and a signing key none for anything.
        let rsa_only = json!({"keys": [rsa_enc(2048, json!({"use": "enc", "kid": "rsa"}))]});
        assert_eq!(kid(&rsa_only, "RSA-OAEP").as_deref(), Some("rsa"));
        assert_eq!(kid(&rsa_only, "ECDH-ES"), None);
        let signing_only = json!({"keys": [rsa_enc(2048, json!({"use": "sig", "kid": "s"}))]});
        assert_eq!(kid(&signing_only, "RSA-OAEP"), None);
        // A 1024-bit modulus behind 128 zero bytes is 256 bytes long and 1024 bits strong.
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut padded = rsa_enc(1024, json!({"use": "enc", "kid": "padded"}));
        let n = URL_SAFE_NO_PAD
            .decode(padded["n"].as_str().unwrap())
            .unwrap();
        let long = [vec![0u8; 128], n].concat();
        assert_eq!(long.len(), 256);
        padded["n"] = json!(URL_SAFE_NO_PAD.encode(long));
        assert_eq!(kid(&json!({"keys": [padded]}), "RSA-OAEP"), None);
    }
}
