//! CERT-3 trust anchors as an operator configures them: PEM files and directories of
//! `*.pem`, `*.crt` and `*.cer` files. A path that would trust nothing (missing, empty, a file
//! without a certificate, a directory without a certificate file) or that holds something that
//! is not a usable anchor is a start-up error naming the path, never a silently smaller set.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use bulwark_certs::{AnchorError, TrustAnchors};
use common::Pki;

fn load(paths: &[&std::path::Path]) -> Result<TrustAnchors, AnchorError> {
    TrustAnchors::load(&paths.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>())
}

/// Loads `path` expecting it refused as invalid under the name `named`; the reason given.
fn invalid(path: &std::path::Path, named: &std::path::Path) -> String {
    match load(&[path]) {
        Err(AnchorError::Invalid { path, reason }) => {
            assert_eq!(path, named);
            reason
        }
        other => panic!("{}: {other:?}", named.display()),
    }
}

#[test]
fn cert_3_every_certificate_file_of_a_directory_is_an_anchor() {
    let (a, b, c) = (Pki::named("A"), Pki::named("B"), Pki::named("C"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.pem"), a.root.pem()).unwrap();
    std::fs::write(dir.path().join("b.crt"), b.root.pem()).unwrap();
    std::fs::write(dir.path().join("c.cer"), c.root.pem()).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not read").unwrap();
    let anchors = load(&[dir.path()]).unwrap();
    let mut got: Vec<_> = anchors.certs().iter().map(|d| d.to_vec()).collect();
    got.sort();
    let mut want = vec![
        a.root.der().to_vec(),
        b.root.der().to_vec(),
        c.root.der().to_vec(),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn cert_3_a_path_that_would_trust_nothing_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // Missing: the I/O error, with its path.
    let missing = dir.path().join("missing.pem");
    match load(&[&missing]) {
        Err(AnchorError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
    // A directory without a certificate file (empty, or other files only).
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let others = dir.path().join("others");
    std::fs::create_dir(&others).unwrap();
    std::fs::write(others.join("root.txt"), Pki::new().root.pem()).unwrap();
    for d in [&empty, &others] {
        invalid(d, d);
    }
    // A file without a PEM certificate.
    let no_cert = dir.path().join("no-cert.pem");
    std::fs::write(
        &no_cert,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    invalid(&no_cert, &no_cert);
}

#[test]
fn cert_3_a_certificate_block_that_is_not_a_usable_anchor_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    // The first (and only) block is well-formed PEM around bytes that are not a certificate.
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let reason = invalid(&garbage, &garbage);
    assert!(reason.contains("#1"), "{reason}");
    // One such file in a directory of good ones fails the whole directory.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::write(mixed.join("good.pem"), pki.root.pem()).unwrap();
    std::fs::copy(&garbage, mixed.join("zz-garbage.crt")).unwrap();
    invalid(&mixed, &mixed.join("zz-garbage.crt"));
}
