//! CO-6 / CERT-6: the `x-jws-signature` header of OB v3.1 requests (Read/Write API
//! specification, "Message Signing"): a JWS with detached content (RFC 7515 appendix F) over the
//! exact request body bytes, whose protected header carries `kid`, the OB claims
//! `http://openbanking.org.uk/iat`, `/iss` and `/tan`, and `crit` naming exactly them. Two forms:
//!
//! * v3.1.4 and later (the default): no `b64` header; the signing input is
//!   `base64url(header) . base64url(body)`, what any JOSE library makes of detached content.
//! * v3.1.3 and earlier: `b64: false` (RFC 7797) also named in `crit`; the signing input is
//!   `base64url(header) . body`. Accepted only where enabled (`[consents] signing_versions`).
//!
//! The key is the client's JWK with that `kid`, and its `x5c` leaf must be a valid QSealC.
//! Algorithms: PS256 (OB) and ES256; anything else is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bulwark_certs::{CertValidator, Purpose, ValidatedCert};
use bulwark_core::UnixTime;
use bulwark_jose::{
    Alg, DetachedJws, PublicKey, PublicKeySet, TimeClaims, TimeWindow, VerifyError,
};
use der::{Decode, Encode};
use rustls_pki_types::CertificateDer;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::ConsentError;

/// The `kid` of a detached JWS's protected header, read without verifying anything, so the
/// client's key set can be fetched for the right key (a rotated key works at once).
pub fn header_kid(jws: &str) -> Option<String> {
    use base64::Engine;
    let header = jws.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("kid")?.as_str().map(str::to_string)
}

/// Default oldest accepted signature `iat`, seconds.
pub const DEFAULT_MAX_AGE_SECS: i64 = 300;

/// The OB `iat` header claim.
pub const CLAIM_IAT: &str = "http://openbanking.org.uk/iat";
/// The OB `iss` header claim.
pub const CLAIM_ISS: &str = "http://openbanking.org.uk/iss";
/// The OB `tan` (trust anchor) header claim.
pub const CLAIM_TAN: &str = "http://openbanking.org.uk/tan";
/// The members a request signature's header may have (OB "Process for Verifying a
/// Signature", step 2: the header contains only the claims of "Form the JOSE Header").
const HEADER_MEMBERS: [&str; 9] = [
    "alg", "kid", "b64", "crit", "typ", "cty", CLAIM_IAT, CLAIM_ISS, CLAIM_TAN,
];
/// `crit` of the v3.1.3 form.
const CRIT_V313: [&str; 4] = ["b64", CLAIM_IAT, CLAIM_ISS, CLAIM_TAN];
/// `crit` of the v3.1.4+ form.
const CRIT_V314: [&str; 3] = [CLAIM_IAT, CLAIM_ISS, CLAIM_TAN];

/// A form of OB message signing a bank may accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigningVersion {
    /// Read/Write v3.1.4 and later: no `b64` header, the payload base64url-encoded in the
    /// signing input.
    #[serde(rename = "3.1.4+")]
    V314Plus,
    /// Read/Write v3.1.3 and earlier: `b64: false`, the raw body in the signing input.
    #[serde(rename = "3.1.3")]
    V313,
}

impl SigningVersion {
    /// The forms accepted when nothing is configured: the current standard only.
    pub const DEFAULT: &'static [SigningVersion] = &[SigningVersion::V314Plus];
}

/// Verifies `x-jws-signature` headers. Holds the process's [`CertValidator`]; cheap to clone.
#[derive(Clone)]
pub struct DetachedJwsVerifier {
    validator: CertValidator,
    trust_anchor: String,
    iat_skew_secs: i64,
    iat_max_age_secs: i64,
    versions: Vec<SigningVersion>,
}

impl std::fmt::Debug for DetachedJwsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetachedJwsVerifier")
            .field("trust_anchor", &self.trust_anchor)
            .field("iat_skew_secs", &self.iat_skew_secs)
            .finish_non_exhaustive()
    }
}

/// One request's signature inputs.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The `x-jws-signature` header value, if sent.
    pub header: Option<&'a str>,
    /// The exact request body bytes.
    pub body: &'a [u8],
    /// The client's keys (registered by value or fetched from its `jwks_uri`).
    pub client_keys: &'a PublicKeySet,
    /// The `http://openbanking.org.uk/iss` the client must use (OB: `{org_id}/{software_id}`
    /// for a TPP).
    pub expected_iss: &'a str,
    /// Whether this client (or the server) requires a signature.
    pub required: bool,
}

/// A verified signature.
#[derive(Clone, Debug)]
pub struct VerifiedSignature {
    /// The key id used.
    pub kid: String,
    /// `PS256` or `ES256`.
    pub alg: &'static str,
    /// The `http://openbanking.org.uk/iat` claim, Unix seconds.
    pub iat: i64,
    /// The QSealC that backs the key.
    pub seal: ValidatedCert,
}

impl DetachedJwsVerifier {
    /// A verifier accepting `tan` = `trust_anchor` and `iat` at most `iat_skew_secs` ahead of
    /// the server's clock.
    pub fn new(
        validator: CertValidator,
        trust_anchor: impl Into<String>,
        iat_skew_secs: i64,
    ) -> Self {
        Self {
            validator,
            trust_anchor: trust_anchor.into(),
            iat_skew_secs,
            iat_max_age_secs: DEFAULT_MAX_AGE_SECS,
            versions: SigningVersion::DEFAULT.to_vec(),
        }
    }

    /// The signing forms accepted (default: v3.1.4+ only).
    pub fn with_versions(mut self, versions: &[SigningVersion]) -> Self {
        self.versions = versions.to_vec();
        self
    }

    /// The oldest accepted `http://openbanking.org.uk/iat`, seconds (a captured signed request
    /// cannot be replayed forever; idempotency keys cover the rest).
    pub fn with_max_age(mut self, secs: i64) -> Self {
        self.iat_max_age_secs = secs;
        self
    }

    /// Verifies the request's signature at `now`. `Ok(None)` when no signature was sent and
    /// none is required; a signature that is sent is always verified.
    pub async fn verify(
        &self,
        req: &SignedRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<VerifiedSignature>, ConsentError> {
        let Some(jws) = req.header else {
            return if req.required {
                Err(ConsentError::SignatureMissing)
            } else {
                Ok(None)
            };
        };
        let jws = DetachedJws::parse(jws.trim()).map_err(|e| match e {
            VerifyError::Malformed(why) => ConsentError::SignatureMalformed(why.into()),
            other => ConsentError::SignatureMalformed(other.to_string()),
        })?;
        let (alg, kid, iat, version) = self.check_header(&jws.header, req.expected_iss, now)?;
        let jwk = find_key(req.client_keys, &kid, alg)?;
        let chain = x5c_chain(&jwk)?;
        let seal = self
            .validator
            .validate_presented(&chain, None, Purpose::Sealing, UnixTime::from_offset(now))
            .await
            .map_err(|e| {
                // The reason code only: the detail (responder and distribution-point URLs,
                // network errors) goes to the security log, not to the caller.
                tracing::warn!(target: "bulwark::security", kid = %kid, reason = e.reason(), error = %e, "x-jws-signature sealing certificate refused");
                ConsentError::SignatureInvalid(format!(
                    "signing key is not a valid QSealC ({})",
                    e.reason()
                ))
            })?;
        self.check_iss_names_seal(&jws.header, &seal)?;
        let spki = leaf_spki(&chain)?;
        verify_with(alg, &jwk, &spki, &jws, req.body, version)?;
        Ok(Some(VerifiedSignature {
            kid,
            alg,
            iat,
            seal,
        }))
    }

    fn check_header(
        &self,
        h: &Map<String, Value>,
        expected_iss: &str,
        now: OffsetDateTime,
    ) -> Result<(&'static str, String, i64, SigningVersion), ConsentError> {
        check_members(h)?;
        let alg = match h.get("alg") {
            None => return Err(ConsentError::SignatureMissingClaim("alg")),
            Some(Value::String(a)) if a == "PS256" => "PS256",
            Some(Value::String(a)) if a == "ES256" => "ES256",
            Some(other) => return Err(invalid_claim("alg", format!("{other} not allowed"))),
        };
        let kid = match h.get("kid") {
            None => return Err(ConsentError::SignatureMissingClaim("kid")),
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(_) => return Err(invalid_claim("kid", "must be a string".into())),
        };
        let version = self.signing_version(h)?;
        let crit = match h.get("crit") {
            None => return Err(ConsentError::SignatureMissingClaim("crit")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(invalid_claim("crit", "must be an array".into())),
        };
        let mut names: Vec<&str> = Vec::with_capacity(crit.len());
        for c in crit {
            names.push(
                c.as_str()
                    .ok_or_else(|| invalid_claim("crit", "entries must be strings".into()))?,
            );
        }
        names.sort_unstable();
        let mut expected: Vec<&str> = match version {
            SigningVersion::V314Plus => CRIT_V314.to_vec(),
            SigningVersion::V313 => CRIT_V313.to_vec(),
        };
        expected.sort_unstable();
        if names != expected {
            return Err(invalid_claim(
                "crit",
                format!("must be exactly {}", expected.join(", ")),
            ));
        }
        let iat = match h.get(CLAIM_IAT) {
            None => return Err(ConsentError::SignatureMissingClaim(CLAIM_IAT)),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| invalid_claim(CLAIM_IAT, "must be a number".into()))?,
        };
        TimeWindow {
            max_age: Some(self.iat_max_age_secs),
            ..TimeWindow::with_skew(self.iat_skew_secs)
        }
        .check_times(
            TimeClaims {
                iat: Some(iat),
                ..TimeClaims::default()
            },
            UnixTime::from_offset(now),
        )
        .map_err(|e| invalid_claim(CLAIM_IAT, e.to_string()))?;
        // OB: with the OB directory as trust anchor `iss` is `{org_id}/{software_id}`; with
        // another (a key not lodged with the directory) it is the sealing certificate's
        // subject DN, checked once the certificate is validated (`check_iss_names_seal`).
        match h.get(CLAIM_ISS) {
            None => return Err(ConsentError::SignatureMissingClaim(CLAIM_ISS)),
            Some(Value::String(s)) if s == expected_iss || !self.iss_is_directory_id() => {}
            Some(_) => return Err(invalid_claim(CLAIM_ISS, "does not name the client".into())),
        }
        match h.get(CLAIM_TAN) {
            None => return Err(ConsentError::SignatureMissingClaim(CLAIM_TAN)),
            Some(Value::String(s)) if *s == self.trust_anchor => {}
            Some(_) => return Err(invalid_claim(CLAIM_TAN, "is not the trust anchor".into())),
        }
        Ok((alg, kid, iat, version))
    }

    /// Whether `iss` names the client as the OB directory knows it (`{org_id}/{software_id}`),
    /// or, with another trust anchor, the sealing certificate's subject.
    fn iss_is_directory_id(&self) -> bool {
        // The OB Directory, production and sandbox.
        matches!(
            self.trust_anchor.as_str(),
            "openbanking.org.uk" | "openbankingtest.org.uk"
        )
    }

    /// With a trust anchor other than the OB directory, `iss` must be the subject DN of the
    /// sealing certificate (RFC 4514, compared as DNs).
    fn check_iss_names_seal(
        &self,
        header: &Map<String, Value>,
        seal: &ValidatedCert,
    ) -> Result<(), ConsentError> {
        if self.iss_is_directory_id() {
            return Ok(());
        }
        let iss = header.get(CLAIM_ISS).and_then(Value::as_str).unwrap_or("");
        if bulwark_certs::dn_matches(&seal.subject, iss) {
            Ok(())
        } else {
            Err(invalid_claim(
                CLAIM_ISS,
                format!(
                    "must be the sealing certificate's subject DN ({})",
                    seal.subject.to_rfc4514()
                ),
            ))
        }
    }

    /// Which form the header is in (`b64` absent: v3.1.4+; `b64: false`: v3.1.3), refused
    /// when that form is not enabled.
    fn signing_version(&self, h: &Map<String, Value>) -> Result<SigningVersion, ConsentError> {
        let version = match h.get("b64") {
            None => SigningVersion::V314Plus,
            Some(Value::Bool(false)) => SigningVersion::V313,
            Some(_) => return Err(invalid_claim("b64", "must be false when present".into())),
        };
        if self.versions.contains(&version) {
            return Ok(version);
        }
        Err(match version {
            SigningVersion::V313 => invalid_claim(
                "b64",
                "is not accepted: sign in the v3.1.4+ form (no b64 header)".into(),
            ),
            SigningVersion::V314Plus => ConsentError::SignatureMissingClaim("b64"),
        })
    }
}

fn invalid_claim(claim: &'static str, detail: String) -> ConsentError {
    ConsentError::SignatureInvalidClaim {
        claim: claim.into(),
        detail,
    }
}

/// OB "Process for Verifying a Signature", step 2: only the specified members; `typ`, when
/// present, `JOSE`; `cty`, when present, `application/json` or its short form `json` (RFC 7515
/// 4.1.10; media types compare case-insensitively).
fn check_members(h: &Map<String, Value>) -> Result<(), ConsentError> {
    if let Some(name) = h.keys().find(|k| !HEADER_MEMBERS.contains(&k.as_str())) {
        return Err(ConsentError::SignatureInvalidClaim {
            claim: name.chars().take(100).collect::<String>().into(),
            detail: "is not a header parameter of OB message signing".into(),
        });
    }
    let is = |v: &Value, allowed: &[&str]| {
        v.as_str()
            .is_some_and(|s| allowed.iter().any(|a| s.eq_ignore_ascii_case(a)))
    };
    match h.get("typ") {
        Some(v) if !is(v, &["JOSE"]) => Err(invalid_claim("typ", "must be JOSE".into())),
        _ => Ok(()),
    }?;
    match h.get("cty") {
        Some(v) if !is(v, &["application/json", "json"]) => Err(invalid_claim(
            "cty",
            "must be application/json or json".into(),
        )),
        _ => Ok(()),
    }
}

/// The client's key named by `kid`. Keys FAPI cannot use (other types, `use` other than
/// `sig`, pinned to another algorithm) never made it into the set.
fn find_key(keys: &PublicKeySet, kid: &str, alg: &str) -> Result<Map<String, Value>, ConsentError> {
    let key = keys
        .keys()
        .iter()
        .find(|k| k.kid() == Some(kid))
        .ok_or_else(|| ConsentError::SignatureInvalid("no client key with that kid".into()))?;
    if key.alg().as_str() != alg {
        return Err(ConsentError::SignatureInvalid(
            "the key is registered for another algorithm".into(),
        ));
    }
    Ok(key.jwk().clone())
}

fn x5c_chain(jwk: &Map<String, Value>) -> Result<Vec<CertificateDer<'static>>, ConsentError> {
    let entries = jwk
        .get("x5c")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ConsentError::SignatureInvalid("the key has no x5c certificate chain".into())
        })?;
    entries
        .iter()
        .map(|e| {
            e.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .map(CertificateDer::from)
                .ok_or_else(|| ConsentError::SignatureInvalid("x5c entry is not base64".into()))
        })
        .collect()
}

fn leaf_spki(chain: &[CertificateDer<'_>]) -> Result<Vec<u8>, ConsentError> {
    let bad = |_| ConsentError::SignatureInvalid("x5c leaf is not a certificate".into());
    let leaf = chain
        .first()
        .ok_or_else(|| ConsentError::SignatureInvalid("empty x5c".into()))?;
    let cert = x509_cert::Certificate::from_der(leaf).map_err(bad)?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(bad)
}

/// The signature must verify with the JWK and with the QSealC's own key, so a JWK whose
/// parameters differ from its certificate can never pass.
fn verify_with(
    alg: &str,
    jwk: &Map<String, Value>,
    spki: &[u8],
    jws: &DetachedJws<'_>,
    body: &[u8],
    version: SigningVersion,
) -> Result<(), ConsentError> {
    let alg = Alg::parse(alg)
        .ok_or_else(|| ConsentError::SignatureInvalid(format!("{alg} is not allowed")))?;
    let by_jwk = PublicKey::from_jwk(jwk)
        .filter(|k| k.alg() == alg)
        .ok_or_else(|| ConsentError::SignatureInvalid(format!("unusable {alg} key")))?;
    let by_cert = PublicKey::from_spki_der(alg, spki).ok_or_else(|| {
        ConsentError::SignatureInvalid(format!("the x5c certificate holds no {alg} key"))
    })?;
    for key in [by_jwk, by_cert] {
        match version {
            SigningVersion::V314Plus => jws.verify_encoded(&key, body),
            SigningVersion::V313 => jws.verify(&key, body),
        }
        .map_err(|_| {
            ConsentError::SignatureInvalid("signature does not verify over the body".into())
        })?;
    }
    Ok(())
}
