//! The gateway process: configuration in, a bound TLS listener (client certificates from the
//! handshake or a trusted proxy, as the server) out; every request matched to its route,
//! decided by the policy, and forwarded or refused with an OB error body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use bulwark_certs::CertValidator;
use bulwark_clients::ClientDirectory;
use bulwark_consent::{ConsentService, DetachedJwsVerifier, ObError, ObErrorCode, ObErrorDetail};
use bulwark_core::Clock;
use bulwark_jose::JwksFetcher;
use bulwark_resource::{ResourceGuard, SignaturePolicy};
use bulwark_store::{ConnectSettings, SqlStore};
use bulwark_web::{BearerChallenge, InteractionId, MtlsConfig, PresentedChain};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::config::GatewayConfig;
use crate::policy::{Challenge, GatewayRefusal, Policy, Request as PolicyRequest};
use crate::proxy::Upstream;
use crate::route::{Route, find};
use crate::tokens::{IntrospectedTokens, JwksTokens};

/// The largest request body passed upstream (bytes).
const MAX_BODY: usize = 1024 * 1024;

struct Inner {
    routes: Vec<Arc<Route>>,
    policy: Policy,
    upstream: Upstream,
    clock: Arc<dyn Clock>,
    cert_header: Option<String>,
}

/// The router's state.
#[derive(Clone)]
struct GatewayState {
    inner: Arc<Inner>,
    mtls: MtlsConfig,
}

impl FromRef<GatewayState> for MtlsConfig {
    fn from_ref(s: &GatewayState) -> Self {
        s.mtls.clone()
    }
}

/// A gateway ready to run.
pub struct Gateway {
    listener: TcpListener,
    admin: Option<TcpListener>,
    tls: bulwark_web::tls::TlsSource,
    state: GatewayState,
    store: SqlStore,
    reloader: CertReloader,
    drain: Duration,
}

/// How much longer than the upstream timeout a stopping gateway waits for its requests: an
/// upstream call still running when the drain begins (a payment the bank is answering, its
/// consent already consumed) ends by its answer or its timeout, then its response is sent.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// What SIGHUP re-reads without a restart (OP-3), as the server does: the gateway's
/// certificate and key, and the client-certificate trust anchors. An operator renewing
/// certificates signals every process the runbook names; a file that does not load leaves
/// everything as it was.
#[derive(Clone)]
pub struct CertReloader {
    files: crate::config::TlsFiles,
    trust: bulwark_certs::TrustSettings,
    revocation: bulwark_certs::RevocationSettings,
    tls: bulwark_web::tls::TlsSource,
    validator: CertValidator,
}

impl CertReloader {
    /// Re-reads the files and puts them in force; on any error nothing changes. Returns what
    /// was loaded, for the log.
    pub fn reload(&self) -> anyhow::Result<Vec<String>> {
        let tls = load_tls(&self.files)?;
        let validator = CertValidator::from_settings(&self.trust, self.revocation.clone())?;
        self.tls.replace(tls);
        self.validator.replace_anchors(&validator);
        Ok(vec![
            format!("gateway certificate {}", self.files.cert.display()),
            "client-certificate trust anchors".to_string(),
        ])
    }
}

/// The gateway's TLS configuration from its certificate files.
fn load_tls(files: &crate::config::TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain = bulwark_web::tls::load_chain(&files.cert)?;
    let key = bulwark_web::tls::load_key(&files.key)?;
    Ok(Arc::new(bulwark_web::tls::server_config(
        chain,
        key,
        Vec::new(),
        files.profile,
    )?))
}

fn pem_roots(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut roots = Vec::new();
    for p in paths {
        roots.extend(
            bulwark_web::tls::load_chain(p)
                .with_context(|| format!("CA file {}", p.display()))?
                .into_iter()
                .map(|c| c.to_vec()),
        );
    }
    Ok(roots)
}

impl Gateway {
    /// Builds the gateway: database, trust anchors, JWKS fetcher, routes, listener.
    pub async fn build(config: GatewayConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        config.check()?;
        let routes = config
            .routes
            .iter()
            .map(|r| Route::new(r).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("gateway route: {e}"))?;
        let tls = bulwark_web::tls::TlsSource::new(load_tls(&config.tls)?);
        let store = SqlStore::connect(
            &config.database_url,
            &ConnectSettings {
                // SQLite runs statements inline on one connection (the pool only applies
                // migrations); PostgreSQL reads share a pool.
                max_connections: if config.database_url.starts_with("sqlite:") {
                    1
                } else {
                    16
                },
                startup_timeout: Duration::from_secs(15),
                acquire_timeout: Duration::from_secs(2),
            },
        )
        .await?;
        let store_arc = Arc::new(store.clone());
        let jwks_roots = pem_roots(&config.jwks_ca)?;
        // The server's key set: a URL of the bank's own configuration, often internal.
        let fetcher = Arc::new(
            JwksFetcher::new(
                Duration::from_secs(5),
                Duration::from_secs(config.jwks_cache_secs),
                &jwks_roots,
            )
            .map_err(|e| anyhow::anyhow!("JWKS client: {e}"))?,
        );
        // The clients' key sets (the directory's): URLs the TPPs chose, and the gateway sits
        // inside the bank's network, so public addresses only (SSRF). No gateway route checks
        // an `x-jws-signature` today (the server does, on the consent APIs), so none is
        // fetched; this keeps it so if one ever is.
        let client_keys = Arc::new(JwksFetcher::with_client(
            bulwark_core::OutboundHttp::new(&bulwark_core::OutboundSettings {
                public_only: true,
                ..bulwark_core::OutboundSettings::https(Duration::from_secs(5), "bulwark-gateway")
            })
            .map_err(|e| anyhow::anyhow!("client JWKS client: {e}"))?,
            Duration::from_secs(config.jwks_cache_secs),
        ));
        let validator = CertValidator::from_settings(&config.trust, config.revocation.clone())?;
        let reloader = CertReloader {
            files: config.tls.clone(),
            trust: config.trust.clone(),
            revocation: config.revocation.clone(),
            tls: tls.clone(),
            validator: validator.clone(),
        };
        let directory = Arc::new(ClientDirectory::new(
            store_arc.clone(),
            store_arc.clone(),
            Duration::from_secs(config.client_cache_secs),
            client_keys,
        ));
        // The CA files of `jwks_ca` also serve the introspection endpoint (the same server).
        let tokens: Arc<dyn bulwark_resource::AccessTokens> =
            match (&config.introspection, &config.jwks_uri) {
                (Some(i), _) => {
                    let mut pem = std::fs::read(&i.cert)
                        .with_context(|| format!("introspection cert {}", i.cert.display()))?;
                    pem.extend(
                        std::fs::read(&i.key)
                            .with_context(|| format!("introspection key {}", i.key.display()))?,
                    );
                    Arc::new(
                        IntrospectedTokens::new(
                            i.url.clone(),
                            i.client_id.clone(),
                            config.issuer.clone(),
                            &pem,
                            &jwks_roots,
                        )
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    )
                }
                (None, Some(uri)) => Arc::new(
                    JwksTokens::new(
                        fetcher.clone(),
                        uri.clone(),
                        config.issuer.clone(),
                        store_arc.clone(),
                        clock.clone(),
                    )
                    .with_revocation_staleness(Duration::from_millis(
                        config.revocation_staleness_ms,
                    )),
                ),
                (None, None) => anyhow::bail!(
                    "gateway configuration: set jwks_uri (check tokens locally) or [introspection]"
                ),
            };
        let guard = Arc::new(ResourceGuard::new(
            tokens,
            directory,
            validator.clone(),
            clock.clone(),
            SignaturePolicy {
                required_for_all: false,
                unexpected: bulwark_resource::UnexpectedSignature::Ignore,
                verifier: DetachedJwsVerifier::new(validator, "openbanking.org.uk", 60),
            },
            config
                .audience
                .clone()
                .unwrap_or_else(|| config.issuer.clone()),
        ));
        let consents = Arc::new(ConsentService::new(store_arc));
        let upstream = Upstream::new(
            &pem_roots(&config.upstream_ca)?,
            Duration::from_secs(config.upstream_timeout_secs),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let admin = match config.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (admin)"))?,
            ),
            None => None,
        };
        bulwark_web::metrics::install();
        let drain = Duration::from_secs(config.upstream_timeout_secs).saturating_add(DRAIN_MARGIN);
        Ok(Self {
            listener,
            admin,
            tls,
            reloader,
            drain,
            state: GatewayState {
                inner: Arc::new(Inner {
                    routes,
                    policy: Policy::new(guard, consents),
                    upstream,
                    clock,
                    cert_header: config.mtls.header.clone(),
                }),
                mtls: MtlsConfig(Arc::new(config.mtls)),
            },
            store,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The admin listener's address, when `admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What re-reads the certificates and trust anchors while the gateway runs (SIGHUP).
    pub fn certificate_reloader(&self) -> CertReloader {
        self.reloader.clone()
    }

    /// How long a shutdown waits for requests in flight: the upstream timeout and a margin.
    pub fn drain_grace(&self) -> Duration {
        self.drain
    }

    /// Serves until `shutdown` completes, then drains for [`Gateway::drain_grace`].
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        // Behind a TLS-terminating proxy every peer is a proxy: no per-address cap.
        let limits = bulwark_web::ConnectionLimits {
            max_connections_per_address: match self.state.mtls.0.mode {
                bulwark_certs::MtlsMode::Proxy => 0,
                bulwark_certs::MtlsMode::Direct => {
                    bulwark_web::ConnectionLimits::default().max_connections_per_address
                }
            },
            ..bulwark_web::ConnectionLimits::default()
        };
        let admin = self.admin.map(|l| {
            let router = Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .route("/healthz", axum::routing::get(|| async { "ok" }));
            // Plain HTTP with the gateway listener's timeouts and connection cap.
            tokio::spawn(bulwark_web::listener::serve_plain_with(
                l,
                router,
                std::future::pending(),
                Duration::ZERO,
                limits,
            ))
        });
        let router = Router::new()
            .fallback(handle)
            // One Authorization (and other singleton headers): the header the policy checks is
            // the one the upstream gets.
            .layer(axum::middleware::from_fn(
                bulwark_web::singleton::refuse_repeated,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                track,
            ))
            .with_state(self.state);
        bulwark_web::listener::serve_with(
            self.listener,
            self.tls,
            router,
            shutdown,
            self.drain,
            limits,
        )
        .await;
        if let Some(admin) = admin {
            admin.abort();
        }
        self.store.close().await;
    }
}

async fn metrics() -> String {
    bulwark_web::metrics::render()
}

/// The `WWW-Authenticate` challenge of a refusal (RFC 6750 3), none for [`Challenge::None`].
fn challenge_of(r: &GatewayRefusal) -> Option<BearerChallenge<'_>> {
    let bearer = BearerChallenge {
        realm: Some("bulwark"),
        ..BearerChallenge::default()
    };
    match &r.challenge {
        Challenge::None => None,
        // RFC 6750 3.1: a request with no token gets no error code.
        Challenge::Missing => Some(bearer),
        Challenge::InvalidToken => Some(BearerChallenge {
            error: Some(bulwark_core::OAuthErrorCode::InvalidToken),
            description: Some(&r.message),
            ..bearer
        }),
        Challenge::InsufficientScope(scope) => Some(BearerChallenge {
            error: Some(bulwark_core::OAuthErrorCode::InsufficientScope),
            scope: Some(scope),
            ..bearer
        }),
    }
}

/// An OB error answer, with the refusal's `WWW-Authenticate` challenge (RFC 6750 3).
fn refusal_response(r: &GatewayRefusal, id: &InteractionId) -> Response {
    let body = ObError {
        status: r.status,
        code: bulwark_consent::status_text(r.status).into(),
        id: id.as_str().to_string(),
        message: r.message.clone(),
        errors: vec![ObErrorDetail {
            error_code: r.code,
            message: r.message.clone(),
            path: None,
        }],
    };
    let mut response = bulwark_web::ob_error::ob_response(&body, id);
    if let Some(v) = challenge_of(r).and_then(|c| c.header_value()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// Answers a refusal on `route`: counted per route and reason, and logged once on
/// `bulwark::security` with its reason (a refusal the resource guard decided was logged there
/// by the guard, inside this request's `gateway_request` span, so not again here).
fn refuse(route: &Route, r: &GatewayRefusal, id: &InteractionId) -> Response {
    if !r.logged {
        tracing::warn!(target: "bulwark::security", route = %route.label, reason = r.reason, status = r.status, interaction_id = id.as_str(), error = %r.message, "gateway refused a request");
    }
    metrics::counter!("gateway_refusals_total", "route" => route.label.clone(), "reason" => r.reason)
        .increment(1);
    refusal_response(r, id)
}

/// The route a request matched, found once by [`track`] and used by [`handle`].
#[derive(Clone)]
struct Matched {
    route: Arc<Route>,
    params: Vec<(String, String)>,
}

/// Middleware: matches the request to its configured route (once; [`handle`] reads the
/// match), then counts it in `http_requests_total` and times it in
/// `http_request_duration_seconds` under the route's label (`GET /path/{Param}`), or
/// `unmatched` when no route matched. The gateway's router is a single fallback, so the
/// server's `web::metrics::track`, keyed on axum's matched path, would label every request
/// `unmatched`.
async fn track(State(s): State<GatewayState>, mut req: Request, next: Next) -> Response {
    let matched =
        find(&s.inner.routes, req.method().as_str(), req.uri().path()).map(|(route, params)| {
            Matched {
                route: route.clone(),
                params,
            }
        });
    let label = matched
        .as_ref()
        .map_or_else(|| "unmatched".to_string(), |m| m.route.label.clone());
    if let Some(m) = matched {
        req.extensions_mut().insert(m);
    }
    bulwark_web::metrics::track_as(label, req, next).await
}

async fn handle(
    State(s): State<GatewayState>,
    chain: PresentedChain,
    mut req: Request,
) -> Response {
    let id = InteractionId::of(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let Some(Matched { route, params }) = req.extensions_mut().remove::<Matched>() else {
        return refusal_response(
            &GatewayRefusal::new(
                404,
                ObErrorCode::ResourceNotFound,
                "no such API",
                "no_route",
            ),
            &id,
        );
    };
    let route_arc = route;
    let route = route_arc.as_ref();
    if let Some(name) = crate::proxy::judged_header_named_by_connection(req.headers()) {
        return refuse(
            route,
            &GatewayRefusal::new(
                400,
                ObErrorCode::HeaderInvalid,
                format!(
                    "the Connection header names {name}, which the gateway judges the request \
                     by and must forward"
                ),
                "connection_names_judged_header",
            ),
            &id,
        );
    }
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    // The certificate first: a caller without a usable one is refused before its body is
    // read (an unauthenticated peer holds no buffer and no time here).
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bulwark_core::bearer_token)
        .is_some();
    let cert = match chain.0 {
        Ok(c) => c,
        Err(e) => {
            // RFC 6750 3.1: an error code only when a bearer token was sent.
            let challenge = if bearer {
                Challenge::InvalidToken
            } else {
                Challenge::Missing
            };
            return refuse(
                route,
                &GatewayRefusal::new(
                    401,
                    ObErrorCode::HeaderInvalid,
                    format!("client certificate header refused ({})", e.reason()),
                    "certificate_header",
                )
                .with_challenge(challenge),
                &id,
            );
        }
    };
    // Nothing is admitted without a bearer token and a certificate: refused as the resource
    // guard refuses them, before the body is read.
    let missing = if !bearer {
        Some(bulwark_resource::Refusal::NoToken)
    } else if cert.chain.is_empty() {
        Some(bulwark_resource::Refusal::NoCertificate)
    } else {
        None
    };
    if let Some(r) = missing {
        r.log();
        return refuse(route, &GatewayRefusal::of_guard(&r), &id);
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => {
            let mut response = refuse(route, &r, &id);
            if r.status == 408 {
                // The rest of the body must not be read as a next request.
                response.headers_mut().insert(
                    header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            return response;
        }
    };
    let exchange = Exchange {
        state: s.clone(),
        route: Arc::clone(&route_arc),
        params,
        method,
        path_and_query,
        headers,
        cert,
        body,
        id: id.clone(),
    };
    if route.payment_submission {
        // A payment submission consumes its consent before it goes to the bank: from there
        // on it runs to its end (forwarded, then recorded or restored, and logged) even when
        // the TPP goes away meanwhile, which drops this handler.
        match tokio::spawn(exchange.run()).await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(route = %route.label, error = %e, interaction_id = id.as_str(), "payment submission task failed");
                upstream_failed(&id)
            }
        }
    } else {
        exchange.run().await
    }
}

/// How long the caller may take to send its body once its headers are in.
const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Reads the whole body: at most [`MAX_BODY`] bytes (413 past it) within [`BODY_DEADLINE`]
/// (408), and a body that breaks off is 400.
async fn read_body(body: axum::body::Body) -> Result<Bytes, GatewayRefusal> {
    match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                GatewayRefusal::new(
                    413,
                    ObErrorCode::FieldInvalid,
                    format!("the body is larger than {MAX_BODY} bytes"),
                    "body_too_large",
                )
            } else {
                GatewayRefusal::new(
                    400,
                    ObErrorCode::FieldInvalid,
                    "the body could not be read",
                    "body_unreadable",
                )
            })
        }
        Err(_) => Err(GatewayRefusal::new(
            408,
            ObErrorCode::FieldInvalid,
            format!(
                "the body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ),
            "body_timeout",
        )),
    }
}

/// One matched request with its certificate and body in hand: decided by the policy, then
/// forwarded. Owns everything, so a payment submission can run as its own task.
struct Exchange {
    state: GatewayState,
    route: Arc<Route>,
    params: Vec<(String, String)>,
    method: axum::http::Method,
    path_and_query: String,
    headers: axum::http::HeaderMap,
    cert: bulwark_web::ClientCert,
    body: Bytes,
    id: InteractionId,
}

impl Exchange {
    async fn run(self) -> Response {
        let Self {
            state: s,
            route,
            params,
            method,
            path_and_query,
            headers,
            cert,
            body,
            id,
        } = self;
        let g = &s.inner;
        let route = route.as_ref();
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        // The guard logs its refusals itself: in this span they carry the route and the
        // interaction id.
        let span = tracing::info_span!(
            "gateway_request",
            route = %route.label,
            interaction_id = id.as_str()
        );
        let decided = g
            .policy
            .decide(
                route,
                &PolicyRequest {
                    authorization,
                    chain: &cert.chain,
                    forwarded_by: cert.forwarded_by(),
                    params: &params,
                    body: &body,
                    idempotency_key: headers
                        .get("x-idempotency-key")
                        // Not visible ASCII: read as empty, which is refused as malformed.
                        .map(|v| v.to_str().unwrap_or_default()),
                },
                g.clock.now(),
            )
            .instrument(span)
            .await;
        let admitted = match decided {
            Ok(a) => a,
            Err(r) => return refuse(route, &r, &id),
        };
        forward(
            g,
            route,
            method,
            &path_and_query,
            headers,
            body,
            &admitted,
            &id,
        )
        .await
    }
}

/// Sends an admitted request upstream; a payment submission's answer is recorded (or its
/// consent restored when the bank certainly never saw it).
#[allow(clippy::too_many_arguments)]
async fn forward(
    g: &Inner,
    route: &Route,
    method: axum::http::Method,
    path_and_query: &str,
    headers: axum::http::HeaderMap,
    body: Bytes,
    admitted: &crate::policy::Admitted,
    id: &InteractionId,
) -> Response {
    match g
        .upstream
        .forward(
            route,
            method,
            path_and_query,
            headers,
            g.cert_header.as_deref(),
            body,
            admitted,
            id.as_str(),
        )
        .await
    {
        Ok(response) if route.payment_submission && response.status().is_success() => {
            // The payment id the bank gave is recorded for the client before the TPP learns it,
            // so its reads are the client's only (the answer is small: a payment resource).
            let (parts, body) = response.into_parts();
            let read =
                tokio::time::timeout(g.upstream.timeout(), axum::body::to_bytes(body, MAX_BODY))
                    .await;
            let Ok(Ok(bytes)) = read else {
                // Accepted by the bank, but its answer cannot be had: the consent stays
                // Consumed (the bank acted) and the bank must settle it, as for a timeout.
                tracing::warn!(
                    target: "bulwark::security",
                    route = %route.label,
                    reason = "payment_outcome_unknown",
                    consent_id = admitted.consent_id.as_deref().unwrap_or_default(),
                    client_id = %admitted.client_id,
                    interaction_id = id.as_str(),
                    "the bank accepted a payment submission but its answer could not be read"
                );
                return upstream_failed(id);
            };
            if g.policy
                .record_accepted_payment(admitted, &bytes, g.clock.now())
                .await
            {
                metrics::counter!("gateway_payments_beyond_one_per_consent_total", "route" => route.label.clone())
                    .increment(1);
            }
            id.stamp(Response::from_parts(parts, axum::body::Body::from(bytes)))
        }
        Ok(response) => id.stamp(response),
        Err(e) => {
            tracing::error!(route = %route.label, error = %e, never_delivered = e.never_delivered(), interaction_id = id.as_str(), "upstream failed");
            if route.payment_submission
                && let Some(consent_id) = &admitted.consent_id
            {
                // The consent was consumed before forwarding. When the upstream certainly
                // never saw the submission, that consumption is undone and the TPP may submit
                // again; after a timeout or a broken answer the bank may have acted, so the
                // consent stays Consumed and the bank must settle it (docs/gateway.md).
                let restored = e.never_delivered()
                    && g.policy.restore_undelivered(admitted, g.clock.now()).await;
                tracing::warn!(
                    target: "bulwark::security",
                    route = %route.label,
                    reason = if e.never_delivered() { "payment_not_delivered" } else { "payment_outcome_unknown" },
                    consent_id = %consent_id,
                    client_id = %admitted.client_id,
                    interaction_id = id.as_str(),
                    never_delivered = e.never_delivered(),
                    consent_authorised_again = restored,
                    "a payment submission got no answer from the bank"
                );
            }
            upstream_failed(id)
        }
    }
}

/// 502 with an OB error body: the bank's API did not answer (usably).
fn upstream_failed(id: &InteractionId) -> Response {
    let mut r = refusal_response(
        &GatewayRefusal::new(
            502,
            ObErrorCode::UnexpectedError,
            "the bank's API did not answer",
            "upstream",
        ),
        id,
    );
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn www_authenticate(r: &GatewayRefusal) -> Option<String> {
        let id = InteractionId("id-1".into());
        refusal_response(r, &id)
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn gw_1_rfc_6750_challenges_no_token_bad_token_and_missing_scope() {
        let refusal = |status, challenge| {
            GatewayRefusal::new(status, ObErrorCode::HeaderInvalid, "why \"so\"", "r")
                .with_challenge(challenge)
        };
        let none = www_authenticate(&refusal(401, Challenge::Missing)).unwrap();
        assert_eq!(none, "Bearer realm=\"bulwark\"");
        assert!(!none.contains("error"));
        let bad = www_authenticate(&refusal(401, Challenge::InvalidToken)).unwrap();
        assert!(bad.contains("error=\"invalid_token\""), "{bad}");
        assert!(bad.contains("error_description=\"why 'so'\""), "{bad}");
        let scope = refusal(403, Challenge::InsufficientScope("payments".into()));
        let answer = refusal_response(&scope, &InteractionId("id-1".into()));
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            www_authenticate(&scope).unwrap(),
            "Bearer realm=\"bulwark\", error=\"insufficient_scope\", scope=\"payments\""
        );
        assert!(www_authenticate(&refusal(403, Challenge::None)).is_none());
    }
}
