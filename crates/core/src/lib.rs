//! Shared vocabulary of Bulwark: the clock, randomness, the OAuth wire error and the client
//! model. Depends on nothing of ours, so every other crate can speak it.

pub mod client;
pub mod clock;
pub mod error;
pub mod profile;
pub mod random;

pub use client::{AuthMethod, Client, ClientMetadata, ClientStatus};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{OAuthError, OAuthErrorCode};
pub use profile::Profile;
