//! Issue 10 item 3 (RFC 5280 section 6.1.3(a)(3)): every CA certificate between the leaf and
//! the trust anchor is revocation-checked like the leaf (OCSP, then its CRL, fail closed),
//! against real CRLs served on loopback and a real `openssl ocsp` responder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use bulwark_certs::{CertError, Purpose, RevocationSource, RevocationStatus, verify_report};
use common::*;
use rcgen::{CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope};
use rustls_pki_types::CertificateDer;

type Slot = Arc<Mutex<Vec<u8>>>;

/// Root anchor -> issuing CA (revocation published by the root at `ca_crl_url`) -> leaf
/// (published by the issuing CA on its own, always-good CRL).
struct Chain {
    root: Ca,
    ca: Ca,
    leaf: Leaf,
    /// What the root's CRL endpoint serves.
    root_crl: Slot,
    root_stub: HttpStub,
    _ca_stub: HttpStub,
}

impl Chain {
    async fn new(ca_info: CaInfo) -> Self {
        let root = Ca::root("Chain Root CA");
        let root_crl: Slot = Arc::default();
        let root_stub = HttpStub::start(Behaviour::Slot(root_crl.clone())).await;
        let ca = match ca_info {
            CaInfo::Crl => root.intermediate_with("Chain Issuing CA", Some(&root_stub.url()), None),
            CaInfo::CrlAt(url) => root.intermediate_with("Chain Issuing CA", Some(&url), None),
            CaInfo::Ocsp(url) => root.intermediate_with("Chain Issuing CA", None, Some(&url)),
            CaInfo::Nothing => root.intermediate("Chain Issuing CA"),
        };
        let ca_crl: Slot = Arc::default();
        let ca_stub = HttpStub::start(Behaviour::Slot(ca_crl.clone())).await;
        let leaf = ca.issue(&LeafSpec::plain("chain leaf").crl(&ca_stub.url()));
        *ca_crl.lock().unwrap() = ca.fresh_crl(&[]);
        *root_crl.lock().unwrap() = root.fresh_crl(&[]);
        Self {
            root,
            ca,
            leaf,
            root_crl,
            root_stub,
            _ca_stub: ca_stub,
        }
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.leaf.der.clone(), self.ca.der()]
    }

    fn publish_root_crl(&self, crl: Vec<u8>) {
        *self.root_crl.lock().unwrap() = crl;
    }
}

enum CaInfo {
    Crl,
    CrlAt(String),
    Ocsp(String),
    Nothing,
}

/// Why the issuing CA's CRL gave no answer, when that is why the path was refused.
fn ca_crl_reason(err: &CertError) -> &str {
    match ca_cause(err) {
        CertError::RevocationUndetermined { crl_reason, .. } => crl_reason,
        other => panic!("expected an undetermined CA revocation, got {other:?}"),
    }
}

fn ca_cause(err: &CertError) -> &CertError {
    match err {
        CertError::CaRevocation { subject, cause } => {
            assert_eq!(subject, "CN=Chain Issuing CA,O=Test QTSP,C=GB");
            cause
        }
        other => panic!("expected a CA revocation failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_good_per_root_crl_is_accepted_and_reported() {
    let c = Chain::new(CaInfo::Crl).await;
    let v = validator(&c.root, fast_settings());
    let ok = v
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.status, RevocationStatus::Good);
    assert_eq!(ok.ca_revocation.len(), 1);
    let ca = &ok.ca_revocation[0];
    assert_eq!(ca.subject, "CN=Chain Issuing CA,O=Test QTSP,C=GB");
    assert_eq!(ca.serial, c.ca.serial_hex);
    assert_eq!(ca.outcome.status, RevocationStatus::Good);
    assert_eq!(ca.outcome.source, RevocationSource::Crl);
    assert_eq!(c.root_stub.hits(), 1);

    // The CA's answer is cached like a leaf's: no second fetch.
    let again = v
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert!(again.ca_revocation[0].outcome.cached);
    assert_eq!(c.root_stub.hits(), 1);

    // `bulwark certs verify` shows each certificate's status.
    let report = verify_report(&v, &c.chain(), Purpose::TlsClient, now()).await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["revocation"]["status"], "good");
    assert_eq!(
        json["ca_revocation"][0]["subject"],
        "CN=Chain Issuing CA,O=Test QTSP,C=GB"
    );
    assert_eq!(json["ca_revocation"][0]["status"], "good");
    assert_eq!(json["ca_revocation"][0]["source"], "crl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_revoked_intermediate_is_refused() {
    let c = Chain::new(CaInfo::Crl).await;
    c.publish_root_crl(c.root.fresh_crl(&[&c.ca.as_leaf()]));
    let v = validator(&c.root, fast_settings());
    let err = v
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(
        ca_cause(&err),
        &CertError::Revoked {
            via: RevocationSource::Crl
        }
    );
    assert_eq!(err.reason(), "ca_revoked");
    let report = verify_report(&v, &c.chain(), Purpose::TlsClient, now()).await;
    assert!(!report.valid);
    assert_eq!(report.reason.as_deref(), Some("ca_revoked"));
    assert!(
        report
            .detail
            .as_deref()
            .unwrap()
            .contains("CN=Chain Issuing CA")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_without_revocation_info_is_refused() {
    let c = Chain::new(CaInfo::Nothing).await;
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(ca_cause(&err), &CertError::NoRevocationInfo);
    assert_eq!(err.reason(), "ca_no_revocation_info");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_whose_crl_cannot_be_fetched_is_refused() {
    let hole = HttpStub::start(Behaviour::BlackHole).await;
    let c = Chain::new(CaInfo::CrlAt(hole.url())).await;
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert!(matches!(
        ca_cause(&err),
        CertError::RevocationUndetermined { .. }
    ));
    assert_eq!(err.reason(), "ca_revocation_undetermined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_crl_signed_by_an_impostor_is_refused() {
    let c = Chain::new(CaInfo::Crl).await;
    // Same name as the real root, different key: the CRL's issuer matches, its signature not.
    let impostor = Ca::root("Chain Root CA");
    c.publish_root_crl(impostor.fresh_crl(&[]));
    let v = validator(&c.root, fast_settings());
    let err = v
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    let crl_reason = ca_crl_reason(&err);
    assert!(crl_reason.contains("bad CRL signature"), "{crl_reason}");
    // The forged CRL was not cached: the genuine one is fetched and accepted next time (once
    // the failed look-up has stopped being the answer, a few seconds on).
    c.publish_root_crl(c.root.fresh_crl(&[]));
    v.validate(
        &c.chain(),
        Purpose::TlsClient,
        now() + std::time::Duration::from_secs(6),
    )
    .await
    .unwrap();
}

/// RFC 5280 4.2.1.3 at the top of the path: the issuing CA's CRL comes from the trust anchor,
/// whose own certificate does not allow CRL signing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_crl_signed_by_an_anchor_without_crl_sign_is_refused() {
    let (root, twin) = Ca::root_without_crl_sign("Chain Root CA");
    let root_crl: Slot = Arc::default();
    let root_stub = HttpStub::start(Behaviour::Slot(root_crl.clone())).await;
    let ca = twin.intermediate_with("Chain Issuing CA", Some(&root_stub.url()), None);
    let ca_crl: Slot = Arc::default();
    let _ca_stub = HttpStub::start(Behaviour::Slot(ca_crl.clone())).await;
    let leaf = ca.issue(&LeafSpec::plain("chain leaf").crl(&_ca_stub.url()));
    *ca_crl.lock().unwrap() = ca.fresh_crl(&[]);
    *root_crl.lock().unwrap() = twin.fresh_crl(&[]);
    let chain = vec![leaf.der.clone(), ca.der()];
    // The same CRLs count when the anchor's certificate allows CRL signing.
    let ok = validator(&twin, fast_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.ca_revocation[0].outcome.status, RevocationStatus::Good);
    let err = validator(&root, fast_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    let crl_reason = ca_crl_reason(&err);
    assert!(
        crl_reason.contains("does not allow CRL signing"),
        "{crl_reason}"
    );
}

/// RFC 5280 4.2.1.3 in the middle of a path: the issuing CA's CRL comes from a policy CA whose
/// certificate leaves out cRLSign. A CRL under the policy CA's name and key is no evidence
/// (and is not fetched); the same CRL counts under its twin that may sign CRLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_crl_signed_by_a_ca_without_crl_sign_is_refused() {
    let root = Ca::root("Mid Root CA");
    let root_crl: Slot = Arc::default();
    let root_stub = HttpStub::start(Behaviour::Slot(root_crl.clone())).await;
    let (policy, twin) = root.intermediate_without_crl_sign("Mid Policy CA", &root_stub.url());
    let policy_crl: Slot = Arc::default();
    let policy_stub = HttpStub::start(Behaviour::Slot(policy_crl.clone())).await;
    let issuing = policy.intermediate_with("Mid Issuing CA", Some(&policy_stub.url()), None);
    let leaf_crl: Slot = Arc::default();
    let leaf_stub = HttpStub::start(Behaviour::Slot(leaf_crl.clone())).await;
    let leaf = issuing.issue(&LeafSpec::plain("mid leaf").crl(&leaf_stub.url()));
    *root_crl.lock().unwrap() = root.fresh_crl(&[]);
    *policy_crl.lock().unwrap() = twin.fresh_crl(&[]);
    *leaf_crl.lock().unwrap() = issuing.fresh_crl(&[]);

    let ok = validator(&root, fast_settings())
        .validate(
            &[leaf.der.clone(), issuing.der(), twin.der()],
            Purpose::TlsClient,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(ok.ca_revocation.len(), 2);
    assert!(
        ok.ca_revocation
            .iter()
            .all(|c| c.outcome.status == RevocationStatus::Good)
    );
    let fetched = policy_stub.hits();
    let err = validator(&root, fast_settings())
        .validate(
            &[leaf.der.clone(), issuing.der(), policy.der()],
            Purpose::TlsClient,
            now(),
        )
        .await
        .unwrap_err();
    match &err {
        CertError::CaRevocation { subject, cause } => {
            assert_eq!(subject, "CN=Mid Issuing CA,O=Test QTSP,C=GB");
            match &**cause {
                CertError::RevocationUndetermined { crl_reason, .. } => assert!(
                    crl_reason.contains("does not allow CRL signing"),
                    "{crl_reason}"
                ),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        policy_stub.hits(),
        fetched,
        "a CRL that cannot count is not fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_crl_scoped_to_user_certificates_is_refused() {
    let c = Chain::new(CaInfo::Crl).await;
    let user_only = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec![c.root_stub.url()],
        },
        scope: Some(CrlScope::UserCertsOnly),
    };
    c.publish_root_crl(c.root.scoped_crl(&[], user_only));
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    let crl_reason = ca_crl_reason(&err);
    assert!(
        crl_reason.contains("excludes CA certificates"),
        "{crl_reason}"
    );

    // Scoped to CA certificates and naming this distribution point: authoritative.
    let ca_only = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec![c.root_stub.url()],
        },
        scope: Some(CrlScope::CaCertsOnly),
    };
    c.publish_root_crl(c.root.scoped_crl(&[&c.ca.as_leaf()], ca_only));
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ca_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_revoked_intermediate_via_ocsp_is_refused() {
    let port = free_port();
    let c = Chain::new(CaInfo::Ocsp(OcspResponder::url(port))).await;
    let _ocsp = OcspResponder::start(
        port,
        &c.root,
        &c.root.pem(),
        &c.root.key_pem,
        &[Entry::Revoked(&c.ca.as_leaf())],
        60,
    );
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(
        ca_cause(&err),
        &CertError::Revoked {
            via: RevocationSource::Ocsp
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_every_ca_of_a_deep_path_is_checked_against_its_own_issuer() {
    let root = Ca::root("Deep Root CA");
    let root_crl: Slot = Arc::default();
    let root_stub = HttpStub::start(Behaviour::Slot(root_crl.clone())).await;
    let policy = root.intermediate_with("Deep Policy CA", Some(&root_stub.url()), None);
    let policy_crl: Slot = Arc::default();
    let policy_stub = HttpStub::start(Behaviour::Slot(policy_crl.clone())).await;
    let issuing = policy.intermediate_with("Deep Issuing CA", Some(&policy_stub.url()), None);
    let leaf_crl: Slot = Arc::default();
    let leaf_stub = HttpStub::start(Behaviour::Slot(leaf_crl.clone())).await;
    let leaf = issuing.issue(&LeafSpec::plain("deep leaf").crl(&leaf_stub.url()));
    *root_crl.lock().unwrap() = root.fresh_crl(&[]);
    *policy_crl.lock().unwrap() = policy.fresh_crl(&[]);
    *leaf_crl.lock().unwrap() = issuing.fresh_crl(&[]);
    let chain = vec![leaf.der.clone(), issuing.der(), policy.der()];

    let ok = validator(&root, fast_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap();
    let names: Vec<&str> = ok
        .ca_revocation
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "CN=Deep Issuing CA,O=Test QTSP,C=GB",
            "CN=Deep Policy CA,O=Test QTSP,C=GB"
        ]
    );
    assert!(
        ok.ca_revocation
            .iter()
            .all(|c| c.outcome.status == RevocationStatus::Good)
    );

    // The policy CA revokes the issuing CA: refused, naming the issuing CA.
    *policy_crl.lock().unwrap() = policy.fresh_crl(&[&issuing.as_leaf()]);
    let err = validator(&root, fast_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match &err {
        CertError::CaRevocation { subject, cause } => {
            assert_eq!(subject, "CN=Deep Issuing CA,O=Test QTSP,C=GB");
            assert_eq!(err.reason(), "ca_revoked");
            assert!(matches!(**cause, CertError::Revoked { .. }));
        }
        other => panic!("{other:?}"),
    }

    // The root revokes the policy CA: refused, naming the policy CA (checked first, top down).
    *root_crl.lock().unwrap() = root.fresh_crl(&[&policy.as_leaf()]);
    let err = validator(&root, fast_settings())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match &err {
        CertError::CaRevocation { subject, .. } => {
            assert_eq!(subject, "CN=Deep Policy CA,O=Test QTSP,C=GB")
        }
        other => panic!("{other:?}"),
    }
}

/// An issuing CA listed in `exclude_issuers` (one with no revocation services to consult):
/// its leaves skip revocation, but its own certificate, issued by the root, is still checked
/// (RFC 5280 6.1.3(a)(3)): with a root that publishes nothing, the path is refused, naming the
/// CA. Only listing the root as well skips it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_an_excluded_issuing_ca_is_still_checked_by_its_issuer() {
    let root = Ca::root("Excluded Root CA");
    let ca = root.intermediate("Excluded Issuing CA");
    let leaf = ca.issue(&LeafSpec::plain("excluded leaf"));
    let chain = [leaf.der.clone(), ca.der()];
    let mut settings = fast_settings();
    settings.exclude_issuers = vec![bulwark_certs::spki_sha256(&ca.der()).unwrap()];
    let err = validator(&root, settings.clone())
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap_err();
    match &err {
        CertError::CaRevocation { subject, .. } => {
            assert_eq!(subject, "CN=Excluded Issuing CA,O=Test QTSP,C=GB")
        }
        other => panic!("{other:?}"),
    }
    settings
        .exclude_issuers
        .push(bulwark_certs::spki_sha256(&root.der()).unwrap());
    let ok = validator(&root, settings)
        .validate(&chain, Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.revocation.source, RevocationSource::Skipped);
    assert_eq!(
        ok.ca_revocation[0].outcome.source,
        RevocationSource::Skipped
    );
}

/// RFC 5280 6.3.3(b)(2)(i): a CA's CRL whose issuing distribution point names another of the
/// CA certificate's distribution points (a mirror) is authoritative.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_intermediate_crl_scoped_to_a_mirror_distribution_point_is_used() {
    let c = Chain::new(CaInfo::Crl).await;
    // The CA certificate names only the stub's URL; a CRL scoped to a second URL of the same
    // certificate is modelled by naming the stub's URL among others.
    let idp = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec!["http://mirror.example/ca.crl".into(), c.root_stub.url()],
        },
        scope: Some(CrlScope::CaCertsOnly),
    };
    c.publish_root_crl(c.root.scoped_crl(&[], idp));
    let ok = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap();
    assert_eq!(ok.ca_revocation[0].outcome.status, RevocationStatus::Good);
    // Naming none of the certificate's points: not authoritative.
    let foreign = CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec!["http://mirror.example/ca.crl".into()],
        },
        scope: None,
    };
    c.publish_root_crl(c.root.scoped_crl(&[], foreign));
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ca_revocation_undetermined");
}

/// The whole second of a time the CRLs below are made at, and that time as a `now`.
fn whole_second() -> (time::OffsetDateTime, std::time::SystemTime) {
    let t = now_odt().replace_nanosecond(0).unwrap();
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unix_timestamp() as u64);
    (t, at)
}

/// RFC 5280 6.3.3: an issuing CA's CRL is used only up to its nextUpdate, with the clock skew
/// (60 s here) and not a second more; a CRL issued up to the skew ahead of our clock is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_an_intermediate_crl_is_used_up_to_its_next_update_and_the_skew() {
    let c = Chain::new(CaInfo::Crl).await;
    let (t, at) = whole_second();
    c.publish_root_crl(c.root.crl(&[], t - time::Duration::hours(1), t));
    let skew = std::time::Duration::from_secs(60);
    validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, at + skew)
        .await
        .unwrap();
    let err = validator(&c.root, fast_settings())
        .validate(
            &c.chain(),
            Purpose::TlsClient,
            at + skew + std::time::Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    let crl_reason = ca_crl_reason(&err);
    assert!(crl_reason.contains("stale"), "{crl_reason}");
    let ahead = t + time::Duration::seconds(30);
    c.publish_root_crl(c.root.crl(&[], ahead, ahead + time::Duration::days(1)));
    validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, at)
        .await
        .unwrap();
}

/// RFC 5280 6.3.3(a): the CRL must be issued by the CA certificate's issuer, by name as well as
/// by key: one signed with the root's key under another name (the same key certified again
/// as another CA) is not the root's CRL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_an_intermediate_crl_under_another_issuer_name_is_refused() {
    let c = Chain::new(CaInfo::Crl).await;
    let renamed = c.root.recertified(&c.root, "Renamed Root CA");
    c.publish_root_crl(renamed.fresh_crl(&[]));
    let err = validator(&c.root, fast_settings())
        .validate(&c.chain(), Purpose::TlsClient, now())
        .await
        .unwrap_err();
    let crl_reason = ca_crl_reason(&err);
    assert!(crl_reason.contains("not issued by"), "{crl_reason}");
}
