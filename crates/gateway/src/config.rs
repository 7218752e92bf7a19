//! The gateway's configuration file (`bulwark gateway --config FILE`), overlaid with
//! `BULWARK_GATEWAY_*` environment variables. Unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bulwark_certs::{MtlsSettings, RevocationSettings, TrustSettings};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// The whole gateway configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where the gateway listens (TLS).
    pub listen: SocketAddr,
    /// Where `/metrics` and `/healthz` are served (plain HTTP, keep it internal); none when
    /// unset. Never on the TPP-facing listener.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// The gateway's own server certificate chain and key (PEM).
    pub tls: TlsFiles,
    /// The authorization server's issuer identifier (`iss` of its access tokens).
    pub issuer: String,
    /// The `aud` access tokens must carry to be used here (default: the issuer).
    #[serde(default)]
    pub audience: Option<String>,
    /// The authorization server's JWK Set URL (tokens are checked locally with it).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Ask the server's introspection endpoint about every token instead of checking it
    /// locally (one call per request; revocation is then the server's answer).
    #[serde(default)]
    pub introspection: Option<IntrospectionSettings>,
    /// Extra CA certificates (PEM files) trusted for fetching the JWK Set.
    #[serde(default)]
    pub jwks_ca: Vec<PathBuf>,
    /// How long a fetched JWK Set is used before it is fetched again, seconds (default 30; an
    /// unknown `kid` refetches at once, so a rotation is picked up). With the 60 s a verified
    /// token is trusted, a key withdrawn from the set stops its tokens within this plus 60 s.
    #[serde(default = "default_jwks_secs")]
    pub jwks_cache_secs: u64,
    /// The authorization server's database (consents, revocations, clients). Read, and
    /// written only by payment-submission routes (they consume their consent): a read-only
    /// SQLite URL (`mode=ro`, `immutable=1`) with such a route is refused at start.
    pub database_url: String,
    /// How long a "not revoked" answer about a token is trusted, milliseconds (default 1000):
    /// a token revoked at the server is refused here at most this late. 0 asks the database
    /// on every request.
    #[serde(default = "default_revocation_staleness")]
    pub revocation_staleness_ms: u64,
    /// How long a client's record (status, keys) is cached, seconds (default 5).
    #[serde(default = "default_client_cache")]
    pub client_cache_secs: u64,
    /// Trust anchors for client certificates, as the server's `[trust]`.
    #[serde(default)]
    pub trust: TrustSettings,
    /// Revocation checking of client certificates, as the server's `[revocation]`.
    #[serde(default)]
    pub revocation: RevocationSettings,
    /// Where client certificates come from (handshake or a trusted proxy), as the server's
    /// `[mtls]`.
    #[serde(default)]
    pub mtls: MtlsSettings,
    /// Extra CA certificates (PEM files) trusted for https upstreams.
    #[serde(default)]
    pub upstream_ca: Vec<PathBuf>,
    /// Upstream request timeout, seconds (default 30).
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout_secs: u64,
    /// The routes; a request matching none is 404.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The gateway's log: the server's `[log]` section.
    #[serde(default)]
    pub log: bulwark_web::log_settings::LogConfig,
}

fn default_jwks_secs() -> u64 {
    30
}

fn default_revocation_staleness() -> u64 {
    1000
}

fn default_client_cache() -> u64 {
    5
}

fn default_upstream_timeout() -> u64 {
    30
}

/// How the gateway introspects tokens: as a client of the server (`tls_client_auth`, marked
/// `resource_server` so it may see every client's tokens).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionSettings {
    /// The server's introspection endpoint.
    pub url: String,
    /// The gateway's client id at the server.
    pub client_id: String,
    /// The gateway's client certificate chain and key (PEM), for mutual TLS.
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// The gateway's certificate files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// The FAPI profile whose TLS 1.2 cipher suites the gateway offers (`fapi2`, the
    /// default, or `fapi1-advanced`): set it to the authorization server's `tokens.profile`.
    #[serde(default)]
    pub profile: bulwark_core::Profile,
}

/// Which access token a route takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKindConfig {
    /// A PSU-consented token (authorization code / refresh).
    #[default]
    Psu,
    /// An application token (client credentials).
    Application,
}

/// One route: which requests, where they go, and the policy they must pass.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// The path pattern, `{Name}` for a segment (`/open-banking/v3.1/aisp/accounts/{AccountId}/balances`).
    pub path: String,
    /// The upstream base URL (`http://10.0.0.7:8080`); the request path is appended.
    pub upstream: String,
    /// The token kind (default `psu`).
    #[serde(default)]
    pub token: TokenKindConfig,
    /// The resource API (`accounts`, `balances`, `transactions`, `domestic-payments`,
    /// `funds-confirmations`, ...): it fixes the PSD2 role, the default scope and the consent
    /// permissions a PSU token needs.
    pub api: String,
    /// The scope the token must carry (default: the API's: `accounts`, `payments`,
    /// `fundsconfirmations`).
    #[serde(default)]
    pub scope: Option<String>,
    /// The path parameter naming the account, for account-scoped paths: it must be among the
    /// consent's selected accounts.
    #[serde(default)]
    pub account_param: Option<String>,
    /// A payment submission: the body must match the consent's initiation.
    #[serde(default)]
    pub payment_submission: bool,
    /// On a payment submission route: the bank answers a repeated `x-idempotency-key` with
    /// the payment it made (OB idempotency, required of ASPSPs), so the submission that
    /// consumed a consent, sent again by its client with the same key and body within 24
    /// hours, is forwarded again. Off: it is refused as a second payment (400).
    #[serde(default)]
    pub idempotent_upstream: bool,
    /// The path parameter naming a payment (`DomesticPaymentId`), for payment reads: the
    /// payment must be one the calling client submitted through the gateway.
    #[serde(default)]
    pub payment_param: Option<String>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("gateway configuration: {0}")]
pub struct ConfigError(pub String);

impl GatewayConfig {
    /// Loads `path` overlaid with `BULWARK_GATEWAY_*` (`__` separates sections), and checks
    /// it ([`GatewayConfig::check`]).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed("BULWARK_GATEWAY_").split("__"))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Refuses a configuration that cannot work, before anything is started: a `log.level`
    /// that is not a tracing filter (`LogConfig::check`); a payment submission consumes its
    /// consent (a database write, Authorised -> Consumed), so a payment-submission route
    /// over a read-only database would refuse every payment at run time.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.log.check().map_err(ConfigError)?;
        if bulwark_store::opens_read_only(&self.database_url)
            && let Some(route) = self.routes.iter().find(|r| r.payment_submission)
        {
            return Err(ConfigError(format!(
                "route {} {} is a payment submission, which consumes its consent (a database \
                 write), but database_url opens the database read-only (mode=ro or \
                 immutable=1); give the gateway a writable database URL, or remove the route",
                route.method, route.path
            )));
        }
        // The server's introspection answers `active: false` for a token whose consent is no
        // longer Authorised: a consumed payment consent's resend would be 401 before the
        // gateway could recognise it.
        if self.introspection.is_some()
            && let Some(route) = self.routes.iter().find(|r| r.idempotent_upstream)
        {
            return Err(ConfigError(format!(
                "route {} {} sets idempotent_upstream, which needs tokens checked locally: with \
                 [introspection] the server answers a resent submission's token inactive once \
                 its consent is consumed, so the resend would be refused (401). Set jwks_uri \
                 instead of [introspection], or remove idempotent_upstream",
                route.method, route.path
            )));
        }
        // A remembered submission is not tied to a route: a resend through another idempotent
        // route would reach an upstream that never saw its key and pay again.
        let mut idempotent = self.routes.iter().filter(|r| r.idempotent_upstream);
        if let Some(first) = idempotent.next()
            && let Some(other) = idempotent.find(|r| r.upstream != first.upstream)
        {
            return Err(ConfigError(format!(
                "routes {} {} and {} {} both set idempotent_upstream but go to different \
                 upstreams; a payment sent again through the other would be made twice. Give \
                 them one upstream, or set idempotent_upstream on one of them only",
                first.method, first.path, other.method, other.path
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use bulwark_web::log_settings::LogFormat;

    fn config(database_url: &str, payment_submission: bool) -> GatewayConfig {
        serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:0",
            "tls": {"cert": "c.pem", "key": "k.pem"},
            "issuer": "https://as.example",
            "database_url": database_url,
            "routes": [
                {"method": "GET", "path": "/accounts", "upstream": "http://u", "api": "accounts"},
                {"method": "POST", "path": "/domestic-payments", "upstream": "http://u",
                 "api": "domestic-payments", "payment_submission": payment_submission}
            ]
        }))
        .unwrap()
    }

    /// The gateway's `[log]`: `info` and human lines unless it says otherwise; a key it does
    /// not know is refused, as everywhere in its configuration.
    #[test]
    fn gw_1_the_gateway_log_comes_from_its_configuration() {
        let plain = config("sqlite:///db/bulwark.db", false);
        assert_eq!(
            (plain.log.level.as_str(), plain.log.format),
            ("info", LogFormat::Human)
        );
        let mut value = serde_json::to_value(serde_json::json!({
            "listen": "127.0.0.1:0",
            "tls": {"cert": "c.pem", "key": "k.pem"},
            "issuer": "https://as.example",
            "database_url": "sqlite:///db/bulwark.db",
            "log": {"level": "warn", "format": "json"}
        }))
        .unwrap();
        let quiet: GatewayConfig = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            (quiet.log.level.as_str(), quiet.log.format),
            ("warn", LogFormat::Json)
        );
        assert!(quiet.check().is_ok());
        // OP-4: a level that is not a tracing filter is refused at start, as the server's.
        let mut wrong = quiet.clone();
        wrong.log.level = "warning".into();
        assert!(matches!(wrong.check(), Err(ConfigError(m)) if m.contains("log.level")));
        value["log"]["colour"] = serde_json::json!(true);
        assert!(serde_json::from_value::<GatewayConfig>(value).is_err());
    }

    #[test]
    fn gw_1_a_payment_route_over_a_read_only_database_is_a_config_error() {
        let refused = config("sqlite:///db/bulwark.db?mode=ro", true).check();
        let Err(ConfigError(message)) = refused else {
            panic!("accepted a payment route over a read-only database");
        };
        assert!(message.contains("/domestic-payments"), "{message}");
        assert!(message.contains("read-only"), "{message}");
        assert!(
            config("sqlite:///db/bulwark.db?immutable=1", true)
                .check()
                .is_err()
        );
        // Reads alone are fine read-only; a payment route is fine over a writable database.
        assert!(
            config("sqlite:///db/bulwark.db?mode=ro", false)
                .check()
                .is_ok()
        );
        assert!(config("sqlite:///db/bulwark.db", true).check().is_ok());
        // Idempotent re-forwarding through two upstreams could pay twice.
        let two = |second: &str| {
            let mut c = config("sqlite:///db/bulwark.db", true);
            let mut v1 = c.routes[1].clone();
            v1.idempotent_upstream = true;
            let mut v2 = v1.clone();
            v2.path = "/v4/domestic-payments".into();
            v2.upstream = second.into();
            c.routes = vec![v1, v2];
            c.check()
        };
        assert!(two("http://u").is_ok());
        assert!(two("http://other").is_err());
        assert!(
            config("postgres://bulwark@db/bulwark", true)
                .check()
                .is_ok()
        );
    }

    /// GW-1: idempotent resends need local token checks. Through introspection, a resent
    /// submission's token is inactive once its consent is consumed (the server answers so for
    /// every token whose consent is not Authorised), so OB idempotency could never work.
    #[test]
    fn gw_1_idempotent_resends_with_introspection_are_a_config_error() {
        let mut c = config("sqlite:///db/bulwark.db", true);
        c.introspection = Some(IntrospectionSettings {
            url: "https://as.example/introspect".into(),
            client_id: "gateway".into(),
            cert: "g.pem".into(),
            key: "g-key.pem".into(),
        });
        assert!(c.check().is_ok(), "submissions without resends are fine");
        c.routes[1].idempotent_upstream = true;
        let Err(ConfigError(message)) = c.check() else {
            panic!("accepted idempotent resends through introspection");
        };
        assert!(message.contains("idempotent_upstream"), "{message}");
        assert!(message.contains("jwks_uri"), "{message}");
    }
}
