//! CERT-4 answers held to their limits and forms: revocation answers over their size caps, and
//! an OCSP responder naming itself by key hash, against real servers on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use bulwark_certs::{CertError, Purpose, RevocationSettings, RevocationSource, RevocationStatus};
use common::*;

/// A revocation answer larger than its cap is no answer (never buffered whole): OCSP over
/// 1 MiB, a CRL over `max_crl_bytes`. Neither can tell, so the certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_revocation_answers_over_their_size_caps_are_refused_unread() {
    let pki = Pki::new();
    let huge_ocsp = HttpStub::start(Behaviour::Serve(Arc::new(vec![0x30; 1024 * 1024 + 1]))).await;
    let crl = pki.ca.fresh_crl(&[]);
    let crl_stub = HttpStub::start(Behaviour::Serve(Arc::new(crl.clone()))).await;
    let leaf = pki.ca.issue(
        &LeafSpec::plain("capped")
            .ocsp(&huge_ocsp.url())
            .crl(&crl_stub.url()),
    );
    let settings = RevocationSettings {
        max_crl_bytes: crl.len() - 1,
        ..fast_settings()
    };
    let err = validator(&pki.ca, settings)
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match err {
        CertError::RevocationUndetermined {
            ocsp_reason,
            crl_reason,
        } => {
            assert!(ocsp_reason.contains("larger than 1048576"), "{ocsp_reason}");
            assert!(
                crl_reason.contains(&format!("larger than {}", crl.len() - 1)),
                "{crl_reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // At exactly its size the same CRL is read, and decides.
    let settings = RevocationSettings {
        max_crl_bytes: crl.len(),
        ..fast_settings()
    };
    let ok = validator(&pki.ca, settings)
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Crl);
}

/// RFC 6960 4.2.2.3: a responder may name itself by the SHA-1 of its key; the issuing CA
/// answering that way is the issuer, and its answer counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_an_issuer_naming_itself_by_key_hash_is_an_authorised_responder() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("by key").ocsp(&OcspResponder::url(port)));
    let ca = pki.ca.as_leaf();
    let _ocsp = OcspResponder::start_with(
        port,
        &pki.ca,
        (&ca.pem, &ca.key_pem),
        &[Entry::Valid(&leaf)],
        60,
        &["-resp_key_id"],
    );
    let ok = validator(&pki.ca, fast_settings())
        .validate(&pki.chain(&leaf), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    assert_eq!(ok.revocation.source, RevocationSource::Ocsp);
}

/// A cached CRL lives `max_good_cache_secs` from its download, however often it is used: a
/// use does not restart its time (here three certificates of one CA, so each asks the CRL
/// cache, not an answer cached for an earlier certificate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_a_cached_crl_is_not_kept_alive_by_its_use() {
    let pki = Pki::new();
    let stub = HttpStub::start(Behaviour::Serve(Arc::new(pki.ca.fresh_crl(&[])))).await;
    let leaves: Vec<Leaf> = (0..3)
        .map(|i| {
            pki.ca
                .issue(&LeafSpec::plain(&format!("user {i}")).crl(&stub.url()))
        })
        .collect();
    let v = validator(
        &pki.ca,
        RevocationSettings {
            max_good_cache_secs: 600,
            ..fast_settings()
        },
    );
    let t0 = now();
    for (leaf, at, downloads) in [
        (&leaves[0], 0, 1),
        (&leaves[1], 500, 1),
        (&leaves[2], 700, 2),
    ] {
        let ok = v
            .validate(
                &pki.chain(leaf),
                Purpose::TlsClient,
                t0 + std::time::Duration::from_secs(at),
            )
            .await
            .unwrap();
        assert_eq!(ok.revocation.source, RevocationSource::Crl);
        assert_eq!(stub.hits(), downloads, "CRL downloads after {at} s");
    }
}

/// RFC 5019 4: an OCSP answer without nextUpdate is reused for `default_ttl_secs` from its
/// thisUpdate (when the responder made it), not from when we read it: read later than that
/// (plus the skew), it is stale, and with no CRL the certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_4_an_ocsp_answer_without_next_update_lives_from_its_this_update() {
    let pki = Pki::new();
    let port = free_port();
    let leaf = pki
        .ca
        .issue(&LeafSpec::plain("no next update").ocsp(&OcspResponder::url(port)));
    let responder = pki.ca.responder(true);
    let _ocsp = OcspResponder::start_with(
        port,
        &pki.ca,
        (&responder.pem, &responder.key_pem),
        &[Entry::Valid(&leaf)],
        0,
        &[],
    );
    let settings = || RevocationSettings {
        default_ttl_secs: 300,
        ..fast_settings()
    };
    let t0 = now();
    // A fresh validator each time: nothing cached, the answer read at `t0 + secs`.
    let chain = pki.chain(&leaf);
    let read_at = |secs: u64| {
        let v = validator(&pki.ca, settings());
        let chain = &chain;
        async move {
            v.validate(
                chain,
                Purpose::TlsClient,
                t0 + std::time::Duration::from_secs(secs),
            )
            .await
        }
    };
    let within = read_at(200).await.unwrap();
    assert_eq!(within.revocation.source, RevocationSource::Ocsp);
    match read_at(420).await.unwrap_err() {
        CertError::RevocationUndetermined { ocsp_reason, .. } => {
            assert!(ocsp_reason.contains("stale"), "{ocsp_reason}")
        }
        other => panic!("{other:?}"),
    }
}
