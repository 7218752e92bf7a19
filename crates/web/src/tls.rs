//! CERT-1 direct mTLS with rustls: TLS 1.3, and TLS 1.2 with the ECDHE AES-GCM suites its
//! profile permits only (FAPI 1.0 Advanced 8.5: the ECDHE-RSA ones; FAPI 2.0 5.2.1 via
//! RFC 9325 4.2: the ECDHE-RSA and ECDHE-ECDSA ones). Every connection is asked for a client
//! certificate, but the handshake never fails for lack of one or for an untrusted one: the
//! application validates the chain (crate `certs`) and answers with a protocol error instead
//! of a TLS alert. The client's handshake signature is still verified, so a presented
//! certificate proves possession of its key.

use std::path::Path;
use std::sync::Arc;

use bulwark_core::Profile;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, ServerConfig, SignatureScheme};

/// The cipher suites a server of `profile` may offer. FAPI 1.0 Advanced 8.5 permits, in TLS
/// 1.2, only `TLS_(EC)DHE_RSA_WITH_AES_{128,256}_GCM`; rustls has no finite-field DHE, so a
/// FAPI 1.0 server with an ECDSA certificate speaks TLS 1.3 only. FAPI 2.0 5.2.1 defers to
/// RFC 9325, whose ECDHE AES-GCM suites include the ECDSA ones.
fn fapi_provider(profile: Profile) -> CryptoProvider {
    use rustls::crypto::ring::cipher_suite as cs;
    let mut cipher_suites = vec![cs::TLS13_AES_256_GCM_SHA384, cs::TLS13_AES_128_GCM_SHA256];
    if profile == Profile::Fapi2 {
        cipher_suites.extend([
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ]);
    }
    cipher_suites.extend([
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ]);
    CryptoProvider {
        cipher_suites,
        ..rustls::crypto::ring::default_provider()
    }
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate and key.
    #[error("server certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Reads a PEM certificate chain, leaf first.
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("malformed PEM: {e}")))?;
    if chain.is_empty() {
        return Err(err("no certificate in file".into()));
    }
    Ok(chain)
}

/// Reads a PEM private key.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        reason: format!("no usable private key: {e}"),
    })
}

/// The server's TLS configuration as the listener reads it for each new connection, so a
/// renewed certificate takes effect for the next handshake while open connections finish on
/// the one they started with (OP-3 reload without restart).
#[derive(Clone, Debug)]
pub struct TlsSource {
    current: Arc<std::sync::RwLock<Arc<ServerConfig>>>,
}

impl TlsSource {
    /// A source serving `config` until replaced.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            current: Arc::new(std::sync::RwLock::new(config)),
        }
    }

    /// The configuration for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Serves `config` to every connection accepted from now on.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        match self.current.write() {
            Ok(mut slot) => *slot = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

impl From<Arc<ServerConfig>> for TlsSource {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::new(config)
    }
}

/// The server TLS configuration: the suites `profile` permits, optional client
/// certificates, h2 and http/1.1.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    hint_subjects: Vec<DistinguishedName>,
    profile: Profile,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(fapi_provider(profile));
    let verifier = Arc::new(AcceptAnyClientCert {
        algorithms: provider.signature_verification_algorithms,
        hint_subjects,
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Offers client authentication, never requires it, and accepts any chain at the TLS layer;
/// the handshake signature is verified so the peer holds the certificate's key.
#[derive(Debug)]
struct AcceptAnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
    hint_subjects: Vec<DistinguishedName>,
}

impl ClientCertVerifier for AcceptAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hint_subjects
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
