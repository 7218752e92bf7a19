//! The client certificate chain of a request: from the TLS handshake (direct mode, CERT-1) or
//! from a trusted proxy's headers (load-balancer mode, CERT-2). A certificate header from an
//! untrusted peer is refused.

use axum::http::HeaderMap;
use bulwark_core::OAuthError;
use rustls_pki_types::CertificateDer;

use crate::error::OAuthErrorResponse;
use crate::listener::ConnectionInfo;
use crate::state::AppState;

/// The presented chain, leaf first (empty when none), and whether a proxy forwarded it.
pub fn presented_chain(
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
) -> Result<(Vec<CertificateDer<'static>>, bool), OAuthErrorResponse> {
    let proxied = bulwark_certs::extract_proxied_chain(&state.config.mtls, info.peer.ip(), |name| {
        headers.get(name).map(|v| v.as_bytes())
    })
    .map_err(|e| {
        tracing::warn!(target: "bulwark::security", peer = %info.peer, reason = e.reason(), error = %e, "client certificate header refused");
        OAuthErrorResponse::from(OAuthError::invalid_client(format!(
            "client certificate header refused ({})",
            e.reason()
        )))
    })?;
    Ok(match proxied {
        Some(chain) => (chain, true),
        None if state.config.mtls.mode == bulwark_certs::MtlsMode::Proxy => (Vec::new(), true),
        None => (info.client_chain.to_vec(), false),
    })
}
