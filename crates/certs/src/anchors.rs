//! CERT-3 trust anchors: the QTSP / NCA root and issuing CA certificates a bank trusts for
//! client certificates, loaded from PEM files or directories of PEM files.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why the trust anchors could not be loaded; each names the offending path.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The file or directory does not exist or cannot be read.
    #[error("trust anchor {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file holds no PEM certificate, or a malformed one.
    #[error("trust anchor {path}: {reason}")]
    Invalid {
        /// The path that failed.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The set of CA certificates client certificates must chain to.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    certs: Vec<CertificateDer<'static>>,
}

impl TrustAnchors {
    /// Loads every certificate from the given PEM files and from the `*.pem` / `*.crt` / `*.cer`
    /// files of the given directories. A path that does not exist, a file without a
    /// certificate and a directory without such a file are errors, so a typo in the
    /// configuration never silently trusts nothing.
    pub fn load(paths: &[PathBuf]) -> Result<Self, AnchorError> {
        let mut certs = Vec::new();
        for path in paths {
            let meta = std::fs::metadata(path).map_err(|source| AnchorError::Io {
                path: path.clone(),
                source,
            })?;
            if meta.is_dir() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|source| AnchorError::Io {
                        path: path.clone(),
                        source,
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| matches!(e, "pem" | "crt" | "cer"))
                    })
                    .collect();
                entries.sort();
                if entries.is_empty() {
                    return Err(AnchorError::Invalid {
                        path: path.clone(),
                        reason: "the directory holds no *.pem, *.crt or *.cer file".into(),
                    });
                }
                for file in entries {
                    certs.extend(load_file(&file)?);
                }
            } else {
                certs.extend(load_file(path)?);
            }
        }
        Ok(Self { certs })
    }

    /// Builds the set from certificates already in memory (tests, the development CA).
    pub fn from_ders(certs: Vec<CertificateDer<'static>>) -> Self {
        Self { certs }
    }

    /// Adds one more anchor.
    pub fn push(&mut self, cert: CertificateDer<'static>) {
        self.certs.push(cert);
    }

    /// The anchors as DER certificates.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// True when no anchor is configured.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

fn load_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, AnchorError> {
    let bytes = std::fs::read(path).map_err(|source| AnchorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| AnchorError::Invalid {
            path: path.to_path_buf(),
            reason: format!("malformed PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(AnchorError::Invalid {
            path: path.to_path_buf(),
            reason: "no PEM certificate found".into(),
        });
    }
    for (i, cert) in certs.iter().enumerate() {
        webpki::anchor_from_trusted_cert(cert).map_err(|e| AnchorError::Invalid {
            path: path.to_path_buf(),
            reason: format!("certificate #{} is not a usable trust anchor: {e:?}", i + 1),
        })?;
    }
    Ok(certs)
}
