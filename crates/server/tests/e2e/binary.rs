//! The real `bulwark` process: OP-1 embedded default, configuration errors that exit with one
//! line, graceful SIGTERM, and nothing committed lost across SIGKILL.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::bin;
use crate::support::process::{
    Running, bulwark, fails, jwks_kids, listening_addr, signal, start, wait_exit, write_config,
};

#[test]
fn op_1_embedded_default_generates_material_and_sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    // Everything default but the port, so tests never collide on 8443.
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0");
    let (mut child, addr) = start(cmd);
    for file in [
        "ca.pem",
        "server.pem",
        "server-key.pem",
        "client.pem",
        "client-key.pem",
    ] {
        assert!(
            dir.path().join("data/dev-pki").join(file).exists(),
            "{file} generated under ./data"
        );
    }
    assert!(
        dir.path().join("data/bulwark.db").exists(),
        "SQLite under ./data"
    );
    let kids = jwks_kids(&addr, dir.path());
    assert_eq!(kids.len(), 2);
    // AZ-6: the demo PSU, its password kept for the next start.
    let demo = std::fs::read_to_string(dir.path().join("data/demo-psu.txt")).unwrap();
    assert!(demo.starts_with("username: demo\npassword: "), "{demo}");
    // What it made holds private keys and credentials: the owner's only, whatever the umask.
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [
        ("data", 0o700),
        ("data/dev-pki", 0o700),
        ("data/bulwark.db", 0o600),
        ("data/bulwark.db-wal", 0o600),
        ("data/demo-psu.txt", 0o600),
        ("data/dev-pki/server-key.pem", 0o600),
        ("data/dev-pki/client-key.pem", 0o600),
    ] {
        let meta = std::fs::metadata(dir.path().join(path)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{path}");
    }
    signal(&child, "TERM");
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}

/// OP-1: the shutdown handlers are in place before the ready line is printed, so a SIGTERM
/// that follows it at once (an orchestrator's rolling restart) is a graceful exit 0 and
/// never the signal's default action (killed, no exit code). Before they were installed
/// first thing, one start in a few died this way at `info`.
#[test]
fn op_1_sigterm_right_after_the_ready_line_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..12 {
        let mut cmd = bulwark(dir.path());
        // At `info` the "ready" log line is written between the ready line and the server's
        // first poll, which is what widened the window enough to be seen.
        cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0")
            .env("BULWARK_LOG__LEVEL", "info");
        let (mut child, _) = start(cmd);
        signal(&child, "TERM");
        assert_eq!(wait_exit(&mut child).code(), Some(0), "start {attempt}");
    }
}

#[test]
fn op_1_sigkill_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0");
    let (mut child, addr) = start(cmd);
    let before = jwks_kids(&addr, dir.path());
    signal(&child, "KILL");
    let _ = wait_exit(&mut child);
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0");
    let (mut child, addr) = start(cmd);
    assert_eq!(
        jwks_kids(&addr, dir.path()),
        before,
        "keys committed before SIGKILL survive"
    );
    signal(&child, "TERM");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
}

#[test]
fn op_1_unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), "[http]\nlisen = \"127.0.0.1:0\"\n");
    let mut cmd = bulwark(dir.path());
    cmd.args(["--config"]).arg(&file).arg("serve");
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: "), "{lines:?}");
    assert!(lines[0].contains("unknown key `http.lisen`"), "{lines:?}");
}

#[test]
fn op_1_unknown_environment_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_DATABSE__URL", "sqlite://x.db")
        .arg("serve");
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("unknown key `databse`"), "{lines:?}");
}

#[test]
fn op_1_malformed_config_and_missing_file_exit_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        "issuer = \"https://bank.example\"\n[http\nlisten = 1\n",
    );
    let mut cmd = bulwark(dir.path());
    cmd.arg("--config").arg(&file).arg("serve");
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");

    let mut cmd = bulwark(dir.path());
    cmd.args(["--config", "does-not-exist.toml", "serve"]);
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("does-not-exist.toml"), "{lines:?}");

    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_ISSUER", "http://bank.example")
        .arg("serve");
    let lines = fails(cmd);
    assert!(lines[0].contains("must be an https URL"), "{lines:?}");
}

#[test]
fn op_1_missing_certificate_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        "[http]\nlisten = \"127.0.0.1:0\"\n[tls]\ncert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n",
    );
    let mut cmd = bulwark(dir.path());
    cmd.arg("--config").arg(&file).arg("serve");
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("missing-cert.pem"), "{lines:?}");

    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0")
        .env("BULWARK_TRUST__ANCHORS", "[\"no-such-anchors\"]")
        .arg("serve");
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("no-such-anchors"), "{lines:?}");
}

#[test]
fn op_2_unreachable_database_fails_after_bounded_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0")
        .env(
            "BULWARK_DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/bulwark",
        )
        .env("BULWARK_DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .arg("serve");
    let started = Instant::now();
    let lines = fails(cmd);
    assert!(started.elapsed() < Duration::from_secs(10));
    let last = lines.last().unwrap();
    assert!(last.starts_with("error: database"), "{lines:?}");
}

#[test]
fn op_1_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", &addr).arg("serve");
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(&format!("cannot listen on {addr}")),
        "{lines:?}"
    );
}

#[test]
fn op_2_migrate_subcommand_applies_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    let out = cmd.arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/bulwark.db").exists());
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for sub in ["serve", "migrate", "--config", "--log-json"] {
        assert!(help.contains(sub), "--help documents {sub}");
    }
}

/// OP-4: `--log-json` (or `log.format = "json"`) makes every log line one JSON object with
/// its level, target and fields, as a log shipper reads them; without it the lines are text.
#[test]
fn op_4_logs_are_json_lines_when_asked() {
    let run = |json: Option<&str>| -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut cmd = bulwark(dir.path());
        cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0")
            .env("BULWARK_LOG__LEVEL", "info")
            .stderr(log);
        match json {
            Some("flag") => {
                cmd.arg("--log-json");
            }
            Some(_) => {
                cmd.env("BULWARK_LOG__FORMAT", "json");
            }
            None => {}
        }
        let mut child = Running(cmd.arg("serve").stdout(Stdio::piped()).spawn().unwrap());
        listening_addr(&mut child);
        signal(&child, "TERM");
        assert_eq!(wait_exit(&mut child).code(), Some(0));
        std::fs::read_to_string(dir.path().join("stderr.log"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    for how in ["flag", "config"] {
        let lines = run(Some(how));
        assert!(!lines.is_empty(), "{how}: the start-up is logged");
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{how}: not JSON ({e}): {line}"));
            assert!(
                v["level"].is_string() && v["target"].is_string() && v["fields"].is_object(),
                "{how}: {line}"
            );
        }
    }
    let text = run(None);
    assert!(!text.is_empty());
    assert!(
        text.iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "{text:?}"
    );
}
