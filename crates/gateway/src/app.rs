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
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bulwark_certs::CertValidator;
use bulwark_clients::ClientDirectory;
use bulwark_consent::{ConsentService, DetachedJwsVerifier, ObError, ObErrorCode, ObErrorDetail};
use bulwark_core::Clock;
use bulwark_jose::JwksFetcher;
use bulwark_resource::{ResourceGuard, SignaturePolicy};
use bulwark_store::{ConnectSettings, SqlStore};
use bulwark_web::{InteractionId, MtlsConfig, PresentedChain};
use tokio::net::TcpListener;

use crate::config::GatewayConfig;
use crate::policy::{GatewayRefusal, Policy, Request as PolicyRequest};
use crate::proxy::Upstream;
use crate::route::{Route, find};
use crate::tokens::{IntrospectedTokens, JwksTokens};

/// The largest request body passed upstream (bytes).
const MAX_BODY: usize = 1024 * 1024;

struct Inner {
    routes: Vec<Route>,
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
    tls: Arc<rustls::ServerConfig>,
    state: GatewayState,
    store: SqlStore,
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
        let routes = config
            .routes
            .iter()
            .map(Route::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("gateway route: {e}"))?;
        let chain = bulwark_web::tls::load_chain(&config.tls.cert)?;
        let key = bulwark_web::tls::load_key(&config.tls.key)?;
        let tls = Arc::new(bulwark_web::tls::server_config(chain, key, Vec::new())?);
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
        let fetcher = Arc::new(
            JwksFetcher::new(
                Duration::from_secs(5),
                Duration::from_secs(config.jwks_cache_secs),
                &jwks_roots,
            )
            .map_err(|e| anyhow::anyhow!("JWKS client: {e}"))?,
        );
        let validator = CertValidator::from_settings(&config.trust, config.revocation.clone())?;
        let directory = Arc::new(ClientDirectory::new(
            store_arc.clone(),
            store_arc.clone(),
            Duration::from_secs(config.client_cache_secs),
            fetcher.clone(),
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
        Ok(Self {
            listener,
            admin,
            tls,
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

    /// Serves until `shutdown` completes.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        let admin = self.admin.map(|l| {
            let router = Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .route("/healthz", axum::routing::get(|| async { "ok" }));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, router).await {
                    tracing::error!(error = %e, "gateway admin listener stopped");
                }
            })
        });
        let router = Router::new()
            .fallback(handle)
            // One Authorization (and other singleton headers): the header the policy checks is
            // the one the upstream gets.
            .layer(axum::middleware::from_fn(
                bulwark_web::singleton::refuse_repeated,
            ))
            .layer(axum::middleware::from_fn(bulwark_web::metrics::track))
            .with_state(self.state);
        bulwark_web::listener::serve_with(
            self.listener,
            self.tls,
            router,
            shutdown,
            Duration::from_secs(10),
            bulwark_web::ConnectionLimits::default(),
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

/// An OB error answer; 401 carries `WWW-Authenticate: Bearer` (RFC 6750 3).
fn refusal_response(r: &GatewayRefusal, id: &InteractionId) -> Response {
    let text = match r.status {
        400 => "400 BadRequest",
        401 => "401 Unauthorized",
        403 => "403 Forbidden",
        404 => "404 NotFound",
        502 => "502 BadGateway",
        503 => "503 ServiceUnavailable",
        _ => "500 InternalServerError",
    };
    let body = ObError {
        status: r.status,
        code: text.into(),
        id: id.as_str().to_string(),
        message: r.message.clone(),
        errors: vec![ObErrorDetail {
            error_code: r.code,
            message: r.message.clone(),
            path: None,
        }],
    };
    let mut response = bulwark_web::ob_error::ob_response(&body, id);
    if r.status == 401
        && let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            r.message.replace('"', "'")
        ))
    {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

fn refuse(route: &str, r: &GatewayRefusal, id: &InteractionId) -> Response {
    tracing::warn!(target: "bulwark::security", route, reason = r.reason, status = r.status, interaction_id = id.as_str(), error = %r.message, "gateway refused a request");
    metrics::counter!("gateway_refusals_total", "route" => route.to_string(), "reason" => r.reason)
        .increment(1);
    refusal_response(r, id)
}

async fn handle(State(s): State<GatewayState>, chain: PresentedChain, req: Request) -> Response {
    let g = &s.inner;
    let id = InteractionId::of(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let Some((route, params)) = find(&g.routes, method.as_str(), &path) else {
        return refusal_response(
            &GatewayRefusal {
                status: 404,
                code: ObErrorCode::ResourceNotFound,
                message: "no such API".into(),
                reason: "no_route",
            },
            &id,
        );
    };
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return refusal_response(
                &GatewayRefusal {
                    status: 400,
                    code: ObErrorCode::FieldInvalid,
                    message: format!("the body is larger than {MAX_BODY} bytes"),
                    reason: "body_too_large",
                },
                &id,
            );
        }
    };
    let cert = match chain.0 {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                &route.pattern,
                &GatewayRefusal {
                    status: 401,
                    code: ObErrorCode::HeaderInvalid,
                    message: format!("client certificate header refused ({})", e.reason()),
                    reason: "certificate_header",
                },
                &id,
            );
        }
    };
    let decided = g
        .policy
        .decide(
            route,
            &PolicyRequest {
                authorization: headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
                chain: &cert.chain,
                forwarded_by: cert.forwarded_by(),
                params: &params,
                body: &body,
            },
            g.clock.now(),
        )
        .await;
    let admitted = match decided {
        Ok(a) => a,
        Err(r) => return refuse(&route.pattern, &r, &id),
    };
    match g
        .upstream
        .forward(
            route,
            method,
            &path_and_query,
            headers,
            g.cert_header.as_deref(),
            body,
            &admitted,
            id.as_str(),
        )
        .await
    {
        Ok(response) => id.stamp(response),
        Err(e) => {
            tracing::error!(route = %route.pattern, error = %e, "upstream failed");
            let mut r = refusal_response(
                &GatewayRefusal {
                    status: 502,
                    code: ObErrorCode::UnexpectedError,
                    message: "the bank's API did not answer".into(),
                    reason: "upstream",
                },
                &id,
            );
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}
