//! Pushed authorization requests (RFC 9126, AZ-1) and request objects (RFC 9101, FAPI 1.0
//! Advanced 5.2.2, AZ-2).
//!
//! An authorization request reaches Bulwark in one of three shapes: pushed with plain
//! parameters (FAPI 2.0), pushed as a signed request object (both profiles), or passed by value
//! to `/authorize` as a signed request object (FAPI 1.0 Advanced, when PAR is not required).
//! All three go through one ordered list of small checks ([`checks::CHECKS`]), each citing the
//! section it enforces, and come out as one typed [`AuthorizationRequest`] that `authz` acts on.

pub mod checks;
mod error;
mod params;
mod request;
mod request_object;
mod service;
mod settings;

pub use error::ParError;
pub use params::Params;
pub use request::{
    AcrRequest, AuthorizationRequest, INTENT_CLAIM, ResponseMode, ResponseType, SUPPORTED_ACRS,
};
pub use request_object::verify_request_object;
pub use service::{ParService, ParServiceParts, PushedResponse, REQUEST_URI_PREFIX, Resolved};
pub use settings::ParSettings;
