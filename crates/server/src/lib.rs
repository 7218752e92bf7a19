//! The `bulwark` server: the only crate that knows HTTP. It turns requests into the typed
//! inputs of the protocol crates and their results into responses, terminates TLS, loads
//! configuration, and exposes metrics.

pub mod app;
pub mod cli;
pub mod cli_certs;
pub mod cli_clients;
pub mod client_cert;
pub mod config;
pub mod dev_pki;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod resource_auth;
pub mod routes;
pub mod signing;
pub mod state;
pub mod tls;

pub use app::Application;
pub use config::Config;
