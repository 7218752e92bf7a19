//! The two migration trees (PostgreSQL for production, SQLite for the embedded default) are
//! kept alike by this test, not by convention: the same files, numbered identically, and the
//! same text once the known dialect differences are substituted. A change to one tree that is
//! not made to the other fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// PostgreSQL spelling -> SQLite spelling. Anything else that differs is a failure.
const DIALECT: &[(&str, &str)] = &[
    ("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("BYTEA", "BLOB"),
];

fn tree(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(name)
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect()
}

#[test]
fn op_migrations_trees_hold_the_same_files() {
    let pg = files(&tree("postgres"));
    let lite = files(&tree("sqlite"));
    assert!(!pg.is_empty(), "no migrations found");
    assert_eq!(
        pg, lite,
        "migrations/postgres and migrations/sqlite differ in files"
    );
    for (i, name) in pg.iter().enumerate() {
        let number: usize = name[..4]
            .parse()
            .expect("migrations are numbered NNNN_name.sql");
        assert_eq!(
            number,
            i + 1,
            "{name}: migrations are numbered without gaps"
        );
    }
}

#[test]
fn op_migrations_trees_are_alike_after_dialect_substitution() {
    for name in files(&tree("postgres")) {
        let pg = std::fs::read_to_string(tree("postgres").join(&name)).unwrap();
        let lite = std::fs::read_to_string(tree("sqlite").join(&name)).unwrap();
        let translated = DIALECT
            .iter()
            .fold(pg, |text, (from, to)| text.replace(from, to));
        for (n, (a, b)) in translated.lines().zip(lite.lines()).enumerate() {
            assert_eq!(a, b, "{name} line {}: the trees differ", n + 1);
        }
        assert_eq!(
            translated.lines().count(),
            lite.lines().count(),
            "{name}: the trees differ in length"
        );
    }
}
