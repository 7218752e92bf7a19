//! Verifying compact JWS (client assertions, request objects, our own access tokens) against a
//! JWK Set, with the FAPI algorithm allow-list (PS256, ES256) applied before any key is used.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::Alg;

/// Why a JWS was not accepted. Internal detail; callers map it to their protocol's error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url parts, or a header / payload that is not a JSON object.
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    /// `alg` is missing or not PS256/ES256 (`none`, HS256, RS256, ...).
    #[error("algorithm {0:?} is not allowed")]
    AlgNotAllowed(String),
    /// No key in the set matches the `kid` / algorithm.
    #[error("no key matches kid {0:?}")]
    UnknownKey(Option<String>),
    /// The signature does not verify.
    #[error("signature invalid")]
    BadSignature,
    /// The JWK Set itself is unusable.
    #[error("invalid JWK Set: {0}")]
    InvalidJwks(String),
}

/// A compact JWS split into its parts; the payload is not yet trusted.
#[derive(Debug)]
pub struct Compact<'a> {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// Splits and decodes a compact JWS.
    pub fn parse(jws: &'a str) -> Result<Self, VerifyError> {
        let (signing_input, sig) = jws
            .rsplit_once('.')
            .ok_or(VerifyError::Malformed("not a compact JWS"))?;
        let (header_b64, payload_b64) = signing_input
            .split_once('.')
            .ok_or(VerifyError::Malformed("not a compact JWS"))?;
        if payload_b64.contains('.') {
            return Err(VerifyError::Malformed(
                "too many parts (JWE is not accepted)",
            ));
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| VerifyError::Malformed("header is not base64url"))?;
        let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| VerifyError::Malformed("payload is not base64url"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| VerifyError::Malformed("signature is not base64url"))?;
        Ok(Self {
            header,
            payload,
            signing_input,
            signature,
        })
    }

    /// The header's `alg`, checked against the allow-list.
    pub fn alg(&self) -> Result<Alg, VerifyError> {
        let name = self.header.get("alg").and_then(Value::as_str).unwrap_or("");
        Alg::parse(name).ok_or_else(|| VerifyError::AlgNotAllowed(name.to_string()))
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The header's `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.header.get("typ").and_then(Value::as_str)
    }

    /// The payload as a JSON object (claims).
    pub fn claims(&self) -> Result<Map<String, Value>, VerifyError> {
        serde_json::from_slice(&self.payload)
            .map_err(|_| VerifyError::Malformed("payload is not a JSON object"))
    }
}

/// One public key ready to verify.
#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    alg: Alg,
    jwk: Map<String, Value>,
    verifier: Arc<RingVerifier>,
}

/// Signature verification with ring: no per-call key setup, unlike OpenSSL 3's EVP fetches.
enum RingVerifier {
    /// ES256: the uncompressed P-256 point; JWS signatures are the fixed r || s form.
    Es256(Vec<u8>),
    /// PS256: modulus and exponent; ring refuses keys under 2048 bits.
    Ps256 { n: Vec<u8>, e: Vec<u8> },
    /// PS256 from a certificate's `RSAPublicKey` DER (the SPKI bit string).
    Ps256Der(Vec<u8>),
}

impl RingVerifier {
    fn from_jwk(alg: Alg, jwk: &Map<String, Value>) -> Option<Self> {
        let b64 = |m: &str| {
            jwk.get(m)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        };
        match alg {
            Alg::Es256 => {
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                // Reject points not on the curve now rather than at every verification (ring
                // only says "invalid" when verifying; OpenSSL checks the point on import).
                let mut ec = Map::new();
                ec.insert("kty".into(), Value::String("EC".into()));
                ec.insert("crv".into(), Value::String("P-256".into()));
                ec.insert("x".into(), Value::String(URL_SAFE_NO_PAD.encode(&x)));
                ec.insert("y".into(), Value::String(URL_SAFE_NO_PAD.encode(&y)));
                let on_curve = josekit::jwk::Jwk::from_map(ec)
                    .and_then(|k| josekit::jws::ES256.verifier_from_jwk(&k))
                    .is_ok();
                if !on_curve {
                    return None;
                }
                Some(Self::Es256(point))
            }
            Alg::Ps256 => {
                let (n, e) = (b64("n")?, b64("e")?);
                if n.iter().skip_while(|b| **b == 0).count() < 256 {
                    return None;
                }
                Some(Self::Ps256 { n, e })
            }
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Es256(point) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                point,
            )
            .verify(message, signature)
            .is_ok(),
            Self::Ps256 { n, e } => ring::signature::RsaPublicKeyComponents { n, e }
                .verify(
                    &ring::signature::RSA_PSS_2048_8192_SHA256,
                    message,
                    signature,
                )
                .is_ok(),
            Self::Ps256Der(der) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PSS_2048_8192_SHA256,
                der,
            )
            .verify(message, signature)
            .is_ok(),
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl PublicKey {
    /// Builds a verifier from a public JWK; `None` for keys FAPI cannot use (other key types
    /// or curves, encryption keys, keys whose `key_ops` leave out `verify`, keys pinned to
    /// another algorithm).
    pub fn from_jwk(jwk: &Map<String, Value>) -> Option<Self> {
        if jwk
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return None;
        }
        // RFC 7517 4.3: a key whose operations are listed is used for those only.
        if let Some(ops) = jwk.get("key_ops")
            && !ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
        {
            return None;
        }
        let declared = jwk.get("alg").and_then(Value::as_str);
        let alg = match (
            jwk.get("kty").and_then(Value::as_str)?,
            jwk.get("crv").and_then(Value::as_str),
        ) {
            ("RSA", _) => Alg::Ps256,
            ("EC", Some("P-256")) => Alg::Es256,
            _ => return None,
        };
        if declared.is_some_and(|d| d != alg.as_str()) {
            return None;
        }
        // Only the public members are read: a private JWK never becomes a secret-holding verifier.
        let verifier = Arc::new(RingVerifier::from_jwk(alg, jwk)?);
        Some(Self {
            kid: jwk.get("kid").and_then(Value::as_str).map(str::to_string),
            alg,
            jwk: jwk.clone(),
            verifier,
        })
    }

    /// A verifier for a certificate's public key (DER `SubjectPublicKeyInfo`) under `alg`;
    /// `None` when the key is not of that algorithm's type. Used to hold a signature to the
    /// key of the certificate a JWK's `x5c` names, not only to the JWK's own parameters.
    pub fn from_spki_der(alg: Alg, spki_der: &[u8]) -> Option<Self> {
        use spki::der::Decode;
        let info = spki::SubjectPublicKeyInfoRef::from_der(spki_der).ok()?;
        let oid = info.algorithm.oid.to_string();
        let bits = info.subject_public_key.raw_bytes().to_vec();
        // id-ecPublicKey names its curve in the parameters: ES256 is P-256 (prime256v1) only.
        // A 65-byte point of another curve (brainpoolP256r1, secp256k1) is not read as one.
        let p256 = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok())
            .is_some_and(|curve| curve.to_string() == "1.2.840.10045.3.1.7");
        let verifier = match (alg, oid.as_str()) {
            (Alg::Es256, "1.2.840.10045.2.1") if p256 && bits.len() == 65 => {
                RingVerifier::Es256(bits)
            }
            // rsaEncryption or id-RSASSA-PSS.
            (Alg::Ps256, "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10") => {
                RingVerifier::Ps256Der(bits)
            }
            _ => return None,
        };
        Some(Self {
            kid: None,
            alg,
            jwk: Map::new(),
            verifier: Arc::new(verifier),
        })
    }

    /// Verifies a signature over `message` with this key.
    pub fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        if self.verifier.verify(message, signature) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The JWK as registered (including `x5c` when present).
    pub fn jwk(&self) -> &Map<String, Value> {
        &self.jwk
    }

    /// Verifies a parsed JWS with this key.
    pub fn verify(&self, jws: &Compact<'_>) -> Result<(), VerifyError> {
        if self
            .verifier
            .verify(jws.signing_input.as_bytes(), &jws.signature)
        {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

/// The most keys a JWK Set may hold: a TPP's set has a handful (signing, encryption, the
/// certificates' keys); a set of thousands would make each unauthenticated request naming the
/// client cost thousands of signature checks.
pub const MAX_KEYS_PER_SET: usize = 100;

/// The most keys one signature is tried against: a JWS without `kid` (or a set repeating a
/// `kid`) is checked against the matching keys up to this many.
pub const MAX_SIGNATURE_ATTEMPTS: usize = 16;

/// A client's (or our own) public keys.
#[derive(Clone, Debug, Default)]
pub struct PublicKeySet {
    keys: Arc<[PublicKey]>,
    /// The document the set was read from: its encryption keys (`use` "enc") are what a
    /// client's encrypted ID tokens are encrypted to (TK-5), also when fetched from `jwks_uri`.
    document: Option<Arc<Value>>,
}

impl PublicKeySet {
    /// Parses a JWK Set document, keeping the keys FAPI can use.
    pub fn from_jwks(jwks: &Value) -> Result<Self, VerifyError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| VerifyError::InvalidJwks("no \"keys\" array".into()))?;
        if keys.len() > MAX_KEYS_PER_SET {
            return Err(VerifyError::InvalidJwks(format!(
                "{} keys; at most {MAX_KEYS_PER_SET}",
                keys.len()
            )));
        }
        Ok(Self {
            keys: keys
                .iter()
                .filter_map(Value::as_object)
                .filter_map(PublicKey::from_jwk)
                .collect::<Vec<_>>()
                .into(),
            document: Some(Arc::new(jwks.clone())),
        })
    }

    /// A set from keys already built.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        Self {
            keys: keys.into(),
            document: None,
        }
    }

    /// The key to encrypt to with `alg` (RSA-OAEP*, ECDH-ES), from the document the set was
    /// read from; None when it has none.
    pub fn encryption_key(&self, alg: &str) -> Option<&Map<String, Value>> {
        self.document
            .as_deref()
            .and_then(|doc| crate::encrypt::encryption_key(doc, alg))
    }

    /// The usable keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Every JWK of the document the set was read from, whatever its `use`, `key_ops`, `alg`
    /// or type (the keys of a set built from keys alone otherwise): where a registered
    /// certificate is looked up (RFC 8705 2.2.2 sets no use or algorithm condition, and the
    /// OB directory publishes transport keys as `"use": "tls"`). Plain JWKs, never verifiers.
    pub fn all_jwks(&self) -> Vec<&Map<String, Value>> {
        match self
            .document
            .as_deref()
            .and_then(|doc| doc.get("keys"))
            .and_then(Value::as_array)
        {
            Some(keys) => keys.iter().filter_map(Value::as_object).collect(),
            None => self.keys.iter().map(PublicKey::jwk).collect(),
        }
    }

    /// True if a key with this kid exists.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// Verifies `jws`: `alg` must be allowed; with a `kid` only that key is tried (and must
    /// match the algorithm), without one every key of the algorithm is tried, up to
    /// [`MAX_SIGNATURE_ATTEMPTS`] keys either way.
    pub fn verify(&self, jws: &Compact<'_>) -> Result<&PublicKey, VerifyError> {
        // RFC 7515 4.1.11: a recipient that does not understand a critical extension must
        // reject the JWS. No compact JWS Bulwark accepts (assertions, request objects,
        // statements, its own tokens) defines any.
        if jws.header.contains_key("crit") {
            return Err(VerifyError::Malformed(
                "crit header parameters are not understood",
            ));
        }
        let alg = jws.alg()?;
        let kid = jws.kid();
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid() == kid))
            .peekable();
        if candidates.peek().is_none() {
            return Err(VerifyError::UnknownKey(kid.map(str::to_string)));
        }
        for key in candidates.take(MAX_SIGNATURE_ATTEMPTS) {
            if key.verify(jws).is_ok() {
                return Ok(key);
            }
        }
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::SigningKey;

    /// What a compact JWS says about itself: its `typ`, its claims, and the algorithm's name.
    #[test]
    fn ca_1_a_compact_jws_reads_its_typ_and_claims() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let jws = key
            .sign_compact("at+jwt", br#"{"sub":"psu-1","n":2}"#)
            .unwrap();
        let parsed = Compact::parse(&jws).unwrap();
        assert_eq!(parsed.typ(), Some("at+jwt"));
        assert_eq!(parsed.kid(), Some(key.kid()));
        let claims = parsed.claims().unwrap();
        assert_eq!(claims["sub"], "psu-1");
        assert_eq!(claims["n"], 2);
        let untyped = format!(
            "{}.{}.AA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(b"[1]")
        );
        let parsed = Compact::parse(&untyped).unwrap();
        assert_eq!(parsed.typ(), None);
        assert!(matches!(parsed.claims(), Err(VerifyError::Malformed(_))));
        assert_eq!(Alg::Es256.to_string(), "ES256");
        assert_eq!(Alg::Ps256.to_string(), "PS256");
    }

    /// RFC 7517 4.2 and 4.4: a key published for encryption, or declaring another algorithm
    /// than its type gives, never verifies; a JWS naming a key of the other algorithm is an
    /// unknown key (no key of its algorithm has that `kid`), not tried against it.
    #[test]
    fn ca_1_keys_for_other_uses_or_algorithms_are_not_verifiers() {
        let ec = SigningKey::generate(Alg::Es256).unwrap();
        assert!(PublicKey::from_jwk(ec.public_jwk()).is_some());
        let mut for_encryption = ec.public_jwk().clone();
        for_encryption.insert("use".into(), "enc".into());
        assert!(PublicKey::from_jwk(&for_encryption).is_none());
        let mut declared_other = ec.public_jwk().clone();
        declared_other.insert("alg".into(), "PS256".into());
        assert!(PublicKey::from_jwk(&declared_other).is_none());

        let rsa = SigningKey::generate(Alg::Ps256).unwrap();
        let set =
            PublicKeySet::from_jwks(&serde_json::json!({"keys": [rsa.public_jwk()]})).unwrap();
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, rsa.kid()));
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(b"{}"));
        let signature = URL_SAFE_NO_PAD.encode(ec.sign_raw(input.as_bytes()).unwrap());
        let jws = format!("{input}.{signature}");
        assert_eq!(
            set.verify(&Compact::parse(&jws).unwrap()).unwrap_err(),
            VerifyError::UnknownKey(Some(rsa.kid().to_string()))
        );
    }

    /// A transport key (`"use": "tls"`) is among the set's JWKs, where a registered
    /// certificate is looked up, but never verifies a signature.
    #[test]
    fn ca_3_a_transport_key_is_listed_but_verifies_nothing() {
        let sig = SigningKey::generate(Alg::Es256).unwrap();
        let tls = SigningKey::generate(Alg::Es256).unwrap();
        let mut tls_jwk = tls.public_jwk().clone();
        tls_jwk.insert("use".into(), "tls".into());
        let set = PublicKeySet::from_jwks(
            &serde_json::json!({"keys": [sig.public_jwk(), tls_jwk, "not a key"]}),
        )
        .unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(set.all_jwks(), vec![sig.public_jwk(), &tls_jwk]);
        let jws = tls.sign_compact("JWT", br#"{"iss":"c"}"#).unwrap();
        assert_eq!(
            set.verify(&Compact::parse(&jws).unwrap()).unwrap_err(),
            VerifyError::UnknownKey(Some(tls.kid().to_string()))
        );
        assert_eq!(PublicKeySet::new(vec![]).all_jwks().len(), 0);
    }

    /// A set answers for the kids it holds, and only those.
    #[test]
    fn ca_1_a_key_set_knows_its_kids() {
        let a = SigningKey::generate(Alg::Es256).unwrap();
        let b = SigningKey::generate(Alg::Es256).unwrap();
        let set = PublicKeySet::from_jwks(&serde_json::json!({"keys": [a.public_jwk()]})).unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(set.keys()[0].jwk()["kid"], a.kid());
        assert!(set.has_kid(a.kid()));
        assert!(!set.has_kid(b.kid()));
        assert!(!set.has_kid(""));
    }

    /// RSA keys under 2048 bits verify nothing (FAPI 1.0 Adv 5.2.2-5, FAPI 2.0 SP 5.4-1),
    /// and a PS256 key certified as `rsaEncryption` verifies PS256.
    #[test]
    fn ca_1_rsa_keys_are_2048_bits_or_more_from_a_jwk_or_a_certificate() {
        use josekit::jwk::alg::rsa::RsaKeyPair;
        let short = RsaKeyPair::generate(1024).unwrap();
        let mut short_jwk: Map<String, Value> = short.to_jwk_public_key().into();
        short_jwk.insert("alg".into(), "PS256".into());
        assert!(PublicKey::from_jwk(&short_jwk).is_none());

        let pair = RsaKeyPair::generate(2048).unwrap();
        let mut full_jwk: Map<String, Value> = pair.to_jwk_public_key().into();
        full_jwk.insert("alg".into(), "PS256".into());
        assert!(
            PublicKey::from_jwk(&full_jwk).is_some(),
            "2048 bits is enough"
        );
        let spki = pair.to_der_public_key();
        let signing =
            SigningKey::from_private_jwk_json(Alg::Ps256, &pair.to_jwk_key_pair().to_string())
                .unwrap();
        let jws = signing.sign_compact("JWT", b"{}").unwrap();
        let certified = PublicKey::from_spki_der(Alg::Ps256, &spki).unwrap();
        assert!(certified.verify(&Compact::parse(&jws).unwrap()).is_ok());
        assert!(PublicKey::from_spki_der(Alg::Es256, &spki).is_none());
    }

    /// An ES256 verifier is made only from a P-256 key: the same point bytes under another
    /// curve's OID (secp256k1), or under no curve at all, are no ES256 key.
    #[test]
    fn hardening_a_certified_ec_key_of_another_curve_is_no_es256_key() {
        use spki::der::Encode;
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let jwk = key.public_jwk();
        let coord = |c: &str| URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
        let mut point = vec![4u8];
        point.extend(coord("x"));
        point.extend(coord("y"));
        let spki_with = |curve: Option<&str>| {
            spki::SubjectPublicKeyInfoOwned {
                algorithm: spki::AlgorithmIdentifierOwned {
                    oid: spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
                    parameters: curve.map(|c| {
                        spki::der::Any::encode_from(&spki::ObjectIdentifier::new_unwrap(c)).unwrap()
                    }),
                },
                subject_public_key: spki::der::asn1::BitString::from_bytes(&point).unwrap(),
            }
            .to_der()
            .unwrap()
        };
        assert!(
            PublicKey::from_spki_der(Alg::Es256, &spki_with(Some("1.2.840.10045.3.1.7"))).is_some()
        );
        assert!(PublicKey::from_spki_der(Alg::Es256, &spki_with(Some("1.3.132.0.10"))).is_none());
        assert!(PublicKey::from_spki_der(Alg::Es256, &spki_with(None)).is_none());
    }

    /// RFC 7517 4.3: a key listing its operations verifies only when `verify` is among them.
    #[test]
    fn hardening_key_ops_without_verify_is_no_verification_key() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let with_ops = |ops: Value| {
            let mut jwk = key.public_jwk().clone();
            jwk.insert("key_ops".into(), ops);
            PublicKey::from_jwk(&jwk)
        };
        assert!(with_ops(serde_json::json!(["verify"])).is_some());
        assert!(with_ops(serde_json::json!(["encrypt", "verify"])).is_some());
        assert!(with_ops(serde_json::json!(["encrypt"])).is_none());
        assert!(with_ops(serde_json::json!([])).is_none());
        assert!(
            with_ops(serde_json::json!("verify")).is_none(),
            "not an array"
        );
        assert!(
            PublicKey::from_jwk(key.public_jwk()).is_some(),
            "no key_ops: any use"
        );
    }

    /// A JWK Set of more than [`MAX_KEYS_PER_SET`] keys is refused, and one signature is tried
    /// against at most [`MAX_SIGNATURE_ATTEMPTS`] keys: a kid-less JWS of the 17th matching
    /// key is not found, the same JWS naming its `kid` is.
    #[test]
    fn hardening_key_sets_and_signature_attempts_are_bounded() {
        let keys: Vec<SigningKey> = (0..=MAX_SIGNATURE_ATTEMPTS)
            .map(|_| SigningKey::generate(Alg::Es256).unwrap())
            .collect();
        let jwks = |n: usize| {
            let one = Value::Object(keys[0].public_jwk().clone());
            serde_json::json!({"keys": vec![one; n]})
        };
        assert!(PublicKeySet::from_jwks(&jwks(MAX_KEYS_PER_SET)).is_ok());
        assert!(matches!(
            PublicKeySet::from_jwks(&jwks(MAX_KEYS_PER_SET + 1)),
            Err(VerifyError::InvalidJwks(_))
        ));
        let set = set_of(&keys.iter().collect::<Vec<_>>());
        let last = keys.last().unwrap();
        let sign = |header: Value| {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(br#"{"iss":"c"}"#)
            );
            let sig = last.sign_raw(input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
        };
        let kidless = sign(serde_json::json!({"alg": "ES256"}));
        assert!(matches!(
            set.verify(&Compact::parse(&kidless).unwrap()),
            Err(VerifyError::BadSignature)
        ));
        let named = sign(serde_json::json!({"alg": "ES256", "kid": last.kid()}));
        assert!(set.verify(&Compact::parse(&named).unwrap()).is_ok());
    }

    #[test]
    fn hardening_unknown_critical_extensions_are_refused() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let set = set_of(&[&key]);
        let plain = key.sign_compact("JWT", br#"{"iss":"c"}"#).unwrap();
        assert!(set.verify(&Compact::parse(&plain).unwrap()).is_ok());
        // The same claims under a header with crit, correctly signed.
        let header =
            serde_json::json!({"alg": "ES256", "kid": key.kid(), "crit": ["exp"], "exp": 1});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"c"}"#)
        );
        let sig = key.sign_raw(input.as_bytes()).unwrap();
        let jws = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert!(matches!(
            set.verify(&Compact::parse(&jws).unwrap()),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn hardening_es256_points_off_the_curve_are_refused() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let mut jwk = key.public_jwk().clone();
        assert!(PublicKey::from_jwk(&jwk).is_some());
        let y = jwk["y"].as_str().unwrap().to_string();
        let mut raw = URL_SAFE_NO_PAD.decode(&y).unwrap();
        raw[31] ^= 1;
        jwk.insert("y".into(), Value::String(URL_SAFE_NO_PAD.encode(&raw)));
        assert!(PublicKey::from_jwk(&jwk).is_none(), "not on P-256");
    }

    fn set_of(keys: &[&SigningKey]) -> PublicKeySet {
        let jwks = serde_json::json!({"keys": keys.iter().map(|k| Value::Object(k.public_jwk().clone())).collect::<Vec<_>>()});
        PublicKeySet::from_jwks(&jwks).unwrap()
    }

    #[test]
    fn ca_1_verifies_ps256_and_es256_and_refuses_other_algs() {
        let es = SigningKey::generate(Alg::Es256).unwrap();
        let ps = SigningKey::generate(Alg::Ps256).unwrap();
        let set = set_of(&[&es, &ps]);
        for key in [&es, &ps] {
            let jws = key.sign_compact("JWT", br#"{"iss":"c"}"#).unwrap();
            let parsed = Compact::parse(&jws).unwrap();
            assert_eq!(set.verify(&parsed).unwrap().kid(), Some(key.kid()));
        }
        // alg none and HS256 are refused before any key is used.
        for alg in ["none", "HS256", "RS256"] {
            let header =
                URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, es.kid()));
            let jws = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(b"{}"));
            let err = set.verify(&Compact::parse(&jws).unwrap()).unwrap_err();
            assert_eq!(err, VerifyError::AlgNotAllowed(alg.into()));
        }
    }

    #[test]
    fn ca_1_tampered_payload_and_unknown_kid_fail() {
        let es = SigningKey::generate(Alg::Es256).unwrap();
        let other = SigningKey::generate(Alg::Es256).unwrap();
        let set = set_of(&[&es]);
        let jws = es.sign_compact("JWT", br#"{"iss":"c"}"#).unwrap();
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#);
        parts[1] = &forged;
        let tampered = parts.join(".");
        assert_eq!(
            set.verify(&Compact::parse(&tampered).unwrap()).unwrap_err(),
            VerifyError::BadSignature
        );
        let foreign = other.sign_compact("JWT", b"{}").unwrap();
        assert!(matches!(
            set.verify(&Compact::parse(&foreign).unwrap()).unwrap_err(),
            VerifyError::UnknownKey(Some(_))
        ));
        assert!(Compact::parse("a.b").is_err());
        assert!(Compact::parse("!!.e30.").is_err());
    }
}
