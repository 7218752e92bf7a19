//! The HTTP glue every Bulwark shell (the authorization server, next the gateway) shares, so
//! a second shell adds routes, not another copy of the transport: the TLS listener that hands
//! each request its connection's certificate chain, extractors that turn a request into the
//! protocol crates' typed inputs (`ClientCert`, `Bearer`, `OAuthForm`), the one renderer of
//! OAuth errors and the one of Open Banking errors, the `x-fapi-interaction-id` rules, and
//! request metrics. Protocol decisions are never made here.

pub mod challenge;
pub mod client_address;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod interaction;
pub mod listener;
pub mod log_settings;
pub mod metrics;
pub mod ob_error;
pub mod pages;
pub mod singleton;
pub mod tls;

pub use challenge::BearerChallenge;
pub use client_address::client_address;
pub use error::{OAuthErrorResponse, no_store};
pub use extract::{Bearer, ClientCert, MtlsConfig, OAuthForm, PresentedChain, presented_chain};
pub use interaction::InteractionId;
pub use listener::{ConnectionInfo, ConnectionLimits};
