//! X.509 for Bulwark: everything a bank must check about a TPP's certificate before trusting it.
//!
//! Trust anchors and path validation (CERT-3, RFC 5280 section 6), revocation by OCSP and CRL
//! (CERT-4, RFC 6960, RFC 5280 section 5), eIDAS QWAC / QSealC content and PSD2 roles (CERT-5..7,
//! ETSI TS 119 495), organisation matching (CERT-8), the `x5t#S256` thumbprint (CERT-9, RFC 8705
//! section 3.1), RFC 4514 subject matching for `tls_client_auth`, and certificates forwarded by
//! a TLS-terminating proxy (CERT-2, RFC 9440). Protocol code only: no HTTP framework, time
//! passed in by the caller.

pub mod anchors;
pub mod authority;
mod cache;
pub mod dn;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod oid_guard;
pub mod org;
pub mod parse;
pub mod path;
pub mod profile;
pub mod proxy;
pub mod qc;
pub mod report;
pub mod revocation;
pub mod roles;
pub mod thumbprint;
pub mod validator;

pub use anchors::{AnchorError, TrustAnchors};
pub use dn::{DistinguishedName, SanKind, SubjectAltNames, dn_matches};
pub use error::{CertError, RevocationSource};
pub use org::{ExpectedOrganisation, OrgMatchError, organisation_matches};
pub use parse::{CertSummary, chain_from_x5c};
pub use path::Purpose;
pub use profile::CertProfile;
pub use proxy::{MtlsMode, MtlsSettings, ProxyError, extract_proxied_chain};
pub use qc::{OrganizationIdentifier, Psd2Statement, QcType, TppIdentity};
pub use report::{VerifyReport, read_pem_chain, verify_report};
pub use revocation::{CaRevocation, RevocationOutcome, RevocationSettings, RevocationStatus};
pub use roles::{Api, GrantedRoles, PspRole, RoleError, require_role, roles_cover};
pub use thumbprint::{spki_sha256, x5t_s256};
pub use validator::{ByPurpose, CertValidator, TrustSettings, ValidatedCert, ValidatorError};
