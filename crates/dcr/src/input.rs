//! The typed inputs and output of the registration service (RFC 7591 section 3.1 and 3.2.1,
//! RFC 7592 section 2 and 3): what the server hands over from HTTP, and the client information
//! response it renders.

use bulwark_certs::MtlsSettings;
use bulwark_core::ClientMetadata;
use rustls_pki_types::CertificateDer;
use serde::Serialize;

/// A `POST /register` (or the body of a `PUT`) as the server hands it over.
#[derive(Debug)]
pub struct RegistrationInput<'a> {
    /// Whether the Content-Type was `application/jwt`.
    pub is_jwt: bool,
    /// The body: the TPP-signed registration request.
    pub body: &'a [u8],
    /// The presented certificate chain, leaf first (empty if none).
    pub chain: &'a [CertificateDer<'static>],
    /// Set when a trusted TLS-terminating proxy forwarded the chain (CERT-2).
    pub forwarded_by: Option<&'a MtlsSettings>,
}

/// An RFC 7592 request to `/register/{client_id}`.
#[derive(Debug)]
pub struct ManagementInput<'a> {
    /// The client in the path.
    pub client_id: &'a str,
    /// The bearer registration access token, if one was sent.
    pub access_token: Option<&'a str>,
    /// Set instead when the bearer was an application access token (client_credentials)
    /// that the resource guard admitted for this certificate: the client it was issued to.
    /// OB DCR 3.3 ("GET, PUT and DELETE operations: TPPs must authenticate themselves with a
    /// client credentials grant") authenticates management this way; RFC 7592's
    /// registration access token works as well.
    pub application_client: Option<&'a str>,
    /// The presented certificate chain, leaf first.
    pub chain: &'a [CertificateDer<'static>],
    /// Set when a trusted proxy forwarded the chain.
    pub forwarded_by: Option<&'a MtlsSettings>,
}

/// RFC 7591 section 3.2.1 / RFC 7592 section 3 client information response.
#[derive(Clone, Debug, Serialize)]
pub struct RegistrationResponse {
    /// The client identifier.
    pub client_id: String,
    /// Registration time, Unix seconds.
    pub client_id_issued_at: i64,
    /// The token for RFC 7592 management (on reads and updates: the one presented; absent
    /// when the call was authenticated with an application access token, since the stored
    /// one is only a hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    /// The client configuration endpoint.
    pub registration_client_uri: String,
    /// The registered metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}
