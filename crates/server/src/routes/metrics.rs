//! OP-4 `/metrics` in the Prometheus text format.

/// Renders every recorded metric.
pub async fn render() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        bulwark_web::metrics::render(),
    )
}
