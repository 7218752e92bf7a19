//! OP-4 `/metrics` in the Prometheus text format.

/// Renders every recorded metric.
pub async fn render() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        format!(
            "{}# HELP bulwark_audit_dropped_total Security events not written to the audit trail (queue full).\n\
             # TYPE bulwark_audit_dropped_total counter\n\
             bulwark_audit_dropped_total {}\n",
            bulwark_web::metrics::render(),
            crate::audit_log::dropped()
        ),
    )
}
