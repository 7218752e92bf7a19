//! Typed configuration: a TOML file (`--config` / `BULWARK_CONFIG`) overlaid with `BULWARK_*`
//! environment variables (`__` separates sections: `BULWARK_HTTP__LISTEN`). Unknown keys are
//! an error that names the key, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bulwark_certs::{MtlsSettings, RevocationSettings};
use bulwark_dcr::DcrSettings;
use bulwark_token::TokenSettings;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// The whole configuration. Every field has a default, so no configuration at all gives the
/// embedded development server (OP-1).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The issuer identifier: the https URL clients see (`iss` of tokens, discovery `issuer`).
    pub issuer: String,
    /// Where the embedded database, the development PKI and generated keys live.
    pub data_dir: PathBuf,
    /// The listener.
    pub http: HttpConfig,
    /// The server certificate; when absent a development certificate is generated.
    pub tls: TlsConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Trust anchors for client certificates.
    pub trust: TrustConfig,
    /// Logging.
    pub log: LogConfig,
    /// Revocation checking of client certificates (OCSP, then CRL).
    pub revocation: RevocationSettings,
    /// Where client certificates come from: the TLS handshake or a trusted proxy's headers.
    pub mtls: MtlsSettings,
    /// Access tokens, client assertions, client caching.
    pub tokens: TokenSettings,
    /// Dynamic client registration: trusted software directories and SSA rules.
    pub dcr: DcrSettings,
    /// The OB consent APIs.
    pub consents: ConsentsConfig,
    /// Pushed authorization requests and request objects.
    pub par: bulwark_par::ParSettings,
    /// The authorization endpoint and PSU pages.
    pub authorization: bulwark_authz::AuthzSettings,
    /// The pages' branding.
    pub pages: PagesConfig,
    /// The staff console.
    pub staff: StaffConfig,
    /// Signing-key rotation and reload (DS-2).
    pub keys: KeysConfig,
}

/// `[keys]`: how signing keys rotate and how quickly every node sees a change (DS-2).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Each node re-reads the keys from the database this often, seconds (default 10; 1 to
    /// 3600).
    pub reload_secs: u64,
    /// `bulwark keys rotate` publishes the next key this long before it signs, seconds
    /// (default 900): longer than any relying party caches `/jwks`, plus `reload_secs`.
    pub publish_ahead_secs: i64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            reload_secs: 10,
            publish_ahead_secs: 900,
        }
    }
}

impl KeysConfig {
    /// The reload interval, from one second to one hour.
    pub fn reload(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.reload_secs.clamp(1, 3600))
    }
}

/// `[staff]`: the bank staff console (CO-5).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaffConfig {
    /// Serve the console on its own TLS listener (e.g. an internal address) instead of the
    /// main one, so a bank can keep it off the internet. Default: on the main listener under
    /// `/staff`.
    pub listen: Option<SocketAddr>,
    /// A session unused this long ends, seconds (default 900).
    pub idle_timeout_secs: i64,
    /// A session ends this long after the login, seconds (default 28800).
    pub session_lifetime_secs: i64,
    /// Failed logins per user and per address before each further one waits (default 5).
    pub login_free_failures: u32,
}

impl Default for StaffConfig {
    fn default() -> Self {
        let d = bulwark_staff::StaffSettings::default();
        Self {
            listen: None,
            idle_timeout_secs: d.idle_timeout_secs,
            session_lifetime_secs: d.session_lifetime_secs,
            login_free_failures: d.login_free_failures,
        }
    }
}

impl StaffConfig {
    /// The console's session and login limits.
    pub fn settings(&self) -> bulwark_staff::StaffSettings {
        bulwark_staff::StaffSettings {
            idle_timeout_secs: self.idle_timeout_secs.max(60),
            session_lifetime_secs: self.session_lifetime_secs.max(300),
            login_free_failures: self.login_free_failures.max(1),
        }
    }
}

/// `[pages]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// The bank's name on every page.
    pub bank_name: String,
    /// An SVG or PNG logo file; default: a neutral shield.
    pub logo: Option<PathBuf>,
    /// Salt of pairwise subject identifiers (AZ-8); default: generated once into the data
    /// directory. Changing it changes every PSU's `sub` at every TPP.
    pub pairwise_salt: Option<String>,
    /// Create a demo PSU with accounts at start (default: only in the embedded development
    /// mode, i.e. when no server certificate is configured).
    pub demo_psu: Option<bool>,
}

impl Default for PagesConfig {
    fn default() -> Self {
        Self {
            bank_name: "Bulwark Bank".into(),
            logo: None,
            pairwise_salt: None,
            demo_psu: None,
        }
    }
}

/// `[consents]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentsConfig {
    /// CO-6: also require (and verify) `x-jws-signature` on the consent endpoints OB leaves
    /// unsigned (account-access, funds-confirmation); payment consents always require one.
    /// Clients can ask for this individually with the `require_jws_signature` metadata.
    pub require_jws_signature: bool,
    /// Message-signing forms accepted: `"3.1.4+"` (no `b64`, the default) and/or `"3.1.3"`
    /// (`b64: false`), for banks that still serve v3.1.3 TPPs.
    pub signing_versions: Vec<bulwark_consent::SigningVersion>,
    /// A signature sent to an endpoint that is not signed: `"ignore"` (default) or `"refuse"`
    /// (`UK.OBIE.Signature.Unexpected`).
    pub unexpected_signature: bulwark_resource::UnexpectedSignature,
    /// The account-access permissions the bank offers (OB codes); others are refused with
    /// `UK.OBIE.Field.Invalid`. Unset: every OB v3.1.10 permission.
    pub supported_permissions: Option<Vec<String>>,
    /// The `LocalInstrument` codes payment consents may name (namespaced, e.g.
    /// `UK.OBIE.FPS`, or the bank's own `UK.MyBank.Instant`); others are refused with
    /// `UK.OBIE.Unsupported.LocalInstrument`. Unset: every OB v3.1.10 code.
    pub supported_local_instruments: Option<Vec<String>>,
    /// The public base URL of the bank's APIs, for `Links.Self` of consent answers (the API
    /// host is usually not the issuer). Unset: the issuer.
    pub api_base: Option<String>,
    /// The bank's own sealing key: answers of signed endpoints (payment consents) carry its
    /// `x-jws-signature`. Unset: they are not signed (a warning says so).
    pub response_signing: Option<ResponseSigningConfig>,
    /// The `http://openbanking.org.uk/tan` value signatures must carry.
    pub jws_trust_anchor: String,
    /// How far in the future a signature's `iat` may be, seconds.
    pub jws_iat_skew_secs: i64,
    /// How old a signature's `iat` may be, seconds.
    pub jws_max_age_secs: i64,
}

impl Default for ConsentsConfig {
    fn default() -> Self {
        Self {
            require_jws_signature: false,
            signing_versions: bulwark_consent::SigningVersion::DEFAULT.to_vec(),
            unexpected_signature: bulwark_resource::UnexpectedSignature::Ignore,
            response_signing: None,
            api_base: None,
            supported_permissions: None,
            supported_local_instruments: None,
            jws_trust_anchor: "openbanking.org.uk".into(),
            jws_iat_skew_secs: 30,
            jws_max_age_secs: 300,
        }
    }
}

/// `[consents.response_signing]`: the key the bank signs responses with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSigningConfig {
    /// PEM private key: RSA (signs PS256) or P-256 (signs ES256).
    pub key: PathBuf,
    /// PEM certificate chain of the key, leaf first (the bank's QSealC / OBSeal), published as
    /// `x5c` at `/jwks`.
    pub cert: PathBuf,
    /// The key id as lodged with the trust anchor.
    pub kid: String,
    /// The bank's organisation id: the signature's `http://openbanking.org.uk/iss`.
    pub iss: String,
}

/// `[http]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Socket address to listen on.
    pub listen: SocketAddr,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Extra CA certificates (PEM files) trusted for outbound https (client `jwks_uri`), in
    /// addition to the system's roots.
    pub outbound_ca: Vec<PathBuf>,
    /// Let outbound fetches of TPP-chosen URLs (`jwks_uri`, `sector_identifier_uri`,
    /// `software_jwks_endpoint`) and directory keys reach loopback and private addresses. Off:
    /// a registration cannot make Bulwark probe the bank's network (SSRF).
    pub outbound_allow_private: bool,
    /// Seconds a client has to complete the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a client has to send a request's headers; also the longest an HTTP/1.1
    /// keep-alive connection may sit idle.
    pub header_read_timeout_secs: u64,
    /// HTTP/2 keep-alive ping interval and timeout, seconds.
    pub http2_keep_alive_secs: u64,
    /// Seconds a connection may go without starting a request before it is closed (HTTP/2
    /// too, whose pings would otherwise keep it open); longer than `request_timeout_secs`.
    pub idle_timeout_secs: u64,
    /// Most connections open at once; past it, accepting waits.
    pub max_connections: usize,
    /// Most connections open at once from one address; past it, a new one is closed at once
    /// (0: no cap). Not applied in `mtls.mode = "proxy"`, where every peer is a proxy.
    pub max_connections_per_address: usize,
    /// Most header fields in one request (HTTP/1.1); past it, 431.
    pub max_headers: usize,
    /// Most bytes of a request's headers (HTTP/1.1 and HTTP/2); past it, 431.
    pub max_header_bytes: usize,
    /// A separate plain-HTTP listener for `/healthz`, `/readyz` and `/metrics` (e.g. on an
    /// internal interface); when set, they are no longer served on `listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Seconds one request may take after its headers (reading the body, deciding,
    /// answering); past it, 408.
    pub request_timeout_secs: u64,
}

impl HttpConfig {
    /// The listener's limits.
    pub fn limits(&self) -> bulwark_web::ConnectionLimits {
        bulwark_web::ConnectionLimits {
            handshake_timeout: std::time::Duration::from_secs(self.tls_handshake_timeout_secs),
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            http2_keep_alive: std::time::Duration::from_secs(self.http2_keep_alive_secs),
            idle_timeout: std::time::Duration::from_secs(
                self.idle_timeout_secs.max(self.request_timeout_secs + 1),
            ),
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
        }
    }
}

/// `[tls]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the server certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM file with the server's private key (PKCS#8, SEC1 or PKCS#1).
    pub key: Option<PathBuf>,
}

/// `[database]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`; default `sqlite://<data_dir>/bulwark.db`.
    pub url: Option<String>,
    /// Maximum pooled connections (default 16 for PostgreSQL, 1 for SQLite).
    pub max_connections: Option<u32>,
    /// Seconds to keep retrying an unreachable database at start (default 15).
    pub connect_timeout_secs: Option<u64>,
    /// PostgreSQL servers that may become primary after a failover, tried in order after
    /// `url`: the store follows whichever of them takes writes (checked every second).
    pub failover_urls: Vec<String>,
    /// While running, how long a request waits for a database connection before it is
    /// answered 503 `temporarily_unavailable`, milliseconds (default 2000).
    pub acquire_timeout_ms: Option<u64>,
}

impl DatabaseConfig {
    /// The wait for a connection while running.
    pub fn acquire_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.acquire_timeout_ms.unwrap_or(2000))
    }
}

/// `[trust]`: the certificates crate's own settings (`anchors` for every purpose, or
/// `tls_client` / `qwac` / `qseal` sets of their own, and the clock skew). No anchors at all:
/// the generated development CA (embedded mode only).
pub type TrustConfig = bulwark_certs::TrustSettings;

/// `[log]`, shared with the gateway's configuration.
pub use bulwark_web::log_settings::{LogConfig, LogFormat};

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "https://localhost:8443".into(),
            data_dir: PathBuf::from("./data"),
            http: HttpConfig::default(),
            tls: TlsConfig::default(),
            database: DatabaseConfig::default(),
            trust: TrustConfig::default(),
            log: LogConfig::default(),
            revocation: RevocationSettings::default(),
            mtls: MtlsSettings::default(),
            tokens: TokenSettings::default(),
            consents: ConsentsConfig::default(),
            dcr: DcrSettings::default(),
            par: bulwark_par::ParSettings::default(),
            authorization: bulwark_authz::AuthzSettings::default(),
            pages: PagesConfig::default(),
            staff: StaffConfig::default(),
            keys: KeysConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            shutdown_grace_secs: 30,
            outbound_ca: Vec::new(),
            outbound_allow_private: false,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 30,
            http2_keep_alive_secs: 30,
            idle_timeout_secs: 120,
            max_connections: 10_000,
            max_connections_per_address: 1_000,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            request_timeout_secs: 30,
            admin_listen: None,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named config file does not exist or cannot be read.
    #[error("config file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Parsing or typing failed; figment's message names the key and where it came from.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then the TOML file if given, then `BULWARK_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            std::fs::metadata(path).map_err(|source| ConfigError::File {
                path: path.to_path_buf(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("BULWARK_").split("__").ignore(&["CONFIG"]));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(one_line(e)))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !self.issuer.starts_with("https://") {
            return Err(ConfigError::Invalid(format!(
                "issuer {:?} must be an https URL (FAPI)",
                self.issuer
            )));
        }
        if self.issuer.ends_with('/') || self.issuer.contains(['?', '#']) {
            return Err(ConfigError::Invalid(format!(
                "issuer {:?} must have no trailing slash, query or fragment",
                self.issuer
            )));
        }
        self.dcr.check().map_err(ConfigError::Invalid)?;
        self.log.check().map_err(ConfigError::Invalid)?;
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) | (None, Some(_)) => Err(ConfigError::Invalid(
                "tls.cert and tls.key must be given together".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Creates the data directory (and its parents) when it does not exist, accessible to the
    /// owner only: the embedded database and the development PKI's keys live there.
    pub fn create_data_dir(&self) -> std::io::Result<()> {
        create_private_dir(&self.data_dir)
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("bulwark.db").display()
            )
        })
    }

    /// Connects to the configured database: `url`, or with `failover_urls` the first of them
    /// all that takes writes, followed through failovers.
    pub async fn connect_store(
        &self,
        settings: &bulwark_store::ConnectSettings,
    ) -> Result<bulwark_store::SqlStore, bulwark_store::StoreError> {
        let url = self.database_url();
        if self.database.failover_urls.is_empty() {
            return bulwark_store::SqlStore::connect(&url, settings).await;
        }
        let mut urls = vec![url];
        urls.extend(self.database.failover_urls.iter().cloned());
        bulwark_store::SqlStore::connect_failover(&urls, settings).await
    }

    /// True when the server runs on generated development material (no server certificate
    /// configured): it then also trusts the development CA for client certificates.
    pub fn is_development(&self) -> bool {
        self.tls.cert.is_none()
    }

    /// Settings that are valid but weaken a defence; printed at start and by
    /// `bulwark check-config` so an operator sees them before a TPP does.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.mtls.mode == bulwark_certs::MtlsMode::Proxy && self.mtls.trusted_proxies.is_empty()
        {
            w.push(
                "mtls.mode = \"proxy\" with no mtls.trusted_proxies: every certificate header is refused, so no client can authenticate with a certificate".into(),
            );
        }
        let public = self.mtls.trusted_beyond_private();
        if self.mtls.mode == bulwark_certs::MtlsMode::Proxy && !public.is_empty() {
            let nets: Vec<String> = public.iter().map(ToString::to_string).collect();
            w.push(format!(
                "mtls.trusted_proxies includes {} beyond private address space: any peer there may send a TPP's certificate as a header and be believed without proving its key; list the load balancers' own addresses",
                nets.join(", ")
            ));
        }
        if self.mtls.mode == bulwark_certs::MtlsMode::Proxy && !self.mtls.revalidate_issuer {
            w.push(
                "mtls.revalidate_issuer = false: forwarded certificates are neither path-validated nor revocation-checked here; the proxy's verdict is trusted".into(),
            );
        }
        if self.keys.publish_ahead_secs
            < 2 * i64::try_from(self.keys.reload().as_secs()).unwrap_or(i64::MAX)
        {
            w.push(format!(
                "keys.publish_ahead_secs = {} is under twice keys.reload_secs = {}: after a rotation a node may sign with a key that other nodes and relying parties do not publish yet",
                self.keys.publish_ahead_secs, self.keys.reload_secs
            ));
        }
        if !self.revocation.enabled {
            w.push("revocation.enabled = false: revoked client certificates are accepted".into());
        }
        if !self.revocation.exclude_issuers.is_empty() {
            w.push(format!(
                "revocation.exclude_issuers: certificates of {} issuer(s) skip revocation checking",
                self.revocation.exclude_issuers.len()
            ));
        }
        if self.http.outbound_allow_private {
            w.push("http.outbound_allow_private = true: registrations can make Bulwark fetch from private addresses".into());
        }
        if !self.dcr.use_software_jwks_endpoint {
            w.push("dcr.use_software_jwks_endpoint = false: a registration request is verified with the jwks it carries itself, so its signature proves nothing; only the software statement and the QWAC bind it".into());
        }
        let own_sets = [&self.trust.tls_client, &self.trust.qwac, &self.trust.qseal];
        if !self.is_development()
            && !self.trust.anchors.is_empty()
            && own_sets.iter().all(|s| s.is_none())
        {
            w.push("one trust.anchors set serves every purpose (TLS client, QWAC, QSealC); set trust.tls_client, trust.qwac and trust.qseal to keep a CA trusted for one purpose from vouching for another".into());
        }
        if self.consents.response_signing.is_none() && !self.is_development() {
            w.push("consents.response_signing is not set: answers of signed endpoints (payment consents) carry no x-jws-signature, which OB v3.1.10 TPPs expect".into());
        }
        if self.pages.demo_psu == Some(true) && !self.is_development() {
            w.push("pages.demo_psu = true outside development: a demo customer with a printed password exists".into());
        }
        w
    }
}

/// figment errors can span lines and carry several causes; operators get one line.
fn one_line(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let mut msg = e.kind.to_string();
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                // figment's path already ends with the unknown field.
                let full = if key.is_empty() {
                    field.clone()
                } else {
                    key.clone()
                };
                msg = format!("unknown key `{full}`");
            } else if !key.is_empty() {
                msg = format!("key `{key}`: {msg}");
            }
            if source.is_empty() {
                msg
            } else {
                format!("{msg} (from {source})")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Creates `dir` and any missing parent accessible to the owner only (0700): directories the
/// server makes for keys, the embedded database and the demo credentials. An existing
/// directory keeps its permissions (they are the operator's).
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn op_1_defaults_are_the_embedded_server() {
        let c = Config::default();
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.issuer, "https://localhost:8443");
        assert_eq!(c.database_url(), "sqlite://./data/bulwark.db?mode=rwc");
        assert!(c.is_development());
    }

    #[test]
    fn hardening_weakening_settings_are_warned_about() {
        let mut c = Config::default();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.revalidate_issuer = false;
        c.revocation.enabled = false;
        c.http.outbound_allow_private = true;
        c.dcr.use_software_jwks_endpoint = false;
        let w = c.warnings().join("\n");
        for key in [
            "trusted_proxies",
            "revalidate_issuer",
            "revocation.enabled",
            "outbound_allow_private",
            "use_software_jwks_endpoint",
        ] {
            assert!(w.contains(key), "{key}: {w}");
        }
        // Proxies trusted beyond private address space: any peer there is believed for a
        // TPP's certificate header. The load balancers' own (private) ranges are not.
        let beyond = "beyond private address space";
        for (nets, warned) in [
            (vec!["0.0.0.0/0"], true),
            (vec!["10.0.0.0/8", "203.0.113.0/24"], true),
            (vec!["::/0"], true),
            (
                vec!["10.0.0.0/8", "192.168.1.10/32", "fd00::/8", "127.0.0.1/32"],
                false,
            ),
        ] {
            c.mtls.trusted_proxies = nets.iter().map(|n| n.parse().unwrap()).collect();
            let w = c.warnings().join("\n");
            assert_eq!(w.contains(beyond), warned, "{nets:?}: {w}");
        }
    }

    #[test]
    fn hardening_per_purpose_trust_anchor_sets_parse_and_silence_the_shared_set_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulwark.toml");
        std::fs::write(
            &path,
            "[tls]\ncert = \"s.pem\"\nkey = \"s.key\"\n[trust]\nanchors = [\"all.pem\"]\n",
        )
        .unwrap();
        let shared = Config::load(Some(&path)).unwrap();
        assert!(shared.warnings().join("\n").contains("trust.qseal"));
        let paths = shared.trust.paths();
        assert_eq!(paths.sealing, vec![PathBuf::from("all.pem")]);

        std::fs::write(
            &path,
            "[tls]\ncert = \"s.pem\"\nkey = \"s.key\"\n[trust]\nanchors = [\"all.pem\"]\n\
             qwac = [\"qtsp-roots/\"]\nqseal = [\"qseal-roots.pem\"]\n",
        )
        .unwrap();
        let split = Config::load(Some(&path)).unwrap();
        assert!(
            !split.warnings().join("\n").contains("trust.qseal"),
            "{:?}",
            split.warnings()
        );
        let paths = split.trust.paths();
        assert_eq!(paths.qwac, vec![PathBuf::from("qtsp-roots/")]);
        assert_eq!(paths.sealing, vec![PathBuf::from("qseal-roots.pem")]);
        // No set of its own: the shared one.
        assert_eq!(paths.tls_client, vec![PathBuf::from("all.pem")]);
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bulwark.example.toml");
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.http.shutdown_grace_secs, 30);
        assert_eq!(c.database.connect_timeout_secs, Some(15));
        assert_eq!(c.database.acquire_timeout_ms, Some(2000));
        assert_eq!((c.keys.reload_secs, c.keys.publish_ahead_secs), (10, 900));
        assert_eq!(c.dcr, bulwark_dcr::DcrSettings::default());
    }

    #[test]
    fn dcr_1_directories_parse_and_unknown_or_unsafe_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulwark.toml");
        let write = |body: &str| std::fs::write(&path, body).unwrap();
        write(
            "[dcr]\nmax_ssa_age_secs = 600\n[[dcr.directories]]\nname = \"ob\"\n\
             issuer = \"OpenBanking Ltd\"\njwks_uri = \"https://dir.example/jwks\"\n",
        );
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.dcr.max_ssa_age_secs, 600);
        assert_eq!(c.dcr.directories[0].issuer, "OpenBanking Ltd");
        write("[dcr]\nmax_ssa_age = 600\n");
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("dcr.max_ssa_age"), "{err}");
        write("[dcr]\nallowed_algs = [\"RS256\"]\n");
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("RS256"), "{err}");
    }
}

#[cfg(test)]
mod log_level_tests {
    use super::*;

    /// OP-4: a `log.level` that is not a tracing filter is a configuration error at start
    /// (the rule itself: `web::log_settings`).
    #[test]
    fn op_4_a_log_level_that_is_not_a_filter_is_refused() {
        let mut config = Config::default();
        config.log.level = "warning".into();
        assert!(matches!(config.check(), Err(ConfigError::Invalid(m)) if m.contains("log.level")));
    }
}
