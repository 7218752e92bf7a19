//! The crate layering of DESIGN.md and docs/architecture.md as a fact the build checks: every
//! dependency edge between our crates must be in the table below, protocol crates never depend
//! on an HTTP framework, and only the HTTP shells name the concrete SQL store. Adding an edge
//! means changing this table, in review, on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// crate -> the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("jose", &["core"]),
    ("certs", &["core"]),
    ("store", &["core"]),
    ("clients", &["core", "jose", "certs", "store"]),
    ("token", &["core", "jose", "store", "clients"]),
    ("dcr", &["core", "jose", "certs", "store", "clients"]),
    ("consent", &["core", "jose", "certs", "store"]),
    ("par", &["core", "jose", "store", "clients"]),
    (
        "authz",
        &[
            "core", "jose", "store", "clients", "par", "consent", "token",
        ],
    ),
    (
        "staff",
        &["core", "store", "consent", "clients", "authz", "token"],
    ),
    (
        "resource",
        &["core", "certs", "clients", "token", "consent"],
    ),
    ("web", &["core", "certs", "consent"]),
    (
        "gateway",
        &[
            "core", "jose", "certs", "store", "clients", "token", "consent", "resource", "web",
        ],
    ),
    (
        "server",
        &[
            "core", "jose", "certs", "store", "clients", "token", "dcr", "par", "authz", "consent",
            "resource", "web", "staff", "gateway",
        ],
    ),
    // The fuzz targets drive each crate's parsers; the gateway's route matching (GW-1) is one.
    (
        "fuzzing",
        &[
            "core", "jose", "certs", "consent", "par", "token", "gateway",
        ],
    ),
    ("tests", &[]),
];

/// HTTP frameworks and page templating: only the shells (and their glue) may use them.
const HTTP_CRATES: &[&str] = &[
    "axum",
    "axum-core",
    "http",
    "hyper",
    "hyper-util",
    "tower",
    "tower-http",
    "askama",
    "askama_web",
];
const HTTP_ALLOWED: &[&str] = &["web", "server", "gateway", "tests"];

/// Crates that may name the concrete store (`SqlStore`); the others get traits.
const CONCRETE_STORE_ALLOWED: &[&str] = &["store", "server", "gateway", "tests"];

fn metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Our crates by short name (`bulwark-token` -> `token`), with their normal dependencies and
/// source directory.
fn workspace() -> BTreeMap<String, (BTreeSet<String>, std::path::PathBuf)> {
    let meta = metadata();
    let mut crates = BTreeMap::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        let short = name.strip_prefix("bulwark-").unwrap_or(name).to_string();
        let deps = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        let dir = Path::new(pkg["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        crates.insert(short, (deps, dir));
    }
    crates
}

/// The edges of `crates` (short name -> its dependencies' package names) that the layering
/// table does not allow, and the crates it does not list.
fn edge_violations(crates: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    for (name, deps) in crates {
        let Some(ok) = allowed.get(name.as_str()) else {
            violations.push(format!(
                "{name}: not in the layering table (add it on purpose)"
            ));
            continue;
        };
        for dep in deps.iter().filter_map(|d| d.strip_prefix("bulwark-")) {
            if !ok.contains(&dep) {
                violations.push(format!("{name} -> {dep} is not an allowed edge"));
            }
        }
    }
    violations
}

#[test]
fn design_crate_edges_follow_the_layering_table() {
    let crates = workspace()
        .into_iter()
        .map(|(name, (deps, _))| (name, deps))
        .collect();
    let violations = edge_violations(&crates);
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn design_protocol_crates_know_no_http_framework() {
    let mut violations = Vec::new();
    for (name, (deps, _)) in workspace() {
        if HTTP_ALLOWED.contains(&name.as_str()) {
            continue;
        }
        for dep in deps.iter().filter(|d| HTTP_CRATES.contains(&d.as_str())) {
            violations.push(format!("{name} depends on {dep}"));
        }
    }
    assert!(
        violations.is_empty(),
        "protocol crates with HTTP types:\n{}",
        violations.join("\n")
    );
}

fn rust_sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn design_only_the_shells_see_the_concrete_store() {
    let mut violations = Vec::new();
    for (name, (_, dir)) in workspace() {
        if CONCRETE_STORE_ALLOWED.contains(&name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        rust_sources(&dir.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.contains("SqlStore") {
                violations.push(file.display().to_string());
            }
        }
    }
    assert!(
        violations.is_empty(),
        "SqlStore named outside the shells:\n{}",
        violations.join("\n")
    );
}

#[test]
fn design_the_table_is_checked_against_a_real_edge() {
    // The check above must be able to fail: the real graph plus a forbidden edge (dcr ->
    // token) and a crate the table does not list are both reported.
    let mut graph: BTreeMap<String, BTreeSet<String>> = workspace()
        .into_iter()
        .map(|(name, (deps, _))| (name, deps))
        .collect();
    graph.get_mut("dcr").unwrap().insert("bulwark-token".into());
    graph.insert("rogue".into(), BTreeSet::new());
    assert_eq!(
        edge_violations(&graph),
        vec![
            "dcr -> token is not an allowed edge".to_string(),
            "rogue: not in the layering table (add it on purpose)".to_string(),
        ]
    );
    let crates = workspace();
    assert!(
        crates["token"].0.contains("bulwark-clients"),
        "the token crate is found with its edges"
    );
}
