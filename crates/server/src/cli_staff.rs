//! `bulwark staff add USERNAME --role viewer|admin` (the password from standard input, so it
//! never appears in the process list or the shell history) and `bulwark audit export`, the
//! append-only audit trail as JSON lines for an auditor or a SIEM.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail};
use bulwark_core::{Clock, SystemClock, SystemRng};
use bulwark_staff::StaffRole;
use clap::{Subcommand, ValueEnum};

use crate::config::Config;

/// The `staff` subcommands.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; the password (at least 12 characters) is read from standard input.
    Add {
        /// The login name.
        username: String,
        /// viewer reads everything; admin also revokes consents and suspends clients.
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
    },
}

/// A staff role on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// Reads consents, clients and the audit trail.
    Viewer,
    /// Also revokes consents and suspends or activates clients.
    Admin,
}

/// The `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the audit trail, oldest first, to standard output.
    Export {
        /// Only events at or after this time: RFC 3339 (2026-12-01T00:00:00Z), a date
        /// (2026-12-01, midnight UTC) or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
}

/// Runs a `staff` subcommand against the configured database.
pub async fn run_staff(config: Config, command: StaffCommand) -> anyhow::Result<()> {
    let store = Arc::new(crate::cli::open_store(&config).await?);
    match command {
        StaffCommand::Add { username, role } => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("password for {username} (input is shown; pipe it in to hide it):");
            }
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("no password on standard input");
            }
            let role = match role {
                RoleArg::Viewer => StaffRole::Viewer,
                RoleArg::Admin => StaffRole::Admin,
            };
            bulwark_staff::add_staff(
                store.as_ref(),
                &SystemRng,
                &username,
                password,
                role,
                SystemClock.unix(),
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
            println!("added staff member {username} ({role})");
        }
    }
    store.close().await;
    Ok(())
}

/// Parses `--since`.
fn since(value: &str) -> anyhow::Result<i64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(t) = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let f = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, &f)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| anyhow!("--since {v:?}: use RFC 3339, YYYY-MM-DD or Unix seconds"))
}

/// Runs an `audit` subcommand.
pub async fn run_audit(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Export {
        since: from,
        format,
    } = command;
    let from = from.as_deref().map(since).transpose()?;
    let store = Arc::new(crate::cli::open_store(&config).await?);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after = None;
    loop {
        let page = bulwark_staff::export_audit(store.as_ref(), from, after, 1000)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        for e in &page {
            match format {
                ExportFormat::Jsonl => {
                    let at = time::OffsetDateTime::from_unix_timestamp(e.at)
                        .ok()
                        .and_then(|t| {
                            t.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        });
                    let line = serde_json::json!({
                        "seq": e.seq,
                        "at": at,
                        "actor_kind": e.actor_kind,
                        "actor_id": e.actor_id,
                        "action": e.action,
                        "subject": e.subject,
                        "reason": e.reason,
                        "request_id": e.request_id,
                    });
                    writeln!(out, "{line}")?;
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.seq),
            _ => break,
        }
    }
    out.flush()?;
    drop(out);
    store.close().await;
    Ok(())
}
