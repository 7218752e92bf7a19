//! The token service of Bulwark: client authentication (CA-1..4), the token endpoint (TK-1),
//! RFC 9068 JWT access tokens bound to the client certificate (TK-4), introspection (TK-6) and
//! revocation (TK-7), with RFC 6749 errors (TK-8). Protocol code only: the server crate turns
//! HTTP into [`AuthInput`] and the results into responses.

pub mod access_token;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod jwks_fetch;
pub mod metadata;
pub mod registry;
pub mod service;
pub mod settings;

pub use client_auth::{AuthInput, AuthenticatedClient, ClientAuthenticator, PresentedCert};
pub use error::TokenError;
pub use form::Form;
pub use service::{ConsentCheck, TokenResponse, TokenService, TokenServiceParts};
pub use settings::TokenSettings;
