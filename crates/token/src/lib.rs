//! The token service of Bulwark: the token endpoint's grants (TK-1, one file each under
//! [`grant`]), RFC 9068 JWT access tokens bound to the client certificate (TK-4),
//! introspection (TK-6) and revocation (TK-7), with RFC 6749 errors (TK-8). Client
//! authentication comes from `bulwark-clients`. Protocol code only: the server crate turns HTTP
//! into an [`AuthInput`] and the results into responses.

pub mod access_token;
pub mod error;
pub mod grant;
pub mod id_token;
pub mod introspection;
pub mod service;
pub mod settings;
pub mod subject;
pub mod verified_cache;

pub use access_token::{AccessTokenClaims, Confirmation, InvalidToken, TokenKind};
pub use bulwark_clients::{AuthInput, AuthenticatedClient, PresentedCert};
pub use error::TokenError;
pub use grant::TokenRequest;
pub use grant::authorization_code::CodeGrant;
pub use id_token::{IdTokenClaims, half_hash, sign_id_token};
pub use introspection::Introspection;
pub use service::{ConsentCheck, TokenResponse, TokenService, TokenServiceParts};
pub use settings::TokenSettings;
pub use subject::{SubjectType, sector_of};
pub use verified_cache::VerifiedTokens;

/// SHA-256 of a secret a client or browser holds (code, refresh token, cookie), base64url: the
/// only form in which such secrets are stored.
pub fn secret_hash(secret: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(secret.as_bytes()))
}
