//! HTTP on both sides of a test: clients trusting a given CA (optionally presenting an
//! `Identity`), a JSON document served over https by the real listener with the development
//! server certificate (a client's `jwks_uri`, a directory's keys, a `sector_identifier_uri`),
//! and a plain-HTTP loopback server answering with a fixed body (a CRL distribution point).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Harness, Identity, install_crypto};

pub fn client_tls_config(ca: &Path, identity: Option<&Identity>) -> rustls::ClientConfig {
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// Sends `head` (and no body) on a fresh HTTP/1.1-over-TLS connection to `port` on loopback
/// (SNI `localhost`), as `identity`; the start of the answer, or "" when the server closed the
/// connection without one. Writing may fail half-way when the server gives up first: that is
/// a refusal too. Panics when nothing comes within `wait`.
pub async fn raw_http1(
    ca: &Path,
    port: u16,
    identity: Option<&Identity>,
    head: &[u8],
    wait: Duration,
) -> String {
    let mut config = client_tls_config(ca, identity);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let _ = tls.write_all(head).await;
    let mut buf = vec![0u8; 256];
    match tokio::time::timeout(wait, tls.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Ok(Err(_)) => String::new(),
        Err(_) => panic!("no answer within {wait:?}"),
    }
}

pub fn http_client(ca: &Path, identity: Option<&Identity>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_tls_config(ca, identity))
        .build()
        .unwrap()
}

/// A JWKS served over https by the real listener, counting fetches.
pub async fn jwks_server(h: &Harness, jwks: Arc<Mutex<Value>>, hits: Arc<Mutex<u32>>) -> String {
    serve_json(h.data_dir(), jwks, hits).await
}

/// Serves the JSON document at `https://localhost:<port>/jwks` with the development server
/// certificate of `data_dir` (which must hold a development PKI).
pub async fn serve_json(data_dir: &Path, jwks: Arc<Mutex<Value>>, hits: Arc<Mutex<u32>>) -> String {
    let dir = data_dir.join("dev-pki");
    let chain = bulwark_server::tls::load_chain(&dir.join("server.pem")).unwrap();
    let key = bulwark_server::tls::load_key(&dir.join("server-key.pem")).unwrap();
    let tls = Arc::new(
        bulwark_server::tls::server_config(chain, key, vec![], bulwark_core::Profile::Fapi2)
            .unwrap(),
    );
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (jwks, hits) = (jwks.clone(), hits.clone());
            async move {
                *hits.lock().unwrap() += 1;
                axum::Json(jwks.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(bulwark_server::listener::serve(
        listener,
        tls,
        router,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    format!("https://localhost:{port}/jwks")
}

/// A plain HTTP server on loopback answering every request with the current body.
pub struct StaticHttp {
    pub url: String,
    pub body: Arc<Mutex<(Vec<u8>, &'static str)>>,
    /// Requests served so far.
    #[allow(dead_code)]
    pub hits: Arc<Mutex<u32>>,
}

impl StaticHttp {
    pub async fn start(body: Vec<u8>, content_type: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new((body, content_type)));
        let hits = Arc::new(Mutex::new(0));
        let (b, h) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (b, h) = (b.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    *h.lock().unwrap() += 1;
                    let (content, ct) = b.lock().unwrap().clone();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        content.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&content).await;
                });
            }
        });
        Self { url, body, hits }
    }
}
