//! `Harness`: the real application on port 0 with a fresh data directory and database (SQLite,
//! or a PostgreSQL test database), a test PKI trusted for client certificates, revocation
//! checking off and a fixed clock the test can advance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_core::{Client, ClientStatus, FixedClock};
use bulwark_server::{Application, Config};
use bulwark_store::{ClientStore, SqlStore};
use serde_json::Value;
use tokio::sync::oneshot;

use super::{Identity, Resp, TestPki, http_client, install_crypto, test_config};

/// A running server with a test PKI trusted for client certificates.
pub struct Harness {
    pub addr: std::net::SocketAddr,
    /// The staff console's own listener, when `[staff] listen` is set.
    pub staff_addr: Option<std::net::SocketAddr>,
    /// The database URL the server uses (the gateway shares it).
    pub db_url: String,
    pub state: bulwark_server::state::AppState,
    pub store: SqlStore,
    pub clock: FixedClock,
    pub pki: Arc<TestPki>,
    pub dev_ca: PathBuf,
    /// The sealing key of each TPP the support helpers registered, by client id, as the
    /// directory would hold them; `AsTpp` signs payment consents with it.
    pub seals: std::sync::Mutex<std::collections::HashMap<String, Arc<super::seal::Seal>>>,
    dir: Arc<tempfile::TempDir>,
    _stop: oneshot::Sender<()>,
}

/// The wall clock, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Harness {
    /// A server on SQLite in a fresh data directory.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_shared(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(TestPki::new("Test QTSP Root")),
            None,
            tweak,
        )
        .await
    }

    /// A server on the PostgreSQL database `db_url` in a fresh data directory.
    pub async fn start_postgres(db_url: String, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_shared(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(TestPki::new("PG QTSP")),
            Some(db_url),
            tweak,
        )
        .await
    }

    /// A server on SQLite asking `bank`'s systems (a bank's own directory, payment terms,
    /// funds check plugged in) instead of the defaults.
    pub async fn start_with_bank(
        bank: bulwark_server::BankSystems,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_full(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(TestPki::new("Test QTSP Root")),
            None,
            bank,
            tweak,
        )
        .await
    }

    /// A server on a given data directory / database, so two instances can share them.
    pub async fn start_shared(
        dir: Arc<tempfile::TempDir>,
        pki: Arc<TestPki>,
        db_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_full(
            dir,
            pki,
            db_url,
            bulwark_server::BankSystems::default(),
            tweak,
        )
        .await
    }

    async fn start_full(
        dir: Arc<tempfile::TempDir>,
        pki: Arc<TestPki>,
        db_url: Option<String>,
        bank: bulwark_server::BankSystems,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        install_crypto();
        let (dev, _) = bulwark_server::dev_pki::DevPki::ensure(dir.path()).unwrap();
        let mut config = test_config(dir.path(), db_url);
        config.trust.anchors = vec![pki.ca_pem_path.clone()];
        config.revocation.enabled = false;
        config.tokens.client_cache_secs = 0;
        config.http.outbound_ca = vec![dev.ca_cert.clone()];
        tweak(&mut config);
        let db_url = config.database_url();
        let clock = FixedClock::at(now());
        let app = Application::build_with(config, Arc::new(clock.clone()), bank)
            .await
            .unwrap();
        let addr = app.addr();
        let staff_addr = app.staff_addr();
        let store = app.store().clone();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            staff_addr,
            db_url,
            state,
            store,
            clock,
            pki,
            dev_ca: dev.ca_cert,
            seals: std::sync::Mutex::default(),
            dir,
            _stop: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// The data directory (it holds the development PKI).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's (fixed) clock, in Unix seconds.
    pub fn clock_now(&self) -> i64 {
        use bulwark_core::Clock;
        self.clock.unix()
    }

    /// The key ids the server publishes at `/jwks` now.
    pub async fn published_kids(&self) -> Vec<String> {
        self.get_json("/jwks").await["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_string))
            .collect()
    }

    /// DS-2's compromise (`bulwark keys rotate --alg PS256 --immediately`): a new PS256 key
    /// signs at once and the keys it replaces are withdrawn at once, in this server's database
    /// (its nodes switch within `keys.reload_secs`).
    pub async fn rotate_at_once(&self) -> bulwark_server::signing::Rotated {
        bulwark_server::signing::rotate(
            &self.store,
            self.clock_now(),
            bulwark_jose::Alg::Ps256,
            bulwark_server::signing::RotationPlan {
                publish_ahead_secs: 900,
                longest_token_lifetime_secs: 600,
                immediately: true,
                reload_secs: 1,
            },
        )
        .await
        .unwrap()
    }

    /// Stores an active client with the given metadata.
    pub async fn register(&self, client_id: &str, metadata: Value) {
        let client = Client {
            client_id: client_id.into(),
            metadata: serde_json::from_value(metadata).unwrap(),
            status: ClientStatus::Active,
            client_id_issued_at: now(),
            updated_at: now(),
        };
        self.store.insert_client(&client).await.unwrap();
    }

    /// GETs a public JSON document (`/jwks`, discovery) as a TPP reads it: no client
    /// certificate, over the server's TLS.
    pub async fn get_json(&self, path: &str) -> Value {
        http_client(&self.dev_ca, None)
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs a form; returns status, headers and JSON body (Null when empty).
    pub async fn post(&self, id: Option<&Identity>, path: &str, form: &[(&str, &str)]) -> Resp {
        let resp = http_client(&self.dev_ca, id)
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, body)
    }
}
