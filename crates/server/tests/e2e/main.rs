//! End-to-end tests of the `bulwark` server: the real router and TLS listener on port 0, real
//! client certificates made in the test, real SQLite and PostgreSQL databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

mod binary;
mod consents;
mod dcr;
mod dcr_config;
mod dcr_errors;
mod discovery;
mod pki;
mod tls;
mod token;
