//! Shared vocabulary of Bulwark: the clock and [`UnixTime`], randomness, the OAuth wire error,
//! form bodies, the client model and the one outbound HTTP client. Depends on nothing of ours,
//! so every other crate can speak it.

pub mod bearer;
pub mod client;
pub mod clock;
pub mod error;
pub mod form;
pub mod outbound;
pub mod profile;
pub mod random;
pub mod seal;
pub mod unix_time;

pub use bearer::bearer_token;
pub use client::{AuthMethod, Client, ClientMetadata, ClientStatus};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{OAuthError, OAuthErrorCode};
pub use form::{Form, FormError};
pub use outbound::{OutboundError, OutboundHttp, OutboundSettings};
pub use profile::Profile;
pub use random::{Rng, SequenceRng, SystemRng};
pub use unix_time::UnixTime;
