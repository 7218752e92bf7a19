//! The signed registration request (OB DCR 3.3 "Registration Request", RFC 7591 section 3.1 with
//! RFC 7591 section 2.3 software statement): a JWS by the TPP whose claims are the client
//! metadata plus `iss`, `aud`, `iat`, `exp`, `jti` and the `software_statement`.

use bulwark_jose::{Alg, Compact};
use serde_json::{Map, Value};

use crate::DcrError;

/// Longest accepted lifetime of a registration request (`exp` - `iat`), seconds.
pub const MAX_REQUEST_LIFETIME_SECS: i64 = 3600;

/// Claims of the request that are about the request itself, not client metadata.
const ENVELOPE: [&str; 11] = [
    "iss",
    "aud",
    "iat",
    "exp",
    "nbf",
    "jti",
    "sub",
    "software_statement",
    "client_id_issued_at",
    "registration_access_token",
    "registration_client_uri",
];

fn bad(msg: impl Into<String>) -> DcrError {
    DcrError::Request(msg.into())
}

/// A registration request split, its algorithm allowed, not yet verified.
#[derive(Debug)]
pub struct UnverifiedRequest<'a> {
    /// The parsed JWS (verified later with the software's keys).
    pub jws: Compact<'a>,
    /// Its claims.
    pub claims: Map<String, Value>,
}

impl<'a> UnverifiedRequest<'a> {
    /// Splits the request; only PS256 and ES256 are accepted (none, HS*, RS256 refused).
    pub fn parse(body: &'a str) -> Result<Self, DcrError> {
        let jws = Compact::parse(body.trim()).map_err(|e| bad(e.to_string()))?;
        jws.alg().map_err(|e| {
            bad(format!(
                "{e}: sign the request with PS256 or ES256 ({} and {} only)",
                Alg::Ps256,
                Alg::Es256
            ))
        })?;
        let claims = jws.claims().map_err(|e| bad(e.to_string()))?;
        Ok(Self { jws, claims })
    }

    /// The `software_statement` claim, if any.
    pub fn software_statement(&self) -> Result<Option<&str>, DcrError> {
        match self.claims.get("software_statement") {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(DcrError::SoftwareStatement(
                "software_statement must be a compact JWS string".into(),
            )),
        }
    }
}

/// The checked envelope of a request and the metadata it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestClaims {
    /// The request's `jti`, claimed once accepted.
    pub jti: String,
    /// The request's `exp`: the jti is remembered until then.
    pub exp: i64,
    /// `client_id`, if the request names one (RFC 7592 update).
    pub client_id: Option<String>,
    /// Every other claim: the client metadata.
    pub metadata: Map<String, Value>,
}

/// DCR-1 envelope rules: `iss` is the SSA's software_id, `aud` one of `audiences` (our
/// issuer first, then `dcr.audiences`, e.g. the bank's directory organisation id), `iat` /
/// `exp` present and sane at `now`, `jti` present; a `software_id` member, when sent, is the
/// SSA's (OB DCR 3.3: it "MUST match").
pub fn check_claims(
    claims: &Map<String, Value>,
    software_id: &str,
    audiences: &[&str],
    now: i64,
    skew: i64,
) -> Result<RequestClaims, DcrError> {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == software_id => {}
        Some(_) => return Err(bad("iss must be the software_id of the software statement")),
        None => return Err(bad("the iss claim is required (the software_id)")),
    }
    if claims
        .get("software_id")
        .is_some_and(|v| v.as_str() != Some(software_id))
    {
        return Err(bad("software_id must be the software statement's"));
    }
    let ours = |v: &str| audiences.contains(&v);
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => ours(a),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(ours),
        _ => false,
    };
    if !aud_ok {
        return Err(bad(format!("aud must be one of {audiences:?}")));
    }
    // RFC 7519 4.1.4-4.1.6 through the one checker; DCR-1 wants iat and exp both present.
    let window = bulwark_jose::TimeWindow {
        iat: bulwark_jose::Presence::Required,
        exp: bulwark_jose::Presence::Required,
        max_lifetime: Some(MAX_REQUEST_LIFETIME_SECS),
        ..bulwark_jose::TimeWindow::with_skew(skew)
    };
    let times = window
        .check(claims, bulwark_core::UnixTime::from_secs(now))
        .map_err(|e| bad(format!("the registration request {e}")))?;
    let exp = times
        .exp
        .ok_or_else(|| bad("the exp claim is required (a number)"))?;
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if bulwark_jose::claims::is_storable_jti(j) => j.clone(),
        _ => {
            return Err(bad(format!(
                "the jti claim is required: 1 to {} printable ASCII characters",
                bulwark_jose::claims::MAX_JTI_LEN
            )));
        }
    };
    let mut metadata = claims.clone();
    for name in ENVELOPE {
        metadata.remove(name);
    }
    let client_id = match metadata.remove("client_id") {
        None => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(bad("client_id must be a string")),
    };
    Ok(RequestClaims {
        jti,
        exp,
        client_id,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://as.bank.example";

    fn req(now: i64) -> Map<String, Value> {
        json!({"iss": "sw-1", "aud": ISSUER, "iat": now, "exp": now + 300, "jti": "j1",
               "software_statement": "x.y.z", "token_endpoint_auth_method": "private_key_jwt"})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn dcr_1_valid_envelope_leaves_only_metadata() {
        let r = check_claims(&req(1000), "sw-1", &[ISSUER], 1000, 10).unwrap();
        assert_eq!(r.jti, "j1");
        assert_eq!(r.exp, 1300);
        assert_eq!(
            Value::Object(r.metadata),
            json!({"token_endpoint_auth_method": "private_key_jwt"})
        );
    }

    #[test]
    fn dcr_1_envelope_rules() {
        let with = |k: &str, v: Value| {
            let mut r = req(1000);
            r.insert(k.into(), v);
            check_claims(&r, "sw-1", &[ISSUER], 1000, 10)
        };
        assert!(matches!(
            with("iss", json!("sw-2")),
            Err(DcrError::Request(_))
        ));
        assert!(matches!(
            with("aud", json!("https://other.example")),
            Err(DcrError::Request(_))
        ));
        assert!(with("aud", json!([ISSUER, "x"])).is_ok());
        // OB DCR 3.3: the bank's organisation id, when configured as an audience.
        let mut r = req(1000);
        r.insert("aud".into(), json!("0015800001041REAAY"));
        assert!(matches!(
            check_claims(&r, "sw-1", &[ISSUER], 1000, 10),
            Err(DcrError::Request(_))
        ));
        assert!(check_claims(&r, "sw-1", &[ISSUER, "0015800001041REAAY"], 1000, 10).is_ok());
        // A software_id other than the SSA's is refused; the SSA's own is fine.
        assert!(matches!(
            with("software_id", json!("sw-2")),
            Err(DcrError::Request(_))
        ));
        assert!(with("software_id", json!("sw-1")).is_ok());
        assert!(
            matches!(with("exp", json!(900)), Err(DcrError::Request(_))),
            "expired"
        );
        assert!(
            matches!(with("exp", json!(1000 + 7200)), Err(DcrError::Request(_))),
            "too long"
        );
        assert!(
            matches!(with("iat", json!(2000)), Err(DcrError::Request(_))),
            "future"
        );
        // iss is the software_id exactly; aud one of ours exactly, not a longer name that
        // starts like it.
        assert!(matches!(
            with("iss", json!("SW-1")),
            Err(DcrError::Request(_))
        ));
        for aud in [
            format!("{ISSUER}.evil.example"),
            format!("{ISSUER}/register"),
        ] {
            assert!(
                matches!(with("aud", json!(aud)), Err(DcrError::Request(_))),
                "{aud}"
            );
        }
        // RFC 7519 4.1.5: a request not yet valid is refused; the lifetime limit is exact.
        assert!(
            matches!(with("nbf", json!(1000 + 600)), Err(DcrError::Request(_))),
            "not yet valid"
        );
        assert!(with("nbf", json!(1000)).is_ok());
        assert!(with("exp", json!(1000 + MAX_REQUEST_LIFETIME_SECS)).is_ok());
        assert!(
            matches!(
                with("exp", json!(1000 + MAX_REQUEST_LIFETIME_SECS + 1)),
                Err(DcrError::Request(_))
            ),
            "one second too long"
        );
        assert!(matches!(with("jti", json!(5)), Err(DcrError::Request(_))));
        // Bounded and printable before it reaches the database (a NUL fails a PostgreSQL
        // statement: a 500 instead of invalid_client_metadata).
        assert!(matches!(
            with("jti", json!("a\u{0}b")),
            Err(DcrError::Request(_))
        ));
        assert!(matches!(
            with("jti", json!("x".repeat(257))),
            Err(DcrError::Request(_))
        ));
        assert!(matches!(with("jti", json!("")), Err(DcrError::Request(_))));
        assert!(with("jti", json!("x".repeat(256))).is_ok());
        for k in ["iat", "exp", "jti", "iss", "aud"] {
            let mut r = req(1000);
            r.remove(k);
            assert!(
                check_claims(&r, "sw-1", &[ISSUER], 1000, 10).is_err(),
                "{k}"
            );
        }
    }

    #[test]
    fn dcr_1_request_algorithms() {
        use base64::Engine;
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        for alg in ["none", "RS256", "HS256"] {
            let jws = format!(
                "{}.{}.c2ln",
                b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
                b64(b"{}")
            );
            let err = UnverifiedRequest::parse(&jws).unwrap_err();
            assert!(err.to_string().contains("PS256"), "{err}");
        }
        assert!(UnverifiedRequest::parse("not a jwt").is_err());
    }
}
