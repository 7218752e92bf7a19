//! The pieces the operations tests start: a test PKI, a PostgreSQL instance, `bulwark`
//! nodes, nginx in front of them, and a token load generator that records every outcome.

mod journey;
mod load;
mod nginx;
mod node;
mod pki;
mod postgres;

use std::path::PathBuf;
use std::sync::OnceLock;

pub use journey::{Browser, JourneyLoad, check_single_use, journey_done};
pub use load::{BEARER, Load, TokenClient, http, summary};
pub use nginx::{CertHeader, Nginx};
pub use node::Node;
pub use pki::Pki;
pub use postgres::Postgres;

/// One cluster at a time: each test starts PostgreSQL, two nodes, nginx and a load, and its
/// timing claims (no request lost, recovery within seconds) are about a machine that is not
/// also running five other clusters.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the other operations tests to finish; hold the guard for the whole test.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// What a test needs from the machine, or why it skips: `None` means go on. Under `CI=true`
/// a missing tool is a failure, so CI always runs everything.
pub fn require(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| match *tool {
            "postgres" => postgres::bin_dir().is_none(),
            "nginx" => nginx::binary().is_none(),
            "njs" => nginx::njs_module().is_none(),
            other => panic!("unknown tool {other}"),
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "skipped: {} not installed (apt-get install postgresql nginx-light libnginx-mod-http-js)",
        missing.join(" and ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {why}");
    }
    eprintln!("{why}");
    false
}

/// The `bulwark` binary of this workspace: `BULWARK_BIN`, else the one `cargo test
/// --workspace` built beside this test, else built now.
pub fn bulwark_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("BULWARK_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/operations-<hash> -> target/<profile>/bulwark
        let beside = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(|dir| dir.join("bulwark"))
            .unwrap();
        if !beside.exists() {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "bulwark-server", "--bin", "bulwark"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .status()
                .unwrap();
            assert!(status.success(), "building bulwark");
        }
        beside
    })
    .clone()
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `check` holds, polling every 100 ms; panics with `what` after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {secs} s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Installs the rustls crypto provider the clients use (once per process).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// PostgreSQL, `n` nodes on it, nginx in front, and a registered TPP client.
pub struct Cluster {
    /// The database server.
    pub pg: Postgres,
    /// The certificates.
    pub pki: Pki,
    /// The nodes, started.
    pub nodes: Vec<Node>,
    /// The load balancer.
    pub nginx: Nginx,
    /// A `private_key_jwt` TPP client with the PKI's client certificate.
    pub client: std::sync::Arc<TokenClient>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts everything; `tweak` adjusts each node's configuration before it starts.
    pub async fn start(n: usize, tweak: impl Fn(&mut Node)) -> Self {
        Self::start_on(Postgres::start_primary(), n, CertHeader::Pem, tweak).await
    }

    /// As [`Cluster::start`], on a PostgreSQL primary the test started, with nginx forwarding
    /// certificates as `variant` says (and the nodes reading them so).
    pub async fn start_on(
        pg: Postgres,
        n: usize,
        variant: CertHeader,
        tweak: impl Fn(&mut Node),
    ) -> Self {
        install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let lb_port = Nginx::reserve_port();
        let mut nodes: Vec<Node> = (0..n)
            .map(|_| {
                let mut node = Node::new(lb_port, &pg.url("bulwark"), &pki);
                if variant == CertHeader::Rfc9440 {
                    node.unset("BULWARK_MTLS__HEADER");
                }
                tweak(&mut node);
                node
            })
            .collect();
        let client = TokenClient::new(&pki, lb_port, "ops-tpp");
        let metadata = dir.path().join("ops-tpp.json");
        std::fs::write(&metadata, client.metadata().to_string()).unwrap();
        nodes[0].cli(&["clients", "add", "--metadata", metadata.to_str().unwrap()]);
        let (psu, password) = journey::PSU;
        nodes[0].cli_with_input(&["psu", "add", psu, "--demo-accounts"], password);
        for node in &mut nodes {
            node.start().await;
        }
        let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
        let nginx = Nginx::start(lb_port, &ports, &pki, variant).await;
        Self {
            pg,
            pki,
            nodes,
            nginx,
            client: std::sync::Arc::new(client),
            _dir: dir,
        }
    }

    /// Requests each node has answered on `route`.
    pub async fn requests_on(&self, route: &str) -> Vec<u64> {
        let mut counts = Vec::new();
        for node in &self.nodes {
            counts.push(node.requests_on(route).await);
        }
        counts
    }

    /// A PSU's browser on the load balancer.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.pki, &self.client.base)
    }

    /// Consents (by id) that more than one code exchange turned into tokens (two grants), or
    /// that more than one code was issued for (a `request_uri` completed twice). Each journey
    /// authorises its own consent through one pushed request and one code.
    pub fn consents_redeemed_twice(&self) -> Vec<String> {
        self.pg
            .psql(
                "bulwark",
                "SELECT consent_id FROM refresh_tokens GROUP BY consent_id HAVING count(*) > 1 \
                 UNION ALL SELECT consent_id FROM authorization_codes \
                 GROUP BY consent_id HAVING count(*) > 1",
            )
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every jti claimed in the database (client assertions and other single-use values).
    pub fn claimed_jtis(&self) -> std::collections::HashSet<String> {
        claimed_jtis(&self.pg)
    }
}

/// Every jti claimed in `pg`'s Bulwark database.
pub fn claimed_jtis(pg: &Postgres) -> std::collections::HashSet<String> {
    pg.psql("bulwark", "SELECT jti FROM used_jtis")
        .lines()
        .map(str::to_string)
        .collect()
}
