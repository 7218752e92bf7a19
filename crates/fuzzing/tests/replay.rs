//! Issue 10 (fuzzing): every input in the committed corpus of each fuzz target, and every crash
//! the fuzzers ever found (`fuzz/regressions/<target>/`), replayed on stable: a fixed crash stays
//! fixed, and the targets keep compiling and running without nightly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn hardening_fuzz_corpus_and_regressions_replay_without_panics() {
    for (name, target) in bulwark_fuzzing::TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is empty: the target's corpus must be committed"
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for file in corpus.iter().chain(&regressions) {
            // A fuzzer running beside the tests may reduce (delete) corpus files meanwhile.
            let Ok(data) = std::fs::read(file) else {
                continue;
            };
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panics", file.display());
        }
        println!(
            "{name}: {} corpus inputs, {} regressions replayed",
            corpus.len(),
            regressions.len()
        );
    }
}

#[test]
fn hardening_every_fuzz_target_has_a_cargo_fuzz_binary() {
    for (name, _) in bulwark_fuzzing::TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            src.contains(&format!("bulwark_fuzzing::{name}(")),
            "{} must call bulwark_fuzzing::{name}",
            file.display()
        );
    }
}

/// The seeds reach the checks' far ends (a signature that verifies, a verdict), so the fuzzers
/// start from real answers rather than from the parsers' first refusal.
#[test]
fn hardening_fuzz_seeds_are_genuine_answers_about_the_fixtures() {
    use bulwark_fuzzing::{FIXTURE_CA, FIXTURE_LEAF};
    let read = |p: &str| std::fs::read(fuzz_dir().join("corpus").join(p)).unwrap();
    let now = std::time::SystemTime::now();
    let ocsp =
        |p: &str| bulwark_certs::fuzzing::ocsp_response(&read(p), FIXTURE_CA, FIXTURE_LEAF, now);
    assert_eq!(ocsp("ocsp_response/seed-good"), Ok(false));
    assert_eq!(ocsp("ocsp_response/seed-revoked"), Ok(true));
    let crl = bulwark_certs::fuzzing::crl(
        &read("crl/seed-revoked"),
        FIXTURE_CA,
        FIXTURE_LEAF,
        "http://127.0.0.1:9/ca.crl",
        now,
    );
    assert_eq!(crl, Ok((true, true)));
}

/// CERT-4 on a fixed, genuine OCSP answer (the good seed, `openssl ocsp` about the fixture
/// leaf, serial 0x4242): it counts from the skew (60 s) before its thisUpdate to the skew after
/// its nextUpdate, not a second longer either way, and only for the certificate it names (an
/// answer about another serial of the same issuer is no answer).
#[test]
fn cert_4_an_ocsp_answer_is_about_its_serial_and_fresh_to_the_second() {
    use bulwark_fuzzing::{FIXTURE_CA, FIXTURE_LEAF};
    use der::Decode;
    use std::time::Duration;
    let body = std::fs::read(fuzz_dir().join("corpus/ocsp_response/seed-good")).unwrap();
    let response = x509_ocsp::OcspResponse::from_der(&body).unwrap();
    let basic = x509_ocsp::BasicOcspResponse::from_der(
        response.response_bytes.unwrap().response.as_bytes(),
    )
    .unwrap();
    let single = &basic.tbs_response_data.responses[0];
    let this_update = single.this_update.0.to_system_time();
    let next_update = single.next_update.unwrap().0.to_system_time();
    let (skew, second) = (Duration::from_secs(60), Duration::from_secs(1));
    let check =
        |cert: &[u8], now| bulwark_certs::fuzzing::ocsp_response(&body, FIXTURE_CA, cert, now);
    assert_eq!(check(FIXTURE_LEAF, this_update - skew), Ok(false));
    let early = check(FIXTURE_LEAF, this_update - skew - second).unwrap_err();
    assert!(early.contains("thisUpdate is in the future"), "{early}");
    assert_eq!(check(FIXTURE_LEAF, next_update + skew), Ok(false));
    let late = check(FIXTURE_LEAF, next_update + skew + second).unwrap_err();
    assert!(late.contains("stale"), "{late}");

    let mut other = FIXTURE_LEAF.to_vec();
    let serial = other
        .windows(4)
        .position(|w| w == [0x02, 0x02, 0x42, 0x42])
        .unwrap();
    other[serial + 3] = 0x43;
    let foreign = check(&other, this_update + second).unwrap_err();
    assert!(foreign.contains("does not cover"), "{foreign}");
}
