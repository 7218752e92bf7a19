//! CERT-4 OCSP (RFC 6960): build the request (section 4.1), check the response (section 4.2),
//! its signer (section 4.2.2.2: the issuing CA itself or a responder certificate issued by it
//! carrying id-kp-OCSPSigning), its signature (ring through webpki's algorithm table, over the
//! exact received tbsResponseData bytes), freshness (section 4.2.2.1 / RFC 5019 section 4) and
//! the optional nonce (section 4.4.1).

use std::time::{Duration, SystemTime};

use const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC;
use der::asn1::OctetString;
use der::{Decode, Encode, Reader, SliceReader};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_ocsp::builder::OcspRequestBuilder;
use x509_ocsp::ext::Nonce;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspResponse, OcspResponseStatus, Request, ResponderId,
};

use crate::path::{ALGS, EKU_OCSP_SIGNING, unix};

/// A verified OCSP answer for one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OcspStatus {
    Good,
    Revoked,
    Unknown,
}

pub(crate) struct OcspAnswer {
    pub status: OcspStatus,
    /// Until when the answer may be reused.
    pub valid_until: SystemTime,
}

/// The certificate's CertID with SHA-1 (RFC 6960 section 4.1.1; what responders index by).
pub(crate) fn cert_id(cert: &Certificate, issuer_key_hash: &[u8]) -> Result<CertId, String> {
    let name_der = cert
        .tbs_certificate
        .issuer
        .to_der()
        .map_err(|e| format!("issuer name: {e}"))?;
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_1,
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name_der).to_vec())
            .map_err(|e| e.to_string())?,
        issuer_key_hash: OctetString::new(issuer_key_hash.to_vec()).map_err(|e| e.to_string())?,
        serial_number: cert.tbs_certificate.serial_number.clone(),
    })
}

/// SHA-1 of the subjectPublicKey BIT STRING content of an SPKI (the OCSP issuerKeyHash).
pub(crate) fn key_hash(spki_der: &[u8]) -> Result<[u8; 20], String> {
    let spki =
        SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| format!("issuer key: {e}"))?;
    Ok(Sha1::digest(spki.subject_public_key.raw_bytes()).into())
}

/// DER of an OCSP request for `id`, with a fresh nonce when `nonce` is set.
pub(crate) fn request(id: &CertId, nonce: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut b = OcspRequestBuilder::default().with_request(Request::new(id.clone()));
    if let Some(n) = nonce {
        let n = Nonce::new(n.to_vec()).map_err(|e| e.to_string())?;
        b = b.with_extension(n).map_err(|e| e.to_string())?;
    }
    b.build().to_der().map_err(|e| e.to_string())
}

/// Everything needed to judge a response.
pub(crate) struct Expect<'a> {
    pub id: &'a CertId,
    pub issuer: &'a TrustAnchor<'static>,
    pub issuer_spki: &'a [u8],
    pub issuer_key_hash: &'a [u8],
    pub nonce: Option<&'a [u8]>,
    pub now: SystemTime,
    pub skew: Duration,
    /// Reuse period when the response has no nextUpdate.
    pub max_age: Duration,
    /// The oldest thisUpdate a "good" answer that does not echo our nonce may carry.
    pub max_good_age_without_nonce: Duration,
}

/// Parses and verifies a DER OCSP response; `Err` carries a short reason for the log.
pub(crate) fn verify_response(body: &[u8], ex: &Expect<'_>) -> Result<OcspAnswer, String> {
    let resp = OcspResponse::from_der(body).map_err(|e| format!("malformed response: {e}"))?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(format!("responder status {:?}", resp.response_status));
    }
    let bytes = resp
        .response_bytes
        .ok_or("successful response without body")?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!("unsupported response type {}", bytes.response_type));
    }
    let raw = bytes.response.as_bytes();
    let basic =
        BasicOcspResponse::from_der(raw).map_err(|e| format!("malformed basic response: {e}"))?;
    let tbs = raw_tbs(raw).map_err(|e| format!("malformed basic response: {e}"))?;

    let signer_spki = authorised_signer(&basic, ex)?;
    verify_signature(
        &signer_spki,
        &basic.signature_algorithm,
        tbs,
        basic.signature.raw_bytes(),
        "OCSP",
    )?;

    let echoed = match (ex.nonce, basic.tbs_response_data.nonce()) {
        (Some(sent), Some(got)) if got.0.as_bytes() != sent => {
            return Err("nonce mismatch".into());
        }
        (Some(_), Some(_)) => true,
        _ => false,
    };

    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| same_cert_id(&r.cert_id, ex.id))
        .ok_or("response does not cover this certificate")?;
    let this_update = single.this_update.0.to_system_time();
    if this_update > ex.now + ex.skew {
        return Err("thisUpdate is in the future".into());
    }
    let valid_until = match &single.next_update {
        Some(n) => n.0.to_system_time(),
        None => this_update + ex.max_age,
    };
    if valid_until + ex.skew < ex.now {
        return Err("stale response (nextUpdate passed)".into());
    }
    let status = match single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Revoked(_) => OcspStatus::Revoked,
        CertStatus::Unknown(_) => OcspStatus::Unknown,
    };
    // RFC 6960 3.2(5), "sufficiently recent": a signed "good" answer travels over plain HTTP
    // and stays valid until its nextUpdate, so without our nonce echoed (a responder that
    // ignores nonces, or pre-produced answers) it could be one recorded before the
    // revocation and replayed. It counts only while as young as a cached "good" answer may
    // be; an older one is no answer, and the CRL decides.
    let age = ex.now.duration_since(this_update).unwrap_or_default();
    if status == OcspStatus::Good
        && !echoed
        && age > ex.max_good_age_without_nonce.saturating_add(ex.skew)
    {
        return Err(
            "good answer without our nonce, older than max_good_cache_secs (a replay?)".into(),
        );
    }
    Ok(OcspAnswer {
        status,
        valid_until,
    })
}

/// The exact bytes of the first element of a signed SEQUENCE (tbsResponseData, tbsCertList)
/// as received, with no re-encoding.
pub(crate) fn raw_tbs(basic_der: &[u8]) -> der::Result<&[u8]> {
    let mut outer = SliceReader::new(basic_der)?;
    der::Header::decode(&mut outer)?;
    outer.tlv_bytes()
}

fn same_cert_id(a: &CertId, b: &CertId) -> bool {
    a.hash_algorithm.oid == b.hash_algorithm.oid
        && a.issuer_name_hash == b.issuer_name_hash
        && a.issuer_key_hash == b.issuer_key_hash
        && a.serial_number == b.serial_number
}

/// Returns the SPKI DER of an authorised signer: the issuer itself, or a delegated responder
/// certificate included in the response, issued by the same CA, with id-kp-OCSPSigning.
fn authorised_signer(basic: &BasicOcspResponse, ex: &Expect<'_>) -> Result<Vec<u8>, String> {
    let rid = &basic.tbs_response_data.responder_id;
    let issuer_name = ex.issuer.subject.as_ref();
    let is_issuer = match rid {
        ResponderId::ByKey(k) => k.as_bytes() == ex.issuer_key_hash,
        ResponderId::ByName(n) => name_content(n).is_some_and(|c| c == issuer_name),
    };
    if is_issuer {
        return Ok(ex.issuer_spki.to_vec());
    }
    let certs = basic.certs.as_deref().unwrap_or_default();
    for cert in certs {
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        let matches = match rid {
            ResponderId::ByKey(k) => key_hash(&spki).is_ok_and(|h| h.as_slice() == k.as_bytes()),
            ResponderId::ByName(n) => *n == cert.tbs_certificate.subject,
        };
        if !matches {
            continue;
        }
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let der = CertificateDer::from(der);
        let ee =
            EndEntityCert::try_from(&der).map_err(|e| format!("responder certificate: {e:?}"))?;
        let anchors = [ex.issuer.clone()];
        ee.verify_for_usage(
            ALGS,
            &anchors,
            &[],
            unix(ex.now),
            KeyUsage::required(EKU_OCSP_SIGNING),
            None,
            None,
        )
        .map_err(|e| format!("unauthorised responder certificate: {e:?}"))?;
        return Ok(spki);
    }
    Err("response signed by an unauthorised responder".into())
}

/// The DER content (without the outer SEQUENCE header) of a Name, as webpki stores subjects.
fn name_content(n: &x509_cert::name::Name) -> Option<Vec<u8>> {
    let der = n.to_der().ok()?;
    let mut r = SliceReader::new(&der).ok()?;
    let h = der::Header::decode(&mut r).ok()?;
    r.read_slice(h.length).ok().map(<[u8]>::to_vec)
}

/// Verifies `sig` over `msg` with the signer key, choosing the algorithm from webpki's ring
/// table by matching both the signature and the public key AlgorithmIdentifiers. `what`
/// names the signed object in the error (`OCSP`, `CRL`).
pub(crate) fn verify_signature(
    spki_der: &[u8],
    sig_alg: &AlgorithmIdentifierOwned,
    msg: &[u8],
    sig: &[u8],
    what: &str,
) -> Result<(), String> {
    let spki =
        SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| format!("signer key: {e}"))?;
    let key_alg = alg_id_content(&spki.algorithm.to_der().map_err(|e| e.to_string())?);
    let sig_alg = alg_id_content(&sig_alg.to_der().map_err(|e| e.to_string())?);
    let alg: &dyn SignatureVerificationAlgorithm = ALGS
        .iter()
        .copied()
        .find(|a| {
            a.signature_alg_id().as_ref() == sig_alg.as_slice()
                && a.public_key_alg_id().as_ref() == key_alg.as_slice()
        })
        .ok_or_else(|| format!("unsupported {what} signature algorithm"))?;
    alg.verify_signature(spki.subject_public_key.raw_bytes(), msg, sig)
        .map_err(|_| format!("bad {what} signature"))
}

fn alg_id_content(der: &[u8]) -> Vec<u8> {
    let content = || -> der::Result<Vec<u8>> {
        let mut r = SliceReader::new(der)?;
        let h = der::Header::decode(&mut r)?;
        Ok(r.read_slice(h.length)?.to_vec())
    };
    content().unwrap_or_default()
}
