//! Entry points for the fuzz targets (`fuzz/`) and their replay under `cargo test`: the
//! crate-private OCSP and CRL checks run against a fixed issuer and certificate. Not an API:
//! nothing in Bulwark calls these.

use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use rustls_pki_types::CertificateDer;
use x509_cert::Certificate;

use crate::path::{Purpose, check_crl, unix};
use crate::revocation::{crl, ocsp};

const SKEW: Duration = Duration::from_secs(60);

struct Fixture {
    cert: Certificate,
    anchor: rustls_pki_types::TrustAnchor<'static>,
    issuer_spki: Vec<u8>,
}

fn fixture(issuer_der: &[u8], cert_der: &[u8]) -> Result<Fixture, String> {
    let issuer = Certificate::from_der(issuer_der).map_err(|e| e.to_string())?;
    let cert = Certificate::from_der(cert_der).map_err(|e| e.to_string())?;
    let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(issuer_der))
        .map_err(|e| format!("{e:?}"))?
        .to_owned();
    let issuer_spki = issuer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    Ok(Fixture {
        cert,
        anchor,
        issuer_spki,
    })
}

/// Parses and verifies `body` as the OCSP response about `cert_der` from its issuer
/// `issuer_der` at `now`, exactly as a live check would; `Ok(true)` when it says revoked.
#[doc(hidden)]
pub fn ocsp_response(
    body: &[u8],
    issuer_der: &[u8],
    cert_der: &[u8],
    now: SystemTime,
) -> Result<bool, String> {
    let f = fixture(issuer_der, cert_der)?;
    let key_hash = ocsp::key_hash(&f.issuer_spki)?;
    let id = ocsp::cert_id(&f.cert, &key_hash)?;
    let answer = ocsp::verify_response(
        body,
        &ocsp::Expect {
            id: &id,
            issuer: &f.anchor,
            issuer_spki: &f.issuer_spki,
            issuer_key_hash: &key_hash,
            nonce: None,
            now,
            skew: SKEW,
            max_age: Duration::from_secs(300),
            // The seeds are answers recorded once, long ago, whose nextUpdate is far ahead:
            // their age is not what the fuzzers explore.
            max_good_age_without_nonce: Duration::MAX,
        },
    )?;
    Ok(answer.status == ocsp::OcspStatus::Revoked)
}

/// Parses `body` as a CRL and checks `cert_der` against it both ways a live check would: as a
/// leaf (webpki's path re-check) and as a CA certificate ([`crl::ca_status`]).
#[doc(hidden)]
pub fn crl(
    body: &[u8],
    issuer_der: &[u8],
    cert_der: &[u8],
    url: &str,
    now: SystemTime,
) -> Result<(bool, bool), String> {
    let f = fixture(issuer_der, cert_der)?;
    let parsed = crl::parse(body, Duration::from_secs(300))?;
    let anchors = [f.anchor.clone()];
    let as_leaf = match check_crl(
        &anchors,
        &CertificateDer::from(cert_der),
        &[],
        Purpose::TlsClient,
        unix(now),
        &parsed.crl,
    ) {
        Ok(()) => false,
        Err(webpki::Error::CertRevoked) => true,
        Err(e) => return Err(format!("{e:?}")),
    };
    let as_ca = crl::ca_status(
        &parsed,
        &crl::CaUnderCheck {
            cert: &f.cert,
            issuer_spki: &f.issuer_spki,
            urls: &[url.to_owned()],
        },
        now,
        SKEW,
    )?;
    Ok((as_leaf, as_ca))
}
