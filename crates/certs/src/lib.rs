//! X.509 for Bulwark: everything a bank must check about a TPP's certificate before trusting it.
//!
//! Trust anchors (CERT-3), the `x5t#S256` thumbprint (CERT-9, RFC 8705 section 3.1).

pub mod anchors;
pub mod thumbprint;

pub use anchors::{AnchorError, TrustAnchors};
pub use thumbprint::x5t_s256;
