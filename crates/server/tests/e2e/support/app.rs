//! Test harness: start the real application on port 0 with a fresh data directory and
//! database, and talk to it over real TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bulwark_server::{Application, Config};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub data_dir: tempfile::TempDir,
    pub store: bulwark_store::SqlStore,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// A configuration on port 0 in a fresh data directory (SQLite unless `db_url` is given).
pub fn test_config(data_dir: &Path, db_url: Option<String>) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.http.shutdown_grace_secs = 5;
    config.database.url = db_url;
    config
}

impl TestApp {
    pub async fn spawn() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path(), None);
        Self::spawn_with(dir, config).await
    }

    pub async fn spawn_with(data_dir: tempfile::TempDir, config: Config) -> Self {
        install_crypto();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let addr = app.addr();
        let store = app.store().clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            data_dir,
            store,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub fn dev_pki(&self, file: &str) -> PathBuf {
        self.data_dir.path().join("dev-pki").join(file)
    }

    /// An HTTP client trusting the development CA, optionally presenting a client certificate.
    pub fn client(&self, identity: Option<&Identity>) -> reqwest::Client {
        http_client(&self.dev_pki("ca.pem"), identity)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }
}

/// A client certificate and key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    pub fn from_files(cert: &Path, key: &Path) -> Self {
        Self {
            chain: CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(|c| c.unwrap())
                .collect(),
            key: PrivateKeyDer::from_pem_file(key).unwrap(),
        }
    }

    /// A fresh self-made CA with one client certificate, for certificates the server does not
    /// trust.
    pub fn self_made(cn: &str) -> Self {
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Untrusted Test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Self {
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        }
    }
}

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

pub fn http_client(ca: &Path, identity: Option<&Identity>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_tls_config(ca, identity))
        .build()
        .unwrap()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bulwark")
}
