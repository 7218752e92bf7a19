//! OP-3: the server certificate and the trust anchors reload on SIGHUP in a running `bulwark`
//! process. New handshakes present the new certificate, a connection opened before keeps
//! working, a client of a CA no longer trusted is refused, and a file that does not load
//! changes nothing. The gateway process does the same on SIGHUP.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::support::http::client_tls_config;
use crate::support::{TestPki, http_client};

/// A server certificate for `localhost` from `pki`, as PEM (certificate, key).
fn server_cert(pki: &TestPki, serial: u64) -> (String, String) {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("localhost #{serial}"));
    params.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(serial.into());
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &pki.ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Opens a TLS connection to the server and returns it with the certificate it presented.
async fn connect(port: u16, server_ca: &Path) -> (TlsStream<tokio::net::TcpStream>, Vec<u8>) {
    let config = client_tls_config(server_ca, None);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (tls, presented)
}

/// One HTTP/1.1 `GET /healthz` on an open connection; returns the status line.
async fn healthz(tls: &mut TlsStream<tokio::net::TcpStream>) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.ends_with(b"ok") {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap()
        .to_string()
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn op_3_sighup_reloads_the_server_certificate_and_trust_anchors() {
    let dir = tempfile::tempdir().unwrap();
    let server_pki = TestPki::new("Server CA");
    let (old_clients, new_clients) = (TestPki::new("Old QTSP"), TestPki::new("New QTSP"));
    let (cert_path, key_path, anchors) = (
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
        dir.path().join("anchors.pem"),
    );
    let (cert1, key1) = server_cert(&server_pki, 1);
    std::fs::write(&cert_path, &cert1).unwrap();
    std::fs::write(&key_path, &key1).unwrap();
    std::fs::copy(&old_clients.ca_pem_path, &anchors).unwrap();
    // A `bulwark` command in the test directory (no inherited BULWARK_*) with these files.
    let command = || {
        let mut cmd = crate::support::process::bulwark(dir.path());
        cmd.env("BULWARK_HTTP__LISTEN", "127.0.0.1:0")
            .env("BULWARK_TLS__CERT", &cert_path)
            .env("BULWARK_TLS__KEY", &key_path)
            .env(
                "BULWARK_TRUST__ANCHORS",
                format!("[\"{}\"]", anchors.display()),
            )
            .env("BULWARK_REVOCATION__ENABLED", "false");
        cmd
    };
    let metadata = dir.path().join("tpp.json");
    std::fs::write(
        &metadata,
        json!({"client_id": "reload-tpp", "token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_subject_dn": "O=TPP Ltd,CN=reload-tpp",
               "grant_types": ["client_credentials"], "scope": "accounts"})
        .to_string(),
    )
    .unwrap();
    let out = command()
        .args(["clients", "add", "--metadata"])
        .arg(&metadata)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = crate::support::process::Running(
        command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port = crate::support::process::listening_port(&mut child);
    let server_ca = server_pki.ca_pem_path.clone();
    let (identity, _) = old_clients.client("TPP Ltd", "reload-tpp", None);
    let token = |identity| {
        let client = http_client(&server_ca, Some(identity));
        async move {
            client
                .post(format!("https://localhost:{port}/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "reload-tpp"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    let (mut before, presented) = connect(port, &server_ca).await;
    assert_eq!(presented, der(&cert1));
    assert!(healthz(&mut before).await.contains("200"));
    assert_eq!(token(&identity).await, 200, "a client of the trusted CA");

    // The files are replaced (a renewal and a change of QTSP), then SIGHUP.
    let (cert2, key2) = server_cert(&server_pki, 2);
    std::fs::write(&cert_path, &cert2).unwrap();
    std::fs::write(&key_path, &key2).unwrap();
    std::fs::copy(&new_clients.ca_pem_path, &anchors).unwrap();
    crate::support::process::signal(&child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if connect(port, &server_ca).await.1 == der(&cert2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new handshakes present the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        healthz(&mut before).await.contains("200"),
        "the connection opened before the reload still works"
    );
    assert_eq!(
        token(&identity).await,
        401,
        "the old QTSP is no longer trusted"
    );
    let (fresh, _) = new_clients.client("TPP Ltd", "reload-tpp", None);
    assert_eq!(token(&fresh).await, 200, "the new QTSP is");

    // A broken file: the reload fails and nothing changes.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    crate::support::process::signal(&child, "HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(connect(port, &server_ca).await.1, der(&cert2));
    assert_eq!(token(&fresh).await, 200);

    crate::support::process::signal(&child, "TERM");
    assert!(crate::support::process::wait_exit(&mut child).success());
}

/// OP-3 for the gateway: SIGHUP re-reads its certificate and key and its client-certificate
/// trust anchors as it does the server's (the renewal runbook signals both); a file that does
/// not load changes nothing, and the gateway keeps serving throughout (SIGHUP used to end it).
#[tokio::test]
async fn op_3_sighup_reloads_the_gateways_certificate_and_trust_anchors() {
    let h = crate::support::Harness::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let gateway_pki = TestPki::new("Gateway CA");
    let (cert_path, key_path, anchors) = (
        dir.path().join("gateway.pem"),
        dir.path().join("gateway.key"),
        dir.path().join("anchors.pem"),
    );
    let (cert1, key1) = server_cert(&gateway_pki, 1);
    std::fs::write(&cert_path, &cert1).unwrap();
    std::fs::write(&key_path, &key1).unwrap();
    std::fs::copy(&h.pki.ca_pem_path, &anchors).unwrap();
    let (_bank, mut gateway, base) =
        crate::gateway_process::processes_with(&h, dir.path(), &cert_path, &key_path, &anchors);
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let (t, token, accounts, _) = crate::support::gateway::journey(&h).await;
    let balances = format!(
        "{base}/open-banking/v3.1/aisp/accounts/{}/balances",
        accounts[0]
    );
    let client = http_client(&gateway_pki.ca_pem_path, Some(&t.c.identity));
    let read = || async {
        client
            .get(&balances)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(read().await, 200);
    assert_eq!(connect(port, &gateway_pki.ca_pem_path).await.1, der(&cert1));

    // A renewal and a change of QTSP, then SIGHUP.
    let (cert2, key2) = server_cert(&gateway_pki, 2);
    std::fs::write(&cert_path, &cert2).unwrap();
    std::fs::write(&key_path, &key2).unwrap();
    std::fs::copy(&TestPki::new("New QTSP").ca_pem_path, &anchors).unwrap();
    crate::support::process::signal(&gateway, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while connect(port, &gateway_pki.ca_pem_path).await.1 != der(&cert2) {
        assert!(
            Instant::now() < deadline,
            "new handshakes present the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = client
        .get(&balances)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "the old QTSP is no longer trusted");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["Errors"][0]["ErrorCode"], "UK.OBIE.Header.Invalid");
    assert!(
        body["Message"].as_str().unwrap().contains("unknown_issuer"),
        "{body}"
    );

    // A broken file: the reload fails and nothing changes.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    crate::support::process::signal(&gateway, "HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(connect(port, &gateway_pki.ca_pem_path).await.1, der(&cert2));

    crate::support::process::signal(&gateway, "TERM");
    assert!(crate::support::process::wait_exit(&mut gateway).success());
}
