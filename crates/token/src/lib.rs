//! The token service of Bulwark: the token endpoint's grants (TK-1, one file each under
//! [`grant`]), RFC 9068 JWT access tokens bound to the client certificate (TK-4),
//! introspection (TK-6) and revocation (TK-7), with RFC 6749 errors (TK-8). Client
//! authentication comes from `bulwark-clients`. Protocol code only: the server crate turns HTTP
//! into an [`AuthInput`] and the results into responses.

pub mod access_token;
pub mod error;
pub mod grant;
pub mod introspection;
pub mod service;
pub mod settings;

pub use access_token::{AccessTokenClaims, Confirmation, InvalidToken, TokenKind};
pub use bulwark_clients::{AuthInput, AuthenticatedClient, PresentedCert};
pub use error::TokenError;
pub use grant::TokenRequest;
pub use introspection::Introspection;
pub use service::{ConsentCheck, TokenResponse, TokenService, TokenServiceParts};
pub use settings::TokenSettings;
