//! Bulwark's JOSE, josekit behind a narrow API: the server's signing keys, JWKS publishing
//! (DS-2, `kid` = RFC 7638 thumbprint), compact JWS signing of the tokens we issue, JWS
//! verification with the PS256/ES256 allow-list, the one JWT time-window checker and the one
//! cached `jwks_uri` fetcher.

pub mod alg;
pub mod claims;
pub mod detached;
pub mod encrypt;
pub mod fetch;
pub mod keys;
pub mod pem;
pub mod thumbprint;
pub mod verify;

pub use alg::Alg;
pub use claims::{ClaimError, Presence, TimeClaims, TimeWindow};
pub use detached::DetachedJws;
pub use fetch::{FetchError, JwksFetcher};
pub use keys::{KeyRing, KeySet, SigningKey};
pub use verify::{Compact, PublicKey, PublicKeySet, VerifyError};

/// Why a JOSE operation failed. Internal detail for logs; callers map it to a wire error.
#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    /// The algorithm is not one FAPI allows (only PS256 and ES256 are).
    #[error("algorithm {0:?} is not allowed (PS256 and ES256 only)")]
    AlgNotAllowed(String),
    /// A key is malformed or unusable for its algorithm.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Signing failed inside the crypto library.
    #[error("signing failed: {0}")]
    Sign(String),
    /// No key is available for the requested algorithm.
    #[error("no signing key for {0}")]
    NoKey(Alg),
}
