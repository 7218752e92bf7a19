//! CERT-5 / CERT-6: eIDAS qualified certificate statements (RFC 3739 section 3.2.6, ETSI EN
//! 319 412-5 section 4: QcCompliance 0.4.0.1862.1.1, QcType 0.4.0.1862.1.6), the PSD2 statement
//! (ETSI TS 119 495 section 5.1, 0.4.0.19495.2) and organizationIdentifier (X.520 2.5.4.97, ETSI
//! EN 319 412-1 section 5.1.4 / TS 119 495 section 5.2.1) read into one typed [`TppIdentity`].

use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode, Encode, Sequence};
use serde::Serialize;
use x509_cert::Certificate;

use crate::dn::DistinguishedName;
use crate::error::CertError;
use crate::roles::PspRole;

/// id-pe-qcStatements (RFC 3739).
pub const QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");
/// esi4-qcStatement-1, QcCompliance.
pub const QC_COMPLIANCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.1");
/// esi4-qcStatement-6, QcType.
pub const QC_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6");
/// etsi-psd2-qcStatement.
pub const PSD2_STATEMENT: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.19495.2");
/// organizationIdentifier attribute type.
pub const ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");
const QCT_ESIGN: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6.1");
const QCT_ESEAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6.2");
const QCT_WEB: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6.3");

/// The QcType of a qualified certificate (ETSI EN 319 412-5 section 4.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QcType {
    /// id-etsi-qct-esign: electronic signature (natural person).
    Esign,
    /// id-etsi-qct-eseal: electronic seal, the QSealC.
    Eseal,
    /// id-etsi-qct-web: website authentication, the QWAC.
    Web,
}

impl QcType {
    /// The type's OID (id-etsi-qct-*).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Esign => QCT_ESIGN,
            Self::Eseal => QCT_ESEAL,
            Self::Web => QCT_WEB,
        }
    }
}

/// The PSD2 statement: which roles the NCA authorised, and which NCA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Psd2Statement {
    /// Authorised roles (unknown role OIDs are dropped).
    pub roles: Vec<PspRole>,
    /// nCAName, e.g. "Financial Conduct Authority".
    pub nca_name: String,
    /// nCAId, e.g. "GB-FCA".
    pub nca_id: String,
}

/// organizationIdentifier split per ETSI EN 319 412-1 section 5.1.4: `<scheme><CC>-<reference>`;
/// for the PSD scheme the reference is `<NCA>-<authorisation number>` (TS 119 495 5.2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrganizationIdentifier {
    /// The attribute as written, e.g. `PSDGB-FCA-123456`.
    pub raw: String,
    /// Three-letter scheme (`PSD`, `VAT`, `NTR`, `LEI`, ...), empty if the value does not
    /// follow EN 319 412-1.
    pub scheme: String,
    /// ISO 3166 country code.
    pub country: String,
    /// Everything after the first `-`.
    pub reference: String,
    /// For `PSD`: the competent authority identifier (e.g. `FCA`).
    pub competent_authority: Option<String>,
    /// For `PSD`: the authorisation number the NCA gave the PSP (e.g. `123456`).
    pub authorisation_id: Option<String>,
}

impl OrganizationIdentifier {
    /// Splits an organizationIdentifier value; never fails, unstructured values keep `raw` only.
    pub fn parse(raw: &str) -> Self {
        let mut out = Self {
            raw: raw.to_owned(),
            scheme: String::new(),
            country: String::new(),
            reference: String::new(),
            competent_authority: None,
            authorisation_id: None,
        };
        let Some((head, reference)) = raw.split_once('-') else {
            return out;
        };
        if head.len() != 5 || !head.is_ascii() {
            return out;
        }
        let (scheme, country) = head.split_at(3);
        out.scheme = scheme.to_ascii_uppercase();
        out.country = country.to_ascii_uppercase();
        out.reference = reference.to_owned();
        if out.scheme == "PSD"
            && let Some((nca, id)) = reference.split_once('-')
            && !nca.is_empty()
            && !id.is_empty()
        {
            out.competent_authority = Some(nca.to_owned());
            out.authorisation_id = Some(id.to_owned());
        }
        out
    }
}

/// Who the TPP is, according to its qualified certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TppIdentity {
    /// QcCompliance present: the certificate claims to be EU qualified.
    pub qc_compliance: bool,
    /// QcType values present.
    pub qc_types: Vec<QcType>,
    /// The PSD2 statement, if present.
    pub psd2: Option<Psd2Statement>,
    /// Subject organizationIdentifier, if present.
    pub organization_identifier: Option<OrganizationIdentifier>,
    /// Subject organizationName (O), if present.
    pub organization_name: Option<String>,
}

impl TppIdentity {
    /// True for a QWAC: QcCompliance and QcType web.
    pub fn is_qwac(&self) -> bool {
        self.qc_compliance && self.qc_types.contains(&QcType::Web)
    }

    /// True for a QSealC: QcCompliance and QcType eseal.
    pub fn is_qsealc(&self) -> bool {
        self.qc_compliance && self.qc_types.contains(&QcType::Eseal)
    }

    /// Reads the identity from a certificate. `Ok(None)` when it has neither qcStatements nor an
    /// organizationIdentifier (an ordinary, non-eIDAS certificate).
    pub fn from_cert(cert: &Certificate) -> Result<Option<Self>, CertError> {
        let subject = DistinguishedName::from_name(&cert.tbs_certificate.subject);
        let mut org_ids = subject.values(ORGANIZATION_IDENTIFIER);
        let org_id = org_ids.next().map(OrganizationIdentifier::parse);
        // EN 319 412-1 5.1.4 names the organisation with one identifier; with two, which one
        // the organisation checks read would decide who the TPP is.
        if org_ids.next().is_some() {
            return Err(CertError::InconsistentIdentity {
                detail: "the subject has more than one organizationIdentifier".into(),
            });
        }
        let org_name = subject
            .values(const_oid::db::rfc4519::O)
            .next()
            .map(str::to_owned);
        let raw = crate::parse::extension(cert, QC_STATEMENTS);
        if raw.is_none() && org_id.is_none() {
            return Ok(None);
        }
        let mut id = Self {
            qc_compliance: false,
            qc_types: Vec::new(),
            psd2: None,
            organization_identifier: org_id,
            organization_name: org_name,
        };
        if let Some(raw) = raw {
            parse_statements(raw, &mut id)
                .map_err(|detail| CertError::InvalidQcStatements { detail })?;
        }
        same_competent_authority(&id)?;
        Ok(Some(id))
    }
}

/// ETSI TS 119 495 5.1 and 5.2.1: the PSD2 statement's nCAId (`GB-FCA`) and a `PSD`
/// organizationIdentifier (`PSDGB-FCA-123456`) both name the competent authority that
/// authorised the TPP; a certificate where they differ says two things about who authorised
/// it, and the roles it carries cannot be trusted to be that authority's.
fn same_competent_authority(id: &TppIdentity) -> Result<(), CertError> {
    let (Some(psd2), Some(org)) = (&id.psd2, &id.organization_identifier) else {
        return Ok(());
    };
    let Some(nca) = org.competent_authority.as_deref() else {
        return Ok(());
    };
    let named = format!("{}-{nca}", org.country);
    if psd2.nca_id.eq_ignore_ascii_case(&named) {
        return Ok(());
    }
    Err(CertError::InconsistentIdentity {
        detail: format!(
            "the PSD2 statement's nCAId {:?} is not the competent authority of the \
             organizationIdentifier {:?} ({named})",
            psd2.nca_id, org.raw
        ),
    })
}

#[derive(Sequence)]
struct QcStatementAsn {
    statement_id: ObjectIdentifier,
    #[asn1(optional = "true")]
    statement_info: Option<Any>,
}

#[derive(Sequence)]
struct RoleOfPspAsn {
    role_oid: ObjectIdentifier,
    role_name: String,
}

#[derive(Sequence)]
struct Psd2QcTypeAsn {
    roles: Vec<RoleOfPspAsn>,
    nca_name: String,
    nca_id: String,
}

fn parse_statements(raw: &[u8], id: &mut TppIdentity) -> Result<(), String> {
    let stmts = Vec::<QcStatementAsn>::from_der(raw).map_err(|e| format!("qcStatements: {e}"))?;
    // Type OIDs named across every QcType statement: a qualified certificate is of exactly
    // one type (EN 319 412-5 4.2.3), so a certificate claiming to be a QWAC and a QSealC at
    // once is no compliant qualified certificate of either kind.
    let mut named_types = 0usize;
    for st in stmts {
        if st.statement_id == QC_COMPLIANCE {
            id.qc_compliance = true;
        } else if st.statement_id == QC_TYPE {
            let info = st.statement_info.ok_or("QcType without types")?;
            let types: Vec<ObjectIdentifier> =
                info.decode_as().map_err(|e| format!("QcType: {e}"))?;
            named_types += types.len();
            if named_types != 1 {
                return Err(format!(
                    "QcType names {named_types} types; ETSI EN 319 412-5 4.2.3 allows exactly one"
                ));
            }
            for t in types {
                let ty = [QcType::Esign, QcType::Eseal, QcType::Web]
                    .into_iter()
                    .find(|q| q.oid() == t);
                if let Some(ty) = ty
                    && !id.qc_types.contains(&ty)
                {
                    id.qc_types.push(ty);
                }
            }
        } else if st.statement_id == PSD2_STATEMENT {
            // ETSI TS 119 495 5.1: one PSD2 statement, whose roles are the certificate's; a
            // second would otherwise replace the first's roles unseen.
            if id.psd2.is_some() {
                return Err("more than one PSD2 statement; ETSI TS 119 495 5.1 allows one".into());
            }
            let info = st.statement_info.ok_or("PSD2 statement without content")?;
            let p: Psd2QcTypeAsn = info
                .decode_as()
                .map_err(|e| format!("PSD2 statement: {e}"))?;
            let mut roles: Vec<PspRole> = p
                .roles
                .iter()
                .filter_map(|r| PspRole::from_oid(&r.role_oid))
                .collect();
            roles.sort();
            roles.dedup();
            id.psd2 = Some(Psd2Statement {
                roles,
                nca_name: p.nca_name,
                nca_id: p.nca_id,
            });
        }
    }
    Ok(())
}

/// Encodes a qcStatements extension value (for the development CA and tests): QcCompliance if
/// `compliance`, a QcType statement if `types` is non-empty, and the PSD2 statement if given.
pub fn encode_qc_statements(
    compliance: bool,
    types: &[QcType],
    psd2: Option<&Psd2Statement>,
) -> Result<Vec<u8>, der::Error> {
    let mut stmts = Vec::new();
    if compliance {
        stmts.push(QcStatementAsn {
            statement_id: QC_COMPLIANCE,
            statement_info: None,
        });
    }
    if !types.is_empty() {
        let oids: Vec<ObjectIdentifier> = types.iter().map(|t| t.oid()).collect();
        stmts.push(QcStatementAsn {
            statement_id: QC_TYPE,
            statement_info: Some(Any::encode_from(&oids)?),
        });
    }
    if let Some(p) = psd2 {
        let asn = Psd2QcTypeAsn {
            roles: p
                .roles
                .iter()
                .map(|r| RoleOfPspAsn {
                    role_oid: r.oid(),
                    role_name: r.etsi_name().to_owned(),
                })
                .collect(),
            nca_name: p.nca_name.clone(),
            nca_id: p.nca_id.clone(),
        };
        stmts.push(QcStatementAsn {
            statement_id: PSD2_STATEMENT,
            statement_info: Some(Any::encode_from(&asn)?),
        });
    }
    stmts.to_der()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    /// A self-signed certificate whose subject has organizationIdentifier `org_id` and OU
    /// `ou`, parsed; with `ou_as_org_id`, the OU's type is rewritten to organizationIdentifier
    /// (both OIDs are 3 bytes long), which rcgen cannot write itself: a subject with two.
    fn subject_with(org_id: &str, ou: &str, ou_as_org_id: bool) -> Certificate {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example TPP Ltd");
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 97]), org_id);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, ou);
        let key = KeyPair::generate().unwrap();
        let mut der = params.self_signed(&key).unwrap().der().to_vec();
        if ou_as_org_id {
            // Self-signed: the issuer (written first) is the subject; both are rewritten.
            let ou_type = [0x06, 0x03, 0x55, 0x04, 0x0b];
            let found: Vec<usize> = der
                .windows(ou_type.len())
                .enumerate()
                .filter_map(|(at, w)| (w == ou_type).then_some(at))
                .collect();
            assert_eq!(found.len(), 2);
            for at in found {
                der[at + 4] = 0x61;
            }
        }
        Certificate::from_der(&der).unwrap()
    }

    /// EN 319 412-1 5.1.4: one organizationIdentifier names the organisation; a subject with
    /// two is refused, whichever comes first (the control, the same subject with the second
    /// as an OU, is read).
    #[test]
    fn cert_5_a_subject_with_two_organization_identifiers_is_refused() {
        let read =
            TppIdentity::from_cert(&subject_with("PSDGB-FCA-123456", "PSDGB-FCA-999999", false))
                .unwrap()
                .unwrap();
        assert_eq!(
            read.organization_identifier.unwrap().raw,
            "PSDGB-FCA-123456"
        );
        for (first, second) in [
            ("PSDGB-FCA-123456", "PSDGB-FCA-999999"),
            ("PSDGB-FCA-123456", "PSDGB-FCA-123456"),
        ] {
            let err = TppIdentity::from_cert(&subject_with(first, second, true)).unwrap_err();
            assert!(
                matches!(&err, CertError::InconsistentIdentity { detail }
                    if detail.contains("more than one organizationIdentifier")),
                "{err:?}"
            );
            assert_eq!(err.reason(), "inconsistent_identity");
        }
    }
}
