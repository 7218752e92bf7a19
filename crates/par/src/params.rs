//! The parameters of one authorization request, wherever they came from: a form (PAR with
//! plain parameters) or the claims of a verified request object (RFC 9101 6.3: then only those).

use std::collections::BTreeMap;

use bulwark_core::Form;
use serde_json::{Map, Value};

use crate::ParError;

/// Authorization request parameters by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    values: BTreeMap<String, Value>,
    from_object: bool,
}

impl Params {
    /// Plain parameters of a form.
    pub fn from_form(form: &Form) -> Self {
        Self {
            values: form
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
            from_object: false,
        }
    }

    /// The claims of a verified request object.
    pub fn from_object(claims: Map<String, Value>) -> Self {
        Self {
            values: claims.into_iter().collect(),
            from_object: true,
        }
    }

    /// True when these are a request object's claims.
    pub fn from_request_object(&self) -> bool {
        self.from_object
    }

    /// True when the parameter is present at all.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A string parameter; a non-string value (in a request object) is `invalid_request`, an
    /// empty string counts as absent (RFC 6749 3.1).
    pub fn str(&self, name: &str) -> Result<Option<&str>, ParError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ParError::BadRequest(format!("{name} must be a string"))),
        }
    }

    /// A required string parameter.
    pub fn require(&self, name: &str) -> Result<&str, ParError> {
        self.str(name)?
            .ok_or_else(|| ParError::BadRequest(format!("missing parameter {name}")))
    }

    /// An integer parameter (`max_age`): a number in a request object, digits in a form.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ParError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|v| *v >= 0)
                .map(Some)
                .ok_or_else(|| ParError::BadRequest(format!("{name} must be a whole number"))),
            Some(Value::String(s)) => s
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .map(Some)
                .ok_or_else(|| ParError::BadRequest(format!("{name} must be a whole number"))),
            Some(_) => Err(ParError::BadRequest(format!("{name} must be a number"))),
        }
    }

    /// The OIDC `claims` parameter as a JSON object: an object in a request object, JSON text
    /// in a form (OIDC Core 5.5).
    pub fn claims(&self) -> Result<Option<Map<String, Value>>, ParError> {
        let parsed = match self.values.get("claims") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(m)) => return Ok(Some(m.clone())),
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .map_err(|_| ParError::BadRequest("claims is not valid JSON".into()))?,
            Some(_) => return Err(ParError::BadRequest("claims must be a JSON object".into())),
        };
        match parsed {
            Value::Object(m) => Ok(Some(m)),
            _ => Err(ParError::BadRequest("claims must be a JSON object".into())),
        }
    }
}
