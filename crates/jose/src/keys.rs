//! The server's signing keys (DS-2): generation, persistence as private JWKs, the public JWKS,
//! and compact JWS signing with a key chosen by algorithm.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jws::{JwsSigner, PS256};
use serde_json::{Map, Value};

use crate::thumbprint::jwk_thumbprint;
use crate::{Alg, JoseError};

/// One private signing key with its thumbprint `kid` and a ready signer.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: Alg,
    private_jwk: Jwk,
    public_jwk: Map<String, Value>,
    signer: Arc<Signer>,
    /// `{"alg":..,"kid":..,"typ":` prefix is per token type, so only alg and kid are cached.
    header_prefix: String,
}

/// The signing primitive: ring for ES256 (much cheaper per call than OpenSSL 3's EVP path),
/// josekit/OpenSSL for PS256 (RSA private-key operations with CRT).
enum Signer {
    Es256(Box<ring::signature::EcdsaKeyPair>),
    Ps256(Box<dyn JwsSigner>),
}

impl Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        match self {
            Self::Es256(pair) => pair
                .sign(&ring::rand::SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::Sign("ECDSA signing failed".into())),
            Self::Ps256(signer) => signer
                .sign(message)
                .map_err(|e| JoseError::Sign(e.to_string())),
        }
    }
}

fn ring_es256(jwk: &Jwk) -> Result<ring::signature::EcdsaKeyPair, JoseError> {
    let b64 = |m: &str| {
        jwk.parameter(m)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| JoseError::InvalidKey(format!("EC JWK member {m} missing")))
    };
    let (d, x, y) = (b64("d")?, b64("x")?, b64("y")?);
    let mut point = vec![4u8];
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &d,
        &point,
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|e| JoseError::InvalidKey(format!("P-256 key: {e}")))
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key: RSA 2048 for PS256, P-256 for ES256.
    pub fn generate(alg: Alg) -> Result<Self, JoseError> {
        let jwk = match alg {
            Alg::Ps256 => Jwk::generate_rsa_key(2048),
            Alg::Es256 => Jwk::generate_ec_key(EcCurve::P256),
        }
        .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        Self::from_private_jwk(alg, jwk)
    }

    /// Loads a key from its private JWK JSON (as stored in the database).
    pub fn from_private_jwk_json(alg: Alg, json: &str) -> Result<Self, JoseError> {
        let jwk =
            Jwk::from_bytes(json.as_bytes()).map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        Self::from_private_jwk(alg, jwk)
    }

    /// Loads a key from a PEM private key file's contents (production keys from files).
    pub fn from_pem(alg: Alg, pem: &[u8]) -> Result<Self, JoseError> {
        let jwk = match alg {
            Alg::Ps256 => {
                josekit::jwk::alg::rsa::RsaKeyPair::from_pem(pem).map(|k| k.to_jwk_key_pair())
            }
            Alg::Es256 => josekit::jwk::alg::ec::EcKeyPair::from_pem(pem, Some(EcCurve::P256))
                .map(|k| k.to_jwk_key_pair()),
        }
        .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        Self::from_private_jwk(alg, jwk)
    }

    fn from_private_jwk(alg: Alg, mut jwk: Jwk) -> Result<Self, JoseError> {
        let kid = jwk_thumbprint(jwk.as_ref())?;
        jwk.set_key_id(kid.clone());
        jwk.set_algorithm(alg.as_str());
        jwk.set_key_use("sig");
        let signer = Arc::new(match alg {
            Alg::Ps256 => Signer::Ps256(Box::new(
                PS256
                    .signer_from_jwk(&jwk)
                    .map_err(|e| JoseError::InvalidKey(e.to_string()))?,
            )),
            Alg::Es256 => Signer::Es256(Box::new(ring_es256(&jwk)?)),
        });
        let public = jwk
            .to_public_key()
            .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        let mut public_jwk: Map<String, Value> = public.into();
        public_jwk.insert("kid".into(), kid.clone().into());
        public_jwk.insert("alg".into(), alg.as_str().into());
        public_jwk.insert("use".into(), "sig".into());
        let header_prefix = format!(r#"{{"alg":"{}","kid":"{}""#, alg.as_str(), kid);
        Ok(Self {
            kid,
            alg,
            private_jwk: jwk,
            public_jwk,
            signer,
            header_prefix,
        })
    }

    /// The RFC 7638 thumbprint that identifies the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The private JWK as JSON, for storage. Handle as a secret.
    pub fn private_jwk_json(&self) -> String {
        self.private_jwk.to_string()
    }

    /// The public JWK with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.public_jwk
    }

    /// Signs `payload` as a compact JWS whose header carries `alg`, `kid` and the given `typ`.
    pub fn sign_compact(&self, typ: &str, payload: &[u8]) -> Result<String, JoseError> {
        let header = format!(r#"{},"typ":"{}"}}"#, self.header_prefix, typ);
        let mut out = String::with_capacity(header.len() * 2 + payload.len() * 4 / 3 + 400);
        URL_SAFE_NO_PAD.encode_string(header.as_bytes(), &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let sig = self.signer.sign(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut out);
        Ok(out)
    }

    /// Signs arbitrary bytes (a JWS signing input built elsewhere, such as a detached one).
    pub fn sign_raw(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        self.signer.sign(input)
    }
}

/// One moment's view of the server's keys: every published key (JWKS, verification of the
/// tokens this server issued) and, per algorithm, the one that signs. A key published ahead of
/// its activation (DS-2 rotation) is in the JWKS but never signs.
#[derive(Debug, Default)]
pub struct KeyRing {
    /// Published keys in signing order: later keys are newer.
    keys: Vec<SigningKey>,
    /// Parallel to `keys`: false for a key published ahead of its activation.
    signs: Vec<bool>,
    /// Verifiers for every published key, built once.
    public: crate::PublicKeySet,
    /// Counts replacements in a [`KeySet`]: what was verified under another generation must
    /// be verified again (a key may have been withdrawn).
    generation: u64,
}

impl KeyRing {
    /// A ring where every key may sign; later keys are newer and preferred.
    pub fn new(keys: Vec<SigningKey>) -> Self {
        let signs = vec![true; keys.len()];
        Self::build(keys, signs)
    }

    /// A ring from `(key, signs)` pairs in signing order: keys with `signs = false` are only
    /// published (the next key of a rotation, before its activation).
    pub fn with_states(keys: Vec<(SigningKey, bool)>) -> Self {
        let (keys, signs) = keys.into_iter().unzip();
        Self::build(keys, signs)
    }

    fn build(keys: Vec<SigningKey>, signs: Vec<bool>) -> Self {
        let public = crate::PublicKeySet::new(
            keys.iter()
                .filter_map(|k| crate::PublicKey::from_jwk(&k.public_jwk))
                .collect(),
        );
        Self {
            keys,
            signs,
            public,
            generation: 0,
        }
    }

    /// This ring's place in its key set's history (see [`KeySet::replace`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The key that signs for `alg` now (the newest active one).
    pub fn signing_key(&self, alg: Alg) -> Result<&SigningKey, JoseError> {
        self.keys
            .iter()
            .zip(&self.signs)
            .rev()
            .find(|(k, signs)| **signs && k.alg == alg)
            .map(|(k, _)| k)
            .ok_or(JoseError::NoKey(alg))
    }

    /// Looks a published key up by `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// All published keys, in signing order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// True when `kid` is published but does not sign yet.
    pub fn is_pending(&self, kid: &str) -> bool {
        self.keys
            .iter()
            .zip(&self.signs)
            .any(|(k, signs)| k.kid == kid && !signs)
    }

    /// Verifiers for every published key, to check tokens this server issued.
    pub fn public_set(&self) -> &crate::PublicKeySet {
        &self.public
    }

    /// The public JWK Set document served at `/jwks`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| Value::Object(k.public_jwk.clone()))
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// What tells two rings apart for a reload: each key's kid and whether it signs.
    pub fn fingerprint(&self) -> Vec<(&str, bool)> {
        self.keys
            .iter()
            .zip(&self.signs)
            .map(|(k, s)| (k.kid.as_str(), *s))
            .collect()
    }
}

/// The server's signing keys as every holder (token service, authorization service,
/// discovery) shares them: a handle onto the current [`KeyRing`], which a reload replaces
/// without a restart (DS-2: all nodes converge on the keys in the database). Readers take a
/// snapshot per request, so one request never mixes two rings.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    current: Arc<std::sync::RwLock<Arc<KeyRing>>>,
}

impl KeySet {
    /// A key set where every key may sign; later keys are newer and preferred.
    pub fn new(keys: Vec<SigningKey>) -> Self {
        Self::from_ring(KeyRing::new(keys))
    }

    /// A key set starting with `ring`.
    pub fn from_ring(ring: KeyRing) -> Self {
        Self {
            current: Arc::new(std::sync::RwLock::new(Arc::new(ring))),
        }
    }

    /// The keys in force now.
    pub fn current(&self) -> Arc<KeyRing> {
        match self.current.read() {
            Ok(ring) => Arc::clone(&ring),
            // A writer never panics while holding the lock (it only swaps an Arc); if one
            // did, the ring it left is still whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `ring` in force for every holder of this set.
    pub fn replace(&self, mut ring: KeyRing) {
        let mut slot = match self.current.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        ring.generation = slot.generation.wrapping_add(1);
        *slot = Arc::new(ring);
    }

    /// The public JWK Set document of the keys in force.
    pub fn jwks(&self) -> Value {
        self.current().jwks()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use josekit::jws::{ES256, JwsVerifier};

    fn verify(key: &SigningKey, jws: &str) -> bool {
        let jwk = Jwk::from_map(key.public_jwk().clone()).unwrap();
        let verifier: Box<dyn JwsVerifier> = match key.alg() {
            Alg::Ps256 => Box::new(PS256.verifier_from_jwk(&jwk).unwrap()),
            Alg::Es256 => Box::new(ES256.verifier_from_jwk(&jwk).unwrap()),
        };
        let mut parts = jws.rsplitn(2, '.');
        let sig = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        let input = parts.next().unwrap();
        verifier.verify(input.as_bytes(), &sig).is_ok()
    }

    #[test]
    fn ds_2_keys_sign_and_reload_with_the_same_kid() {
        for alg in Alg::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let jws = key.sign_compact("at+jwt", br#"{"sub":"x"}"#).unwrap();
            assert!(verify(&key, &jws), "{alg} signature verifies");
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(jws.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["kid"], key.kid());
            assert_eq!(header["typ"], "at+jwt");

            let reloaded = SigningKey::from_private_jwk_json(alg, &key.private_jwk_json()).unwrap();
            assert_eq!(reloaded.kid(), key.kid());
            assert!(
                !key.public_jwk().contains_key("d"),
                "public JWK has no private part"
            );
        }
    }

    #[test]
    fn ds_2_jwks_lists_every_key_and_the_newest_signs() {
        let old = SigningKey::generate(Alg::Es256).unwrap();
        let new = SigningKey::generate(Alg::Es256).unwrap();
        let ps = SigningKey::generate(Alg::Ps256).unwrap();
        let set = KeySet::new(vec![old.clone(), ps.clone(), new.clone()]);
        let ring = set.current();
        assert_eq!(ring.signing_key(Alg::Es256).unwrap().kid(), new.kid());
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 3);
        assert!(ring.by_kid(old.kid()).is_some());
    }

    #[test]
    fn ds_2_a_pending_key_is_published_but_never_signs() {
        let current = SigningKey::generate(Alg::Es256).unwrap();
        let next = SigningKey::generate(Alg::Es256).unwrap();
        let ring = KeyRing::with_states(vec![(current.clone(), true), (next.clone(), false)]);
        assert_eq!(ring.signing_key(Alg::Es256).unwrap().kid(), current.kid());
        assert!(ring.is_pending(next.kid()) && !ring.is_pending(current.kid()));
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2);
        let jws = next.sign_compact("at+jwt", br#"{"sub":"x"}"#).unwrap();
        let compact = crate::Compact::parse(&jws).unwrap();
        assert!(
            ring.public_set().verify(&compact).is_ok(),
            "tokens of a published key verify"
        );
        assert!(matches!(
            ring.signing_key(Alg::Ps256),
            Err(JoseError::NoKey(_))
        ));
    }

    #[test]
    fn ds_2_a_pending_key_is_never_a_fallback_signer_and_kids_match_whole() {
        let es = SigningKey::generate(Alg::Es256).unwrap();
        let ps_next = SigningKey::generate(Alg::Ps256).unwrap();
        let ring = KeyRing::with_states(vec![(es.clone(), true), (ps_next.clone(), false)]);
        // The only PS256 key is published ahead of its activation: nothing signs PS256 yet.
        assert!(matches!(
            ring.signing_key(Alg::Ps256),
            Err(JoseError::NoKey(Alg::Ps256))
        ));
        // A published key is found by its whole kid, pending or not; never by a part of one.
        assert_eq!(ring.by_kid(ps_next.kid()).unwrap().kid(), ps_next.kid());
        assert_eq!(ring.by_kid(es.kid()).unwrap().kid(), es.kid());
        assert!(ring.by_kid("").is_none());
        assert!(ring.by_kid(&es.kid()[..10]).is_none());
    }

    #[test]
    fn ds_2_a_loaded_key_is_named_by_its_thumbprint_not_by_the_kid_it_carries() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let mut jwk: Map<String, Value> = serde_json::from_str(&key.private_jwk_json()).unwrap();
        jwk.insert("kid".into(), "chosen-by-whoever-wrote-the-file".into());
        let loaded =
            SigningKey::from_private_jwk_json(Alg::Es256, &Value::Object(jwk).to_string()).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        assert_eq!(loaded.public_jwk()["kid"], key.kid());
    }

    #[test]
    fn ds_2_an_ec_key_missing_a_member_is_an_invalid_key_and_debug_prints_no_private_part() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let jwk: Map<String, Value> = serde_json::from_str(&key.private_jwk_json()).unwrap();
        let mut public_only = jwk.clone();
        public_only.remove("d");
        assert!(matches!(
            SigningKey::from_private_jwk_json(Alg::Es256, &Value::Object(public_only).to_string()),
            Err(JoseError::InvalidKey(_))
        ));
        for k in [key, SigningKey::generate(Alg::Ps256).unwrap()] {
            let printed = format!("{k:?}");
            assert!(printed.contains(k.kid()));
            let private: Map<String, Value> = serde_json::from_str(&k.private_jwk_json()).unwrap();
            assert!(!printed.contains(private["d"].as_str().unwrap()));
        }
    }

    #[test]
    fn ds_2_every_replacement_moves_the_generation_on() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let set = KeySet::new(vec![key.clone()]);
        let mut seen = vec![set.current().generation()];
        for _ in 0..3 {
            set.replace(KeyRing::new(vec![key.clone()]));
            seen.push(set.current().generation());
        }
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[test]
    fn ds_2_a_replaced_ring_is_seen_by_every_holder_and_snapshots_stay_whole() {
        let first = SigningKey::generate(Alg::Es256).unwrap();
        let second = SigningKey::generate(Alg::Es256).unwrap();
        let set = KeySet::new(vec![first.clone()]);
        let holder = set.clone();
        let snapshot = holder.current();
        set.replace(KeyRing::new(vec![first.clone(), second.clone()]));
        assert_eq!(
            snapshot.keys().len(),
            1,
            "a snapshot taken before is unchanged"
        );
        assert_eq!(holder.current().generation(), snapshot.generation() + 1);
        assert_eq!(
            holder.current().signing_key(Alg::Es256).unwrap().kid(),
            second.kid()
        );
    }
}
