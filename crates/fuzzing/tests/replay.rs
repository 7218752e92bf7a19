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
