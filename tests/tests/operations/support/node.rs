//! One `bulwark serve` process of a cluster: proxy mode behind nginx (trusting 127.0.0.1 for
//! the `X-SSL-Client-Cert` header), on a shared database, with the operations endpoints on a
//! plain-HTTP admin port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Pki, bulwark_bin, free_port};

/// A node: its configuration (as environment) and, while running, its process.
pub struct Node {
    /// The TLS port nginx forwards to.
    pub port: u16,
    /// The plain-HTTP port of `/readyz` and `/metrics`.
    pub admin_port: u16,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Node {
    /// A node for the load balancer at `lb_port` on database `db_url`.
    pub fn new(lb_port: u16, db_url: &str, pki: &Pki) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (port, admin_port) = (free_port(), free_port());
        let env = vec![
            ("BULWARK_ISSUER", format!("https://localhost:{lb_port}")),
            ("BULWARK_DATA_DIR", dir.path().display().to_string()),
            ("BULWARK_DATABASE__URL", db_url.to_string()),
            ("BULWARK_DATABASE__CONNECT_TIMEOUT_SECS", "30".into()),
            ("BULWARK_HTTP__LISTEN", format!("127.0.0.1:{port}")),
            (
                "BULWARK_HTTP__ADMIN_LISTEN",
                format!("127.0.0.1:{admin_port}"),
            ),
            ("BULWARK_TLS__CERT", pki.server_cert.display().to_string()),
            ("BULWARK_TLS__KEY", pki.server_key.display().to_string()),
            (
                "BULWARK_TRUST__ANCHORS",
                format!("[\"{}\"]", pki.client_ca.display()),
            ),
            ("BULWARK_REVOCATION__ENABLED", "false".into()),
            ("BULWARK_MTLS__MODE", "proxy".into()),
            ("BULWARK_MTLS__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]".into()),
            ("BULWARK_MTLS__HEADER", "X-SSL-Client-Cert".into()),
            ("BULWARK_LOG__LEVEL", "warn".into()),
        ];
        Self {
            port,
            admin_port,
            env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            dir,
            child: None,
        }
    }

    /// Sets (or overrides) one configuration variable.
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Removes one configuration variable (back to its default).
    pub fn unset(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(bulwark_bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("BULWARK_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// Runs a `bulwark` subcommand with this node's configuration; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "bulwark {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a `bulwark` subcommand with `input` on its standard input; returns stdout.
    pub fn cli_with_input(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{input}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "bulwark {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts `bulwark serve` and waits until `/readyz` answers 200.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.readyz().await != Some(200) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("node exited at start ({status}): {}", self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node not ready: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /readyz`'s status, or `None` when nothing answers within 2 s.
    pub async fn readyz(&self) -> Option<u16> {
        admin_get(self.admin_port, "/readyz")
            .await
            .map(|(status, _)| status)
    }

    /// `/metrics`' text.
    pub async fn metrics(&self) -> String {
        admin_get(self.admin_port, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// How many requests this node answered on `route` (every method and status).
    pub async fn requests_on(&self, route: &str) -> u64 {
        let needle = format!("route=\"{route}\"");
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with("http_requests_total") && l.contains(&needle))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Sends a signal (`TERM`, `KILL`) to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args(["-s", sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {sig}");
    }

    /// Waits for the process to exit (at most `secs`) and returns its status.
    pub async fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "node did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain-HTTP GET on the admin port: status and body.
async fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let resp = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.unwrap_or_default()))
}
