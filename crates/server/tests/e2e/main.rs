//! End-to-end tests of the `bulwark` server: the real router and TLS listener on port 0, real
//! client certificates made in the test, real SQLite and PostgreSQL databases. Every file takes
//! its helpers from `support`; each covers one requirement area (see its header).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

mod authorize;
mod authorize_acr;
mod authorize_consents;
mod authorize_debtor;
mod authorize_fapi1;
mod authorize_jarm;
mod authorize_jwe;
mod authorize_resend;
mod authorize_throttle;
mod binary;
mod cli;
mod client_auth;
mod client_auth_flow;
mod conformance_fapi1;
mod conformance_fapi1_par;
mod conformance_fapi2;
mod conformance_fapi2_token;
mod consents;
mod consents_access;
mod consents_payments;
mod consents_signatures;
mod dcr;
mod dcr_config;
mod dcr_errors;
mod discovery;
mod gateway;
mod gateway_keys_and_proxies;
mod gateway_payments;
mod gateway_process;
mod gateway_upstreams;
mod hostile;
mod introspection;
mod jwks_uri;
mod keys;
mod ob_directory;
mod openapi;
mod proxy;
mod reload;
mod shutdown;
mod staff;
mod staff_members;
mod tls;
mod token;
mod token_code;
mod token_refresh;
