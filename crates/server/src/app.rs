//! Building and running the server: configuration in, a bound TLS listener out. Used by
//! `bulwark serve` and by the end-to-end tests (port 0, fresh database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bulwark_authz::{AccountDirectory, AuthzParts, AuthzService, PsuDirectory, StoredPsuDirectory};
use bulwark_certs::{CertValidator, TrustAnchors};
use bulwark_clients::{AuthSettings, ClientAuthenticator, ClientDirectory};
use bulwark_core::{Clock, OutboundHttp, OutboundSettings, Rng, SystemClock, SystemRng};
use bulwark_dcr::{DcrParts, DcrService};
use bulwark_jose::{JwksFetcher, KeySet};
use bulwark_par::{ParService, ParServiceParts};
use bulwark_resource::{ResourceGuard, SignaturePolicy};
use bulwark_store::{ConnectSettings, SqlStore};
use bulwark_token::{TokenService, TokenServiceParts};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::dev_pki::DevPki;
use crate::state::{
    AppState, Areas, AuthzState, ConsentState, MetaState, OAuthState, Readiness, RegistrationState,
    StaffState,
};
use crate::{listener, routes, signing, tls};

/// Who the PSUs are and which accounts they hold: the bank's own systems (its login and its
/// core banking) plugged in through `bulwark_authz`'s traits, or by default the demo directory
/// kept in the database.
pub struct Directories {
    /// PSU authentication (and the authentication level each login reaches).
    pub psus: Arc<dyn PsuDirectory>,
    /// The accounts a PSU may select on the consent page.
    pub accounts: Arc<dyn AccountDirectory>,
}

/// The bank's own systems Bulwark asks, each replacing a default when given.
#[derive(Default)]
pub struct BankSystems {
    /// PSU authentication and accounts (default: the demo directory in the database, with
    /// the demo PSU seeded in development).
    pub directories: Option<Directories>,
    /// Cut-off, expected dates and charges of payment consents (default: none).
    pub payment_terms: Option<Arc<dyn bulwark_consent::PaymentTermsProvider>>,
    /// Whether an authorised payment can be made now (default: cannot tell).
    pub funds: Option<Arc<dyn bulwark_consent::FundsCheck>>,
}

/// A server ready to run: listener bound, database migrated, keys loaded.
pub struct Application {
    addr: SocketAddr,
    listener: TcpListener,
    tls: bulwark_web::tls::TlsSource,
    certificates: CertReloader,
    state: AppState,
    store: SqlStore,
    keys: KeySet,
    /// How often the signing keys are re-read from the database (DS-2).
    key_reload: Duration,
    issuer: String,
    clock: Arc<dyn Clock>,
    grace: Duration,
    limits: bulwark_web::ConnectionLimits,
    request_deadline: Duration,
    admin: Option<TcpListener>,
    staff: Option<TcpListener>,
    /// Where this application's security events go (OP-6).
    audit: crate::audit_log::AuditRoute,
    /// What was generated or loaded at start, for the operator (OP-1 "prints where they are").
    pub report: Vec<String>,
}

impl Application {
    /// Builds everything from the configuration with the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds everything with an injected clock (tests).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::build_with(config, clock, BankSystems::default()).await
    }

    /// Builds everything with an injected clock and the bank's own systems where given
    /// (see [`BankSystems`] for the defaults).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        bank: BankSystems,
    ) -> anyhow::Result<Self> {
        let directories = bank.directories;
        crate::metrics::install();
        let mut report = Vec::new();
        for w in config.warnings() {
            tracing::warn!(target: "bulwark::security", warning = %w, "configuration weakens a defence");
            report.push(format!("warning: {w}"));
        }

        // The process's one source of randomness: ids, tokens, OCSP nonces.
        let rng: Arc<dyn Rng> = Arc::new(SystemRng);
        let (server_tls, validator) = load_certificates(&config, &mut report)?;
        let validator = validator.with_rng(rng.clone());
        let tls = bulwark_web::tls::TlsSource::new(server_tls);
        let certificates = CertReloader {
            config: config.clone(),
            tls: tls.clone(),
            validator: validator.clone(),
        };

        let url = config.database_url();
        if url.starts_with("sqlite:") {
            config.create_data_dir().with_context(|| {
                format!("creating data directory {}", config.data_dir.display())
            })?;
        }
        let settings = ConnectSettings {
            // SQLite has one writer at a time: more connections only queue in its busy handler.
            max_connections: config
                .database
                .max_connections
                .unwrap_or(if url.starts_with("sqlite:") { 1 } else { 16 }),
            startup_timeout: Duration::from_secs(
                config.database.connect_timeout_secs.unwrap_or(15),
            ),
            acquire_timeout: config.database.acquire_timeout(),
        };
        let store = config.connect_store(&settings).await?;
        store.migrate().await?;
        report.push(format!(
            "database: {:?} ({})",
            store.backend(),
            redact_url(&url)
        ));

        // CERT-8 needs an organisation: static clients without one skip the check.
        {
            use bulwark_store::ClientStore;
            let unbound: Vec<String> = store
                .list_clients()
                .await?
                .into_iter()
                .filter(|c| {
                    c.metadata.software_id.is_none()
                        && !c.metadata.extra.contains_key("organization_identifier")
                })
                .map(|c| c.client_id)
                .collect();
            if !unbound.is_empty() {
                let w = format!(
                    "{} static client(s) without organization_identifier metadata; their certificates' organisation is not checked (CERT-8): {}",
                    unbound.len(),
                    unbound.join(", ")
                );
                tracing::warn!(target: "bulwark::security", warning = %w, "configuration weakens a defence");
                report.push(format!("warning: {w}"));
            }
        }
        let (keys, generated) = signing::load_or_generate(&store, clock.as_ref()).await?;
        for kid in &generated {
            report.push(format!(
                "generated signing key {kid} (stored in the database)"
            ));
        }
        let kids: Vec<String> = keys
            .current()
            .keys()
            .iter()
            .map(|k| format!("{} {}", k.alg(), k.kid()))
            .collect();
        report.push(format!("signing keys: {}", kids.join(", ")));

        let store_arc = Arc::new(store.clone());
        let dev_mode = config.tls.cert.is_none();
        let mut outbound_roots = Vec::new();
        for path in &config.http.outbound_ca {
            outbound_roots.extend(tls::load_chain(path)?.into_iter().map(|c| c.to_vec()));
        }
        // One outbound client for every https fetch (client and directory JWKS, sector
        // identifiers); revocation has its own, plain http allowed, inside the validator.
        // The URLs are the TPPs' choice: no private addresses unless the bank allows them.
        let outbound = OutboundHttp::new(&OutboundSettings {
            extra_roots: outbound_roots,
            public_only: !config.http.outbound_allow_private,
            identity_pem: None,
            ..OutboundSettings::https(
                Duration::from_millis(config.tokens.jwks_fetch_timeout_ms),
                "bulwark",
            )
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let fetcher = Arc::new(
            JwksFetcher::with_client(
                outbound.clone(),
                Duration::from_secs(config.tokens.jwks_cache_secs),
            )
            .with_max_stale(Duration::from_secs(config.tokens.jwks_max_stale_secs)),
        );
        let directory = Arc::new(ClientDirectory::new(
            store_arc.clone(),
            store_arc.clone(),
            Duration::from_secs(config.tokens.client_cache_secs),
            fetcher.clone(),
        ));
        let authenticator = Arc::new(
            ClientAuthenticator::new(
                config.issuer.clone(),
                AuthSettings {
                    profile: config.tokens.profile,
                    assertion_max_lifetime_secs: config.tokens.assertion_max_lifetime_secs,
                    clock_skew_secs: config.tokens.clock_skew_secs,
                },
                directory.clone(),
                store_arc.clone(),
                validator.clone(),
            )
            .with_token_endpoint(format!(
                "{}{}",
                config.issuer,
                routes::Endpoint::Token.path()
            )),
        );
        let mut consents =
            bulwark_consent::ConsentService::with_rng(store_arc.clone(), rng.clone());
        if let Some(codes) = &config.consents.supported_permissions {
            let permissions = bulwark_consent::parse_permissions(codes)
                .map_err(|e| anyhow::anyhow!("consents.supported_permissions: {e}"))?;
            consents = consents.with_supported_permissions(permissions);
        }
        if let Some(codes) = &config.consents.supported_local_instruments {
            let codes = bulwark_consent::LocalInstruments::parse(codes)
                .map_err(|e| anyhow::anyhow!("consents.supported_local_instruments: {e}"))?;
            consents = consents.with_local_instruments(codes);
        }
        if let Some(terms) = bank.payment_terms {
            consents = consents.with_payment_terms(terms);
        }
        if let Some(funds) = bank.funds {
            consents = consents.with_funds_check(funds);
        }
        let dcr = Arc::new(
            DcrService::new(DcrParts {
                settings: config.dcr.clone(),
                issuer: config.issuer.clone(),
                registration_endpoint: format!(
                    "{}{}",
                    config.issuer,
                    routes::Endpoint::Register.path()
                ),
                clock: clock.clone(),
                rng: rng.clone(),
                clients: store_arc.clone(),
                registrations: store_arc.clone(),
                validator: validator.clone(),
                directory: directory.clone(),
                fetcher,
                http: outbound,
                clock_skew_secs: config.tokens.clock_skew_secs,
                profile: config.tokens.profile,
            })
            .map_err(|e| anyhow::anyhow!("dcr: {e}"))?,
        );
        if !config.dcr.directories.is_empty() {
            let names: Vec<&str> = config
                .dcr
                .directories
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            report.push(format!("DCR software directories: {}", names.join(", ")));
        }
        let tokens = Arc::new(
            TokenService::new(TokenServiceParts {
                issuer: config.issuer.clone(),
                settings: config.tokens.clone(),
                clock: clock.clone(),
                rng: rng.clone(),
                keys: keys.clone(),
                directory: directory.clone(),
                authenticator: authenticator.clone(),
                replay: store_arc.clone(),
                consents: Some(Arc::new(ConsentStanding(consents.clone()))),
                authorizations: Some(store_arc.clone()),
            })
            .map_err(|e| anyhow::anyhow!("tokens: {e}"))?,
        );
        let par = Arc::new(
            ParService::new(ParServiceParts {
                issuer: config.issuer.clone(),
                settings: config.par.clone(),
                default_profile: config.tokens.profile,
                clock: clock.clone(),
                rng: rng.clone(),
                directory: directory.clone(),
                authenticator,
                store: store_arc.clone(),
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let directories = match directories {
            Some(plugged) => {
                if config.pages.demo_psu == Some(true) {
                    report.push(
                        "warning: pages.demo_psu is ignored: the bank's own PSU directory is plugged in"
                            .into(),
                    );
                }
                plugged
            }
            None => {
                let psus = Arc::new(
                    StoredPsuDirectory::new(store_arc.clone(), rng.as_ref())
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                );
                if config.pages.demo_psu.unwrap_or(dev_mode) {
                    report.push(
                        crate::demo::ensure_demo_psu(
                            &psus,
                            &config.data_dir,
                            rng.as_ref(),
                            clock.unix(),
                        )
                        .await?,
                    );
                }
                Directories {
                    psus: psus.clone(),
                    accounts: psus,
                }
            }
        };
        let authz = Arc::new(
            AuthzService::new(AuthzParts {
                issuer: config.issuer.clone(),
                settings: config.authorization.clone(),
                clock: clock.clone(),
                rng: rng.clone(),
                par: par.clone(),
                consents: consents.clone(),
                store: store_arc.clone(),
                throttle: store_arc.clone(),
                psus: directories.psus,
                accounts: directories.accounts,
                keys: keys.clone(),
                default_alg: tokens.default_alg(),
                pairwise_salt: crate::demo::pairwise_salt(
                    &config,
                    &store,
                    rng.as_ref(),
                    clock.unix(),
                )
                .await?,
            })
            .map_err(|e| anyhow::anyhow!("authorization: {e}"))?,
        );
        let capabilities = Arc::new(routes::Capabilities {
            subject_type: authz.subject_type(),
            require_par: config.tokens.profile == bulwark_core::Profile::Fapi2
                || config.par.require_par,
        });
        let branding = Arc::new(crate::pages::Branding {
            bank_name: config.pages.bank_name.clone(),
            logo: match &config.pages.logo {
                Some(path) => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("pages.logo {}", path.display()))?;
                    let kind = if path.extension().is_some_and(|e| e == "png") {
                        "image/png"
                    } else {
                        "image/svg+xml"
                    };
                    (bytes, kind)
                }
                None => (crate::pages::DEFAULT_LOGO.to_vec(), "image/svg+xml"),
            },
        });
        let response_signer = crate::response_signing::load(
            config.consents.response_signing.as_ref(),
            &config.consents.jws_trust_anchor,
        )?;
        let audit = crate::audit_log::register(store_arc.clone(), clock.clone());
        let audit_app = audit.app_id;
        let staff = Arc::new(
            bulwark_staff::StaffService::new(
                store_arc.clone(),
                Arc::new(consents.clone()),
                directory.clone(),
                tokens.clone(),
                rng.clone(),
                config.staff.settings(),
            )
            .map_err(|e| anyhow::anyhow!("staff console: {e}"))?
            .with_audit_queue(Arc::new(move |event| {
                if event.action == bulwark_staff::LOGIN_FAILED {
                    crate::audit_log::enqueue_refusal(audit_app, event);
                    return None;
                }
                crate::audit_log::enqueue(audit_app, event)
            })),
        );
        let guard = Arc::new(ResourceGuard::new(
            tokens.clone(),
            directory,
            validator.clone(),
            clock.clone(),
            SignaturePolicy {
                required_for_all: config.consents.require_jws_signature,
                unexpected: config.consents.unexpected_signature,
                verifier: bulwark_consent::DetachedJwsVerifier::new(
                    validator,
                    config.consents.jws_trust_anchor.clone(),
                    config.consents.jws_iat_skew_secs,
                )
                .with_max_age(config.consents.jws_max_age_secs)
                .with_versions(&config.consents.signing_versions),
            },
            config
                .tokens
                .default_audience
                .clone()
                .unwrap_or_else(|| config.issuer.clone()),
        ));

        let listener = TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.http.listen))?;
        let addr = listener.local_addr()?;
        let admin = match config.http.admin_listen {
            Some(admin_addr) => {
                let admin = TcpListener::bind(admin_addr)
                    .await
                    .with_context(|| format!("cannot listen on {admin_addr} (admin)"))?;
                report.push(format!(
                    "operations endpoints (/healthz, /readyz, /metrics) on http://{}",
                    admin.local_addr()?
                ));
                Some(admin)
            }
            None => None,
        };
        let staff_listener = match config.staff.listen {
            Some(staff_addr) => {
                let l = TcpListener::bind(staff_addr)
                    .await
                    .with_context(|| format!("cannot listen on {staff_addr} (staff)"))?;
                report.push(format!(
                    "staff console on https://{}/staff (not on the main listener)",
                    l.local_addr()?
                ));
                Some(l)
            }
            None => {
                report.push(format!("staff console on {}/staff", config.issuer));
                None
            }
        };
        let grace = Duration::from_secs(config.http.shutdown_grace_secs);
        let issuer: Arc<str> = Arc::from(config.issuer.as_str());
        let state = AppState::new(Areas {
            meta: MetaState {
                issuer: issuer.clone(),
                keys: keys.clone(),
                published: response_signer
                    .iter()
                    .map(|s| s.public_jwk().clone())
                    .collect(),
                readiness: Readiness::new(store.clone()),
                capabilities,
            },
            oauth: OAuthState {
                issuer: issuer.clone(),
                tokens,
            },
            registration: RegistrationState {
                dcr,
                guard: guard.clone(),
            },
            consents: ConsentState {
                api_base: config
                    .consents
                    .api_base
                    .as_deref()
                    .map_or(issuer, Arc::from),
                service: consents,
                guard,
                clock: clock.clone(),
                response_signer,
            },
            mtls: bulwark_web::MtlsConfig(Arc::new(config.mtls.clone())),
            authz: AuthzState {
                issuer: Arc::from(config.issuer.as_str()),
                par,
                authz,
                branding: branding.clone(),
                rng: rng.clone(),
            },
            staff: StaffState {
                service: staff,
                branding,
                clock: clock.clone(),
                rng,
            },
            audit_app: audit.app_id,
        });
        Ok(Self {
            addr,
            listener,
            tls,
            certificates,
            state,
            store,
            keys,
            key_reload: config.keys.reload(),
            issuer: config.issuer,
            clock,
            grace,
            limits: bulwark_web::ConnectionLimits {
                // Behind a TLS-terminating proxy every peer is a proxy: no per-address cap.
                max_connections_per_address: match config.mtls.mode {
                    bulwark_certs::MtlsMode::Proxy => 0,
                    bulwark_certs::MtlsMode::Direct => config.http.max_connections_per_address,
                },
                ..config.http.limits()
            },
            request_deadline: Duration::from_secs(config.http.request_timeout_secs),
            admin,
            staff: staff_listener,
            audit,
            report,
        })
    }

    /// The staff console's own listener address, when `[staff] listen` is set.
    pub fn staff_addr(&self) -> Option<SocketAddr> {
        self.staff.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The admin listener's address, when `[http] admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The router's state (tests reach services through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The database (operator commands and test fixtures).
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// The signing keys in force.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// What re-reads the certificates and trust anchors while the server runs (SIGHUP).
    pub fn certificate_reloader(&self) -> CertReloader {
        self.certificates.clone()
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serves until `shutdown` completes, then drains in-flight requests on the public and the
    /// staff listeners together (each within the grace period), reports not ready meanwhile,
    /// and only then finishes the audit log and closes the database.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        let (stopping, stop) = tokio::sync::watch::channel(false);
        let readiness = self.state.meta.readiness.clone();
        let shutdown = async move {
            shutdown.await;
            readiness.begin_shutdown();
            let _ = stopping.send(true);
        };
        let stopped = move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        };
        let router = routes::router(
            self.state.clone(),
            self.request_deadline,
            self.admin.is_some(),
            self.staff.is_some(),
        );
        let staff = self.staff.map(|l| {
            let router = routes::staff_router(self.state.clone(), self.request_deadline);
            let (tls, grace, limits) = (self.tls.clone(), self.grace, self.limits);
            tokio::spawn(listener::serve_with(
                l,
                tls,
                router,
                stopped(),
                grace,
                limits,
            ))
        });
        // Plain HTTP with the public listener's timeouts and connection cap: a peer that opens
        // connections and sends nothing cannot hold the process's sockets. Ends with the node
        // (aborted below), so no drain of its own.
        let admin = self.admin.map(|l| {
            let router = routes::admin_router(self.state.clone());
            tokio::spawn(bulwark_web::listener::serve_plain_with(
                l,
                router,
                std::future::pending(),
                Duration::ZERO,
                self.limits,
            ))
        });
        let purge = tokio::spawn(purge_expired_records(
            self.store.clone(),
            self.clock.clone(),
            self.state.staff.service.settings().clone(),
        ));
        let key_reloader = signing::spawn_reloader(
            Arc::new(self.store.clone()),
            self.clock.clone(),
            self.keys.clone(),
            self.key_reload,
        );
        listener::serve_with(
            self.listener,
            self.tls,
            router,
            shutdown,
            self.grace,
            self.limits,
        )
        .await;
        purge.abort();
        key_reloader.abort();
        if let Some(admin) = admin {
            admin.abort();
        }
        if let Some(staff) = staff {
            // Its drain began with the public listener's; wait for its last requests (a staff
            // action and its audit row) before the audit log and the database close.
            let _ = staff.await;
        }
        self.audit.finish(crate::audit_log::FINISH_GRACE).await;
        self.store.close().await;
    }
}

/// Deletes single-use and revocation records once the artefacts they guard have expired, so the
/// tables stay the size of the live window. Every node may run it; the deletes are idempotent.
async fn purge_expired_records(
    store: SqlStore,
    clock: Arc<dyn Clock>,
    staff: bulwark_staff::StaffSettings,
) {
    use bulwark_store::ReplayStore;
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        purge_staff_sessions(&store, clock.as_ref(), &staff).await;
        if let Err(e) =
            bulwark_store::AuthorizationStore::purge_authorization(&store, horizon(clock.as_ref()))
                .await
        {
            tracing::warn!(error = %e, "purging expired authorization records failed");
        }
        match store.purge_expired(horizon(clock.as_ref())).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(records = n, "purged expired replay and revocation records"),
            Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
        }
    }
}

/// Staff sessions abandoned without a logout (a closed browser), once past their lifetime or
/// idle limit: refused when used anyway, they would otherwise stay a row each for good.
async fn purge_staff_sessions(
    store: &SqlStore,
    clock: &dyn Clock,
    staff: &bulwark_staff::StaffSettings,
) {
    let at = horizon(clock);
    let purged = bulwark_store::StaffStore::purge_staff_sessions(
        store,
        at.saturating_sub(staff.session_lifetime_secs),
        at.saturating_sub(staff.idle_timeout_secs),
    )
    .await;
    match purged {
        Ok(0) => {}
        Ok(n) => tracing::debug!(sessions = n, "purged ended staff sessions"),
        Err(e) => tracing::warn!(error = %e, "purging ended staff sessions failed"),
    }
}

/// How far behind this node's clock purging stays: another node whose clock runs slow may
/// still be checking a record this node thinks expired (a replayed jti must stay refused).
const PURGE_MARGIN_SECS: i64 = 300;

/// Records that expired before this are purged.
fn horizon(clock: &dyn Clock) -> i64 {
    clock.unix().saturating_sub(PURGE_MARGIN_SECS)
}

/// TK-6: introspection asks the consent service whether a token's consent still stands.
struct ConsentStanding(bulwark_consent::ConsentService);

#[async_trait::async_trait]
impl bulwark_token::ConsentCheck for ConsentStanding {
    async fn is_authorised(
        &self,
        consent_id: &str,
        now: i64,
    ) -> Result<bool, bulwark_token::TokenError> {
        use bulwark_token::TokenError;
        let now = time::OffsetDateTime::from_unix_timestamp(now)
            .map_err(|e| TokenError::Internal(e.to_string()))?;
        self.0
            .is_authorised(consent_id, now)
            .await
            .map_err(|e| match e {
                bulwark_consent::ConsentError::Store(store) if store.is_unavailable() => {
                    TokenError::Unavailable(store.to_string())
                }
                other => TokenError::Internal(other.to_string()),
            })
    }
}

/// Reads the server certificate and key and the client-certificate trust anchors named in
/// `config` (or the development PKI), and builds the TLS configuration and the validator.
fn load_certificates(
    config: &Config,
    report: &mut Vec<String>,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, CertValidator)> {
    let (chain, key, dev_ca) = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => (tls::load_chain(cert)?, tls::load_key(key)?, None),
        _ => {
            let (pki, generated) = DevPki::ensure(&config.data_dir)?;
            let verb = if generated { "generated" } else { "using" };
            report.push(format!("{verb} development CA: {}", pki.ca_cert.display()));
            report.push(format!(
                "{verb} server certificate for localhost: {}",
                pki.server_cert.display()
            ));
            report.push(format!(
                "{verb} development client certificate: {} (key {})",
                pki.client_cert.display(),
                pki.client_key.display()
            ));
            (
                tls::load_chain(&pki.server_cert)?,
                tls::load_key(&pki.server_key)?,
                Some(pki.ca_cert),
            )
        }
    };

    let (anchor_paths, revocation) = trust_setup(config, dev_ca, report);
    let anchors = anchor_paths.try_map(|p| TrustAnchors::load(p))?;
    let ob_directory = TrustAnchors::load(&config.trust.ob_directory)?;
    if !ob_directory.is_empty() {
        report.push(format!(
            "{} UK Open Banking directory CA(s) trusted under the ob-directory profile",
            ob_directory.certs().len()
        ));
    }
    let validator = CertValidator::with_profiles(
        &anchors,
        &ob_directory,
        Duration::from_secs(config.trust.clock_skew_secs),
        revocation,
    )?;
    // The handshake asks for certificates of the CAs trusted for TLS client purposes.
    let mut hinted = anchors.tls_client.certs().to_vec();
    hinted.extend(anchors.qwac.certs().iter().cloned());
    hinted.extend(ob_directory.certs().iter().cloned());
    hinted.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    hinted.dedup();
    let hints = hinted.iter().filter_map(|c| webpki_subject(c)).collect();
    let server_tls = Arc::new(tls::server_config(
        chain,
        key,
        hints,
        config.tokens.profile,
    )?);
    Ok((server_tls, validator))
}

/// What SIGHUP re-reads without a restart (OP-3): the server certificate and key, and the
/// trust anchors, from the files the configuration names (the configuration file itself is
/// not re-read). New handshakes use the new certificate; open connections finish on theirs.
#[derive(Clone)]
pub struct CertReloader {
    config: Config,
    tls: bulwark_web::tls::TlsSource,
    validator: CertValidator,
}

impl CertReloader {
    /// Re-reads the files and puts them in force; on any error nothing changes.
    pub fn reload(&self) -> anyhow::Result<Vec<String>> {
        let mut report = Vec::new();
        let (server_tls, validator) = load_certificates(&self.config, &mut report)?;
        self.tls.replace(server_tls);
        self.validator.replace_anchors(&validator);
        Ok(report)
    }
}

/// The trust anchors (per purpose) and revocation settings in force: the configured ones, or
/// in development mode (no anchors configured for any purpose) the development CA for every
/// purpose, whose certificates skip revocation because it runs no OCSP responder and publishes
/// no CRL. `bulwark certs verify` uses the same.
pub fn trust_setup(
    config: &Config,
    dev_ca: Option<std::path::PathBuf>,
    report: &mut Vec<String>,
) -> (
    bulwark_certs::ByPurpose<Vec<std::path::PathBuf>>,
    bulwark_certs::RevocationSettings,
) {
    let mut anchor_paths = config.trust.paths();
    let mut revocation = config.revocation.clone();
    let none_configured = anchor_paths.tls_client.is_empty()
        && anchor_paths.qwac.is_empty()
        && anchor_paths.sealing.is_empty()
        && config.trust.ob_directory.is_empty();
    if let (true, Some(ca)) = (none_configured, dev_ca) {
        report.push(
            "trusting the development CA for client certificates (no [trust] anchors configured)"
                .into(),
        );
        if let Some(dn) = subject_rfc4514(&ca) {
            report.push(format!(
                "revocation is not checked for certificates of {dn}"
            ));
        }
        if let Some(key) = tls::load_chain(&ca)
            .ok()
            .and_then(|c| c.first().and_then(|der| bulwark_certs::spki_sha256(der)))
        {
            revocation.exclude_issuers.push(key);
        }
        anchor_paths = bulwark_certs::ByPurpose::all(vec![ca]);
    }
    (anchor_paths, revocation)
}

fn subject_rfc4514(pem_path: &std::path::Path) -> Option<String> {
    let chain = tls::load_chain(pem_path).ok()?;
    let cert = bulwark_certs::parse::decode_cert(chain.first()?).ok()?;
    Some(bulwark_certs::DistinguishedName::from_name(&cert.tbs_certificate.subject).to_rfc4514())
}

fn webpki_subject(
    cert: &rustls_pki_types::CertificateDer<'_>,
) -> Option<rustls::DistinguishedName> {
    use x509_cert::der::{Decode, Encode};
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let der = parsed.tbs_certificate.subject.to_der().ok()?;
    Some(rustls::DistinguishedName::from(der))
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use bulwark_token::{ConsentCheck, TokenError};

    /// CO-5 housekeeping: a staff session abandoned without a logout goes once past its
    /// lifetime or idle limit (and the purge margin); one in use stays.
    #[tokio::test]
    async fn co_5_abandoned_staff_sessions_are_purged() {
        use bulwark_store::StaffStore;
        let db = bulwark_store::testing::TestDb::sqlite();
        let store = db.migrated_store().await.unwrap();
        let staff = bulwark_staff::StaffSettings::default();
        let now = 1_800_000_000;
        store
            .insert_staff(&bulwark_store::StaffRecord {
                username: "alice".into(),
                password_hash: "$argon2id$...".into(),
                role: "admin".into(),
                created_at: 0,
            })
            .await
            .unwrap();
        let session =
            |hash: &str, created_at: i64, last_seen: i64| bulwark_store::StaffSessionRecord {
                token_hash: hash.into(),
                username: "alice".into(),
                csrf: "c".into(),
                created_at,
                last_seen,
            };
        let margin = PURGE_MARGIN_SECS + 1;
        for s in [
            session("ended", now - staff.session_lifetime_secs - margin, now),
            session("idle", now - 60, now - staff.idle_timeout_secs - margin),
            session("in-use", now - 60, now),
        ] {
            store.insert_staff_session(&s).await.unwrap();
        }
        purge_staff_sessions(&store, &bulwark_core::FixedClock::at(now), &staff).await;
        for (hash, kept) in [("ended", false), ("idle", false), ("in-use", true)] {
            assert_eq!(
                store.get_staff_session(hash).await.unwrap().is_some(),
                kept,
                "{hash}"
            );
        }
        store.close().await;
    }

    /// OP-2: a consent the database cannot be asked about now is a retryable 503 for the
    /// code exchange, refresh and introspection, never "not authorised" (which would spend
    /// the PSU's code as `invalid_grant` or mark a good token inactive).
    #[tokio::test]
    async fn op_2_a_consent_that_cannot_be_read_is_unavailable_not_refused() {
        let db = bulwark_store::testing::TestDb::sqlite();
        let store = db.migrated_store().await.unwrap();
        let standing = ConsentStanding(bulwark_consent::ConsentService::new(Arc::new(
            store.clone(),
        )));
        assert!(
            !standing
                .is_authorised("aac-unknown", 1_700_000_000)
                .await
                .unwrap()
        );
        store.close().await;
        match standing.is_authorised("aac-unknown", 1_700_000_000).await {
            Err(TokenError::Unavailable(_)) => {}
            other => panic!("a closed database answered {other:?}"),
        }
        assert_eq!(
            TokenError::Unavailable("closed".into())
                .to_oauth()
                .code
                .http_status(),
            503
        );
    }
}
