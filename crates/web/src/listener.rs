//! The TLS listener: accepts TCP connections, completes the TLS handshake, and serves HTTP/1.1
//! and HTTP/2 with the connection's facts (peer address, presented client certificate chain)
//! attached to every request as extensions (CERT-1). Stops accepting on shutdown and lets
//! in-flight requests finish within a grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::tls::TlsSource;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// What the TLS layer learned about the connection a request arrived on.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// The TCP peer (the client, or a proxy in load-balancer mode).
    pub peer: SocketAddr,
    /// The client certificate chain presented in the handshake, leaf first; empty if none.
    pub client_chain: Arc<[CertificateDer<'static>]>,
}

impl ConnectionInfo {
    /// A request that did not come through [`serve`] (an in-process test router): no peer
    /// address worth trusting and no certificate.
    pub fn none() -> Self {
        Self {
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            client_chain: Arc::from(Vec::new()),
        }
    }
}

/// What a slow or hostile client may hold: time to finish the TLS handshake, time to send a
/// request's headers (also the longest a keep-alive connection may sit idle between requests),
/// HTTP/2 keep-alive pings, and how many connections are open at once (past it, accepting
/// waits, so a flood of idle connections cannot starve the process of sockets or memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Deadline for a request's headers (and for an idle HTTP/1.1 keep-alive connection).
    pub header_read_timeout: Duration,
    /// HTTP/2 keep-alive ping interval; a peer that does not answer within it is dropped.
    pub http2_keep_alive: Duration,
    /// How long a connection may go without starting a request before it is closed (HTTP/2
    /// included, whose pings would otherwise keep an idle connection, and the slot it holds,
    /// forever). Longer than any request may take, so no request in flight is cut.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one peer address (0: no such cap, for a listener
    /// whose peers are load balancers); past it, a new connection from that address is
    /// closed at once, so one host cannot take every slot.
    pub max_connections_per_address: usize,
    /// Most header fields in one HTTP/1.1 request; past it, 431.
    pub max_headers: usize,
    /// Most bytes of a request's head (HTTP/1.1 read buffer) or header list (HTTP/2
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`); past it, 431 or the stream is refused.
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            http2_keep_alive: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            max_connections_per_address: 1_000,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// Most HTTP/2 streams one connection may have open at once (RFC 9113 6.5.2): FAPI clients
/// need a few; hyper's default would let one connection hold 200 responses in memory.
const MAX_CONCURRENT_STREAMS: u32 = 100;

/// Connections open per peer address.
#[derive(Default)]
struct PerAddress {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection counted against its address until dropped.
struct AddressSlot {
    owner: Arc<PerAddress>,
    ip: std::net::IpAddr,
}

impl PerAddress {
    /// Counts a connection from `ip`, or `None` when it already has `cap` open (0: no cap).
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, cap: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            owner: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// When a connection last started a request.
struct Activity {
    opened: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn request_started(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Completes once no request has started for `idle` (from the connection's start or its
    /// last request).
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last =
                Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::Relaxed));
            let since = self.opened.elapsed().saturating_sub(last);
            if since >= idle {
                return;
            }
            tokio::time::sleep(idle - since).await;
        }
    }
}

/// Serves `router` over TLS on `listener` with the default [`ConnectionLimits`].
pub async fn serve(
    listener: TcpListener,
    tls: impl Into<TlsSource>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    serve_with(
        listener,
        tls,
        router,
        shutdown,
        grace,
        ConnectionLimits::default(),
    )
    .await;
}

/// Serves `router` over TLS on `listener` until `shutdown` completes, then waits up to
/// `grace` for open connections to finish their in-flight requests.
pub async fn serve_with(
    listener: TcpListener,
    tls: impl Into<TlsSource>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    limits: ConnectionLimits,
) {
    serve_connections(listener, Some(tls.into()), router, shutdown, grace, limits).await;
}

/// Serves `router` over plain HTTP on `listener` (an internal listener: the operations
/// endpoints) with the same limits as the TLS listener: header-read and idle timeouts and a
/// cap on open connections, so a peer that opens connections and sends nothing cannot hold
/// the process's sockets.
pub async fn serve_plain_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    limits: ConnectionLimits,
) {
    serve_connections(listener, None, router, shutdown, grace, limits).await;
}

async fn serve_connections(
    listener: TcpListener,
    tls: Option<TlsSource>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    limits: ConnectionLimits,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = per_address.take(peer.ip(), limits.max_connections_per_address) else {
            tracing::debug!(%peer, "connection refused: too many open from this address");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // Read per connection: a reloaded certificate serves the next handshake.
        let acceptor = tls.as_ref().map(|tls| TlsAcceptor::from(tls.current()));
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let _held = held;
            let _open = crate::metrics::OpenConnection::count();
            let Some(acceptor) = acceptor else {
                // Plain HTTP has no handshake to time out, and hyper's header-read timeout
                // starts with the first byte: a connection must send something within the
                // handshake deadline.
                let mut first = [0u8; 1];
                match tokio::time::timeout(limits.handshake_timeout, tcp.peek(&mut first)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => {
                        tracing::debug!(%peer, "connection sent nothing in time");
                        return;
                    }
                }
                let info = ConnectionInfo {
                    peer,
                    client_chain: Arc::from(Vec::new()),
                };
                serve_connection(TokioIo::new(tcp), info, router, limits, watcher).await;
                return;
            };
            let tls =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let client_chain: Arc<[CertificateDer<'static>]> = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
                .unwrap_or_default();
            let info = ConnectionInfo { peer, client_chain };
            serve_connection(TokioIo::new(tls), info, router, limits, watcher).await;
        });
    }
    drop(listener);
    tracing::info!("stopped accepting connections; finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; closing remaining connections"
        );
    }
}

/// Serves one accepted connection (TLS or plain) until it ends, goes idle for too long, or the
/// graceful shutdown closes it.
async fn serve_connection<I>(
    io: TokioIo<I>,
    info: ConnectionInfo,
    router: Router,
    limits: ConnectionLimits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let activity = Arc::new(Activity::new());
    let seen = activity.clone();
    let service = router.map_request(
        move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            seen.request_started();
            req.extensions_mut().insert(info.clone());
            req
        },
    );
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(limits.http2_keep_alive))
        .keep_alive_timeout(limits.http2_keep_alive)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    let conn = watcher.watch(conn.into_owned());
    tokio::pin!(conn);
    tokio::select! {
        ended = &mut conn => {
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        () = activity.idle_for(limits.idle_timeout) => {
            tracing::debug!(%peer, "idle connection closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At most `cap` connections from one address, the next refused until one closes; other
    /// addresses count on their own; a cap of 0 is no cap.
    #[test]
    fn hardening_one_address_holds_at_most_its_cap_of_connections() {
        let slots = Arc::new(PerAddress::default());
        let a: std::net::IpAddr = [192, 0, 2, 1].into();
        let b: std::net::IpAddr = [192, 0, 2, 2].into();
        let first = slots.take(a, 2);
        let second = slots.take(a, 2);
        assert!(first.is_some() && second.is_some());
        assert!(slots.take(a, 2).is_none());
        assert!(slots.take(b, 2).is_some());
        drop(first);
        assert!(slots.take(a, 2).is_some());
        let many: Vec<_> = (0..50).map(|_| slots.take(b, 0)).collect();
        assert!(many.iter().all(Option::is_some));
    }

    /// The limits a shell gets without configuration (the gateway's), as the docs state them.
    #[test]
    fn hardening_the_default_connection_limits_are_the_documented_ones() {
        let d = ConnectionLimits::default();
        assert_eq!(d.max_connections, 10_000);
        assert_eq!(d.max_connections_per_address, 1_000);
        assert_eq!(d.idle_timeout, Duration::from_secs(120));
        assert_eq!(d.handshake_timeout, Duration::from_secs(10));
        assert_eq!(d.max_header_bytes, 64 * 1024);
        assert_eq!(MAX_CONCURRENT_STREAMS, 100);
    }
}
