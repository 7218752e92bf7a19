//! The `bulwark` server: the authorization server's HTTP shell. Configuration, assembly of
//! the services, thin routes (parse with `bulwark-web`'s extractors, call one service, render),
//! discovery from the route table, and the command line. Protocol decisions live in the
//! protocol crates.

pub mod app;
pub mod audit_log;
pub mod cli;
pub mod cli_certs;
pub mod cli_clients;
pub mod cli_keys;
pub mod cli_payments;
pub mod cli_psus;
pub mod cli_staff;
pub mod config;
pub mod demo;
pub mod demo_bank;
pub mod demo_payments;
pub mod dev_pki;
pub mod openapi;
pub mod pages;
pub mod preflight;
pub mod response_signing;
pub mod routes;
pub mod signing;
pub mod staff_pages;
pub mod state;

pub use app::{Application, BankSystems, Directories};
pub use bulwark_web::{listener, metrics, tls};
pub use config::Config;
