//! hardening_ssrf: fetches of TPP-chosen URLs (`public_only`) never go through an HTTP proxy
//! from the environment, since the proxy would resolve the name itself and the public-address
//! rule could not be kept; other fetches (revocation) still follow the proxy variables.
//!
//! The environment of a running test process cannot be changed safely, so the test runs itself
//! again as a child process with `HTTP_PROXY` pointing at a loopback "proxy" that answers every
//! request.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::Duration;

use bulwark_core::{OutboundHttp, OutboundSettings};

const CHILD: &str = "OUTBOUND_PROXY_TEST_CHILD";
const NAME: &str = "hardening_ssrf_a_proxy_does_not_carry_public_only_fetches";

#[test]
fn hardening_ssrf_a_proxy_does_not_carry_public_only_fetches() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    // The "proxy": answers every request 200 with a body, whatever host it names.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = sock.read(&mut buf);
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        }
    });
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("HTTP_PROXY", format!("http://{proxy}"))
        .env("http_proxy", format!("http://{proxy}"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child ran this very test (a renamed test would run none and still succeed).
    assert!(stdout.contains("1 passed"), "child: {stdout}");
}

fn child() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let settings = |public_only| OutboundSettings {
            https_only: false,
            public_only,
            identity_pem: None,
            ..OutboundSettings::https(Duration::from_secs(2), "test")
        };
        let url = "http://internal-vault.bank.invalid/v1/secret";
        // The proxy is there and used by an ordinary client...
        let open = OutboundHttp::new(&settings(false)).unwrap();
        assert_eq!(open.get(url, 100).await.unwrap(), b"{}");
        // ...but not by one limited to public addresses: the name is resolved here, and fails.
        let limited = OutboundHttp::new(&settings(true)).unwrap();
        let refused = limited.get(url, 100).await;
        assert!(refused.is_err(), "fetched through the proxy: {refused:?}");
    });
}
