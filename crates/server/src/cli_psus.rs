//! `bulwark psu ...`: the demo PSU directory (AZ-6), for a bank that runs Bulwark's own
//! directory in a test environment. The password is read from standard input (one line), so it
//! never appears in the process list or the shell history.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::bail;
use bulwark_authz::StoredPsuDirectory;
use bulwark_core::{Clock, SystemClock, SystemRng};
use clap::Subcommand;

use crate::config::Config;

/// The `psu` subcommands.
#[derive(Debug, Subcommand)]
pub enum PsuCommand {
    /// Add a PSU; the password is read from standard input (at least 8 characters).
    Add {
        /// The login name.
        username: String,
        /// The name the pages greet them with (default: the username).
        #[arg(long)]
        name: Option<String>,
        /// Give the PSU two demo GBP accounts (a current account and savings).
        #[arg(long)]
        demo_accounts: bool,
    },
}

/// Runs a `psu` subcommand against the configured database.
pub async fn run(config: Config, command: PsuCommand) -> anyhow::Result<()> {
    let store = Arc::new(crate::cli::open_store(&config).await?);
    let rng = SystemRng;
    let psus = StoredPsuDirectory::new(store.clone(), &rng).map_err(|e| anyhow::anyhow!("{e}"))?;
    match command {
        PsuCommand::Add {
            username,
            name,
            demo_accounts,
        } => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("password for {username} (input is shown; pipe it in to hide it):");
            }
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("no password on standard input");
            }
            let display = name.unwrap_or_else(|| username.clone());
            let record = psus
                .add(&username, &display, password, &rng, SystemClock.unix())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if demo_accounts {
                psus.seed_accounts(&record.subject, &rng)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            println!("added PSU {username} (subject {})", record.subject);
        }
    }
    store.close().await;
    Ok(())
}
