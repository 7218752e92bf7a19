//! The software statement (RFC 7591 section 2.3, OB DCR 3.3 "Software Statement Assertion"): a
//! JWS signed by a trusted software directory naming the software, its organisation, roles,
//! redirect URIs and keys. Pure checks here; keys are found by the service.

pub use bulwark_clients::Organisation;
use bulwark_jose::{Alg, Compact, PublicKeySet, VerifyError};
use serde_json::{Map, Value};

use crate::DcrError;

/// The verified claims of a software statement that registration relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftwareStatement {
    /// The directory that signed it (`iss`).
    pub iss: String,
    /// When it was issued.
    pub iat: i64,
    /// The software's identifier; the registration request's `iss` must equal it.
    pub software_id: String,
    /// OB roles (AISP, PISP, CBPII) or ETSI names the software may act in.
    pub software_roles: Vec<String>,
    /// Every redirect URI the software may register.
    pub software_redirect_uris: Vec<String>,
    /// The organisation (OB directory `org_id`).
    pub org_id: String,
    /// Where the software publishes its keys.
    pub software_jwks_endpoint: Option<String>,
    /// The software's keys by value (when no endpoint is given).
    pub software_jwks: Option<Value>,
    /// The software's display name, used as `client_name` when the request has none.
    pub software_client_name: Option<String>,
    /// The agent acting for the TPP (the OB directory's `software_on_behalf_of_org`, as OB's
    /// guidance reads it): the PSU pages name it beside the TPP (OB CEG "On behalf of").
    pub software_on_behalf_of_org: Option<String>,
    /// How the organisation is identified in certificates.
    pub organisation: Organisation,
}

fn bad(msg: impl Into<String>) -> DcrError {
    DcrError::SoftwareStatement(msg.into())
}

/// A software statement split and its `iss` read, before any key is used.
#[derive(Debug)]
pub struct UnverifiedSsa<'a> {
    jws: Compact<'a>,
    claims: Map<String, Value>,
    alg: Alg,
}

impl<'a> UnverifiedSsa<'a> {
    /// Splits the SSA and checks its algorithm against `allowed` (none, HS*, RS256 refused).
    pub fn parse(ssa: &'a str, allowed: &[Alg]) -> Result<Self, DcrError> {
        let jws = Compact::parse(ssa).map_err(|e| bad(e.to_string()))?;
        let alg = jws.alg().map_err(|e| bad(e.to_string()))?;
        if !allowed.contains(&alg) {
            return Err(bad(format!("algorithm {alg} is not accepted")));
        }
        let claims = jws.claims().map_err(|e| bad(e.to_string()))?;
        Ok(Self { jws, claims, alg })
    }

    /// The claimed issuer (the directory), unverified.
    pub fn iss(&self) -> Result<&str, DcrError> {
        self.claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no iss claim"))
    }

    /// The `kid` of the signing key, if named.
    pub fn kid(&self) -> Option<&str> {
        self.jws.kid()
    }

    /// The algorithm (already allowed).
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Verifies the signature with the directory's keys and the claims at `now`.
    pub fn verify(
        self,
        keys: &PublicKeySet,
        now: i64,
        max_age: i64,
        skew: i64,
    ) -> Result<SoftwareStatement, DcrError> {
        keys.verify(&self.jws).map_err(|e| match e {
            VerifyError::UnknownKey(_) => bad("no key of the directory matches its kid"),
            VerifyError::BadSignature => bad("the signature does not verify"),
            other => bad(other.to_string()),
        })?;
        claims(&self.claims, now, max_age, skew)
    }
}

fn string(c: &Map<String, Value>, name: &str) -> Result<String, DcrError> {
    match c.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(bad(format!("{name} must be a non-empty string"))),
        None => Err(bad(format!("the {name} claim is required"))),
    }
}

fn strings(c: &Map<String, Value>, name: &str) -> Result<Vec<String>, DcrError> {
    let list = c
        .get(name)
        .ok_or_else(|| bad(format!("the {name} claim is required")))?
        .as_array()
        .ok_or_else(|| bad(format!("{name} must be an array of strings")))?;
    let out: Option<Vec<String>> = list
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect();
    match out {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(bad(format!("{name} must be a non-empty array of strings"))),
    }
}

/// DCR-1 claim rules of a verified SSA.
pub fn claims(
    c: &Map<String, Value>,
    now: i64,
    max_age: i64,
    skew: i64,
) -> Result<SoftwareStatement, DcrError> {
    // RFC 7591 2.3 / OB DCR: iat required and fresh, exp honoured when present.
    let window = bulwark_jose::TimeWindow {
        iat: bulwark_jose::Presence::Required,
        max_age: Some(max_age),
        ..bulwark_jose::TimeWindow::with_skew(skew)
    };
    let times = window
        .check(c, bulwark_core::UnixTime::from_secs(now))
        .map_err(|e| match e {
            bulwark_jose::ClaimError::TooOld(_) => bad(format!(
                "the statement is older than {max_age} seconds: ask the directory for a fresh one"
            )),
            other => bad(format!("the statement {other}")),
        })?;
    let iat = times
        .iat
        .ok_or_else(|| bad("the iat claim is required (a number)"))?;
    let software_jwks_endpoint = match c.get("software_jwks_endpoint") {
        None => None,
        Some(Value::String(u)) if u.starts_with("https://") => Some(u.clone()),
        Some(_) => return Err(bad("software_jwks_endpoint must be an https URL")),
    };
    let software_jwks = c.get("software_jwks").cloned();
    if software_jwks_endpoint.is_none() && software_jwks.is_none() {
        return Err(bad(
            "the software_jwks_endpoint (or software_jwks) claim is required",
        ));
    }
    let org_id = string(c, "org_id")?;
    let oca = c.get("organisation_competent_authority_claims");
    let field = |k: &str| {
        oca.and_then(|o| o.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let redirect_uris = strings(c, "software_redirect_uris")?;
    Ok(SoftwareStatement {
        iss: string(c, "iss")?,
        iat,
        software_id: string(c, "software_id")?,
        software_roles: strings(c, "software_roles")?,
        software_redirect_uris: redirect_uris,
        organisation: Organisation {
            org_id: org_id.clone(),
            authority_id: field("authority_id"),
            registration_id: field("registration_id"),
            status: field("status"),
            member_states: oca
                .and_then(|o| o.get("authorisations"))
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|a| a.get("member_state").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            authorised_roles: oca
                .and_then(|o| o.get("authorisations"))
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|a| a.get("roles").and_then(Value::as_array))
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                }),
        },
        org_id,
        software_jwks_endpoint,
        software_jwks,
        software_client_name: c
            .get("software_client_name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        software_on_behalf_of_org: c
            .get("software_on_behalf_of_org")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bulwark_certs::ExpectedOrganisation;
    use bulwark_jose::SigningKey;
    use serde_json::json;

    fn ssa_claims(now: i64) -> Value {
        json!({
            "iss": "Test Directory", "iat": now,
            "software_id": "sw-1", "software_roles": ["AISP"],
            "software_redirect_uris": ["https://tpp.example/cb"],
            "org_id": "org-1", "software_jwks_endpoint": "https://dir.example/org-1/sw-1.jwks",
            "organisation_competent_authority_claims": {"authority_id": "GB-FCA", "registration_id": "123456", "status": "Active"}
        })
    }

    fn set(key: &SigningKey) -> PublicKeySet {
        PublicKeySet::from_jwks(&json!({"keys": [Value::Object(key.public_jwk().clone())]}))
            .unwrap()
    }

    #[test]
    fn dcr_1_valid_statement_verifies() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let jws = key
            .sign_compact("JWT", &serde_json::to_vec(&ssa_claims(1000)).unwrap())
            .unwrap();
        let u = UnverifiedSsa::parse(&jws, &[Alg::Es256]).unwrap();
        assert_eq!(u.iss().unwrap(), "Test Directory");
        let ssa = u.verify(&set(&key), 1010, 3600, 60).unwrap();
        assert_eq!(ssa.software_id, "sw-1");
        assert_eq!(
            ssa.organisation.expected(),
            ExpectedOrganisation::CompetentAuthority {
                authority: "GB-FCA".into(),
                registration_id: "123456".into(),
                member_states: vec![],
            }
        );
    }

    #[test]
    fn dcr_1_refused_algorithms_signatures_and_ages() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let other = SigningKey::generate(Alg::Es256).unwrap();
        let body = serde_json::to_vec(&ssa_claims(1000)).unwrap();
        let jws = key.sign_compact("JWT", &body).unwrap();
        // ES256 not in the allow-list.
        assert!(matches!(
            UnverifiedSsa::parse(&jws, &[Alg::Ps256]),
            Err(DcrError::SoftwareStatement(_))
        ));
        // Another key with the same kid shape: unknown kid.
        let u = UnverifiedSsa::parse(&jws, &[Alg::Es256]).unwrap();
        assert!(matches!(
            u.verify(&set(&other), 1000, 3600, 60),
            Err(DcrError::SoftwareStatement(_))
        ));
        // Too old.
        let u = UnverifiedSsa::parse(&jws, &[Alg::Es256]).unwrap();
        assert!(matches!(
            u.verify(&set(&key), 1000 + 3601, 3600, 60),
            Err(DcrError::SoftwareStatement(_))
        ));
        // alg none / RS256 refused before any key is used.
        use base64::Engine;
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        for alg in ["none", "RS256", "HS256"] {
            let forged = format!(
                "{}.{}.",
                b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
                b64(&body)
            );
            assert!(matches!(
                UnverifiedSsa::parse(&forged, &[Alg::Es256, Alg::Ps256]),
                Err(DcrError::SoftwareStatement(_))
            ));
        }
    }

    #[test]
    fn dcr_1_required_claims() {
        for missing in [
            "software_id",
            "software_roles",
            "software_redirect_uris",
            "org_id",
            "software_jwks_endpoint",
            "iat",
        ] {
            let mut c = ssa_claims(1000);
            c.as_object_mut().unwrap().remove(missing);
            let err = claims(c.as_object().unwrap(), 1000, 3600, 60).unwrap_err();
            assert!(err.to_string().contains(missing), "{missing}: {err}");
        }
        // software_jwks by value replaces the endpoint.
        let mut c = ssa_claims(1000);
        let o = c.as_object_mut().unwrap();
        o.remove("software_jwks_endpoint");
        o.insert("software_jwks".into(), json!({"keys": []}));
        let ssa = claims(c.as_object().unwrap(), 1000, 3600, 60).unwrap();
        assert_eq!(
            ssa.organisation.expected(),
            ExpectedOrganisation::CompetentAuthority {
                authority: "GB-FCA".into(),
                registration_id: "123456".into(),
                member_states: vec![],
            }
        );
        let mut c = ssa_claims(1000);
        c.as_object_mut()
            .unwrap()
            .remove("organisation_competent_authority_claims");
        let ssa = claims(c.as_object().unwrap(), 1000, 3600, 60).unwrap();
        assert_eq!(
            ssa.organisation.expected(),
            ExpectedOrganisation::OrgId("org-1".into())
        );
    }

    /// DCR-1 / OB DCR 3.1.3: a statement's claims of the wrong shape are refused, not taken
    /// as given: a plain-http key set endpoint, an empty identifier, an empty list of roles
    /// or redirect URIs, an expired statement or one issued in the future. A blank software
    /// name names nothing; the competent authority's status is read as the directory writes it.
    #[test]
    fn dcr_1_claims_of_the_wrong_shape_are_refused() {
        let refused = |name: &str, value: Value| {
            let mut c = ssa_claims(1000);
            c.as_object_mut()
                .unwrap()
                .insert(name.into(), value.clone());
            let err = claims(c.as_object().unwrap(), 1000, 3600, 60).unwrap_err();
            assert!(err.to_string().contains(name), "{name} = {value}: {err}");
        };
        refused(
            "software_jwks_endpoint",
            json!("http://dir.example/org-1/sw-1.jwks"),
        );
        for name in ["iss", "software_id", "org_id"] {
            refused(name, json!(""));
        }
        for name in ["software_roles", "software_redirect_uris"] {
            refused(name, json!([]));
        }
        let at = |name: &str, value: i64| {
            let mut c = ssa_claims(1000);
            c.as_object_mut().unwrap().insert(name.into(), json!(value));
            claims(c.as_object().unwrap(), 1000, 3600, 60)
        };
        assert!(at("exp", 999 - 60).is_err(), "expired");
        assert!(at("iat", 1000 + 61).is_err(), "issued in the future");
        assert!(at("exp", 1000 + 300).is_ok());
        let named = |value: &str| {
            let mut c = ssa_claims(1000);
            c.as_object_mut()
                .unwrap()
                .insert("software_client_name".into(), json!(value));
            claims(c.as_object().unwrap(), 1000, 3600, 60)
                .unwrap()
                .software_client_name
        };
        assert_eq!(named("  "), None);
        assert_eq!(named(" TPP App ").as_deref(), Some("TPP App"));
        let ssa = claims(ssa_claims(1000).as_object().unwrap(), 1000, 3600, 60).unwrap();
        assert_eq!(ssa.organisation.status.as_deref(), Some("Active"));
    }
}
