//! `TestApp`: the real application on port 0 with a fresh data directory and database (SQLite
//! unless a URL is given), talked to over real TLS with the development CA. Also the process
//! setup shared by every harness (`install_crypto`) and the path of the `bulwark` binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bulwark_server::{Application, Config};
use tokio::sync::oneshot;

use super::{Identity, http_client};

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub data_dir: tempfile::TempDir,
    pub store: bulwark_store::SqlStore,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn install_crypto() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // As `bulwark serve`: security events reach the audit trail (OP-6); logs only with
    // RUST_LOG.
    let fmt = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(bulwark_server::audit_log::layer())
        .try_init();
}

/// A configuration on port 0 in a fresh data directory (SQLite unless `db_url` is given).
pub fn test_config(data_dir: &Path, db_url: Option<String>) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.http.shutdown_grace_secs = 5;
    // The tests serve JWKS and sector documents on loopback.
    config.http.outbound_allow_private = true;
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

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bulwark")
}
