//! CERT-4 revocation: OCSP first (RFC 6960, responder from the AIA extension, RFC 5280 section
//! 4.2.2.1), the CRL distribution point (RFC 5280 section 4.2.1.13) as fallback. Answers are
//! cached by (issuer key hash, serial) until nextUpdate, CRLs by URL; concurrent look-ups of the
//! same certificate or CRL share one network call; every call is bounded by a timeout.

pub(crate) mod crl;
pub(crate) mod ocsp;

use bulwark_core::{OutboundHttp, OutboundSettings};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bulwark_core::random::Rng;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;

use crate::cache::ExpiringCache;
use crate::error::{CertError, RevocationSource};
use crate::path::{PathInfo, Purpose};
use crl::CachedCrl;

/// The `[revocation]` configuration section. Every key has a safe default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationSettings {
    /// Check revocation at all (default true). Off only for closed test environments.
    pub enabled: bool,
    /// Timeout for one OCSP exchange, connect to last byte, in milliseconds (default 2000).
    pub ocsp_timeout_ms: u64,
    /// Timeout for one CRL download in milliseconds (default 5000).
    pub crl_timeout_ms: u64,
    /// Maximum number of cached per-certificate answers, and of cached verified paths
    /// (default 10000).
    pub cache_size: usize,
    /// Maximum number of cached CRLs (default 64).
    pub crl_cache_size: usize,
    /// Largest CRL accepted, in bytes (default 16 MiB).
    pub max_crl_bytes: usize,
    /// Send an OCSP nonce and, when the responder echoes one, require it to match (default true).
    pub ocsp_nonce: bool,
    /// How long an OCSP response or CRL without nextUpdate may be reused, in seconds (default 300).
    pub default_ttl_secs: u64,
    /// Issuers whose certificates skip revocation checking, each named by the SHA-256 of its
    /// public key (`sha256:<base64url of the SubjectPublicKeyInfo DER hash>`, as
    /// `bulwark certs verify` prints it), never by its name: another CA could carry the same
    /// DN (default none). An excluded issuing CA's own certificate is still checked, by its
    /// own issuer (unless that one is excluded too).
    pub exclude_issuers: Vec<String>,
    /// Longest a "good" answer is reused, whatever its nextUpdate says, in seconds (default
    /// 3600): a responder that sets nextUpdate a week ahead does not keep a revoked
    /// certificate usable here for a week. Also the oldest thisUpdate an OCSP "good" answer
    /// that does not echo our nonce may carry (an older one could be a replay; the CRL then
    /// decides).
    pub max_good_cache_secs: u64,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ocsp_timeout_ms: 2000,
            crl_timeout_ms: 5000,
            cache_size: 10_000,
            crl_cache_size: 64,
            max_crl_bytes: 16 * 1024 * 1024,
            ocsp_nonce: true,
            default_ttl_secs: 300,
            exclude_issuers: Vec::new(),
            max_good_cache_secs: 3600,
        }
    }
}

/// The revocation status of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationStatus {
    /// Not revoked, per a fresh signed answer.
    Good,
    /// Revoked.
    Revoked,
    /// Not checked (see the source).
    Unknown,
}

/// The revocation verdict on one CA certificate of a validated path (below the anchor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaRevocation {
    /// The CA's subject, RFC 4514.
    pub subject: String,
    /// The CA certificate's serial number, upper-case hex.
    pub serial: String,
    /// What the check concluded.
    #[serde(flatten)]
    pub outcome: RevocationOutcome,
}

/// The verdicts on every certificate of a path: the leaf's and each CA's below the anchor.
pub(crate) struct PathRevocation {
    pub leaf: RevocationOutcome,
    /// The leaf's issuer first.
    pub cas: Vec<CaRevocation>,
}

/// One certificate under check and its issuer.
struct Subject<'a> {
    cert: &'a Certificate,
    issuer: &'a TrustAnchor<'static>,
    issuer_spki: &'a [u8],
    /// False for the leaf (webpki checks its CRL), true for a CA certificate of the path.
    ca: bool,
    /// Whether the issuer may sign CRLs (its keyUsage, or the anchor's certificate's).
    issuer_signs_crls: bool,
}

/// What revocation checking concluded, and from where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RevocationOutcome {
    /// Good, revoked or unknown (unknown only when checking was skipped).
    pub status: RevocationStatus,
    /// OCSP, CRL, or skipped.
    pub source: RevocationSource,
    /// True when the answer came from the cache rather than the network.
    pub cached: bool,
}

/// A certificate's revocation identity, as RFC 6960 4.1.1's CertID names it: the issuer's key
/// hash (SHA-1, as OCSP asks for it), the SHA-256 of the issuer name the certificate carries,
/// and its serial. A serial is unique per issuer name only (RFC 5280 4.1.2.2), and one CA key
/// may be certified under two names: without the name, two certificates could share an answer.
type StatusKey = ([u8; 20], [u8; 32], Vec<u8>);

/// Holds the caches and the HTTP client; shared by all validations.
pub(crate) struct RevocationChecker {
    settings: RevocationSettings,
    /// SHA-256 of excluded issuers' SubjectPublicKeyInfo DER.
    exclude: Vec<Vec<u8>>,
    client: OutboundHttp,
    status: ExpiringCache<StatusKey, RevocationOutcome>,
    /// Look-ups that neither source could answer, for [`FAILED_LOOKUP_REUSE`]: the callers
    /// that queued behind a failed flight share its answer instead of each waiting out the
    /// same timeouts in turn.
    failed: ExpiringCache<StatusKey, CertError>,
    crls: ExpiringCache<String, Arc<CachedCrl>>,
    inflight: FlightMap,
}

/// How long a look-up that neither OCSP nor the CRL could answer is the answer for the same
/// certificate. Without it, N requests queued behind an unreachable responder would wait N
/// times its timeouts; with it, the first failure answers them all (fail-closed, as they would
/// have been) and the next attempt is made this much later.
const FAILED_LOOKUP_REUSE: Duration = Duration::from_secs(5);

/// The certificate under check and its validated path.
pub(crate) struct Target<'a> {
    pub anchors: &'a [TrustAnchor<'static>],
    pub leaf: &'a CertificateDer<'a>,
    pub intermediates: &'a [CertificateDer<'a>],
    pub cert: &'a Certificate,
    pub path: &'a PathInfo,
    /// The time at which the path validated (now, or now moved by the clock skew).
    pub time: rustls_pki_types::UnixTime,
    pub purpose: Purpose,
    pub now: SystemTime,
    pub skew: Duration,
    /// Where the OCSP request's nonce comes from.
    pub rng: &'a dyn Rng,
}

impl RevocationChecker {
    pub(crate) fn new(settings: RevocationSettings) -> Result<Self, String> {
        let exclude = settings
            .exclude_issuers
            .iter()
            .map(|s| {
                s.strip_prefix("sha256:")
                    .and_then(|b| {
                        base64::Engine::decode(
                            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                            b.trim_end_matches('='),
                        )
                        .ok()
                    })
                    .filter(|h| h.len() == 32)
                    .ok_or_else(|| {
                        format!(
                            "revocation.exclude_issuers entry {s:?} must be sha256:<base64url SHA-256 of the issuer's SubjectPublicKeyInfo> (bulwark certs verify prints it)"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // OCSP and CRLs are plain http by design (their content is signed); each exchange is
        // bounded by its own timeout below, the client's by the longer of the two.
        let client = OutboundHttp::new(&OutboundSettings {
            timeout: Duration::from_millis(settings.ocsp_timeout_ms.max(settings.crl_timeout_ms)),
            https_only: false,
            extra_roots: Vec::new(),
            user_agent: "bulwark-certs",
            // The URLs come from CA-signed certificates; banks run internal responders.
            public_only: false,
            identity_pem: None,
        })?;
        Ok(Self {
            status: ExpiringCache::new(settings.cache_size),
            failed: ExpiringCache::new(settings.cache_size),
            crls: ExpiringCache::new(settings.crl_cache_size),
            exclude,
            client,
            settings,
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// CERT-4 for every certificate of the path of `t` below the anchor, from the top down
    /// (RFC 5280 section 6.1.3(a)(3)), then the leaf; each with the same OCSP, then CRL,
    /// fail-closed rule. A CA's failure names the CA ([`CertError::CaRevocation`]).
    pub(crate) async fn check(&self, t: &Target<'_>) -> Result<PathRevocation, CertError> {
        let skipped = RevocationOutcome {
            status: RevocationStatus::Unknown,
            source: RevocationSource::Skipped,
            cached: false,
        };
        if !self.settings.enabled {
            return Ok(PathRevocation {
                leaf: skipped,
                cas: Vec::new(),
            });
        }
        let mut cas = Vec::with_capacity(t.path.cas.len());
        for link in t.path.cas.iter().rev() {
            // An excluded issuer is one without revocation services of its own to consult:
            // the certificates it issued skip revocation. Its own certificate was issued by
            // its parent, whose CRL or OCSP still decides (RFC 5280 6.1.3(a)(3)): list the
            // parent too to skip that.
            if self.is_excluded(&link.issuer_spki) {
                cas.push(CaRevocation {
                    subject: link.subject.clone(),
                    serial: link.serial.clone(),
                    outcome: skipped,
                });
                continue;
            }
            let ca = Subject {
                cert: &link.cert,
                issuer: &link.issuer,
                issuer_spki: &link.issuer_spki,
                ca: true,
                issuer_signs_crls: link.issuer_signs_crls,
            };
            let outcome =
                self.check_one(t, &ca)
                    .await
                    .map_err(|cause| CertError::CaRevocation {
                        subject: link.subject.clone(),
                        cause: Box::new(cause),
                    })?;
            cas.push(CaRevocation {
                subject: link.subject.clone(),
                serial: link.serial.clone(),
                outcome,
            });
        }
        cas.reverse();
        let leaf = Subject {
            cert: t.cert,
            issuer: &t.path.issuer,
            issuer_spki: &t.path.issuer_spki,
            ca: false,
            issuer_signs_crls: t.path.issuer_signs_crls,
        };
        let leaf = self.check_one(t, &leaf).await?;
        Ok(PathRevocation { leaf, cas })
    }

    /// CERT-4 for one certificate of the path.
    async fn check_one(
        &self,
        t: &Target<'_>,
        s: &Subject<'_>,
    ) -> Result<RevocationOutcome, CertError> {
        let skipped = RevocationOutcome {
            status: RevocationStatus::Unknown,
            source: RevocationSource::Skipped,
            cached: false,
        };
        if self.is_excluded(s.issuer_spki) {
            return Ok(skipped);
        }
        let key_hash = ocsp::key_hash(s.issuer_spki).map_err(CertError::malformed)?;
        let issuer_name = {
            use der::Encode;
            use sha2::Digest;
            let der = s
                .cert
                .tbs_certificate
                .issuer
                .to_der()
                .map_err(|e| CertError::malformed(e.to_string()))?;
            sha2::Sha256::digest(der).into()
        };
        let key: StatusKey = (
            key_hash,
            issuer_name,
            s.cert.tbs_certificate.serial_number.as_bytes().to_vec(),
        );
        if let Some(hit) = self.cached(&key, t.now) {
            return hit;
        }
        let ocsp_urls = crate::parse::ocsp_urls(s.cert)?;
        let crl_urls = crate::parse::crl_urls(s.cert)?;
        if ocsp_urls.is_empty() && crl_urls.is_empty() {
            return Err(CertError::NoRevocationInfo);
        }

        // Single flight: one look-up per certificate; later callers wait and hit the cache.
        let flight_key = format!(
            "status:{}:{}:{}",
            crate::parse::hex_upper(&key.0),
            crate::parse::hex_upper(&key.1),
            crate::parse::hex_upper(&key.2)
        );
        let _flight = self.flight(flight_key).await;
        if let Some(hit) = self.cached(&key, t.now) {
            return hit;
        }
        if let Some(failure) = self.failed.get(&key, t.now) {
            return Err(failure);
        }
        let result = self.lookup(t, s, &key, &ocsp_urls, &crl_urls).await;
        if let Err(e @ CertError::RevocationUndetermined { .. }) = &result {
            self.failed
                .insert(key, e.clone(), t.now + FAILED_LOOKUP_REUSE, t.now);
        }
        result
    }

    /// Whether the CA with this SubjectPublicKeyInfo is in `exclude_issuers`.
    fn is_excluded(&self, spki: &[u8]) -> bool {
        use sha2::Digest;
        if self.exclude.is_empty() {
            return false;
        }
        let hash = sha2::Sha256::digest(spki);
        self.exclude.iter().any(|x| x.as_slice() == hash.as_slice())
    }

    fn cached(
        &self,
        key: &StatusKey,
        now: SystemTime,
    ) -> Option<Result<RevocationOutcome, CertError>> {
        let mut hit = self.status.get(key, now)?;
        hit.cached = true;
        Some(match hit.status {
            RevocationStatus::Revoked => Err(CertError::Revoked { via: hit.source }),
            RevocationStatus::Good => Ok(hit),
            // Only a skipped check is `Unknown`, and skipping is decided before the cache is
            // asked; an `Unknown` answer cached by mistake must not pass as good.
            RevocationStatus::Unknown => return None,
        })
    }

    async fn lookup(
        &self,
        t: &Target<'_>,
        s: &Subject<'_>,
        key: &StatusKey,
        ocsp_urls: &[String],
        crl_urls: &[String],
    ) -> Result<RevocationOutcome, CertError> {
        let mut ocsp_reason = String::from("no OCSP responder in AIA");
        for url in ocsp_urls {
            match self.ocsp(t, s, &key.0, url).await {
                Ok(ans) => match ans.status {
                    ocsp::OcspStatus::Good | ocsp::OcspStatus::Revoked => {
                        return self.settle(
                            key,
                            ans.status == ocsp::OcspStatus::Revoked,
                            RevocationSource::Ocsp,
                            ans.valid_until,
                            t.now,
                        );
                    }
                    ocsp::OcspStatus::Unknown => {
                        ocsp_reason = format!("{url}: responder says unknown")
                    }
                },
                Err(e) => ocsp_reason = format!("{url}: {e}"),
            }
        }
        let mut crl_reason = String::from("no CRL distribution point");
        for url in crl_urls {
            match self.crl(t, s, url).await {
                Ok((revoked, until)) => {
                    return self.settle(key, revoked, RevocationSource::Crl, until, t.now);
                }
                Err(e) => crl_reason = format!("{url}: {e}"),
            }
        }
        Err(CertError::RevocationUndetermined {
            ocsp_reason,
            crl_reason,
        })
    }

    fn settle(
        &self,
        key: &StatusKey,
        revoked: bool,
        source: RevocationSource,
        until: SystemTime,
        now: SystemTime,
    ) -> Result<RevocationOutcome, CertError> {
        let outcome = RevocationOutcome {
            status: if revoked {
                RevocationStatus::Revoked
            } else {
                RevocationStatus::Good
            },
            source,
            cached: false,
        };
        let until = if revoked {
            until
        } else {
            now.checked_add(Duration::from_secs(self.settings.max_good_cache_secs))
                .map_or(until, |cap| until.min(cap))
        };
        self.status.insert(key.clone(), outcome, until, now);
        if revoked {
            Err(CertError::Revoked { via: source })
        } else {
            Ok(outcome)
        }
    }

    async fn ocsp(
        &self,
        t: &Target<'_>,
        s: &Subject<'_>,
        key_hash: &[u8; 20],
        url: &str,
    ) -> Result<ocsp::OcspAnswer, String> {
        let id = ocsp::cert_id(s.cert, key_hash)?;
        let mut nonce = [0u8; 16];
        let nonce = if self.settings.ocsp_nonce {
            t.rng.fill(&mut nonce);
            Some(&nonce[..])
        } else {
            None
        };
        let body = ocsp::request(&id, nonce)?;
        let timeout = Duration::from_millis(self.settings.ocsp_timeout_ms);
        let resp = self
            .client
            .post(
                url,
                ("application/ocsp-request", "application/ocsp-response"),
                body,
                timeout,
                1024 * 1024,
            )
            .await
            .map_err(|e| e.to_string())?;
        ocsp::verify_response(
            &resp,
            &ocsp::Expect {
                id: &id,
                issuer: s.issuer,
                issuer_spki: s.issuer_spki,
                issuer_key_hash: key_hash,
                nonce,
                now: t.now,
                skew: t.skew,
                max_age: Duration::from_secs(self.settings.default_ttl_secs),
                max_good_age_without_nonce: Duration::from_secs(self.settings.max_good_cache_secs),
            },
        )
    }

    /// Checks `s` against the CRL at `url`; `Ok((revoked, reuse_until))`. A fetched CRL is
    /// cached only once its signature verified against the certificate's issuer (webpki checks
    /// it for the leaf while deciding, [`crl::ca_status`] for a CA), so a forged or foreign CRL
    /// is never kept for other requests.
    async fn crl(
        &self,
        t: &Target<'_>,
        s: &Subject<'_>,
        url: &str,
    ) -> Result<(bool, SystemTime), String> {
        if !s.issuer_signs_crls {
            return Err("the issuer's key usage does not allow CRL signing".into());
        }
        let key = url.to_owned();
        let (crl, _flight) = match self.crls.get(&key, t.now) {
            Some(c) => (c, None),
            None => {
                let flight = self.flight(format!("crl:{url}")).await;
                match self.crls.get(&key, t.now) {
                    Some(c) => (c, None),
                    None => (self.fetch_crl(url).await?, Some(flight)),
                }
            }
        };
        let fresh = _flight.is_some();
        if crl.this_update > t.now + t.skew {
            return Err("CRL thisUpdate is in the future".into());
        }
        if s.ca {
            let urls = crate::parse::crl_urls(s.cert).map_err(|e| e.to_string())?;
            let verdict = crl::ca_status(
                &crl,
                &crl::CaUnderCheck {
                    cert: s.cert,
                    issuer_spki: s.issuer_spki,
                    urls: &urls,
                },
                t.now,
                t.skew,
            )
            .map(|revoked| (revoked, crl.next_update));
            if fresh && verdict.is_ok() {
                self.cache_crl(key, &crl, t.now);
            }
            return verdict;
        }
        let verdict = match crate::path::check_crl(
            t.anchors,
            t.leaf,
            t.intermediates,
            t.purpose,
            t.time,
            &crl.crl,
        ) {
            Ok(()) => Ok((false, crl.next_update)),
            Err(webpki::Error::CertRevoked) => Ok((true, crl.next_update)),
            Err(webpki::Error::CrlExpired { .. }) => Err("stale CRL (nextUpdate passed)".into()),
            Err(webpki::Error::UnknownRevocationStatus) => {
                Err("CRL not issued by the certificate's issuer".into())
            }
            Err(e) => Err(format!("CRL rejected: {e:?}")),
        };
        if fresh && verdict.is_ok() {
            self.cache_crl(key, &crl, t.now);
        }
        verdict
    }

    /// Keeps a verified CRL until its nextUpdate, but no longer than the local maximum age of
    /// a "good" answer: a CA that publishes a week ahead and re-issues the CRL when it revokes
    /// a certificate has that revocation seen here within `max_good_cache_secs`, as with OCSP.
    fn cache_crl(&self, key: String, crl: &Arc<CachedCrl>, now: SystemTime) {
        let until = now
            .checked_add(Duration::from_secs(self.settings.max_good_cache_secs))
            .map_or(crl.next_update, |cap| crl.next_update.min(cap));
        self.crls.insert(key, crl.clone(), until, now);
    }

    /// Fetches and parses the CRL at `url` (not cached here: see [`Self::crl`]).
    async fn fetch_crl(&self, url: &str) -> Result<Arc<CachedCrl>, String> {
        let timeout = Duration::from_millis(self.settings.crl_timeout_ms);
        let body = self
            .client
            .get_within(url, timeout, self.settings.max_crl_bytes)
            .await
            .map_err(|e| e.to_string())?;
        crl::parse(&body, Duration::from_secs(self.settings.default_ttl_secs)).map(Arc::new)
    }

    /// Joins (or starts) the flight for `key`: waits until no other task holds it. The returned
    /// guard releases it on drop, also when the validation future is cancelled.
    async fn flight(&self, key: String) -> Flight<'_> {
        let gate = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = gate.lock_owned().await;
        Flight {
            map: &self.inflight,
            key,
            guard: Some(guard),
        }
    }
}

type FlightMap = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// Membership of one single-flight group; forgets the group when the last member leaves.
struct Flight<'a> {
    map: &'a FlightMap,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map's own reference left: nobody is waiting.
        if map
            .get(&self.key)
            .is_some_and(|g| Arc::strong_count(g) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
impl RevocationChecker {
    pub(crate) fn flights_in_progress(&self) -> usize {
        self.inflight.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// An `exclude_issuers` entry is a SHA-256 (32 bytes) or the configuration is refused: a
    /// SHA-1 (20 bytes) or a truncated hash, which could never match, is a mistake to report
    /// at start, not an exclusion silently doing nothing.
    #[test]
    fn cert_4_an_excluded_issuer_is_named_by_a_whole_sha256() {
        use base64::Engine;
        let entry = |len: usize| {
            format!(
                "sha256:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![7u8; len])
            )
        };
        let with = |entry: String| {
            RevocationChecker::new(RevocationSettings {
                exclude_issuers: vec![entry],
                ..RevocationSettings::default()
            })
        };
        assert!(with(entry(32)).is_ok());
        for len in [20, 31, 33] {
            let refused = with(entry(len)).err().unwrap();
            assert!(refused.contains("must be sha256:"), "{len}: {refused}");
        }
    }

    #[tokio::test]
    async fn cert_4_single_flight_serialises_and_forgets_finished_groups() {
        let checker = Arc::new(RevocationChecker::new(RevocationSettings::default()).unwrap());
        let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (c, active) = (checker.clone(), active.clone());
            tasks.push(tokio::spawn(async move {
                let _f = c.flight("k".into()).await;
                assert_eq!(active.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                tokio::time::sleep(Duration::from_millis(2)).await;
                active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(checker.flights_in_progress(), 0);
        // A cancelled member releases too.
        let f = checker.flight("c".into()).await;
        assert_eq!(checker.flights_in_progress(), 1);
        drop(f);
        assert_eq!(checker.flights_in_progress(), 0);
    }
}
