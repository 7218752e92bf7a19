//! GW-1 with the parts as a bank runs them, each its own process: `bulwark demo-bank` and
//! `bulwark gateway --config gateway.toml` (the README's path), in front of the test's
//! authorization server and its database. A TPP that went through the PSU journey reads the
//! consented account's balances through the gateway; the main refusals come from the gateway
//! process before the bank sees anything: no token, another certificate, an application token
//! on a PSU path, an account outside the consent, a consent deleted a moment ago.

use std::path::Path;
use std::process::Stdio;

use bulwark_certs::PspRole;

use crate::support::consents::{AISP, as_tpp};
use crate::support::gateway::{get, journey};
use crate::support::process::{Running, bulwark, ready_line};
use crate::support::{Harness, ISSUER, both_backends};

/// Starts `bulwark ARGS` in `dir` with `env` and waits for its stdout line starting with
/// `ready`; returns the process and its address.
fn start(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    ready: &'static str,
) -> (Running, String) {
    let mut cmd = bulwark(dir);
    cmd.envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Running(cmd.spawn().unwrap());
    let addr = ready_line(&mut child, ready);
    (child, addr)
}

/// The demo bank and the gateway as processes over the harness's database and keys; returns
/// them (stopped when dropped) and the gateway's base URL.
fn processes(h: &Harness, dir: &Path) -> (Running, Running, String) {
    let pki = h.data_dir().join("dev-pki");
    processes_with(
        h,
        dir,
        &pki.join("server.pem"),
        &pki.join("server-key.pem"),
        &h.pki.ca_pem_path,
    )
}

/// As [`processes`], the gateway with this certificate and key and these client-certificate
/// trust anchors (files a test may replace).
pub(crate) fn processes_with(
    h: &Harness,
    dir: &Path,
    cert: &Path,
    key: &Path,
    anchors: &Path,
) -> (Running, Running, String) {
    let (bank, bank_addr) = start(
        dir,
        &["demo-bank", "--listen", "127.0.0.1:0"],
        &[
            ("BULWARK_DATABASE__URL", &h.db_url),
            ("BULWARK_DATA_DIR", &dir.join("bank-data").to_string_lossy()),
        ],
        "demo bank listening on http://",
    );
    let toml = format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"
jwks_uri = "{jwks}"
jwks_ca = ["{dev_ca}"]
database_url = "{db}"

[tls]
cert = "{cert}"
key = "{key}"

[trust]
anchors = ["{anchors}"]

[revocation]
enabled = false

[[routes]]
method = "GET"
path = "/open-banking/v3.1/aisp/accounts/{{AccountId}}/balances"
upstream = "http://{bank_addr}"
api = "balances"
account_param = "AccountId"

[[routes]]
method = "GET"
path = "/open-banking/v3.1/aisp/accounts"
upstream = "http://{bank_addr}"
api = "accounts"
"#,
        jwks = h.url("/jwks"),
        dev_ca = h.dev_ca.display(),
        db = h.db_url,
        cert = cert.display(),
        key = key.display(),
        anchors = anchors.display(),
    );
    std::fs::write(dir.join("gateway.toml"), toml).unwrap();
    let (gateway, addr) = start(
        dir,
        &["gateway", "--config", "gateway.toml"],
        &[],
        "bulwark gateway listening on https://",
    );
    let port = addr.rsplit(':').next().unwrap().to_string();
    (bank, gateway, format!("https://localhost:{port}"))
}

async fn gw_1_the_gateway_and_the_bank_as_processes_case(h: Harness) {
    let dir = tempfile::tempdir().unwrap();
    let (_bank, _gateway, base) = processes(&h, dir.path());
    let (t, token, accounts, _) = journey(&h).await;
    let id = &t.c.identity;
    let balances = |account: &str| format!("/open-banking/v3.1/aisp/accounts/{account}/balances");

    // The README's path: the consented account's balances, from the demo bank.
    let ok = get(&h, &base, id, Some(&token), &balances(&accounts[0]), &[]).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(
        ok.body["Data"]["Balance"][0]["AccountId"],
        accounts[0].as_str()
    );
    assert!(ok.body["Data"]["Balance"][0]["Amount"]["Amount"].is_string());

    // The account the PSU did not select.
    let other = get(&h, &base, id, Some(&token), &balances(&accounts[1]), &[]).await;
    assert_eq!(other.status, 403, "{:?}", other.body);
    assert_eq!(
        other.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.ConsentMismatch"
    );
    // No token: 401, a Bearer challenge without an error code (RFC 6750 3.1).
    let none = get(&h, &base, id, None, &balances(&accounts[0]), &[]).await;
    assert_eq!(none.status, 401, "{:?}", none.body);
    let challenge = none.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error"),
        "{challenge}"
    );
    // The token with another certificate of the same TPP (RFC 8705 3).
    let other_cert = h.pki.qwac(
        "tpp-gw",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let stolen = get(
        &h,
        &base,
        &other_cert,
        Some(&token),
        &balances(&accounts[0]),
        &[],
    )
    .await;
    assert_eq!(stolen.status, 401, "{:?}", stolen.body);
    // The TPP's application token on a PSU path.
    let app = get(
        &h,
        &base,
        id,
        Some(&t.app_token),
        "/open-banking/v3.1/aisp/accounts",
        &[],
    )
    .await;
    assert_eq!(app.status, 403, "{:?}", app.body);

    // The TPP deletes the consent: refused within the documented staleness (1 s).
    let consent_id = crate::support::jwt_parts(&token).1["consent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = as_tpp(&h, &t.c, &t.app_token)
        .delete(&format!("{AISP}/{consent_id}"))
        .await;
    assert_eq!(deleted.status, 204);
    // Consent status is read on every request: no wait.
    let gone = get(&h, &base, id, Some(&token), &balances(&accounts[0]), &[]).await;
    assert_eq!(gone.status, 403, "{:?}", gone.body);
}

both_backends!(
    gw_1_the_gateway_and_the_bank_as_processes,
    gw_1_the_gateway_and_the_bank_as_processes_on_postgres
        => gw_1_the_gateway_and_the_bank_as_processes_case
);
