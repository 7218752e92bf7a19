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
