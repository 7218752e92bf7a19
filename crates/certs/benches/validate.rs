//! Validation cost (not a timed test): a cached-good QWAC chain end to end (parse, path,
//! cached revocation, PSD2 parse) and cold validations against a loopback `openssl ocsp`.
//! Run with `cargo bench -p bulwark-certs`; prints µs/op.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use bulwark_certs::{PspRole, Purpose, RevocationSource};
use common::*;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pki = Pki::new();
    let port = free_port();
    let roles = [PspRole::AccountInformation, PspRole::PaymentInitiation];
    let cold_n = 100;
    let leaves: Vec<Leaf> = (0..=cold_n)
        .map(|i| {
            pki.ca
                .issue(&LeafSpec::qwac(&format!("tpp-{i}"), &roles).ocsp(&OcspResponder::url(port)))
        })
        .collect();
    let resp = pki.ca.responder(true);
    let entries: Vec<Entry<'_>> = leaves.iter().map(Entry::Valid).collect();
    let _ocsp = OcspResponder::start(port, &pki.ca, &resp.pem, &resp.key_pem, &entries, 60);
    let v = validator(&pki.root, fast_settings());

    rt.block_on(async {
        // Cold: every certificate is new to the cache, so each one costs an OCSP round trip.
        let t0 = Instant::now();
        for leaf in &leaves[1..] {
            let ok = v
                .validate(&pki.chain(leaf), Purpose::Qwac, now())
                .await
                .unwrap();
            assert_eq!(ok.revocation.source, RevocationSource::Ocsp);
            assert!(!ok.revocation.cached);
        }
        let cold = t0.elapsed() / cold_n as u32;

        // Hot: the same QWAC again and again, revocation answered from the cache.
        let chain = pki.chain(&leaves[0]);
        v.validate(&chain, Purpose::Qwac, now()).await.unwrap();
        let n = 20_000u32;
        let at = now();
        let t0 = Instant::now();
        for _ in 0..n {
            let ok = v.validate(&chain, Purpose::Qwac, at).await.unwrap();
            assert!(ok.revocation.cached && ok.tpp.is_some());
        }
        let hot = t0.elapsed() / n;

        // Fresh paths: every chain is new, so both signatures are verified (revocation off, to
        // isolate the path cost).
        let fresh: Vec<_> = (0..500)
            .map(|i| pki.chain(&pki.ca.issue(&LeafSpec::qwac(&format!("fresh-{i}"), &roles))))
            .collect();
        let off = validator(&pki.root, no_revocation());
        let t0 = Instant::now();
        for chain in &fresh {
            off.validate(chain, Purpose::Qwac, at).await.unwrap();
        }
        let uncached_path = t0.elapsed() / fresh.len() as u32;

        println!(
            "uncached path (two ECDSA P-256 signature checks), revocation off: {:.1} µs/op",
            us(uncached_path)
        );
        println!(
            "cached-good QWAC chain (ECDSA P-256, root -> issuing CA -> leaf): {:.1} µs/op",
            us(hot)
        );
        println!(
            "cold validation, loopback openssl OCSP: {:.1} µs/op ({cold_n} certificates)",
            us(cold)
        );
        println!(
            "targets: cached < 50 µs [{}], cold < 5000 µs [{}]",
            if hot < Duration::from_micros(50) {
                "ok"
            } else {
                "MISSED"
            },
            if cold < Duration::from_millis(5) {
                "ok"
            } else {
                "MISSED"
            },
        );
    });
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
