//! The client directory of Bulwark: who the registered clients are (cached per node, with
//! their keys parsed), the metadata rules every registration path shares, client
//! authentication (CA-1..CA-4) for every client-authenticated endpoint (token, introspection,
//! revocation, PAR), and the organisation a client's certificates must belong to (CERT-8).
//! Protocol code only: callers hand in typed inputs and the time.

pub mod authenticate;
pub mod directory;
pub mod error;
pub mod metadata;
pub mod organisation;
pub mod redirect_uri;

pub use authenticate::{
    AuthInput, AuthSettings, AuthenticatedClient, ClientAuthenticator, JWT_BEARER, PendingJti,
    PresentedCert,
};
pub use directory::{ClientDirectory, RegisteredClient};
pub use error::ClientError;
pub use metadata::{MetadataError, validate as validate_metadata};
pub use organisation::Organisation;
pub use redirect_uri::{RedirectUriError, check_redirect_uri};
