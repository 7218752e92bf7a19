//! `bulwark certs verify`: runs exactly the server's certificate validation (same trust
//! anchors, revocation settings and caches) on PEM files and prints one JSON verdict, so an
//! operator can answer "why was this TPP refused?".

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use bulwark_certs::{CertValidator, Purpose, TrustAnchors};
use clap::{Subcommand, ValueEnum};

use crate::config::Config;
use crate::dev_pki::DevPki;

/// The `certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Validate a certificate and print a JSON report. Exit 0 when valid, 1 when rejected,
    /// 2 on a usage error (unreadable file, bad configuration).
    Verify {
        /// The leaf certificate (PEM; may also hold the chain).
        leaf: PathBuf,
        /// Intermediate certificates (PEM).
        chain: Vec<PathBuf>,
        /// What the certificate is presented for.
        #[arg(long, value_enum, default_value_t = PurposeArg::TlsClient)]
        purpose: PurposeArg,
    },
}

/// `--purpose` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PurposeArg {
    /// A TLS client certificate (token, introspection, revocation endpoints).
    TlsClient,
    /// A PSD2 QWAC (registration, consent APIs).
    Qwac,
    /// A QSealC signing certificate (`x5c`, `x-jws-signature`).
    Sealing,
}

/// Runs a `certs` subcommand; returns the process exit code.
pub async fn run(config: &Config, command: CertsCommand) -> ExitCode {
    match command {
        CertsCommand::Verify {
            leaf,
            chain,
            purpose,
        } => verify(config, leaf, chain, purpose).await,
    }
}

async fn verify(
    config: &Config,
    leaf: PathBuf,
    chain: Vec<PathBuf>,
    purpose: PurposeArg,
) -> ExitCode {
    let usage = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let dev_ca = DevPki::ca_path(&config.data_dir);
    let dev_ca = (config.is_development() && dev_ca.exists()).then_some(dev_ca);
    let (anchor_paths, revocation) = crate::app::trust_setup(config, dev_ca, &mut Vec::new());
    let anchors = match anchor_paths.try_map(|p| TrustAnchors::load(p)) {
        Ok(a) => a,
        Err(e) => return usage(e.to_string()),
    };
    let ob_directory = match TrustAnchors::load(&config.trust.ob_directory) {
        Ok(a) => a,
        Err(e) => return usage(e.to_string()),
    };
    let validator = match CertValidator::with_profiles(
        &anchors,
        &ob_directory,
        Duration::from_secs(config.trust.clock_skew_secs),
        revocation,
    ) {
        Ok(v) => v,
        Err(e) => return usage(e.to_string()),
    };
    let mut files = vec![leaf];
    files.extend(chain);
    let certs = match bulwark_certs::read_pem_chain(&files) {
        Ok(c) => c,
        Err(e) => return usage(e.to_string()),
    };
    let purpose = match purpose {
        PurposeArg::TlsClient => Purpose::TlsClient,
        PurposeArg::Qwac => Purpose::Qwac,
        PurposeArg::Sealing => Purpose::Sealing,
    };
    let report = bulwark_certs::verify_report(&validator, &certs, purpose, SystemTime::now()).await;
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => return usage(e.to_string()),
    }
    if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
