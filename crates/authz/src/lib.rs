//! The authorization endpoint (AZ-3..AZ-8): a browser arrives at `/authorize` with a pushed
//! (or, under FAPI 1.0 Advanced, signed) request; the PSU logs in, sees the consent in plain
//! words, picks accounts and authorises or denies; the consent moves and the code is issued
//! in one transaction, and the browser goes back to the client with a response in the mode
//! the request asked for (query with `iss`, hybrid fragment with a detached-signature ID
//! token, or JARM).
//!
//! Protocol only: the server's page handlers turn HTTP into calls on [`AuthzService`] and its
//! results into pages, cookies and redirects.

mod error;
mod psu;
mod response;
mod service;
mod settings;
mod throttle;

pub use bulwark_token::secret_hash;
pub use error::AuthzError;
pub use psu::{
    Account, AccountDirectory, Psu, PsuDirectory, StoredPsuDirectory, hash_password,
    verify_password,
};
pub use response::{ResponseSigner, error_redirect, success_redirect};
pub use service::constant_eq;
pub use service::{AuthzParts, AuthzService, Begin, Decided, LoginOutcome, View};
pub use settings::AuthzSettings;
pub use throttle::{LoginThrottle, MAX_PASSWORD, MAX_USERNAME, address_key, plausible_login};
