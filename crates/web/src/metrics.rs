//! OP-4 Prometheus metrics: request counts and latency histograms per route, recorded by one
//! middleware keyed on the matched route template (never the raw path, so ids do not explode
//! the label set).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide recorder once; later calls reuse it.
///
/// The recorder keeps every histogram sample until upkeep folds it into the buckets; upkeep
/// runs on a scrape, so a server nobody scrapes grew by one sample per request (found by a
/// heap profile of the soak: ≈ 1.8 MiB a minute at 1,500 requests per second). A small
/// thread runs it every few seconds whether or not anyone scrapes.
pub fn install() {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )
            .ok()
            .and_then(|b| b.install_recorder().ok())?;
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "metrics upkeep thread not started; histograms drain on scrape only");
        }
        Some(handle)
    });
}

/// Counts a client connection in `http_connections_open` while it is held: each holds its
/// TLS and HTTP buffers, so the gauge explains memory that follows a burst of connections.
#[derive(Debug)]
pub struct OpenConnection(());

impl OpenConnection {
    /// Counts one more open connection until the value drops.
    pub fn count() -> Self {
        metrics::gauge!("http_connections_open").increment(1.0);
        Self(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("http_connections_open").decrement(1.0);
    }
}

/// The current metrics in the Prometheus text format.
pub fn render() -> String {
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// The method as a label: the standard ones by name, anything a caller invents as `other`,
/// so unauthenticated requests cannot create label values (series) without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Middleware: counts each request and records its latency under its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    track_as(route, req, next).await
}

/// As [`track`], under a route label the caller found (a shell whose routes are not axum's,
/// such as the gateway's configured routes); `route` must come from a bounded set.
pub async fn track_as(route: String, req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hardening_metrics_label_invented_methods_as_one_value() {
        assert_eq!(method_label(&axum::http::Method::POST), "POST");
        let invented = axum::http::Method::from_bytes(b"FROBNICATE").unwrap_or_default();
        assert_eq!(method_label(&invented), "other");
        let connect = axum::http::Method::CONNECT;
        assert_eq!(method_label(&connect), "other");
    }

    /// A request no route matches is counted under one label, whatever its path: callers
    /// cannot create series without bound.
    #[tokio::test]
    async fn hardening_unmatched_paths_share_one_route_label() {
        use tower::ServiceExt;
        install();
        let app = axum::Router::new()
            .route("/known", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(track));
        let req = Request::get("/probe-7f3a9c/../x")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), axum::http::StatusCode::NOT_FOUND);
        let text = render();
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(!text.contains("probe-7f3a9c"), "{text}");
    }

    #[test]
    fn op_4_histogram_samples_are_folded_without_a_scrape() {
        install();
        metrics::histogram!("http_request_duration_seconds", "route" => "/t").record(0.001);
        // The upkeep thread that drains recorded samples runs whether or not anyone scrapes
        // (a new thread names itself once it runs, so look for a moment).
        let threads = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !threads().iter().any(|n| n == "metrics-upkeep") {
            assert!(
                std::time::Instant::now() < deadline,
                "threads: {:?}",
                threads()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
