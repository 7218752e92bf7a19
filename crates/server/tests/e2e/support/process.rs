//! The real `bulwark` binary as a test runs it: a command with a clean environment, one run
//! expected to fail (its stderr), one expected to succeed (its JSON), a server started and
//! waited for (`Running`, killed if the test ends first), signals, and the `keys` subcommand.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bin;

/// A `bulwark` command in `dir` with no inherited BULWARK_* variables.
pub fn bulwark(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("BULWARK_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("BULWARK_LOG__LEVEL", "warn");
    cmd
}

/// Runs a command expected to fail; returns its stderr lines.
pub fn fails(mut cmd: Command) -> Vec<String> {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "expected failure, got {:?}",
        out.status
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(!stderr.contains("backtrace"), "no backtrace: {stderr}");
    // Start-up warnings about weakening settings come first; the failure is what follows.
    stderr
        .lines()
        .filter(|l| !l.contains("configuration weakens a defence"))
        .map(str::to_string)
        .collect()
}

/// A started `bulwark` process (`serve`, `gateway`, `demo-bank`) that is killed if the test
/// ends (or fails) while it still runs, so a failed test leaves no process behind.
pub struct Running(pub Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `bulwark serve` and waits for its "listening" line; returns the child and address.
pub fn start(mut cmd: Command) -> (Running, String) {
    let mut child = Running(
        cmd.arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = listening_addr(&mut child);
    (child, addr)
}

/// Waits for a started `bulwark serve`'s "listening" line; returns the address.
pub fn listening_addr(child: &mut Child) -> String {
    ready_line(child, "bulwark listening on https://")
}

/// Waits (up to 60 s) for the child's stdout line starting with `prefix` (the line a
/// `bulwark` command prints once it serves); returns the first word after it (its address).
pub fn ready_line(child: &mut Child, prefix: &'static str) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(prefix) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(addr);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("never printed {prefix:?}"))
}

/// The port of a started `bulwark serve`.
pub fn listening_port(child: &mut Child) -> u16 {
    listening_addr(child)
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

pub fn jwks_kids(addr: &str, dir: &Path) -> Vec<String> {
    let ca = dir.join("data/dev-pki/ca.pem");
    let port = addr.rsplit(':').next().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = crate::support::http_client(&ca, None);
        let jwks: serde_json::Value = client
            .get(format!("https://localhost:{port}/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    })
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn write_config(dir: &Path, toml: &str) -> std::path::PathBuf {
    let path = dir.join("bulwark.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

pub fn run_ok(mut cmd: Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `bulwark keys ...` in `dir`; returns stdout.
pub fn keys(dir: &Path, args: &[&str]) -> String {
    let mut cmd = bulwark(dir);
    cmd.env("BULWARK_KEYS__RELOAD_SECS", "1")
        .arg("keys")
        .args(args);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The state column of `keys list` for `kid`.
pub fn key_state(list: &str, kid: &str) -> String {
    list.lines()
        .find(|l| l.contains(kid))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("absent")
        .to_string()
}
