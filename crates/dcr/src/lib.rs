//! Dynamic client registration for TPPs (DCR-1..DCR-5): RFC 7591 registration with a software
//! statement (RFC 7591 section 2.3) signed by a trusted directory, inside a request signed by
//! the TPP (UK Open Banking DCR v3.3), over mTLS with a QWAC of the SSA's organisation whose
//! PSD2 roles cover the SSA's (CERT-7, CERT-8); RFC 7592 management with a registration access
//! token stored only as a hash. Protocol code only: the server crate turns HTTP into
//! [`RegistrationInput`] / [`ManagementInput`] and [`DcrError`] into responses.

pub mod error;
pub mod input;
pub mod metadata;
pub mod request;
pub mod secret;
pub mod service;
pub mod settings;
pub mod ssa;
pub mod transport;

pub use error::DcrError;
pub use input::{ManagementInput, RegistrationInput, RegistrationResponse};
pub use service::{DcrParts, DcrService};
pub use settings::{DcrSettings, DirectorySettings};
pub use ssa::{Organisation, SoftwareStatement};
