//! The one entry point the server calls for a presented chain: CERT-3 path validation, CERT-4
//! revocation, CERT-5/6 eIDAS content, CERT-9 thumbprint, in that order, with time supplied by
//! the caller. Every rejection is logged on the `bulwark::security` target.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bulwark_core::random::{Rng, SystemRng};
use der::Encode;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};

use crate::anchors::{AnchorError, TrustAnchors};
use crate::cache::ExpiringCache;
use crate::dn::{DistinguishedName, SubjectAltNames};
use crate::error::CertError;
use crate::error::RevocationSource;
use crate::parse::{CertSummary, decode_cert, rfc3339, serial_hex};
use crate::path::{PathInfo, Purpose, check_key_usage, unix, validate_path};
use crate::profile::{CertProfile, ProfiledAnchors, check_content};
use crate::proxy::MtlsSettings;
use crate::qc::TppIdentity;
use crate::revocation::{
    CaRevocation, RevocationChecker, RevocationOutcome, RevocationSettings, RevocationStatus,
    Target,
};

/// Longest chain accepted; real PSD2 / OB chains have two or three certificates.
const MAX_CHAIN: usize = 10;

/// The `[trust]` configuration section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSettings {
    /// PEM files or directories of QTSP / NCA root and issuing CA certificates, for every
    /// purpose that has no set of its own below.
    #[serde(default)]
    pub anchors: Vec<PathBuf>,
    /// Anchors for plain TLS client certificates (replaces `anchors` for that purpose).
    #[serde(default)]
    pub tls_client: Option<Vec<PathBuf>>,
    /// Anchors for QWACs (replaces `anchors` for that purpose).
    #[serde(default)]
    pub qwac: Option<Vec<PathBuf>>,
    /// Anchors for QSealCs (replaces `anchors` for that purpose).
    #[serde(default)]
    pub qseal: Option<Vec<PathBuf>>,
    /// The UK Open Banking directory's CAs, for every purpose: chains ending at one of them
    /// are held to the `ob-directory` profile (OBWAC / OBSeal, no qcStatements, roles from the
    /// registration) instead of `eidas`.
    #[serde(default)]
    pub ob_directory: Vec<PathBuf>,
    /// Tolerated clock difference when checking validity periods, in seconds (default 60).
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
}

fn default_skew() -> u64 {
    60
}

impl Default for TrustSettings {
    fn default() -> Self {
        Self {
            anchors: Vec::new(),
            tls_client: None,
            qwac: None,
            qseal: None,
            ob_directory: Vec::new(),
            clock_skew_secs: default_skew(),
        }
    }
}

impl TrustSettings {
    /// The anchor paths of each purpose: its own set when configured, else `anchors`.
    pub fn paths(&self) -> ByPurpose<Vec<PathBuf>> {
        let pick = |own: &Option<Vec<PathBuf>>| own.clone().unwrap_or_else(|| self.anchors.clone());
        ByPurpose {
            tls_client: pick(&self.tls_client),
            qwac: pick(&self.qwac),
            sealing: pick(&self.qseal),
        }
    }
}

/// One value per [`Purpose`]: separate trust anchor sets, so a CA trusted for one purpose
/// (say, the bank's own TLS client CA) cannot vouch for another (a QSealC).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByPurpose<T> {
    /// For [`Purpose::TlsClient`].
    pub tls_client: T,
    /// For [`Purpose::Qwac`].
    pub qwac: T,
    /// For [`Purpose::Sealing`].
    pub sealing: T,
}

impl<T> ByPurpose<T> {
    /// The same value for every purpose.
    pub fn all(value: T) -> Self
    where
        T: Clone,
    {
        Self {
            tls_client: value.clone(),
            qwac: value.clone(),
            sealing: value,
        }
    }

    /// The value for `purpose`.
    pub fn get(&self, purpose: Purpose) -> &T {
        match purpose {
            Purpose::TlsClient => &self.tls_client,
            Purpose::Qwac => &self.qwac,
            Purpose::Sealing => &self.sealing,
        }
    }

    /// Applies `f` to each value.
    pub fn try_map<U, E>(&self, mut f: impl FnMut(&T) -> Result<U, E>) -> Result<ByPurpose<U>, E> {
        Ok(ByPurpose {
            tls_client: f(&self.tls_client)?,
            qwac: f(&self.qwac)?,
            sealing: f(&self.sealing)?,
        })
    }
}

/// A certificate chain that passed every check, with what the rest of Bulwark needs from it.
#[derive(Clone, Debug, Serialize)]
pub struct ValidatedCert {
    /// CERT-9 RFC 8705 thumbprint of the leaf, for token binding (`cnf.x5t#S256`).
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
    /// Leaf subject (render with `to_rfc4514()`, compare with [`crate::dn_matches`]).
    pub subject: DistinguishedName,
    /// Leaf subjectAltName entries.
    pub sans: SubjectAltNames,
    /// Leaf serial number, upper-case hex.
    pub serial: String,
    /// Leaf notAfter.
    #[serde(serialize_with = "ser_time")]
    pub not_after: SystemTime,
    /// The presented chain, leaf first.
    pub chain: Vec<CertSummary>,
    /// The revocation verdict on the leaf.
    pub revocation: RevocationOutcome,
    /// The verdict on each CA certificate between the leaf and the trust anchor, the leaf's
    /// issuer first (empty when the leaf's issuer is an anchor or checking is off).
    pub ca_revocation: Vec<CaRevocation>,
    /// The profile the certificate was held to (from its trust anchor set): whether the
    /// PSD2 roles come from [`Self::tpp`] or from the client's registration.
    pub profile: CertProfile,
    /// eIDAS / PSD2 identity, when the leaf carries qcStatements or organizationIdentifier.
    pub tpp: Option<TppIdentity>,
    /// The leaf's SubjectPublicKeyInfo (DER), so JOSE code can check that an `x5c` / JWKS key is
    /// the certified one (CERT-6, RFC 7515 section 4.1.6).
    #[serde(skip)]
    pub public_key_der: Vec<u8>,
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Validates client and sealing certificates against the configured anchors. Cheap to clone
/// (one `Arc`); holds the revocation caches and the HTTP client, so build one per process.
#[derive(Clone)]
pub struct CertValidator {
    /// The anchors and caches in force; [`CertValidator::replace_anchors`] swaps them while
    /// the server runs (each step of a validation reads the anchors in force at that step).
    current: Arc<std::sync::RwLock<Arc<Inner>>>,
    /// Where OCSP request nonces come from (the process's one [`Rng`]; tests set it). Kept
    /// outside `current`, so a trust-anchor reload keeps it.
    rng: Arc<dyn Rng>,
}

impl std::fmt::Debug for CertValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner();
        f.debug_struct("CertValidator")
            .field("anchors", &inner.anchors.tls_client.len())
            .field("ob_directory", &inner.ob_directory_anchors)
            .field("clock_skew", &inner.skew)
            .finish_non_exhaustive()
    }
}

struct Inner {
    anchors: ByPurpose<ProfiledAnchors>,
    /// How many `ob-directory` anchors are configured (for `Debug`).
    ob_directory_anchors: usize,
    skew: Duration,
    revocation: RevocationChecker,
    /// Verified paths by SHA-256 of (purpose, chain): signatures are checked once per chain,
    /// validity periods on every use (see [`CachedPath`]).
    paths: ExpiringCache<[u8; 32], Arc<CachedPath>>,
}

/// A verified path and the window in which every presented certificate is valid.
/// Everything about a (chain, purpose) that does not depend on the time or on revocation,
/// computed once: the verified path, the decoded leaf, and the validation result minus its
/// revocation outcome. The chain's bytes are the key, so none of it can go stale; the time
/// window is checked on every use and revocation is always asked.
struct CachedPath {
    info: PathInfo,
    not_before: SystemTime,
    not_after: SystemTime,
    leaf: x509_cert::Certificate,
    result: ValidatedCert,
}

/// Why a validator could not be built from configuration.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// The trust anchors could not be loaded.
    #[error(transparent)]
    Anchors(#[from] AnchorError),
    /// A setting is invalid (e.g. an unparseable `exclude_issuers` DN).
    #[error("invalid certificate settings: {0}")]
    Settings(String),
}

impl CertValidator {
    /// The anchors and caches in force now.
    fn inner(&self) -> Arc<Inner> {
        match self.current.read() {
            Ok(inner) => Arc::clone(&inner),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `other`'s trust anchors, profiles and settings in force for every holder of this
    /// validator (a trust-anchor reload without a restart). Verified paths are forgotten, so a
    /// chain to a removed anchor is refused from the next request on.
    pub fn replace_anchors(&self, other: &CertValidator) {
        let next = other.inner();
        match self.current.write() {
            Ok(mut slot) => *slot = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// Builds a validator from loaded anchors (one set for every purpose), the tolerated clock
    /// skew and revocation settings. Must be called within a context where building a reqwest
    /// client is allowed (any thread).
    pub fn new(
        anchors: &TrustAnchors,
        clock_skew: Duration,
        revocation: RevocationSettings,
    ) -> Result<Self, ValidatorError> {
        Self::per_purpose(&ByPurpose::all(anchors.clone()), clock_skew, revocation)
    }

    /// Builds a validator with a separate anchor set per purpose (`[trust] tls_client`, `qwac`,
    /// `qseal`): a chain is validated against its purpose's set only.
    pub fn per_purpose(
        anchors: &ByPurpose<TrustAnchors>,
        clock_skew: Duration,
        revocation: RevocationSettings,
    ) -> Result<Self, ValidatorError> {
        Self::with_profiles(anchors, &TrustAnchors::default(), clock_skew, revocation)
    }

    /// Builds a validator with the `eidas` anchor sets per purpose and the `ob-directory`
    /// anchors (for every purpose): a certificate is held to the profile of the set its path
    /// ends at ([`CertProfile`]).
    pub fn with_profiles(
        eidas: &ByPurpose<TrustAnchors>,
        ob_directory: &TrustAnchors,
        clock_skew: Duration,
        revocation: RevocationSettings,
    ) -> Result<Self, ValidatorError> {
        let parsed = eidas.try_map(|set| {
            ProfiledAnchors::new(&[
                (CertProfile::Eidas, set),
                (CertProfile::ObDirectory, ob_directory),
            ])
        })?;
        let paths = ExpiringCache::new(revocation.cache_size);
        let revocation = RevocationChecker::new(revocation).map_err(ValidatorError::Settings)?;
        Ok(Self {
            current: Arc::new(std::sync::RwLock::new(Arc::new(Inner {
                anchors: parsed,
                ob_directory_anchors: ob_directory.certs().len(),
                skew: clock_skew,
                revocation,
                paths,
            }))),
            rng: Arc::new(SystemRng),
        })
    }

    /// The same validator drawing its OCSP nonces from `rng` (the process's one source of
    /// randomness, [`bulwark_core::random`]) instead of the operating system's directly.
    #[must_use]
    pub fn with_rng(self, rng: Arc<dyn Rng>) -> Self {
        Self { rng, ..self }
    }

    /// Builds a validator from the `[trust]` and `[revocation]` sections.
    pub fn from_settings(
        trust: &TrustSettings,
        revocation: RevocationSettings,
    ) -> Result<Self, ValidatorError> {
        let anchors = trust.paths().try_map(|p| TrustAnchors::load(p))?;
        let ob_directory = TrustAnchors::load(&trust.ob_directory)?;
        Self::with_profiles(
            &anchors,
            &ob_directory,
            Duration::from_secs(trust.clock_skew_secs),
            revocation,
        )
    }

    /// Validates `chain` (leaf first, then intermediates in any order) for `purpose` at `now`.
    /// Never reads the system clock. Rejections are logged on `bulwark::security`.
    pub async fn validate(
        &self,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
        now: SystemTime,
    ) -> Result<ValidatedCert, CertError> {
        let result = self.validate_inner(chain, purpose, now).await;
        if let Err(e) = &result {
            let (subject, serial) = leaf_ids(chain);
            tracing::warn!(
                target: "bulwark::security",
                reason = e.reason(),
                error = %e,
                ?purpose,
                subject = %subject,
                serial = %serial,
                "client certificate rejected"
            );
        }
        result
    }

    async fn validate_inner(
        &self,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
        now: SystemTime,
    ) -> Result<ValidatedCert, CertError> {
        // The path (cached per chain) comes first: it refuses empty and overlong chains, and
        // on a hit nothing is decoded again.
        let (path, time) = self.path(chain, purpose, now)?;
        let (leaf_der, intermediates) = chain.split_first().ok_or(CertError::NoCertificate)?;
        let inner = self.inner();
        let checked = inner
            .revocation
            .check(&Target {
                anchors: inner.anchors.get(purpose).anchors(),
                leaf: leaf_der,
                intermediates,
                cert: &path.leaf,
                path: &path.info,
                time,
                purpose,
                now,
                skew: inner.skew,
                rng: self.rng.as_ref(),
            })
            .await?;
        let mut result = path.result.clone();
        result.revocation = checked.leaf;
        result.ca_revocation = checked.cas;
        Ok(result)
    }
}

impl CertValidator {
    /// The profile of the anchor set that issued the chain's last certificate, by name (for
    /// reports on chains that failed a later check), `None` for an undecodable chain.
    pub fn profile_by_issuer(
        &self,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
    ) -> Option<CertProfile> {
        let top = decode_cert(chain.last()?).ok()?;
        Some(self.inner().anchors.get(purpose).profile_by_issuer(&top))
    }

    /// The one entry point for a chain a request presented: from the TLS handshake
    /// (`forwarded_by` = None) it is [`validate`](Self::validate)d; from a trusted proxy's
    /// headers, [`validate_forwarded`](Self::validate_forwarded) with that proxy's settings.
    pub async fn validate_presented(
        &self,
        chain: &[CertificateDer<'_>],
        forwarded_by: Option<&MtlsSettings>,
        purpose: Purpose,
        now: bulwark_core::UnixTime,
    ) -> Result<ValidatedCert, CertError> {
        let at = now.to_system_time();
        match forwarded_by {
            Some(settings) => self.validate_forwarded(settings, chain, purpose, at).await,
            None => self.validate(chain, purpose, at).await,
        }
    }

    /// CERT-2: a chain forwarded by a trusted proxy. With `revalidate_issuer` (the default) this
    /// is exactly [`validate`](Self::validate). Otherwise the proxy's path and revocation checks
    /// are trusted: only the validity period (with skew), the purpose's EKU / key usage and the
    /// eIDAS content are checked here, and the revocation outcome is `unknown` / `skipped`.
    pub async fn validate_forwarded(
        &self,
        settings: &MtlsSettings,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
        now: SystemTime,
    ) -> Result<ValidatedCert, CertError> {
        if settings.revalidate_issuer {
            return self.validate(chain, purpose, now).await;
        }
        let result = self.trust_proxy(chain, purpose, now);
        if let Err(e) = &result {
            let (subject, serial) = leaf_ids(chain);
            tracing::warn!(
                target: "bulwark::security",
                reason = e.reason(),
                error = %e,
                ?purpose,
                subject = %subject,
                serial = %serial,
                "forwarded client certificate rejected"
            );
        }
        result
    }

    fn trust_proxy(
        &self,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
        now: SystemTime,
    ) -> Result<ValidatedCert, CertError> {
        let (leaf_der, rest, leaf) = split_chain(chain)?;
        let mut summaries = vec![CertSummary::of(&leaf)];
        for der in rest {
            summaries.push(CertSummary::of(&decode_cert(der)?));
        }
        let validity = &leaf.tbs_certificate.validity;
        if now + self.inner().skew < validity.not_before.to_system_time() {
            return Err(CertError::NotYetValid);
        }
        if now > validity.not_after.to_system_time() + self.inner().skew {
            return Err(CertError::Expired);
        }
        check_key_usage(&leaf, purpose)?;
        let tpp = TppIdentity::from_cert(&leaf)?;
        let profile = self.proxied_profile(leaf_der, rest, purpose, now);
        let subject = DistinguishedName::from_name(&leaf.tbs_certificate.subject);
        check_content(profile, &leaf, tpp.as_ref(), &subject, purpose)?;
        let revocation = RevocationOutcome {
            status: RevocationStatus::Unknown,
            source: RevocationSource::Skipped,
            cached: false,
        };
        finish(leaf_der, &leaf, summaries, revocation, profile, tpp)
    }
}

impl CertValidator {
    /// The profile of a chain whose path a trusted proxy validated. The chain's names alone
    /// prove nothing (a client may append any CA certificate to what the proxy forwards), so
    /// the relaxed `ob-directory` rules apply only when the path verifies to a directory
    /// anchor here; anything else is held to `eidas`.
    fn proxied_profile(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        purpose: Purpose,
        now: SystemTime,
    ) -> CertProfile {
        let inner = self.inner();
        if inner.ob_directory_anchors == 0 {
            return CertProfile::Eidas;
        }
        let anchors = inner.anchors.get(purpose);
        match validate_path(
            anchors.anchors(),
            &|a| anchors.signs_crls(a),
            leaf,
            intermediates,
            purpose,
            now,
            inner.skew,
        ) {
            Ok(info) => anchors.profile_of(&info.anchor),
            Err(_) => CertProfile::Eidas,
        }
    }
}

fn finish(
    leaf_der: &CertificateDer<'_>,
    leaf: &x509_cert::Certificate,
    chain: Vec<CertSummary>,
    revocation: RevocationOutcome,
    profile: CertProfile,
    tpp: Option<TppIdentity>,
) -> Result<ValidatedCert, CertError> {
    let sans = SubjectAltNames::from_cert(leaf).map_err(CertError::malformed)?;
    let public_key_der = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(CertError::malformed)?;
    Ok(ValidatedCert {
        public_key_der,
        x5t_s256: crate::x5t_s256(leaf_der),
        subject: DistinguishedName::from_name(&leaf.tbs_certificate.subject),
        sans,
        serial: serial_hex(leaf),
        not_after: leaf.tbs_certificate.validity.not_after.to_system_time(),
        chain,
        revocation,
        ca_revocation: Vec::new(),
        profile,
        tpp,
    })
}

impl CertValidator {
    /// CERT-3 with a cache: a chain already verified for this purpose is reused while `now`
    /// lies within every presented certificate's validity (with the skew); otherwise webpki
    /// builds and verifies the path.
    fn path(
        &self,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
        now: SystemTime,
    ) -> Result<(Arc<CachedPath>, UnixTime), CertError> {
        let inner = self.inner();
        let skew = inner.skew;
        let key = path_key(chain, purpose);
        if let Some(hit) = inner.paths.get(&key, now)
            && now + skew >= hit.not_before
            && now <= hit.not_after + skew
        {
            // Same instant webpki would have accepted with the skew retry.
            let t = now.clamp(hit.not_before, hit.not_after.max(hit.not_before));
            return Ok((hit, unix(t)));
        }
        let (leaf_der, intermediates, leaf) = split_chain(chain)?;
        let mut summaries = vec![CertSummary::of(&leaf)];
        let mut not_before = leaf.tbs_certificate.validity.not_before.to_system_time();
        let mut not_after = leaf.tbs_certificate.validity.not_after.to_system_time();
        for der in intermediates {
            let c = decode_cert(der)?;
            not_before = not_before.max(c.tbs_certificate.validity.not_before.to_system_time());
            not_after = not_after.min(c.tbs_certificate.validity.not_after.to_system_time());
            summaries.push(CertSummary::of(&c));
        }
        let anchors = inner.anchors.get(purpose);
        let info = validate_path(
            anchors.anchors(),
            &|a| anchors.signs_crls(a),
            leaf_der,
            intermediates,
            purpose,
            now,
            skew,
        )?;
        check_key_usage(&leaf, purpose)?;
        let tpp = TppIdentity::from_cert(&leaf)?;
        let profile = anchors.profile_of(&info.anchor);
        let subject = DistinguishedName::from_name(&leaf.tbs_certificate.subject);
        check_content(profile, &leaf, tpp.as_ref(), &subject, purpose)?;
        let not_checked = RevocationOutcome {
            status: crate::RevocationStatus::Unknown,
            source: crate::RevocationSource::Skipped,
            cached: false,
        };
        let result = finish(leaf_der, &leaf, summaries, not_checked, profile, tpp)?;
        let time = info.time;
        let cached = Arc::new(CachedPath {
            info,
            not_before,
            not_after,
            leaf,
            result,
        });
        inner
            .paths
            .insert(key, cached.clone(), not_after + skew, now);
        Ok((cached, time))
    }
}

fn path_key(chain: &[CertificateDer<'_>], purpose: Purpose) -> [u8; 32] {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    h.update(&[purpose as u8]);
    for c in chain {
        h.update(&(c.len() as u64).to_be_bytes());
        h.update(c);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

fn leaf_ids(chain: &[CertificateDer<'_>]) -> (String, String) {
    chain
        .first()
        .and_then(|d| decode_cert(d).ok())
        .map(|c| {
            (
                DistinguishedName::from_name(&c.tbs_certificate.subject).to_rfc4514(),
                serial_hex(&c),
            )
        })
        .unwrap_or_else(|| ("-".into(), "-".into()))
}

/// The leaf (decoded) and the rest of a presented chain, refusing an empty or overlong one.
fn split_chain<'c, 'd>(
    chain: &'c [CertificateDer<'d>],
) -> Result<
    (
        &'c CertificateDer<'d>,
        &'c [CertificateDer<'d>],
        x509_cert::Certificate,
    ),
    CertError,
> {
    let (leaf_der, rest) = chain.split_first().ok_or(CertError::NoCertificate)?;
    if chain.len() > MAX_CHAIN {
        return Err(CertError::malformed(format!(
            "more than {MAX_CHAIN} certificates"
        )));
    }
    Ok((leaf_der, rest, decode_cert(leaf_der)?))
}
