//! OB Read/Write v3.1.10 message signing of responses: on a signed endpoint ("signed request,
//! signed response": payment consents) the bank signs the exact body of every answer, errors
//! included, with its own sealing key, in the v3.1.4+ form (`x-jws-signature`, detached, no
//! `b64`, `crit` naming the OB `iat`, `iss` and `tan` claims; `iss` is the bank's organisation
//! id). The key is published with its certificate (`x5c`) so a TPP can check it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bulwark_jose::{JoseError, SigningKey};
use rustls_pki_types::CertificateDer;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::jws::{CLAIM_IAT, CLAIM_ISS, CLAIM_TAN};

/// The bank's response signer.
pub struct ResponseSigner {
    key: SigningKey,
    kid: String,
    iss: String,
    tan: String,
    jwk: Map<String, Value>,
}

impl std::fmt::Debug for ResponseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSigner")
            .field("kid", &self.kid)
            .field("iss", &self.iss)
            .field("tan", &self.tan)
            .finish_non_exhaustive()
    }
}

impl ResponseSigner {
    /// A signer with `key`, named `kid` (as lodged with the trust anchor), signing as `iss`
    /// (the bank's organisation id) for trust anchor `tan`; `chain` is the key's certificate
    /// chain, leaf first, published as `x5c`.
    pub fn new(
        key: SigningKey,
        kid: impl Into<String>,
        iss: impl Into<String>,
        tan: impl Into<String>,
        chain: &[CertificateDer<'_>],
    ) -> Self {
        let kid = kid.into();
        let mut jwk = key.public_jwk().clone();
        jwk.insert("kid".into(), kid.clone().into());
        jwk.insert("use".into(), "sig".into());
        jwk.insert(
            "x5c".into(),
            Value::Array(chain.iter().map(|c| STANDARD.encode(c).into()).collect()),
        );
        Self {
            key,
            kid,
            iss: iss.into(),
            tan: tan.into(),
            jwk,
        }
    }

    /// The public JWK (with `kid`, `use` and `x5c`) for the server's JWK Set.
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.jwk
    }

    /// The `x-jws-signature` of `body` at `now`.
    pub fn sign(&self, body: &[u8], now: OffsetDateTime) -> Result<String, JoseError> {
        let header = json!({
            "alg": self.key.alg().as_str(),
            "kid": self.kid,
            "typ": "JOSE",
            "cty": "application/json",
            CLAIM_IAT: now.unix_timestamp(),
            CLAIM_ISS: self.iss,
            CLAIM_TAN: self.tan,
            "crit": [CLAIM_IAT, CLAIM_ISS, CLAIM_TAN],
        });
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(body));
        let signature = self.key.sign_raw(input.as_bytes())?;
        Ok(format!("{header}..{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bulwark_jose::{Alg, DetachedJws, PublicKey};

    #[test]
    fn ob_response_signatures_are_the_v3_1_4_form_and_verify() {
        let key = SigningKey::generate(Alg::Ps256).unwrap();
        let public = PublicKey::from_jwk(key.public_jwk()).unwrap();
        let signer = ResponseSigner::new(
            key,
            "bank-seal-1",
            "0015800000jf7AeAAI",
            "openbanking.org.uk",
            &[],
        );
        let body = br#"{"Data":{"ConsentId":"pdc-1"}}"#;
        let sig = signer.sign(body, OffsetDateTime::now_utc()).unwrap();
        let jws = DetachedJws::parse(&sig).unwrap();
        assert_eq!(jws.header["kid"], "bank-seal-1");
        assert_eq!(jws.header[CLAIM_ISS], "0015800000jf7AeAAI");
        assert!(jws.header.get("b64").is_none());
        jws.verify_encoded(&public, body).unwrap();
        assert!(jws.verify_encoded(&public, b"{}").is_err());
        assert_eq!(signer.public_jwk()["kid"], "bank-seal-1");
    }
}
