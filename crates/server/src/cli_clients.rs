//! `bulwark clients ...`: operator management of statically registered clients (DCR-5), working
//! on the database directly so no server needs to run.

use std::path::PathBuf;

use anyhow::{Context, bail};
use bulwark_core::{Client, ClientMetadata, ClientStatus, Clock, SystemClock};
use bulwark_store::{ClientStore, SqlStore};
use clap::Subcommand;
use serde_json::Value;

use crate::config::Config;

/// The `clients` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client from an RFC 7591 metadata JSON file; prints the stored client.
    /// A `client_id` in the file is kept, otherwise one is generated.
    Add {
        /// The metadata JSON file.
        #[arg(long, value_name = "FILE.json")]
        metadata: PathBuf,
        /// Add this public key (a `PUBLIC KEY` PEM, P-256 or RSA) to the client's `jwks`.
        #[arg(long, value_name = "FILE.pem")]
        public_key_pem: Option<PathBuf>,
        /// The `kid` of the key from --public-key-pem (default: its RFC 7638 thumbprint).
        #[arg(long, requires = "public_key_pem")]
        kid: Option<String>,
    },
    /// List every client as a JSON array.
    List,
    /// Print one client as JSON.
    Show {
        /// The client id.
        client_id: String,
    },
    /// Suspend a client: it can no longer authenticate or obtain tokens.
    Suspend {
        /// The client id.
        client_id: String,
    },
    /// Re-activate a suspended client.
    Activate {
        /// The client id.
        client_id: String,
    },
}

/// Runs a `clients` subcommand against the configured database.
pub async fn run(config: Config, command: ClientsCommand) -> anyhow::Result<()> {
    let store = crate::cli::open_store(&config).await?;
    let now = SystemClock.unix();
    let result = match command {
        ClientsCommand::Add {
            metadata,
            public_key_pem,
            kid,
        } => {
            add(
                &store,
                &metadata,
                public_key_pem.as_deref(),
                kid.as_deref(),
                now,
            )
            .await
        }
        ClientsCommand::List => {
            let clients = store.list_clients().await?;
            print_json(&serde_json::to_value(clients)?)
        }
        ClientsCommand::Show { client_id } => {
            let client = store
                .get_client(&client_id)
                .await?
                .with_context(|| format!("no client {client_id}"))?;
            print_json(&serde_json::to_value(client)?)
        }
        ClientsCommand::Suspend { client_id } => {
            set_status(&store, &client_id, ClientStatus::Suspended, now).await
        }
        ClientsCommand::Activate { client_id } => {
            set_status(&store, &client_id, ClientStatus::Active, now).await
        }
    };
    store.close().await;
    result
}

async fn add(
    store: &SqlStore,
    file: &std::path::Path,
    public_key_pem: Option<&std::path::Path>,
    kid: Option<&str>,
    now: i64,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut doc: serde_json::Map<String, Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON object", file.display()))?;
    let client_id = match doc.remove("client_id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        Some(_) => bail!("client_id must be a non-empty string"),
        None => bulwark_core::random::token(16),
    };
    if let Some(pem_path) = public_key_pem {
        let pem = std::fs::read_to_string(pem_path)
            .with_context(|| format!("reading {}", pem_path.display()))?;
        let jwk = bulwark_jose::pem::jwk_from_public_pem(&pem, kid)
            .with_context(|| pem_path.display().to_string())?;
        let jwks = doc
            .entry("jwks")
            .or_insert_with(|| serde_json::json!({ "keys": [] }));
        match jwks.get_mut("keys").and_then(Value::as_array_mut) {
            Some(keys) => keys.push(Value::Object(jwk)),
            None => bail!("jwks in the metadata has no keys array"),
        }
    }
    let metadata: ClientMetadata =
        serde_json::from_value(Value::Object(doc)).context("invalid client metadata")?;
    bulwark_clients::validate_metadata(&metadata).context("invalid client metadata")?;
    let client = Client {
        client_id,
        metadata,
        status: ClientStatus::Active,
        client_id_issued_at: now,
        updated_at: now,
    };
    store.insert_client(&client).await?;
    print_json(&serde_json::to_value(&client)?)
}

async fn set_status(
    store: &SqlStore,
    client_id: &str,
    status: ClientStatus,
    now: i64,
) -> anyhow::Result<()> {
    if !store.set_client_status(client_id, status, now).await? {
        bail!("no client {client_id}");
    }
    let client = store
        .get_client(client_id)
        .await?
        .with_context(|| format!("no client {client_id}"))?;
    print_json(&serde_json::to_value(client)?)
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
