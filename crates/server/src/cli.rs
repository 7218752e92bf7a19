//! The command line: `bulwark serve`, `bulwark migrate`. Every failure ends the process with a
//! non-zero status and one line naming the problem (no panic, no backtrace).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bulwark_store::{ConnectSettings, SqlStore};
use clap::{Parser, Subcommand};

use crate::Application;
use crate::config::{Config, LogFormat};

/// Bulwark: a FAPI authorization server for open banking.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file; without one, built-in defaults plus BULWARK_* environment
    /// variables apply (the embedded development server).
    #[arg(
        long,
        short,
        global = true,
        env = "BULWARK_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Log one JSON object per line instead of human-readable lines (overrides [log] format).
    #[arg(long, global = true)]
    pub log_json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server (TLS). With no configuration: https://localhost:8443,
    /// SQLite and generated development certificates and keys under ./data.
    Serve,
    /// Apply pending database migrations and exit (`serve` also applies them at start).
    Migrate,
    /// Load and check the configuration, print the settings that weaken a defence, and exit
    /// (0: valid; 1: invalid).
    CheckConfig,
    /// Certificate tools for operators.
    Certs {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli_certs::CertsCommand,
    },
    /// Manage statically registered clients (TPP applications).
    Clients {
        /// What to do with clients.
        #[command(subcommand)]
        command: crate::cli_clients::ClientsCommand,
    },
    /// Manage the demo PSU directory (bank customers who log in on the authorization pages).
    Psu {
        /// What to do with PSUs.
        #[command(subcommand)]
        command: crate::cli_psus::PsuCommand,
    },
    /// Manage the bank staff who use the console (`/staff`).
    Staff {
        /// What to do with staff.
        #[command(subcommand)]
        command: crate::cli_staff::StaffCommand,
    },
    /// Run the resource-request gateway (a policy-enforcing reverse proxy in front of the
    /// bank's APIs); `--config` names the gateway's own configuration file.
    Gateway,
    /// Run the demo bank API (accounts, balances, transactions of the demo PSUs) that the
    /// gateway can be put in front of. Plain HTTP.
    DemoBank {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:9080")]
        listen: std::net::SocketAddr,
    },
    /// The signing keys (DS-2): list them, rotate one.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: crate::cli_keys::KeysCommand,
    },
    /// The payments the gateway records (GW-1): record one it could not, show one.
    Payments {
        /// What to do with payments.
        #[command(subcommand)]
        command: crate::cli_payments::PaymentsCommand,
    },
    /// The audit trail of security events.
    Audit {
        /// What to do with it.
        #[command(subcommand)]
        command: crate::cli_staff::AuditCommand,
    },
}

/// Parses the command line, runs the command, and maps any error to exit status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The gateway has its own configuration file (not the server's).
    if matches!(cli.command, Command::Gateway) {
        let Some(path) = cli.config else {
            anyhow::bail!("bulwark gateway needs --config FILE (the gateway's configuration)");
        };
        let config = bulwark_gateway::GatewayConfig::load(&path)?;
        let mut log = Config {
            log: config.log.clone(),
            ..Config::default()
        };
        if cli.log_json {
            log.log.format = LogFormat::Json;
        }
        init_logging(&log);
        let _ = rustls::crypto::ring::default_provider().install_default();
        return gateway(config).await.map(|()| ExitCode::SUCCESS);
    }
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        // `certs verify` promises 1 for a rejected certificate and 2 for any usage problem.
        Err(e) if matches!(cli.command, Command::Certs { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if cli.log_json {
        config.log.format = LogFormat::Json;
    }
    init_logging(&config);
    // One crypto provider in the whole process (ring); HTTP clients rely on it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Serve => serve(config).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate => migrate(config).await.map(|()| ExitCode::SUCCESS),
        Command::CheckConfig => {
            crate::preflight::check(&config)?;
            let warnings = config.warnings();
            for w in &warnings {
                println!("warning: {w}");
            }
            println!("configuration valid ({} warning(s))", warnings.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Clients { command } => crate::cli_clients::run(config, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Certs { command } => Ok(crate::cli_certs::run(&config, command).await),
        Command::Psu { command } => crate::cli_psus::run(config, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Staff { command } => crate::cli_staff::run_staff(config, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Gateway => Ok(ExitCode::SUCCESS),
        Command::DemoBank { listen } => demo_bank(config, listen).await.map(|()| ExitCode::SUCCESS),
        Command::Keys { command } => crate::cli_keys::run_keys(config, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Payments { command } => crate::cli_payments::run(config, command)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Audit { command } => crate::cli_staff::run_audit(config, command)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

/// Logs to stderr at the configured level and copies every security event into the audit
/// trail (OP-6, `audit_log`), whatever the level.
fn init_logging(config: &Config) {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = subscriber(config).try_init();
}

/// The process's tracing subscriber: the log at the configured level, and the audit layer,
/// which sees only what it copies (security events and the request span naming the
/// application). Every other call site is off unless the log wants it, so a disabled
/// `debug!` in a dependency (a statement log per SQL query, a connection pool's trace) costs
/// nothing on the hot paths.
pub(crate) fn subscriber(config: &Config) -> impl tracing::Subscriber + Send + Sync {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match config.log.format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Human => fmt.with_filter(filter).boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(crate::audit_log::layer())
}

async fn gateway(config: bulwark_gateway::GatewayConfig) -> anyhow::Result<()> {
    let hup = hangups();
    let gateway =
        bulwark_gateway::Gateway::build(config, std::sync::Arc::new(bulwark_core::SystemClock))
            .await?;
    if let Some(admin) = gateway.admin_addr() {
        println!("gateway metrics on http://{admin}/metrics");
    }
    let shutdown = shutdown_signal();
    println!("bulwark gateway listening on https://{}", gateway.addr());
    let reloader = gateway.certificate_reloader();
    let reloads = tokio::spawn(reload_on_sighup(move || reloader.reload(), hup));
    gateway.run_until(shutdown).await;
    reloads.abort();
    Ok(())
}

/// SIGHUP, taken before a command's (slow) start, so a SIGHUP from a renewal hook during it is
/// not fatal; one arriving then is handled once the command runs.
#[cfg(unix)]
fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

/// Without SIGHUP (not unix), nothing to take.
#[cfg(not(unix))]
fn hangups() -> Option<()> {
    None
}

async fn demo_bank(config: Config, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let store = std::sync::Arc::new(open_store(&config).await?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let shutdown = shutdown_signal();
    println!("demo bank listening on http://{}", listener.local_addr()?);
    axum::serve(listener, crate::demo_bank::router(store))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let hup = hangups();
    let app = Application::build(config).await?;
    for line in &app.report {
        println!("{line}");
    }
    let issuer = app.issuer().to_string();
    let shutdown = shutdown_signal();
    println!(
        "bulwark listening on https://{} (issuer {issuer}), ready in {} ms",
        app.addr(),
        started.elapsed().as_millis()
    );
    tracing::info!(addr = %app.addr(), ready_ms = started.elapsed().as_millis() as u64, "ready");
    let reloader = app.certificate_reloader();
    let reloads = tokio::spawn(reload_on_sighup(move || reloader.reload(), hup));
    app.run_until(shutdown).await;
    reloads.abort();
    tracing::info!("shut down cleanly");
    Ok(())
}

/// OP-3: on each SIGHUP, re-reads the certificate and key and the trust anchors (`reload`,
/// the server's or the gateway's); a file that does not load leaves everything as it was (and
/// says why).
#[cfg(unix)]
async fn reload_on_sighup(
    reload: impl Fn() -> anyhow::Result<Vec<String>>,
    hup: Option<tokio::signal::unix::Signal>,
) {
    let Some(mut hup) = hup else {
        tracing::warn!("SIGHUP cannot be handled here: certificates reload only on restart");
        return;
    };
    while hup.recv().await.is_some() {
        match reload() {
            Ok(report) => {
                tracing::info!(target: "bulwark::security", details = %report.join("; "), "certificates and trust anchors reloaded");
                println!("reloaded the certificate and trust anchors");
            }
            Err(e) => {
                tracing::error!(target: "bulwark::security", error = %format!("{e:#}"), "certificate reload failed; the previous certificates stay in force");
                eprintln!("certificate reload failed, previous certificates kept: {e:#}");
            }
        }
    }
}

/// Without SIGHUP (not unix), certificates reload only on restart.
#[cfg(not(unix))]
async fn reload_on_sighup(_reload: impl Fn() -> anyhow::Result<Vec<String>>, _hup: Option<()>) {}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    store.close().await;
    println!("migrations applied ({:?})", store.backend());
    Ok(())
}

/// Opens and migrates the configured database for an operator command (no server running).
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        config.create_data_dir()?;
    }
    let settings = ConnectSettings {
        max_connections: 2,
        startup_timeout: Duration::from_secs(config.database.connect_timeout_secs.unwrap_or(15)),
        acquire_timeout: config.database.acquire_timeout(),
    };
    let store = config.connect_store(&settings).await?;
    store.migrate().await?;
    Ok(store)
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: the commands call it before they print their ready line, so a
/// SIGTERM that follows readiness at once (an orchestrator's rolling restart) is a graceful
/// shutdown, never the signal's default action killing the process mid-request.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let received = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = received(interrupt) => {},
                () = received(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// OP-6 without a cost on the hot paths: with the log at `info`, a dependency's `debug!`
    /// or `trace!` call site stays off (the audit layer used to switch every call site on, so
    /// sqlx summarised every SQL statement for no one), while a security event of any level
    /// still reaches the audit layer, and the log gets what its level says.
    #[test]
    fn op_6_only_security_events_and_the_log_level_switch_call_sites_on() {
        let mut config = Config::default();
        config.log.level = "info".into();
        tracing::subscriber::with_default(subscriber(&config), || {
            assert!(!tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG));
            assert!(!tracing::enabled!(
                target: "hyper_util::client::legacy::pool",
                tracing::Level::TRACE
            ));
            assert!(tracing::enabled!(target: "bulwark::security", tracing::Level::DEBUG));
            assert!(tracing::enabled!(target: "bulwark::security", tracing::Level::WARN));
            assert!(tracing::enabled!(target: "bulwark_server", tracing::Level::INFO));
            assert!(!tracing::enabled!(target: "bulwark_server", tracing::Level::DEBUG));
        });
        config.log.level = "warn".into();
        tracing::subscriber::with_default(subscriber(&config), || {
            assert!(!tracing::enabled!(target: "bulwark_gateway", tracing::Level::INFO));
            assert!(tracing::enabled!(target: "bulwark::security", tracing::Level::INFO));
        });
    }
}
