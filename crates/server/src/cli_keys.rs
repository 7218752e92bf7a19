//! `bulwark keys list` and `bulwark keys rotate` (DS-2): the operator's view of the signing
//! keys every node shares through the database, and the rotation that publishes the next key
//! before it signs and retires the previous one after its last token has expired.

use anyhow::anyhow;
use bulwark_core::{Clock, SystemClock};
use bulwark_jose::Alg;
use bulwark_store::KeyStore;
use clap::{Subcommand, ValueEnum};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Config;
use crate::signing::{self, RotationPlan};

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Every signing key with its state: next (published, not signing yet), signing,
    /// previous (published until its tokens expire), retired.
    List,
    /// Add the next key of an algorithm: published at once, signing after
    /// `keys.publish_ahead_secs` (or `--activate-in`), the keys it replaces retired once the
    /// longest token lifetime has passed after that.
    Rotate {
        /// The algorithm of the key to rotate (required: access tokens are PS256 by default,
        /// ID tokens and JARM follow each client, so there is no one obvious key).
        #[arg(long, value_enum)]
        alg: AlgArg,
        /// Seconds until the next key signs (default: `keys.publish_ahead_secs`; at least
        /// `keys.reload_secs`).
        #[arg(long)]
        activate_in: Option<i64>,
        /// Key compromise: sign with the next key at once and unpublish the replaced keys at
        /// once (tokens they signed stop verifying as soon as every node has reloaded).
        #[arg(long, conflicts_with = "activate_in")]
        immediately: bool,
    },
}

/// A signing algorithm on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AlgArg {
    /// ECDSA P-256 with SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// RSASSA-PSS with SHA-256 (RSA 2048).
    #[value(name = "PS256")]
    Ps256,
}

impl From<AlgArg> for Alg {
    fn from(a: AlgArg) -> Self {
        match a {
            AlgArg::Es256 => Alg::Es256,
            AlgArg::Ps256 => Alg::Ps256,
        }
    }
}

/// The longest lifetime of anything a signing key signs: access tokens, ID tokens and signed
/// authorization responses (hybrid ID tokens, JARM).
pub fn longest_token_lifetime(config: &Config) -> i64 {
    [
        config.tokens.access_token_lifetime_secs,
        config.tokens.id_token_lifetime_secs,
        config.authorization.response_lifetime_secs,
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
}

fn when(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Runs a `keys` subcommand against the configured database.
pub async fn run_keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = crate::cli::open_store(&config).await?;
    let now = SystemClock.unix();
    match command {
        KeysCommand::List => {
            let all = store.all_signing_keys().await?;
            println!(
                "{:<8} {:<6} {:<44} {:<21} {:<21} RETIRES",
                "STATE", "ALG", "KID", "CREATED", "SIGNS FROM"
            );
            for key in &all {
                println!(
                    "{:<8} {:<6} {:<44} {:<21} {:<21} {}",
                    signing::state_at(key, &all, now),
                    key.alg,
                    key.kid,
                    when(key.created_at),
                    when(key.activates_at),
                    key.retired_at.map(when).unwrap_or_else(|| "-".into())
                );
            }
        }
        KeysCommand::Rotate {
            alg,
            activate_in,
            immediately,
        } => {
            let publish_ahead_secs = activate_in.unwrap_or(config.keys.publish_ahead_secs);
            let reload_secs = i64::try_from(config.keys.reload().as_secs()).unwrap_or(i64::MAX);
            if !immediately && publish_ahead_secs < reload_secs {
                return Err(anyhow!(
                    "--activate-in {publish_ahead_secs} is shorter than keys.reload_secs = {reload_secs}: some nodes would sign with a key others do not publish yet (use --immediately for a compromised key)"
                ));
            }
            let plan = RotationPlan {
                publish_ahead_secs,
                longest_token_lifetime_secs: longest_token_lifetime(&config),
                immediately,
                reload_secs,
            };
            let rotated = signing::rotate(&store, now, alg.into(), plan).await?;
            println!(
                "added {} key {}: published now, signs from {}",
                rotated.next.alg,
                rotated.next.kid,
                when(rotated.next.activates_at)
            );
            println!(
                "the {} keys it replaces stay published until {}",
                rotated.next.alg,
                when(rotated.previous_retire_at)
            );
            println!(
                "every node picks the change up within keys.reload_secs = {} s",
                config.keys.reload_secs
            );
        }
    }
    Ok(())
}
