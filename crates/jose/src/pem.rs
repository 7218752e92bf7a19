//! Public keys from PEM (SubjectPublicKeyInfo) to JWK, so operators can register a client's
//! key from the PEM file they already have (`openssl pkey -pubout`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::Decode;
use serde_json::{Map, Value};

use crate::JoseError;
use crate::thumbprint::jwk_thumbprint;

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    n: der::asn1::UintRef<'a>,
    e: der::asn1::UintRef<'a>,
}

/// Converts a `PUBLIC KEY` PEM (P-256 or RSA) into a public JWK with `kid` (the RFC 7638
/// thumbprint unless one is given), `use: sig` and the matching `alg`.
pub fn jwk_from_public_pem(pem: &str, kid: Option<&str>) -> Result<Map<String, Value>, JoseError> {
    let invalid = |m: &str| JoseError::InvalidKey(m.to_string());
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| invalid("not a PEM document"))?;
    if label != "PUBLIC KEY" {
        return Err(invalid(
            "expected a PUBLIC KEY PEM (openssl pkey -in KEY -pubout)",
        ));
    }
    let spki = spki::SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|_| invalid("malformed SubjectPublicKeyInfo"))?;
    let key = spki.subject_public_key.raw_bytes();
    let mut jwk = Map::new();
    match spki.algorithm.oid.to_string().as_str() {
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
                .map(|o| o.to_string());
            if curve.as_deref() != Some(P256) || key.len() != 65 || key[0] != 4 {
                return Err(invalid(
                    "only uncompressed P-256 EC keys are supported (ES256)",
                ));
            }
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), "P-256".into());
            jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(&key[1..33]).into());
            jwk.insert("y".into(), URL_SAFE_NO_PAD.encode(&key[33..]).into());
            jwk.insert("alg".into(), "ES256".into());
        }
        RSA_ENCRYPTION => {
            let rsa =
                RsaPublicKey::from_der(key).map_err(|_| invalid("malformed RSA public key"))?;
            if rsa.n.as_bytes().len() < 256 {
                return Err(invalid("RSA keys must have at least 2048 bits"));
            }
            jwk.insert("kty".into(), "RSA".into());
            jwk.insert("n".into(), URL_SAFE_NO_PAD.encode(rsa.n.as_bytes()).into());
            jwk.insert("e".into(), URL_SAFE_NO_PAD.encode(rsa.e.as_bytes()).into());
            jwk.insert("alg".into(), "PS256".into());
        }
        other => {
            return Err(JoseError::InvalidKey(format!(
                "unsupported key algorithm {other}"
            )));
        }
    }
    let kid = match kid {
        Some(k) => k.to_string(),
        None => jwk_thumbprint(&jwk)?,
    };
    jwk.insert("kid".into(), kid.into());
    jwk.insert("use".into(), "sig".into());
    Ok(jwk)
}
