//! CERT-4 against real revocation services on loopback: `openssl ocsp` and rcgen CRLs served
//! over HTTP. These tests are about the leaf, so they trust its issuing CA directly (a bank may
//! configure issuing CAs as anchors); the checks of CA certificates below a root anchor are in
//! `ca_revocation.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_certs::{
    CertError, Purpose, RevocationSettings, RevocationSource, RevocationStatus, verify_report,
};
use common::*;

fn rt_settings() -> RevocationSettings {
    fast_settings()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_good_cert_via_ocsp_is_accepted() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("good").ocsp(&OcspResponder::url(port)));
    let resp = pki.ca.responder(true);
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &resp.pem,
        &resp.key_pem,
        &[Entry::Valid(&leaf)],
        60,
    );
    let v = validator(&pki.ca, rt_settings());
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    assert_eq!(ok.revocation.source, RevocationSource::Ocsp);
    assert!(!ok.revocation.cached);
    assert_eq!(ok.serial, leaf.serial_hex);
    assert_eq!(ok.x5t_s256, bulwark_certs::x5t_s256(&leaf.der));
    assert_eq!(ok.chain.len(), 2);
    assert_eq!(ok.chain[1].subject, "CN=Test Issuing CA,O=Test QTSP,C=GB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_ocsp_signed_by_the_issuing_ca_itself_is_accepted() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("good").ocsp(&OcspResponder::url(port)));
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &pki.ca.pem(),
        &pki.ca.key_pem,
        &[Entry::Valid(&leaf)],
        60,
    );
    let v = validator(&pki.ca, rt_settings());
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Ocsp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_revoked_via_ocsp_is_rejected() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("revoked").ocsp(&OcspResponder::url(port)));
    let resp = pki.ca.responder(true);
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &resp.pem,
        &resp.key_pem,
        &[Entry::Revoked(&leaf)],
        60,
    );
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CertError::Revoked {
            via: RevocationSource::Ocsp
        }
    );
    assert_eq!(err.reason(), "revoked");
    // The operator report says the same.
    let report = verify_report(&v, &pki.chain(&leaf), Purpose::TlsClient, now()).await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["reason"], "revoked");
    assert_eq!(json["revocation"]["status"], "revoked");
    assert_eq!(json["revocation"]["source"], "ocsp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_revoked_only_in_crl_with_ocsp_down_is_rejected() {
    let pki = Pki::new();
    let dead = free_port(); // nothing listens here
    let leaf_spec = LeafSpec::plain("revoked-in-crl").ocsp(&OcspResponder::url(dead));
    // The leaf names a CRL URL whose server is started once the CRL listing it exists.
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&leaf_spec.crl(&format!("http://127.0.0.1:{port}/ca.crl")));
    let crl = pki.ca.fresh_crl(&[&leaf]);
    let _srv = serve_on(port, crl).await;
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CertError::Revoked {
            via: RevocationSource::Crl
        }
    );
}

/// Serves `body` on a fixed (pre-reserved) loopback port.
async fn serve_on(port: u16, body: Vec<u8>) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_ocsp_unknown_then_crl_decides() {
    let pki = Pki::new();
    let ocsp_port = free_port();
    let crl_port = free_port();
    let spec = LeafSpec::plain("x")
        .ocsp(&OcspResponder::url(ocsp_port))
        .crl(&format!("http://127.0.0.1:{crl_port}/ca.crl"));
    let good = pki.ca.issue(&spec);
    let revoked = pki.ca.issue(&spec);
    // The responder knows neither serial, so it answers "unknown" for both.
    let resp = pki.ca.responder(true);
    let _ocsp = OcspResponder::start(ocsp_port, &pki.ca, &resp.pem, &resp.key_pem, &[], 60);
    let _srv = serve_on(crl_port, pki.ca.fresh_crl(&[&revoked])).await;
    let v = validator(&pki.ca, rt_settings());
    let ok = v
        .validate(&pki.chain(&good), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Crl);
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    let err = v
        .validate(&pki.chain(&revoked), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CertError::Revoked {
            via: RevocationSource::Crl
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_neither_reachable_is_rejected() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(
        &LeafSpec::plain("x")
            .ocsp(&OcspResponder::url(free_port()))
            .crl(&format!("http://127.0.0.1:{}/ca.crl", free_port())),
    );
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match &err {
        CertError::RevocationUndetermined {
            ocsp_reason,
            crl_reason,
        } => {
            assert!(ocsp_reason.contains("connection failed"), "{ocsp_reason}");
            assert!(crl_reason.contains("connection failed"), "{crl_reason}");
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
    assert_eq!(err.reason(), "revocation_undetermined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_no_aia_and_no_cdp_is_rejected() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("bare"));
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err, CertError::NoRevocationInfo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_stale_ocsp_response_is_rejected() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&OcspResponder::url(port)));
    let resp = pki.ca.responder(true);
    // nextUpdate one minute after thisUpdate; the relying party's clock is ten minutes later.
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &resp.pem,
        &resp.key_pem,
        &[Entry::Valid(&leaf)],
        1,
    );
    let v = validator(&pki.ca, rt_settings());
    let later = now() + Duration::from_secs(600);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, later)
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("stale"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_ocsp_signed_by_an_unauthorised_key_is_rejected() {
    let pki = Pki::new();
    let other = Ca::root("Some Other CA");
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&OcspResponder::url(port)));
    // A responder certificate with id-kp-OCSPSigning, but issued by a different CA.
    let rogue = other.responder(true);
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &rogue.pem,
        &rogue.key_pem,
        &[Entry::Valid(&leaf)],
        60,
    );
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("unauthorised"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_ocsp_responder_without_ocsp_signing_eku_is_rejected() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&OcspResponder::url(port)));
    let no_eku = pki.ca.responder(false);
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &no_eku.pem,
        &no_eku.key_pem,
        &[Entry::Valid(&leaf)],
        60,
    );
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("unauthorised"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_cache_hit_avoids_the_network() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&OcspResponder::url(port)));
    let resp = pki.ca.responder(true);
    let mut ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &resp.pem,
        &resp.key_pem,
        &[Entry::Valid(&leaf)],
        60,
    );
    let v = validator(&pki.ca, rt_settings());
    let first = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert!(!first.revocation.cached);
    ocsp.stop();
    let second = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert!(second.revocation.cached);
    assert_eq!(second.revocation.source, RevocationSource::Ocsp);
    // After nextUpdate (60 min) the cached answer is no longer used, and the responder is gone.
    let later = now() + Duration::from_secs(2 * 3600);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, later)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "revocation_undetermined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_crl_is_fetched_once_and_shared_by_concurrent_validations() {
    let pki = Pki::new();
    let crl_stub_port = free_port();
    let url = format!("http://127.0.0.1:{crl_stub_port}/ca.crl");
    let leaves: Vec<_> = (0..6)
        .map(|i| pki.ca.issue(&LeafSpec::plain(&format!("l{i}")).crl(&url)))
        .collect();
    let crl = pki.ca.fresh_crl(&[]);
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let _srv = counting_server(crl_stub_port, crl, hits.clone()).await;
    let v = validator(&pki.ca, rt_settings());
    let mut tasks = Vec::new();
    for leaf in &leaves {
        let v = v.clone();
        let chain = pki.chain(leaf);
        tasks.push(tokio::spawn(async move {
            v.validate(&chain, Purpose::TlsClient, now()).await
        }));
    }
    for t in tasks {
        let ok = t.await.unwrap().unwrap();
        assert_eq!(ok.revocation.source, RevocationSource::Crl);
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one download for six certificates"
    );
}

async fn counting_server(
    port: u16,
    body: Vec<u8>,
    hits: Arc<std::sync::atomic::AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Slow enough that concurrent callers overlap.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_hanging_ocsp_responder_is_bounded_by_the_timeout_then_crl_decides() {
    let pki = Pki::new();
    let hole = HttpStub::start(Behaviour::BlackHole).await;
    let crl_port = free_port();
    let leaf = pki.ca.issue(
        &LeafSpec::plain("x")
            .ocsp(&format!("http://127.0.0.1:{}/", hole.port))
            .crl(&format!("http://127.0.0.1:{crl_port}/ca.crl")),
    );
    let _srv = serve_on(crl_port, pki.ca.fresh_crl(&[])).await;
    // The OCSP exchange has its own bound, shorter than the CRL's here.
    let settings = RevocationSettings {
        ocsp_timeout_ms: 300,
        crl_timeout_ms: 4000,
        ..fast_settings()
    };
    let v = validator(&pki.ca, settings);
    let t0 = Instant::now();
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(ok.revocation.source, RevocationSource::Crl);
    assert!(hole.hits() >= 1, "the OCSP responder was asked");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(
        took >= Duration::from_millis(300),
        "waited for the OCSP timeout: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_hanging_ocsp_without_crl_is_rejected_within_the_timeout() {
    let pki = Pki::new();
    let hole = HttpStub::start(Behaviour::BlackHole).await;
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&format!("http://127.0.0.1:{}/", hole.port)));
    let settings = RevocationSettings {
        ocsp_timeout_ms: 300,
        ..fast_settings()
    };
    let v = validator(&pki.ca, settings);
    let t0 = Instant::now();
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_millis(3000),
        "took {:?}",
        t0.elapsed()
    );
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("timed out"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

/// Validates a leaf whose only revocation source is a CRL (not listing it) in force from
/// `this_update` to `next_update`; the reason the CRL was no answer.
async fn crl_outside_its_window(
    this_update: time::OffsetDateTime,
    next_update: time::OffsetDateTime,
) -> String {
    let pki = Pki::new();
    let crl_port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").crl(&format!("http://127.0.0.1:{crl_port}/ca.crl")));
    let _srv = serve_on(crl_port, pki.ca.crl(&[], this_update, next_update)).await;
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { crl_reason, .. } => crl_reason,
        other => panic!("expected undetermined, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_stale_crl_is_not_an_answer() {
    let crl_reason = crl_outside_its_window(
        now_odt() - time::Duration::days(3),
        now_odt() - time::Duration::days(2),
    )
    .await;
    assert!(crl_reason.contains("stale"), "{crl_reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_crl_signed_by_another_ca_is_not_an_answer() {
    let pki = Pki::new();
    let other = Ca::root("Other");
    let crl_port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").crl(&format!("http://127.0.0.1:{crl_port}/ca.crl")));
    let _srv = serve_on(crl_port, other.fresh_crl(&[])).await;
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "revocation_undetermined");
}

/// RFC 5280 4.2.1.3: a CRL is evidence only from a key allowed to sign CRLs. The leaf's issuer
/// here is the trust anchor itself, whose key usage webpki cannot see (an anchor is a name and
/// a key to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_leaf_crl_signed_by_an_anchor_without_crl_sign_is_refused() {
    let (root, twin) = Ca::root_without_crl_sign("No CRL Signing Root");
    let crl_port = free_port();
    let leaf =
        twin.issue(&LeafSpec::plain("x").crl(&format!("http://127.0.0.1:{crl_port}/root.crl")));
    let _srv = serve_on(crl_port, twin.fresh_crl(&[])).await;
    let chain = vec![leaf.der.clone()];
    // The same CRL counts when the anchor's certificate allows CRL signing.
    let ok = validator(&twin, rt_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Crl);
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    let err = validator(&root, rt_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { crl_reason, .. } => {
            assert!(
                crl_reason.contains("does not allow CRL signing"),
                "{crl_reason}"
            )
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

/// RFC 5280 4.2.1.3 one level down: the leaf's issuer is a CA certificate whose key usage
/// leaves out cRLSign, so a CRL under its name and key is no evidence, and is not even fetched
/// (webpki would refuse it too, after the fetch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_leaf_crl_signed_by_a_ca_without_crl_sign_is_refused_unfetched() {
    let root = Ca::root("Leaf CRL Root CA");
    let root_crl: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let root_stub = HttpStub::start(Behaviour::Slot(root_crl.clone())).await;
    let (ca, twin) = root.intermediate_without_crl_sign("No CRL Signing CA", &root_stub.url());
    let leaf_crl: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let leaf_stub = HttpStub::start(Behaviour::Slot(leaf_crl.clone())).await;
    let leaf = ca.issue(&LeafSpec::plain("x").crl(&leaf_stub.url()));
    *root_crl.lock().unwrap() = root.fresh_crl(&[]);
    *leaf_crl.lock().unwrap() = twin.fresh_crl(&[]);
    // The same CRL counts when the CA certificate presented allows CRL signing (the twin).
    let ok = validator(&root, fast_settings())
        .validate(&[leaf.der.clone(), twin.der()], Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Crl);
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    let fetched = leaf_stub.hits();
    let err = validator(&root, fast_settings())
        .validate(&[leaf.der.clone(), ca.der()], Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { crl_reason, .. } => {
            assert!(
                crl_reason.contains("does not allow CRL signing"),
                "{crl_reason}"
            )
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
    assert_eq!(
        leaf_stub.hits(),
        fetched,
        "a CRL that cannot count is not fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_disabled_or_excluded_issuer_skips_revocation() {
    let pki = Pki::new();
    let leaf = pki.ca.issue(&LeafSpec::plain("bare"));
    let off = validator(&pki.ca, no_revocation());
    let ok = off
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Skipped);
    assert_eq!(ok.revocation.status, RevocationStatus::Unknown);

    // hardening_exclude_issuers_by_key: the issuer is named by its key, not its DN.
    let by_name = RevocationSettings {
        exclude_issuers: vec!["CN=Test Issuing CA, O=Test QTSP, C=GB".into()],
        ..fast_settings()
    };
    let anchors = bulwark_certs::TrustAnchors::from_ders(vec![pki.root.der()]);
    assert!(bulwark_certs::CertValidator::new(&anchors, Duration::from_secs(60), by_name).is_err());
    let other = Ca::root("Test Issuing CA");
    let not_this_one = RevocationSettings {
        exclude_issuers: vec![bulwark_certs::spki_sha256(&other.der()).unwrap()],
        ..fast_settings()
    };
    let v = validator(&pki.ca, not_this_one);
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(
        err.reason(),
        "no_revocation_info",
        "same DN, other key: checked"
    );
    let excluded = RevocationSettings {
        exclude_issuers: vec![bulwark_certs::spki_sha256(&pki.ca.der()).unwrap()],
        ..fast_settings()
    };
    let v = validator(&pki.ca, excluded);
    let ok = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Skipped);
}

#[test]
fn cert_4_revocation_settings_have_defaults_and_reject_unknown_keys() {
    let s: RevocationSettings = serde_json::from_str("{}").unwrap();
    assert_eq!(s, RevocationSettings::default());
    assert!(s.enabled);
    let err = serde_json::from_str::<RevocationSettings>(r#"{"enabeld": false}"#).unwrap_err();
    assert!(err.to_string().contains("enabeld"), "{err}");
}

/// A good leaf whose AIA names an OCSP man in the middle (`mode`) in front of an openssl
/// responder answering for it with `valid_min` minutes of validity.
async fn leaf_behind_ocsp_mitm(
    pki: &Pki,
    mode: common::tamper::Mode,
    valid_min: u32,
) -> (Leaf, common::tamper::OcspMitm, OcspResponder) {
    let upstream = free_port();
    let resp = pki.ca.responder(true);
    let mitm = common::tamper::OcspMitm::start(upstream, mode).await;
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&OcspResponder::url(mitm.port)));
    let ocsp = OcspResponder::start(
        upstream,
        &pki.ca,
        &resp.pem,
        &resp.key_pem,
        &[Entry::Valid(&leaf)],
        valid_min,
    );
    (leaf, mitm, ocsp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_ocsp_response_altered_after_signing_is_rejected() {
    let pki = Pki::new();
    // The leaf names the MITM; the MITM forwards to openssl and alters producedAt.
    let (leaf, _mitm, _ocsp) = leaf_behind_ocsp_mitm(&pki, common::tamper::Mode::Tamper, 60).await;
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("bad OCSP signature"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_replayed_ocsp_response_with_an_old_nonce_is_rejected() {
    let pki = Pki::new();
    let (leaf, _mitm, _ocsp) = leaf_behind_ocsp_mitm(&pki, common::tamper::Mode::Replay, 60).await;
    // First exchange is genuine.
    validator(&pki.ca, rt_settings())
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    // A fresh validator (empty cache) sends a new nonce and gets the old response back.
    let err = validator(&pki.ca, rt_settings())
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("nonce"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

/// CERT-4: the OCSP request's nonce (RFC 8954) comes from the validator's `Rng`, the
/// process's one source of randomness, so a test can know it: with a sequence generator the
/// exact bytes are in the request, and the responder's echo of them is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_ocsp_nonce_comes_from_the_validators_rng() {
    use bulwark_core::random::{Rng, SequenceRng};
    let pki = Pki::new();
    let (leaf, mitm, _ocsp) = leaf_behind_ocsp_mitm(&pki, common::tamper::Mode::Pass, 60).await;
    let checked = validator(&pki.ca, rt_settings())
        .with_rng(Arc::new(SequenceRng::starting_at(4242)))
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(checked.revocation.source, RevocationSource::Ocsp);
    let mut nonce = [0u8; 16];
    SequenceRng::starting_at(4242).fill(&mut nonce);
    let requests = mitm.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].windows(nonce.len()).any(|w| w == nonce),
        "the OCSP request carries the Rng's nonce"
    );
}

/// CERT-4 / RFC 6960 4.1.1: a revocation answer is cached per issuer name, issuer key and
/// serial. One CA key certified under two names issues two certificates with the same serial:
/// the good answer of one is not the answer of the other, which its own CRL says is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_a_cached_answer_is_not_another_issuer_names_certificate() {
    let root = Ca::root("Renamed Root CA");
    let g1 = root.intermediate("Renamed Issuing CA G1");
    let g2 = g1.recertified(&root, "Renamed Issuing CA G2");
    let serial = vec![0x2a, 0x00, 0x00, 0x07];
    let slot_g1: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let slot_g2: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let crl_g1 = HttpStub::start(Behaviour::Slot(slot_g1.clone())).await;
    let crl_g2 = HttpStub::start(Behaviour::Slot(slot_g2.clone())).await;
    let mut spec = LeafSpec::plain("a");
    spec.serial = Some(serial.clone());
    let revoked = g1.issue(&spec.crl(&crl_g1.url()));
    let mut spec = LeafSpec::plain("b");
    spec.serial = Some(serial);
    let good = g2.issue(&spec.crl(&crl_g2.url()));
    *slot_g1.lock().unwrap() = g1.fresh_crl(&[&revoked]);
    *slot_g2.lock().unwrap() = g2.fresh_crl(&[]);
    // Both issuing CAs trusted directly (their own revocation is not the point here).
    let anchors = bulwark_certs::TrustAnchors::from_ders(vec![g1.der(), g2.der()]);
    let v = bulwark_certs::CertValidator::new(&anchors, Duration::from_secs(60), rt_settings())
        .unwrap();
    let ok = v
        .validate(&[good.der.clone(), g2.der()], Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    let err = v
        .validate(&[revoked.der.clone(), g1.der()], Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert!(matches!(err, CertError::Revoked { .. }), "{err:?}");
}

/// hardening_crl_verified_before_caching: a CRL that does not verify against the
/// certificate's issuer (forged, or another CA's) is not kept: once the distribution point
/// serves the real CRL, the next validation uses it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_crl_verified_before_caching() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    let other = Ca::root("Other");
    let crl_port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").crl(&format!("http://127.0.0.1:{crl_port}/ca.crl")));
    let body = Arc::new(std::sync::Mutex::new(other.fresh_crl(&[])));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", crl_port))
        .await
        .unwrap();
    let served = body.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let bytes = served.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&bytes).await;
            });
        }
    });
    let v = validator(&pki.ca, rt_settings());
    let err = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "revocation_undetermined");
    *body.lock().unwrap() = pki.ca.fresh_crl(&[]);
    // Asked again once the failed look-up has stopped being the answer (a few seconds on).
    let ok = v
        .validate(
            &pki.chain(&leaf),
            Purpose::TlsClient,
            now() + Duration::from_secs(6),
        )
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Crl);
}

/// hardening_ocsp_good_answers_have_a_local_maximum_age: a "good" answer is reused at most
/// `max_good_cache_secs`, even when its nextUpdate is further away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_ocsp_good_answers_have_a_local_maximum_age() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&OcspResponder::url(port)));
    let resp = pki.ca.responder(true);
    let _ocsp = OcspResponder::start(
        port,
        &pki.ca,
        &resp.pem,
        &resp.key_pem,
        &[Entry::Valid(&leaf)],
        60,
    );
    let settings = RevocationSettings {
        max_good_cache_secs: 600,
        ..rt_settings()
    };
    let v = validator(&pki.ca, settings);
    let t0 = now();
    let first = v
        .validate(&pki.chain(&leaf), Purpose::TlsClient, t0)
        .await
        .unwrap();
    assert!(!first.revocation.cached);
    let soon = v
        .validate(
            &pki.chain(&leaf),
            Purpose::TlsClient,
            t0 + Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert!(soon.revocation.cached);
    // Within nextUpdate (60 min) but past the local maximum age: asked again.
    let later = v
        .validate(
            &pki.chain(&leaf),
            Purpose::TlsClient,
            t0 + Duration::from_secs(900),
        )
        .await
        .unwrap();
    assert!(!later.revocation.cached);
}

/// CERT-4: a CRL is re-fetched once the local maximum age of a "good" answer has passed, even
/// though its nextUpdate (a day ahead here) has not: a revocation the CA publishes in a new CRL
/// is seen within `max_good_cache_secs`, as with OCSP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_crls_have_the_same_local_maximum_age() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").crl(&format!("http://127.0.0.1:{port}/ca.crl")));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let _srv = counting_server(port, pki.ca.fresh_crl(&[]), hits.clone()).await;
    let settings = RevocationSettings {
        max_good_cache_secs: 600,
        ..rt_settings()
    };
    let v = validator(&pki.ca, settings);
    let t0 = now();
    let fetches = || hits.load(std::sync::atomic::Ordering::SeqCst);
    for (at, expected) in [(0, 1), (300, 1), (900, 2), (1_000, 2)] {
        let ok = v
            .validate(
                &pki.chain(&leaf),
                Purpose::TlsClient,
                t0 + Duration::from_secs(at),
            )
            .await
            .unwrap();
        assert_eq!(ok.revocation.source, RevocationSource::Crl);
        assert_eq!(fetches(), expected, "CRL downloads after {at} s");
    }
}

/// CERT-4 / RFC 6960 3.2(5): a signed "good" OCSP answer without our nonce (here one recorded
/// from a nonce-less request and replayed by someone on the path) counts only while its
/// thisUpdate is within `max_good_cache_secs`, though its nextUpdate is a week ahead; older,
/// it is no answer, and with no CRL to fall back on the certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_an_old_good_ocsp_answer_without_our_nonce_is_not_an_answer() {
    let pki = Pki::new();
    let (leaf, _mitm, _ocsp) =
        leaf_behind_ocsp_mitm(&pki, common::tamper::Mode::Replay, 7 * 24 * 60).await;
    let t0 = now();
    // Recorded: a request without a nonce gets an answer without one.
    let nonce_less = RevocationSettings {
        ocsp_nonce: false,
        ..rt_settings()
    };
    validator(&pki.ca, nonce_less)
        .validate(&pki.chain(&leaf), Purpose::TlsClient, t0)
        .await
        .unwrap();
    // Replayed ten minutes later (fresh validators, so nothing is cached): still young enough.
    let ok = validator(&pki.ca, rt_settings())
        .validate(
            &pki.chain(&leaf),
            Purpose::TlsClient,
            t0 + Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Ocsp);
    // Replayed two hours later: older than max_good_cache_secs (3600), refused.
    let err = validator(&pki.ca, rt_settings())
        .validate(
            &pki.chain(&leaf),
            Purpose::TlsClient,
            t0 + Duration::from_secs(7_200),
        )
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("without our nonce"), "{ocsp_reason}")
        }
        other => panic!("expected undetermined, got {other:?}"),
    }
}

/// CERT-4 availability: requests for one certificate queued behind a responder that hangs share
/// the first failure (refused, as each would have been) instead of each waiting out the
/// timeout in turn: eight concurrent validations take about one timeout, not eight. The
/// failure is the answer for a few seconds only; then the responder is asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_a_hanging_responder_does_not_queue_callers_behind_each_other() {
    let pki = Pki::new();
    let hole = HttpStub::start(Behaviour::BlackHole).await;
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("x").ocsp(&format!("http://127.0.0.1:{}/", hole.port)));
    let settings = RevocationSettings {
        ocsp_timeout_ms: 400,
        ..fast_settings()
    };
    let v = validator(&pki.ca, settings);
    let t0 = now();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let v = v.clone();
        let chain = pki.chain(&leaf);
        tasks.push(tokio::spawn(async move {
            v.validate(&chain, Purpose::TlsClient, t0).await
        }));
    }
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(
            matches!(err, CertError::RevocationUndetermined { .. }),
            "{err:?}"
        );
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_400),
        "eight callers waited {took:?}: each repeated the timeout"
    );
    // Past the reuse period the responder is asked again (and times out again).
    let again = Instant::now();
    let err = v
        .validate(
            &pki.chain(&leaf),
            Purpose::TlsClient,
            t0 + Duration::from_secs(6),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CertError::RevocationUndetermined { .. }));
    assert!(
        again.elapsed() >= Duration::from_millis(350),
        "asked the responder again: {:?}",
        again.elapsed()
    );
}

/// CERT-4: a CRL whose thisUpdate is beyond the clock skew ahead (a CA clock gone wrong, or a
/// list not yet in force) is not an answer, even one that does not list the certificate:
/// with OCSP unavailable the certificate is refused, as when neither source can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_a_crl_issued_in_the_future_is_not_an_answer() {
    let crl_reason = crl_outside_its_window(
        now_odt() + time::Duration::days(1),
        now_odt() + time::Duration::days(2),
    )
    .await;
    assert!(crl_reason.contains("future"), "{crl_reason}");
}
