//! JWS with a detached, unencoded payload (RFC 7515 appendix F, RFC 7797 `b64: false`): the
//! shape of Open Banking's `x-jws-signature` header, `header..signature`, signed over
//! `base64url(header) "." body` with the body's exact bytes. Parsing and verification only;
//! which header members a profile requires is the caller's rule.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::{PublicKey, VerifyError};

/// A detached JWS split into its parts; nothing in it is trusted yet.
#[derive(Debug)]
pub struct DetachedJws<'a> {
    /// The protected header as sent (base64url), part of the signing input.
    pub header_b64: &'a str,
    /// The decoded protected header.
    pub header: Map<String, Value>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl<'a> DetachedJws<'a> {
    /// Splits `header..signature`; a non-empty payload part is refused.
    pub fn parse(jws: &'a str) -> Result<Self, VerifyError> {
        let mut parts = jws.split('.');
        let (Some(header_b64), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("not a compact JWS of three parts"));
        };
        if !payload.is_empty() {
            return Err(VerifyError::Malformed(
                "the payload must be detached (empty)",
            ));
        }
        if header_b64.is_empty() || signature.is_empty() {
            return Err(VerifyError::Malformed("empty header or signature"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| VerifyError::Malformed("header is not base64url"))?;
        let header: Map<String, Value> = serde_json::from_slice(&bytes)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| VerifyError::Malformed("signature is not base64url"))?;
        Ok(Self {
            header_b64,
            header,
            signature,
        })
    }

    /// The bytes the signature covers for `body` (RFC 7797 5.1, `b64: false`).
    pub fn signing_input(&self, body: &[u8]) -> Vec<u8> {
        let mut input = Vec::with_capacity(self.header_b64.len() + 1 + body.len());
        input.extend_from_slice(self.header_b64.as_bytes());
        input.push(b'.');
        input.extend_from_slice(body);
        input
    }

    /// Verifies the signature over `body` with `key` (unencoded payload, RFC 7797 `b64: false`).
    pub fn verify(&self, key: &PublicKey, body: &[u8]) -> Result<(), VerifyError> {
        key.verify_bytes(&self.signing_input(body), &self.signature)
    }

    /// The bytes the signature covers for `body` as ordinary detached content (RFC 7515
    /// appendix F): `base64url(header) . base64url(body)`.
    pub fn signing_input_encoded(&self, body: &[u8]) -> Vec<u8> {
        let encoded = URL_SAFE_NO_PAD.encode(body);
        let mut input = Vec::with_capacity(self.header_b64.len() + 1 + encoded.len());
        input.extend_from_slice(self.header_b64.as_bytes());
        input.push(b'.');
        input.extend_from_slice(encoded.as_bytes());
        input
    }

    /// Verifies the signature over `body` with `key` as ordinary detached content (the payload
    /// base64url-encoded in the signing input, no `b64` header).
    pub fn verify_encoded(&self, key: &PublicKey, body: &[u8]) -> Result<(), VerifyError> {
        key.verify_bytes(&self.signing_input_encoded(body), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Alg, SigningKey};

    fn sign_detached(key: &SigningKey, body: &[u8]) -> String {
        let header = serde_json::json!({"alg": key.alg().as_str(), "kid": key.kid(), "b64": false, "crit": ["b64"]});
        let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let mut input = header_b64.clone().into_bytes();
        input.push(b'.');
        input.extend_from_slice(body);
        let sig = key.sign_raw(&input).unwrap();
        format!("{header_b64}..{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn co_6_detached_signatures_verify_only_over_their_body() {
        for alg in [Alg::Es256, Alg::Ps256] {
            let key = SigningKey::generate(alg).unwrap();
            let public = PublicKey::from_jwk(key.public_jwk()).unwrap();
            let jws = sign_detached(&key, b"{\"a\":1}");
            let parsed = DetachedJws::parse(&jws).unwrap();
            assert!(parsed.verify(&public, b"{\"a\":1}").is_ok(), "{alg}");
            assert_eq!(
                parsed.verify(&public, b"{\"a\":2}"),
                Err(VerifyError::BadSignature)
            );
        }
    }

    /// The v3.1.4+ form: the body base64url-encoded in the signing input, no `b64` header.
    #[test]
    fn co_6_encoded_detached_signatures_verify_only_over_their_body() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let public = PublicKey::from_jwk(key.public_jwk()).unwrap();
        let header = serde_json::json!({"alg": "ES256", "kid": key.kid()});
        let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let body = b"{\"Data\":{}}";
        let input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(body));
        let sig = key.sign_raw(input.as_bytes()).unwrap();
        let jws = format!("{header_b64}..{}", URL_SAFE_NO_PAD.encode(sig));
        let parsed = DetachedJws::parse(&jws).unwrap();
        assert_eq!(parsed.signing_input_encoded(body), input.as_bytes());
        assert!(parsed.verify_encoded(&public, body).is_ok());
        assert_eq!(
            parsed.verify_encoded(&public, b"{\"Data\":{\"x\":1}}"),
            Err(VerifyError::BadSignature)
        );
        // The same signature is not one over the unencoded body.
        assert_eq!(parsed.verify(&public, body), Err(VerifyError::BadSignature));
    }

    #[test]
    fn co_6_attached_or_broken_shapes_are_malformed() {
        for bad in ["a.b.c", "a..", "..c", "e30..", "a.b", "e30..c.d", "!!..AA"] {
            assert!(
                matches!(DetachedJws::parse(bad), Err(VerifyError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
