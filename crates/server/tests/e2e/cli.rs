//! The `bulwark` subcommands a bank's operators use, each run as the real binary: clients,
//! certificate verification, PSUs, configuration checks, the admin listener, staff and audit
//! export, the gateway process, and signing-key rotation reaching a running server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::process::{
    Running, bulwark, fails, jwks_kids, key_state, keys, ready_line, run_ok, signal, start,
    wait_exit, write_config,
};

#[test]
fn dcr_5_clients_cli_add_list_show_suspend() {
    let dir = tempfile::tempdir().unwrap();
    let key = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Es256).unwrap();
    let meta = serde_json::json!({
        "client_id": "bench-client",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": "accounts",
        "jwks": {"keys": [serde_json::Value::Object(key.public_jwk().clone())]}
    });
    std::fs::write(dir.path().join("client.json"), meta.to_string()).unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "add", "--metadata", "client.json"]);
    let added = run_ok(cmd);
    assert_eq!(
        added["client_id"], "bench-client",
        "a client_id in the file is kept"
    );
    assert_eq!(added["status"], "active");

    // Without client_id one is generated; a PEM public key lands in jwks.
    let ec = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("pub.pem"), ec.public_key_pem()).unwrap();
    std::fs::write(
        dir.path().join("gen.json"),
        r#"{"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"], "scope": "accounts"}"#,
    )
    .unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.args([
        "clients",
        "add",
        "--metadata",
        "gen.json",
        "--public-key-pem",
        "pub.pem",
        "--kid",
        "k1",
    ]);
    let generated = run_ok(cmd);
    assert!(generated["client_id"].as_str().unwrap().len() >= 16);
    assert_eq!(generated["jwks"]["keys"][0]["kid"], "k1");
    assert_eq!(generated["jwks"]["keys"][0]["crv"], "P-256");

    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "list"]);
    assert_eq!(run_ok(cmd).as_array().unwrap().len(), 2);
    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "suspend", "bench-client"]);
    assert_eq!(run_ok(cmd)["status"], "suspended");
    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "show", "bench-client"]);
    assert_eq!(run_ok(cmd)["status"], "suspended");

    // Bad metadata: refused with one line, nothing stored.
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"token_endpoint_auth_method": "client_secret_basic"}"#,
    )
    .unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "add", "--metadata", "bad.json"]);
    let lines = fails(cmd);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("client_secret_basic"), "{lines:?}");
    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "show", "nobody"]);
    fails(cmd);
    let mut cmd = bulwark(dir.path());
    cmd.args(["clients", "list"]);
    assert_eq!(run_ok(cmd).as_array().unwrap().len(), 2);
}

#[test]
fn cert_3_certs_verify_cli_reports_and_sets_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    bulwark_server::dev_pki::DevPki::ensure(&dir.path().join("data")).unwrap();
    // The development CA is trusted, revocation is off for the dev client certificate (it
    // names no OCSP responder or CRL).
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_REVOCATION__ENABLED", "false").args([
        "certs",
        "verify",
        "data/dev-pki/client.pem",
    ]);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert!(report["x5t#S256"].as_str().unwrap().len() == 43);
    assert_eq!(
        report["qwac"]["organization_identifier"],
        "PSDGB-DEV-000001"
    );
    assert_eq!(report["profile"], "eidas");

    // ob_6: the same CA configured as the UK directory's: the report names the ob-directory
    // profile (a transport certificate needs no qcStatements there).
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_REVOCATION__ENABLED", "false")
        .env("BULWARK_TRUST__OB_DIRECTORY", "[\"data/dev-pki/ca.pem\"]")
        .args(["certs", "verify", "data/dev-pki/client.pem"]);
    let out = cmd.output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["profile"], "ob-directory", "{report}");
    assert_eq!(report["valid"], true, "{report}");

    // With the CA configured as a real trust anchor, revocation is checked: a certificate
    // naming neither OCSP nor CRL is rejected with a reason.
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_TRUST__ANCHORS", "[\"data/dev-pki/ca.pem\"]")
        .args(["certs", "verify", "data/dev-pki/client.pem"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["reason"].is_string());

    let mut cmd = bulwark(dir.path());
    cmd.args(["certs", "verify", "missing.pem"]);
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
    let mut cmd = bulwark(dir.path());
    cmd.args([
        "--config",
        "no-such.toml",
        "certs",
        "verify",
        "data/dev-pki/client.pem",
    ]);
    assert_eq!(
        cmd.output().unwrap().status.code(),
        Some(2),
        "a bad configuration is a usage error"
    );
}

#[test]
fn az_6_psu_add_reads_the_password_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let add = |username: &str, password: &str| {
        let mut cmd = bulwark(dir.path());
        cmd.args([
            "psu",
            "add",
            username,
            "--name",
            "Alex Customer",
            "--demo-accounts",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add("alex", "correct horse battery");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("added PSU alex (subject psu-"));
    // A taken username and a short password are one-line errors, nothing written twice.
    let again = add("alex", "another password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = add("sam", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
    // alex keeps the first password, and sam was not added.
    let (alex, sam) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use bulwark_store::PsuStore;
        let url = format!("sqlite://{}", dir.path().join("data/bulwark.db").display());
        let store = bulwark_store::SqlStore::connect(&url, &Default::default())
            .await
            .unwrap();
        (
            store.get_psu("alex").await.unwrap().unwrap(),
            store.get_psu("sam").await.unwrap(),
        )
    });
    assert!(
        bulwark_authz::verify_password("correct horse battery", &alex.password_hash),
        "alex keeps the first password"
    );
    assert!(sam.is_none(), "sam was added");
}

#[test]
fn hardening_check_config_prints_weakening_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[mtls]\nmode = \"proxy\"\nrevalidate_issuer = false\n[revocation]\nenabled = false\n",
    );
    let out = bulwark(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: mtls.mode = \"proxy\" with no mtls.trusted_proxies"),
        "{text}"
    );
    assert!(
        text.contains("warning: revocation.enabled = false"),
        "{text}"
    );
    assert!(
        text.contains("configuration valid (3 warning(s))"),
        "{text}"
    );
    let bad = write_config(dir.path(), "[mtls]\nmode = \"sideways\"\n");
    let lines = fails({
        let mut cmd = bulwark(dir.path());
        cmd.arg("--config").arg(&bad).arg("check-config");
        cmd
    });
    assert!(lines.iter().any(|l| l.contains("mtls.mode")), "{lines:?}");

    // A server certificate with another key's file beside it.
    let certified = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&certified)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("server.pem"), dir.path().join("other.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(
        &key_path,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let mismatched = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert_path.display(),
        key_path.display()
    );
    // What `serve` would refuse, check-config refuses too, without starting anything.
    for (body, expected) in [
        (
            "[authorization]\ncode_lifetime_secs = 120\n",
            "code_lifetime_secs",
        ),
        (
            "[authorization]\nsubject_type = \"sideways\"\n",
            "subject_type",
        ),
        (
            "[par]\nrequest_uri_lifetime_secs = 600\n",
            "request_uri_lifetime_secs",
        ),
        (
            "[consents]\nsupported_permissions = [\"ReadEverything\"]\n",
            "supported_permissions",
        ),
        (
            "[consents]\nsupported_local_instruments = [\"FPS\"]\n",
            "supported_local_instruments",
        ),
        ("[pages]\nlogo = \"/nonexistent/logo.svg\"\n", "pages.logo"),
        (
            "[trust]\nanchors = [\"/nonexistent/qtsp-roots\"]\n",
            "/nonexistent/qtsp-roots",
        ),
        (
            "[tokens]\naccess_token_alg = \"RS256\"\n",
            "access_token_alg",
        ),
        ("[dcr]\naudiences = [\"\"]\n", "dcr.audiences"),
        (
            "[[dcr.directories]]\nname = \"ob\"\nissuer = \"OpenBanking Ltd\"\njwks_file = \"/nonexistent/ob.jwks\"\n",
            "/nonexistent/ob.jwks",
        ),
        (
            "[http]\noutbound_ca = [\"/nonexistent/outbound-ca.pem\"]\n",
            "/nonexistent/outbound-ca.pem",
        ),
        (
            "[revocation]\nexclude_issuers = [\"CN=Some CA\"]\n",
            "exclude_issuers",
        ),
        (&mismatched, "tls.cert and tls.key"),
    ] {
        let bad = write_config(dir.path(), body);
        let lines = fails({
            let mut cmd = bulwark(dir.path());
            cmd.arg("--config").arg(&bad).arg("check-config");
            cmd
        });
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "{body}: {lines:?}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "check-config generates nothing"
    );
}

/// hardening_admin_listener: with `[http] admin_listen`, health, readiness and metrics are
/// served there (plain HTTP, e.g. an internal interface) and no longer on the public listener.
#[test]
fn hardening_operations_endpoints_move_to_the_admin_listener() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0");
    cmd.env(
        "BULWARK_HTTP__ADMIN_LISTEN",
        format!("127.0.0.1:{admin_port}"),
    );
    let (mut child, addr) = start(cmd);
    let get_admin = |path: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", admin_port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(get_admin("/healthz").starts_with("HTTP/1.1 200"));
    assert!(get_admin("/readyz").starts_with("HTTP/1.1 200"));
    assert!(get_admin("/metrics").starts_with("HTTP/1.1 200"));
    assert!(
        get_admin("/jwks").starts_with("HTTP/1.1 404"),
        "only operations there"
    );
    let ca = dir.path().join("data/dev-pki/ca.pem");
    let port = addr.rsplit(':').next().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (metrics, jwks) = rt.block_on(async {
        let client = crate::support::http_client(&ca, None);
        let m = client
            .get(format!("https://localhost:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let j = client
            .get(format!("https://localhost:{port}/jwks"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        (m, j)
    });
    assert_eq!(metrics, 404, "not on the public listener");
    assert_eq!(jwks, 200);
    signal(&child, "TERM");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
}

/// hardening_startup_warnings: a static client registered without `organization_identifier`
/// is named at start (its certificates' organisation cannot be checked, CERT-8).
#[tokio::test]
async fn hardening_static_client_without_organisation_is_warned_about() {
    crate::support::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::support::test_config(dir.path(), None);
    let app = bulwark_server::Application::build(config.clone())
        .await
        .unwrap();
    bulwark_store::ClientStore::insert_client(
        app.store(),
        &bulwark_core::Client {
            client_id: "static-no-org".into(),
            metadata: serde_json::from_value(serde_json::json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=tpp"
            }))
            .unwrap(),
            status: bulwark_core::ClientStatus::Active,
            client_id_issued_at: 1,
            updated_at: 1,
        },
    )
    .await
    .unwrap();
    app.store().close().await;
    drop(app);
    let again = bulwark_server::Application::build(config).await.unwrap();
    assert!(
        again.report.iter().any(|l| l
            .starts_with("warning: 1 static client(s) without organization_identifier")
            && l.contains("static-no-org")),
        "{:?}",
        again.report
    );
}

#[test]
fn co_5_staff_add_and_audit_export_from_the_command_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let add = |username: &str, role: &str, password: &str| {
        let mut cmd = bulwark(dir.path());
        cmd.args(["staff", "add", username, "--role", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add("alice", "admin", "a long staff password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("added staff member alice (admin)"));
    let again = add("alice", "viewer", "another long password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = add("bob", "viewer", "too short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    assert!(
        !add("carol", "superuser", "a long staff password")
            .status
            .success()
    );

    // The trail as JSON lines, oldest first; --since filters.
    let mut cmd = bulwark(dir.path());
    cmd.args([
        "audit",
        "export",
        "--since",
        "2020-01-01",
        "--format",
        "jsonl",
    ]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["action"], "staff.add");
    assert_eq!(lines[0]["subject"], "alice");
    assert!(lines[0]["at"].as_str().unwrap().ends_with('Z'));
    let mut cmd = bulwark(dir.path());
    cmd.args(["audit", "export", "--since", "2999-01-01"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let mut cmd = bulwark(dir.path());
    cmd.args(["audit", "export", "--since", "last tuesday"]);
    assert_eq!(fails(cmd).len(), 1);
}

#[test]
fn gw_1_the_gateway_runs_as_its_own_process() {
    let dir = tempfile::tempdir().unwrap();
    // The server's data directory: development PKI and a migrated database.
    bulwark_server::dev_pki::DevPki::ensure(&dir.path().join("data")).unwrap();
    let mut migrate = bulwark(dir.path());
    migrate.arg("migrate");
    assert!(migrate.output().unwrap().status.success());
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        r#"
listen = "127.0.0.1:0"
issuer = "https://localhost:8443"
jwks_uri = "https://localhost:8443/jwks"
jwks_ca = ["data/dev-pki/ca.pem"]
database_url = "sqlite://data/bulwark.db?mode=rwc"

[tls]
cert = "data/dev-pki/server.pem"
key = "data/dev-pki/server-key.pem"

[trust]
anchors = ["data/dev-pki/ca.pem"]

[revocation]
enabled = false

[[routes]]
method = "GET"
path = "/open-banking/v3.1/aisp/accounts"
upstream = "http://127.0.0.1:9"
api = "accounts"
"#,
    )
    .unwrap();
    let mut child = Running(
        bulwark(dir.path())
            .args(["gateway", "--config", "gateway.toml"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = ready_line(&mut child, "bulwark gateway listening on https://");
    let port = addr.rsplit(':').next().unwrap().to_string();
    let ca = dir.path().join("data/dev-pki/ca.pem");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, www) = rt.block_on(async {
        let resp = crate::support::http_client(&ca, None)
            .get(format!(
                "https://localhost:{port}/open-banking/v3.1/aisp/accounts"
            ))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 401, "no token, refused by the gateway process");
    assert!(www.unwrap().starts_with("Bearer"));

    // A configuration mistake is one line and exit 1.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("api = \"accounts\"", "api = \"nonsense\""),
    )
    .unwrap();
    let mut bad = bulwark(dir.path());
    bad.args(["gateway", "--config", "gateway.toml"]);
    let lines = fails(bad);
    assert!(lines.iter().any(|l| l.contains("unknown api")), "{lines:?}");
}

#[test]
fn ds_2_keys_rotate_and_list_from_the_command_line_reach_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark(dir.path());
    cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0")
        .env("BULWARK_KEYS__RELOAD_SECS", "1");
    let (mut child, addr) = start(cmd);
    let before = jwks_kids(&addr, dir.path());
    assert_eq!(before.len(), 2, "one PS256 and one ES256 key: {before:?}");
    let list = keys(dir.path(), &["list"]);
    for kid in &before {
        assert_eq!(key_state(&list, kid), "signing", "{list}");
    }

    let out = keys(
        dir.path(),
        &["rotate", "--alg", "ES256", "--activate-in", "3"],
    );
    let next = out
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert!(out.starts_with("added ES256 key "), "{out}");
    assert_eq!(key_state(&keys(dir.path(), &["list"]), &next), "next");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !jwks_kids(&addr, dir.path()).contains(&next) {
        assert!(
            Instant::now() < deadline,
            "the running server publishes the next key"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let list = keys(dir.path(), &["list"]);
    assert_eq!(key_state(&list, &next), "signing", "{list}");
    let old_es = before
        .iter()
        .find(|kid| {
            list.lines()
                .any(|l| l.contains(kid.as_str()) && l.contains("ES256"))
        })
        .unwrap();
    assert_eq!(key_state(&list, old_es), "previous", "{list}");
    assert!(
        jwks_kids(&addr, dir.path()).contains(old_es),
        "still published"
    );

    let mut bad = bulwark(dir.path());
    bad.args(["keys", "rotate", "--alg", "RS256"]);
    assert!(!fails(bad).is_empty());
    // Which key to rotate is the operator's choice, never a default.
    let mut unsaid = bulwark(dir.path());
    unsaid.args(["keys", "rotate"]);
    assert!(fails(unsaid).join("\n").contains("--alg"));
    signal(&child, "TERM");
    assert!(wait_exit(&mut child).success());
}
