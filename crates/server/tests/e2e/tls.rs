//! CERT-1: TLS with optional client certificates, FAPI cipher suites, the presented chain
//! reaching handlers, and graceful shutdown of in-flight requests.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use bulwark_core::Profile;
use bulwark_server::dev_pki::DevPki;
use bulwark_server::listener::{ConnectionInfo, serve};
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Identity, TestApp, http_client, install_crypto};

type EchoServer = (
    std::net::SocketAddr,
    tempfile::TempDir,
    DevPki,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// Serves an echo router (reporting the presented chain) through the real listener and TLS
/// configuration of a FAPI 2.0 server with the dev PKI's (ECDSA) certificate; returns its
/// address, the dev PKI and a shutdown trigger.
async fn echo_server() -> EchoServer {
    echo_server_with(Profile::Fapi2, ServerKey::DevEcdsa).await
}

/// Which certificate the echo server presents.
enum ServerKey {
    /// The dev PKI's P-256 server certificate.
    DevEcdsa,
    /// A self-signed RSA 2048 certificate for `localhost`, written beside the dev PKI as
    /// `rsa-server.pem` (the client trusts it as a root).
    Rsa,
}

async fn echo_server_with(profile: Profile, server_key: ServerKey) -> EchoServer {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (pki, generated) = DevPki::ensure(dir.path()).unwrap();
    assert!(generated);
    let (chain, key) = match server_key {
        ServerKey::DevEcdsa => (
            bulwark_server::tls::load_chain(&pki.server_cert).unwrap(),
            bulwark_server::tls::load_key(&pki.server_key).unwrap(),
        ),
        ServerKey::Rsa => {
            let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
            let key_pem = String::from_utf8(pair.to_pem_private_key()).unwrap();
            let key =
                rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
            let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            let cert_path = dir.path().join("rsa-server.pem");
            let key_path = dir.path().join("rsa-server-key.pem");
            std::fs::write(&cert_path, cert.pem()).unwrap();
            std::fs::write(&key_path, key_pem).unwrap();
            (
                bulwark_server::tls::load_chain(&cert_path).unwrap(),
                bulwark_server::tls::load_key(&key_path).unwrap(),
            )
        }
    };
    let tls = Arc::new(bulwark_server::tls::server_config(chain, key, vec![], profile).unwrap());
    let router = Router::new()
        .route(
            "/chain",
            get(|Extension(info): Extension<ConnectionInfo>| async move {
                let thumbs: Vec<String> = info
                    .client_chain
                    .iter()
                    .map(|c| bulwark_certs::x5t_s256(c))
                    .collect();
                thumbs.join(",")
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "finished"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        tls,
        router,
        async {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    (addr, dir, pki, tx, task)
}

#[tokio::test]
async fn cert_1_presented_chain_reaches_the_handler() {
    let (addr, _dir, pki, _stop, _task) = echo_server().await;
    let url = format!("https://localhost:{}/chain", addr.port());

    let without = http_client(&pki.ca_cert, None)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 200);
    assert_eq!(
        without.text().await.unwrap(),
        "",
        "no certificate, empty chain"
    );

    let identity = Identity::from_files(&pki.client_cert, &pki.client_key);
    let with = http_client(&pki.ca_cert, Some(&identity))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(
        with.text().await.unwrap(),
        bulwark_certs::x5t_s256(&identity.chain[0])
    );

    // An untrusted chain is not refused at the TLS layer: the whole chain reaches the handler.
    let foreign = Identity::self_made("foreign-tpp");
    let resp = http_client(&pki.ca_cert, Some(&foreign))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let expected: Vec<String> = foreign
        .chain
        .iter()
        .map(|c| bulwark_certs::x5t_s256(c))
        .collect();
    assert_eq!(resp.text().await.unwrap(), expected.join(","));
}

#[tokio::test]
async fn cert_1_server_accepts_connections_with_and_without_client_certificate() {
    let app = TestApp::spawn().await;
    let resp = app
        .client(None)
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let identity = Identity::from_files(&app.dev_pki("client.pem"), &app.dev_pki("client-key.pem"));
    let resp = app
        .client(Some(&identity))
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .client(Some(&Identity::self_made("x")))
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

async fn handshake(
    addr: std::net::SocketAddr,
    config: rustls::ClientConfig,
) -> Result<(), std::io::Error> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.map(|_| ())
}

fn restricted(
    pki: &DevPki,
    suites: Vec<rustls::SupportedCipherSuite>,
    tls12_only: bool,
) -> rustls::ClientConfig {
    restricted_trusting(&pki.ca_cert, suites, tls12_only)
}

fn restricted_trusting(
    root: &std::path::Path,
    suites: Vec<rustls::SupportedCipherSuite>,
    tls12_only: bool,
) -> rustls::ClientConfig {
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    };
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(base_roots(root))
        .with_no_client_auth()
}

fn base_roots(ca: &std::path::Path) -> rustls::RootCertStore {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

#[tokio::test]
async fn cert_1_tls12_allows_only_fapi_ecdhe_aes_gcm_suites() {
    use rustls::crypto::ring::cipher_suite as cs;
    let (addr, _dir, pki, _stop, _task) = echo_server().await;
    handshake(
        addr,
        restricted(
            &pki,
            vec![cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256],
            true,
        ),
    )
    .await
    .expect("TLS 1.2 ECDHE-ECDSA-AES128-GCM is a FAPI suite");
    handshake(
        addr,
        restricted(
            &pki,
            vec![cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
            true,
        ),
    )
    .await
    .expect("TLS 1.2 ECDHE-ECDSA-AES256-GCM is a FAPI suite");
    let refused = handshake(
        addr,
        restricted(
            &pki,
            vec![cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
            true,
        ),
    )
    .await;
    assert!(refused.is_err(), "TLS 1.2 ChaCha20 is not a FAPI suite");
    handshake(
        addr,
        restricted(&pki, vec![cs::TLS13_AES_128_GCM_SHA256], false),
    )
    .await
    .expect("TLS 1.3 AES-GCM");
}

/// FAPI 1.0 Advanced 8.5: in TLS 1.2 only the (EC)DHE-RSA AES-GCM suites. The ECDHE-ECDSA
/// ones that a FAPI 2.0 server offers (RFC 9325) are refused, as the conformance suite's
/// `DisallowInsecureCipher` expects, so with an ECDSA certificate the server speaks TLS 1.3
/// only; with an RSA certificate TLS 1.2 works with the permitted suites.
#[tokio::test]
async fn cert_1_fapi1_tls12_allows_only_the_ecdhe_rsa_aes_gcm_suites() {
    use rustls::crypto::ring::cipher_suite as cs;
    let (addr, _dir, pki, _stop, _task) =
        echo_server_with(Profile::Fapi1Advanced, ServerKey::DevEcdsa).await;
    for suite in [
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ] {
        let refused = handshake(addr, restricted(&pki, vec![suite], true)).await;
        assert!(
            refused.is_err(),
            "{:?} is not a FAPI 1.0 Advanced suite",
            suite.suite()
        );
    }
    handshake(
        addr,
        restricted(&pki, vec![cs::TLS13_AES_256_GCM_SHA384], false),
    )
    .await
    .expect("TLS 1.3 AES-GCM with the ECDSA certificate");

    let (addr, dir, _pki, _stop, _task) =
        echo_server_with(Profile::Fapi1Advanced, ServerKey::Rsa).await;
    let root = dir.path().join("rsa-server.pem");
    for suite in [
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ] {
        handshake(addr, restricted_trusting(&root, vec![suite], true))
            .await
            .unwrap_or_else(|e| panic!("{:?} is a FAPI 1.0 Advanced suite: {e}", suite.suite()));
    }
    let refused = handshake(
        addr,
        restricted_trusting(
            &root,
            vec![cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256],
            true,
        ),
    )
    .await;
    assert!(refused.is_err(), "TLS 1.2 ChaCha20 is not a FAPI suite");
}

/// CERT-1 / RFC 8705 binding rests on the TLS proof of possession: a client that presents a
/// TPP's certificate must sign the handshake with its private key (CertificateVerify). One
/// that presents the certificate signed by another key of the same type gets no answer, in
/// TLS 1.3 and in TLS 1.2; the same certificate with its own key does.
#[tokio::test]
async fn cert_1_a_certificate_presented_without_its_private_key_is_refused_in_the_handshake() {
    use rustls::crypto::ring::cipher_suite as cs;
    let (addr, _dir, pki, _stop, _task) = echo_server().await;
    let tpp = Identity::from_files(&pki.client_cert, &pki.client_key);
    let thumbprint = bulwark_certs::x5t_s256(&tpp.chain[0]);
    let stranger = Identity::self_made("stranger");
    for (suite, tls12) in [
        (cs::TLS13_AES_128_GCM_SHA256, false),
        (cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true),
    ] {
        let own = chain_answer(addr, &pki, suite, tls12, &tpp.chain, &tpp.key).await;
        assert_eq!(
            own.as_deref().ok(),
            Some(thumbprint.as_str()),
            "tls12={tls12}"
        );
        let borrowed = chain_answer(addr, &pki, suite, tls12, &tpp.chain, &stranger.key).await;
        assert!(borrowed.is_err(), "tls12={tls12}: {borrowed:?}");
    }
}

/// Connects presenting `chain` with a handshake signed by `key`, asks `/chain`, and returns the
/// thumbprints the server saw, or the error that ended the connection.
async fn chain_answer(
    addr: std::net::SocketAddr,
    pki: &DevPki,
    suite: rustls::SupportedCipherSuite,
    tls12: bool,
    chain: &[rustls::pki_types::CertificateDer<'static>],
    key: &rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<String, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// Presents a fixed certificate and key, whether or not they belong together.
    #[derive(Debug)]
    struct Presents(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Presents {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let signer = rustls::crypto::ring::sign::any_supported_type(key).unwrap();
    let presented = Presents(Arc::new(rustls::sign::CertifiedKey::new(
        chain.to_vec(),
        signer,
    )));
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: vec![suite],
        ..rustls::crypto::ring::default_provider()
    };
    let version: &'static rustls::SupportedProtocolVersion = match tls12 {
        true => &rustls::version::TLS12,
        false => &rustls::version::TLS13,
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(base_roots(&pki.ca_cert))
        .with_client_cert_resolver(Arc::new(presented));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    // TLS 1.3: the client's handshake is over before the server has checked its signature, so
    // the refusal shows on the first read.
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /chain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut bytes = Vec::new();
    // The bytes read before an error are kept: a server closing without close_notify after a
    // whole answer is not a refusal.
    let _ = tls.read_to_end(&mut bytes).await;
    let answer = String::from_utf8_lossy(&bytes);
    match answer.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(std::io::Error::other(format!("no answer: {answer:?}"))),
    }
}

/// A connection that starts no request for `http.idle_timeout_secs` is closed by the server,
/// whatever keeps it otherwise alive (here an HTTP/1.1 keep-alive connection whose header-read
/// timeout is far longer; an HTTP/2 one is kept by its pings): an idle client cannot hold a
/// connection slot forever.
#[tokio::test]
async fn hardening_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = crate::support::Harness::start(|c| {
        c.http.header_read_timeout_secs = 60;
        c.http.request_timeout_secs = 1;
        c.http.idle_timeout_secs = 2;
    })
    .await;
    let config = crate::support::http::client_tls_config(&h.dev_ca, None);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then idle: closed after about 2 s, long before the 60 s header timeout (and
    // before twice the idle limit).
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_millis(3_500), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection stayed open");
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "closed too early: {:?}",
        started.elapsed()
    );
}

/// One address may hold at most `http.max_connections_per_address` connections: past it a new
/// one is closed before its handshake, so one host cannot take every slot; once one of its
/// connections ends, it may open another.
#[tokio::test]
async fn hardening_one_address_cannot_take_every_connection_slot() {
    let h = crate::support::Harness::start(|c| c.http.max_connections_per_address = 3).await;
    let config = Arc::new(crate::support::http::client_tls_config(&h.dev_ca, None));
    let connect = || {
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let addr = h.addr;
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let name = ServerName::try_from("localhost").unwrap();
            tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
                .await
                .map_err(std::io::Error::other)?
        }
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect().await.expect("within the cap"));
    }
    assert!(
        connect().await.is_err(),
        "a fourth from the same address is closed"
    );
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    connect().await.expect("a slot was given back");
}

#[tokio::test]
async fn op_4_graceful_shutdown_finishes_in_flight_requests() {
    let (addr, _dir, pki, stop, task) = echo_server().await;
    let client = http_client(&pki.ca_cert, None);
    let url = format!("https://localhost:{}/slow", addr.port());
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let resp = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "finished");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops")
        .unwrap();
    // No longer accepting.
    assert!(TcpStream::connect(addr).await.is_err());
}

/// hardening_slow_clients: a connection that trickles its headers is closed after
/// `http.header_read_timeout_secs`, and many such connections do not stop a well-behaved client.
#[tokio::test]
async fn hardening_slow_clients_are_cut_off_and_do_not_starve_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = crate::support::Harness::start(|c| {
        c.http.header_read_timeout_secs = 1;
        c.http.tls_handshake_timeout_secs = 1;
    })
    .await;
    let config = crate::support::http::client_tls_config(&h.dev_ca, None);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut slow = Vec::new();
    for _ in 0..40 {
        let tcp = TcpStream::connect(h.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        slow.push(tls);
    }
    // Connections that never finish the handshake either.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(h.addr).await.unwrap());
    }
    // A well-behaved client is served while they hang.
    let started = std::time::Instant::now();
    let ok = http_client(&h.dev_ca, None)
        .get(h.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Each trickling connection is closed by the server within the timeout (plus slack).
    for mut tls in slow {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
        match read {
            Ok(Ok(n)) => {
                // Closed (0), or hyper answered 408 before closing.
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
            }
            Ok(Err(_)) => {}
            Err(_) => panic!("a trickling connection was still open after 5 s"),
        }
    }
    for mut tcp in silent {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "handshake deadline closes the socket"
        );
    }
}

/// hardening_slow_body: a client that sends its headers and then trickles the body is answered
/// 408 after `http.request_timeout_secs`, not held forever.
#[tokio::test]
async fn hardening_trickled_body_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = crate::support::Harness::start(|c| c.http.request_timeout_secs = 1).await;
    let config = crate::support::http::client_tls_config(&h.dev_ca, None);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(
        b"POST /token HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .expect("answered within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}
