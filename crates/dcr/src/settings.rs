//! The `[dcr]` configuration section: which software directories are trusted to sign software
//! statements (RFC 7591 section 2.3), with which algorithms, and how old an SSA may be.

use std::path::PathBuf;

use bulwark_jose::{Alg, PublicKeySet};
use serde::{Deserialize, Serialize};

/// One trusted software directory (e.g. the Open Banking directory, or a bank's own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    /// A name for logs and errors.
    pub name: String,
    /// The `iss` of the software statements this directory signs.
    pub issuer: String,
    /// A JWK Set file holding the directory's signing keys (read at start).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// An https URL publishing the directory's JWK Set (fetched with a timeout, cached).
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// Dynamic client registration settings; every key has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcrSettings {
    /// Trusted software directories. Empty: every software statement is unapproved.
    pub directories: Vec<DirectorySettings>,
    /// JWS algorithms accepted on software statements (PS256 and/or ES256 only).
    pub allowed_algs: Vec<String>,
    /// Oldest accepted software statement (`iat`), seconds. Default one day.
    pub max_ssa_age_secs: i64,
    /// Verify the registration request with the keys at the SSA's `software_jwks_endpoint`
    /// (true) or with the `jwks` the request carries (false).
    pub use_software_jwks_endpoint: bool,
    /// A `jwks_uri` must be the SSA's `software_jwks_endpoint` (UK Open Banking DCR: the
    /// client's keys are the ones its directory publishes). Off: any https URL (still public
    /// addresses only, see `http.outbound_allow_private`).
    pub jwks_uri_must_be_ssa_endpoint: bool,
    /// Refuse registrations without a software statement. Must stay true: a registration
    /// without an SSA has no software id, roles or redirect URIs to hold it to.
    pub require_ssa: bool,
    /// Accepted as the registration request's `aud` besides the issuer. OB DCR 3.3 has TPPs
    /// put "the unique identifier for the ASPSP issued by the issuer of the software
    /// statement" there: the bank's organisation id in the directory.
    pub audiences: Vec<String>,
}

impl Default for DcrSettings {
    fn default() -> Self {
        Self {
            directories: Vec::new(),
            allowed_algs: vec!["PS256".into(), "ES256".into()],
            max_ssa_age_secs: 86_400,
            use_software_jwks_endpoint: true,
            jwks_uri_must_be_ssa_endpoint: true,
            require_ssa: true,
            audiences: Vec::new(),
        }
    }
}

impl DcrSettings {
    /// Checks the settings and returns the accepted algorithms. Errors name the key.
    pub fn check(&self) -> Result<Vec<Alg>, String> {
        if !self.require_ssa {
            return Err(
                "dcr.require_ssa = false is not supported: registrations need a software statement"
                    .into(),
            );
        }
        if self.max_ssa_age_secs <= 0 {
            return Err("dcr.max_ssa_age_secs must be positive".into());
        }
        let mut algs = Vec::new();
        for name in &self.allowed_algs {
            let alg = Alg::parse(name).ok_or_else(|| {
                format!("dcr.allowed_algs: {name:?} is not allowed (PS256 and ES256 only)")
            })?;
            algs.push(alg);
        }
        if algs.is_empty() {
            return Err("dcr.allowed_algs must name PS256 and/or ES256".into());
        }
        for d in &self.directories {
            match (&d.jwks_file, &d.jwks_uri) {
                (Some(_), None) => {}
                (None, Some(uri)) if uri.starts_with("https://") => {}
                (None, Some(_)) => {
                    return Err(format!(
                        "dcr.directories {:?}: jwks_uri must be an https URL",
                        d.name
                    ));
                }
                _ => {
                    return Err(format!(
                        "dcr.directories {:?}: give exactly one of jwks_file or jwks_uri",
                        d.name
                    ));
                }
            }
            if d.issuer.is_empty() {
                return Err(format!("dcr.directories {:?}: issuer is empty", d.name));
            }
        }
        if let Some(blank) = self
            .audiences
            .iter()
            .find(|a| a.trim().is_empty() || a.len() > 256)
        {
            return Err(format!(
                "dcr.audiences: {blank:?} is not an audience (1 to 256 characters)"
            ));
        }
        Ok(algs)
    }

    /// Reads every directory's JWK Set file, as the service does at start (`bulwark
    /// check-config` too).
    pub fn check_files(&self) -> Result<(), String> {
        for d in self.directories.iter().filter(|d| d.jwks_file.is_some()) {
            directory_keys(d)?;
        }
        Ok(())
    }
}

/// The keys of a directory configured with a JWK Set file: at least one PS256 or ES256 key.
pub(crate) fn directory_keys(d: &DirectorySettings) -> Result<PublicKeySet, String> {
    let Some(path) = &d.jwks_file else {
        return Err(format!("dcr directory {:?}: no jwks_file", d.name));
    };
    let fail =
        |e: &dyn std::fmt::Display| format!("dcr directory {:?}: {}: {e}", d.name, path.display());
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(&e))?;
    let set = PublicKeySet::from_jwks(&doc).map_err(|e| fail(&e))?;
    if set.keys().is_empty() {
        return Err(format!(
            "dcr directory {:?}: {} holds no PS256 or ES256 key",
            d.name,
            path.display()
        ));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dcr_1_defaults_and_alg_allow_list() {
        let s = DcrSettings::default();
        assert_eq!(s.check().unwrap(), vec![Alg::Ps256, Alg::Es256]);
        for bad in ["RS256", "none", "HS256"] {
            let s = DcrSettings {
                allowed_algs: vec![bad.into()],
                ..DcrSettings::default()
            };
            assert!(s.check().unwrap_err().contains(bad));
        }
    }

    #[test]
    fn dcr_1_directory_needs_exactly_one_key_source() {
        let dir = |file: Option<&str>, uri: Option<&str>| DcrSettings {
            directories: vec![DirectorySettings {
                name: "ob".into(),
                issuer: "OpenBanking Ltd".into(),
                jwks_file: file.map(PathBuf::from),
                jwks_uri: uri.map(str::to_string),
            }],
            ..DcrSettings::default()
        };
        assert!(dir(Some("/x.json"), None).check().is_ok());
        assert!(dir(None, Some("https://dir.example/jwks")).check().is_ok());
        assert!(dir(None, Some("http://dir.example/jwks")).check().is_err());
        assert!(dir(None, None).check().is_err());
        assert!(
            dir(Some("/x.json"), Some("https://dir.example/jwks"))
                .check()
                .is_err()
        );
    }
}
