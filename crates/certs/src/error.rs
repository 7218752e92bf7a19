//! Precise internal reasons why a certificate is refused (RFC 5280 section 6, RFC 6960, ETSI TS
//! 119 495). Callers map them to protocol errors (`invalid_client`, ...) in one exhaustive match;
//! `reason()` gives a short stable code for logs, metrics and the operator report.

use serde::Serialize;

/// Where a revocation answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RevocationSource {
    /// An OCSP responder named in the certificate's AIA extension (RFC 6960).
    Ocsp,
    /// A CRL fetched from the certificate's CRL distribution point (RFC 5280 section 5).
    Crl,
    /// Revocation was not checked: disabled, or the issuer is on the exclusion list.
    Skipped,
}

impl RevocationSource {
    /// Stable lower-case name (`ocsp`, `crl`, `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ocsp => "ocsp",
            Self::Crl => "crl",
            Self::Skipped => "skipped",
        }
    }
}

/// Why a presented certificate (chain) was refused. One variant per distinct operator-visible
/// cause, so the log says exactly what went wrong while the client only sees `invalid_client`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// No certificate was presented.
    #[error("no client certificate presented")]
    NoCertificate,
    /// The certificate or an intermediate is not valid DER / X.509.
    #[error("malformed certificate: {detail}")]
    Malformed {
        /// What the parser complained about.
        detail: String,
    },
    /// No trust anchor is configured, so nothing can be trusted.
    #[error("no trust anchors configured")]
    NoTrustAnchors,
    /// A certificate in the path is past its notAfter (after allowing the clock skew).
    #[error("certificate expired")]
    Expired,
    /// A certificate in the path is before its notBefore (after allowing the clock skew).
    #[error("certificate not yet valid")]
    NotYetValid,
    /// No path to a configured trust anchor could be built.
    #[error("certificate does not chain to a trusted anchor")]
    UnknownIssuer,
    /// A signature in the path does not verify.
    #[error("bad signature in certificate path")]
    BadSignature,
    /// A signature or key algorithm outside RSA PKCS#1/PSS, ECDSA P-256/P-384, Ed25519.
    #[error("unsupported signature algorithm")]
    UnsupportedAlgorithm,
    /// The extended key usage does not allow this purpose (e.g. no `clientAuth`).
    #[error("extended key usage does not allow this purpose")]
    WrongEku,
    /// The key usage bits do not allow this purpose.
    #[error("key usage does not allow this purpose: {detail}")]
    WrongKeyUsage {
        /// Which bit was required.
        detail: String,
    },
    /// Basic constraints, path length, name constraints or a CA used as leaf.
    #[error("invalid certificate path: {detail}")]
    InvalidPath {
        /// The path-building error.
        detail: String,
    },
    /// The certificate is revoked.
    #[error("certificate revoked (per {})", via.as_str())]
    Revoked {
        /// Which service said so (`source` would clash with `Error::source`).
        via: RevocationSource,
    },
    /// Neither OCSP nor the CRL gave a usable answer.
    #[error("revocation status undetermined (ocsp: {ocsp_reason}; crl: {crl_reason})")]
    RevocationUndetermined {
        /// Why OCSP gave no answer.
        ocsp_reason: String,
        /// Why the CRL gave no answer.
        crl_reason: String,
    },
    /// The certificate names neither an OCSP responder nor a CRL distribution point.
    #[error("certificate names neither an OCSP responder nor a CRL distribution point")]
    NoRevocationInfo,
    /// A CA certificate of the path below the trust anchor failed its revocation check (RFC
    /// 5280 section 6.1.3(a)(3)): revoked, or its status could not be established.
    #[error("issuing CA {subject}: {cause}")]
    CaRevocation {
        /// The CA's subject, RFC 4514.
        subject: String,
        /// What its check found ([`Self::Revoked`], [`Self::RevocationUndetermined`], ...).
        cause: Box<CertError>,
    },
    /// A QWAC was required but the certificate lacks QcCompliance / QcType web.
    #[error("not a qualified website authentication certificate (QWAC)")]
    NotQwac,
    /// A QSealC was required but the certificate lacks QcCompliance / QcType eseal.
    #[error("not a qualified electronic seal certificate (QSealC)")]
    NotQsealc,
    /// The PSD2 qcStatement (ETSI TS 119 495) is absent.
    #[error("PSD2 qcStatement (0.4.0.19495.2) missing")]
    MissingPsd2Statement,
    /// An `ob-directory` certificate lacks the subject attribute that names its registration
    /// (OU = organisation id, CN = software id).
    #[error("directory certificate subject has no {missing}")]
    IncompleteDirectorySubject {
        /// The missing attribute.
        missing: &'static str,
    },
    /// qcStatements or the PSD2 statement are present but malformed.
    #[error("invalid qcStatements: {detail}")]
    InvalidQcStatements {
        /// What is wrong.
        detail: String,
    },
    /// The certificate names the TPP two ways that disagree (two organizationIdentifiers, or
    /// a PSD2 statement of another competent authority than its organizationIdentifier).
    #[error("inconsistent eIDAS identity: {detail}")]
    InconsistentIdentity {
        /// What disagrees.
        detail: String,
    },
}

impl CertError {
    /// A short, stable, machine-readable code (`expired`, `revoked`, ...). Never changes between
    /// releases, so dashboards and alerts can key on it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoCertificate => "no_certificate",
            Self::Malformed { .. } => "malformed",
            Self::NoTrustAnchors => "no_trust_anchors",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::UnknownIssuer => "unknown_issuer",
            Self::BadSignature => "bad_signature",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::WrongEku => "wrong_eku",
            Self::WrongKeyUsage { .. } => "wrong_key_usage",
            Self::InvalidPath { .. } => "invalid_path",
            Self::Revoked { .. } => "revoked",
            Self::RevocationUndetermined { .. } => "revocation_undetermined",
            Self::NoRevocationInfo => "no_revocation_info",
            Self::CaRevocation { cause, .. } => match **cause {
                Self::Revoked { .. } => "ca_revoked",
                Self::RevocationUndetermined { .. } => "ca_revocation_undetermined",
                Self::NoRevocationInfo => "ca_no_revocation_info",
                _ => "ca_revocation_failed",
            },
            Self::NotQwac => "not_qwac",
            Self::NotQsealc => "not_qsealc",
            Self::MissingPsd2Statement => "missing_psd2_statement",
            Self::InvalidQcStatements { .. } => "invalid_qc_statements",
            Self::InconsistentIdentity { .. } => "inconsistent_identity",
            Self::IncompleteDirectorySubject { .. } => "incomplete_directory_subject",
        }
    }

    pub(crate) fn malformed(detail: impl std::fmt::Display) -> Self {
        Self::Malformed {
            detail: detail.to_string(),
        }
    }
}

/// Maps a rustls-webpki path-building error to our reasons.
#[allow(deprecated)] // older webpki variants are still produced by some paths
pub(crate) fn from_webpki(e: &webpki::Error) -> CertError {
    use webpki::Error as W;
    match e {
        W::CertExpired { .. } => CertError::Expired,
        W::CertNotValidYet { .. } => CertError::NotYetValid,
        W::UnknownIssuer | W::CertDistrusted => CertError::UnknownIssuer,
        W::InvalidSignatureForPublicKey | W::SignatureAlgorithmMismatch => CertError::BadSignature,
        W::UnsupportedSignatureAlgorithm
        | W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKey
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => CertError::UnsupportedAlgorithm,
        W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
            CertError::WrongEku
        }
        W::CertRevoked => CertError::Revoked {
            via: RevocationSource::Crl,
        },
        W::BadDer
        | W::BadDerTime
        | W::TrailingData(_)
        | W::MalformedExtensions
        | W::ExtensionValueInvalid
        | W::InvalidSerialNumber
        | W::UnsupportedCertVersion
        | W::InvalidCertValidity => CertError::malformed(format!("{e:?}")),
        other => CertError::InvalidPath {
            detail: format!("{other:?}"),
        },
    }
}
