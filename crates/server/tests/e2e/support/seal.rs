//! A TPP's sealing key as the Open Banking directory would hold it: an ES256 key whose JWK
//! carries `x5c` with a QSealC from the harness PKI (organisation PSDGB-FCA-123456), and OB
//! message signatures made with josekit (a JOSE library other than the server's), in the
//! v3.1.4+ form: josekit's own compact serialization of the body with the payload part removed.

use std::sync::Arc;

use bulwark_certs::PspRole;
use serde_json::{Value, json};

use super::{Harness, now};

/// The key id of every test TPP's sealing key.
pub const SEAL_KID: &str = "seal-1";

/// A TPP's sealing key.
pub struct Seal {
    signer: Box<dyn josekit::jws::JwsSigner + Send + Sync>,
    /// The `http://openbanking.org.uk/iss` it signs as.
    pub iss: String,
}

impl Seal {
    /// A QSealC of `org` (organizationIdentifier) for `roles`, signed by the harness CA; the
    /// seal and its public JWK (`kid` seal-1, `x5c`).
    pub fn new(h: &Harness, iss: &str, org: &str, roles: &[PspRole]) -> (Arc<Self>, Value) {
        use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::OrganizationName, "TPP Ltd");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 97]), org);
        p.distinguished_name.push(DnType::CommonName, "seal");
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let psd2 = bulwark_certs::Psd2Statement {
            roles: roles.to_vec(),
            nca_name: "Financial Conduct Authority".into(),
            nca_id: "GB-FCA".into(),
        };
        let qc = bulwark_certs::qc::encode_qc_statements(
            true,
            &[bulwark_certs::QcType::Eseal],
            Some(&psd2),
        )
        .unwrap();
        p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 3],
            qc,
        )];
        let now_odt = time::OffsetDateTime::now_utc();
        p.not_before = now_odt - time::Duration::hours(1);
        p.not_after = now_odt + time::Duration::days(10);
        let cert = p.signed_by(&key, &h.pki.ca).unwrap();
        Self::from_cert(&key, cert.der(), iss)
    }

    /// An OBSeal of the UK directory's test CA (`OU=<org_id>, CN=<software_id>`, no
    /// qcStatements) signing as `iss`, and its public JWK (`kid` seal-1, `x5c`).
    pub fn directory(iss: &str, org_id: &str, software_id: &str) -> (Arc<Self>, Value) {
        use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CountryName, "GB");
        p.distinguished_name
            .push(DnType::OrganizationName, "OpenBanking");
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, org_id);
        p.distinguished_name.push(DnType::CommonName, software_id);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let now_odt = time::OffsetDateTime::now_utc();
        p.not_before = now_odt - time::Duration::hours(1);
        p.not_after = now_odt + time::Duration::days(10);
        let cert = p.signed_by(&key, &super::ob_directory_pki().ca).unwrap();
        Self::from_cert(&key, cert.der(), iss)
    }

    fn from_cert(key: &rcgen::KeyPair, cert_der: &[u8], iss: &str) -> (Arc<Self>, Value) {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let pem = key.serialize_pem();
        let signer = josekit::jws::ES256.signer_from_pem(&pem).unwrap();
        let public = josekit::jwk::alg::ec::EcKeyPair::from_pem(
            &pem,
            Some(josekit::jwk::alg::ec::EcCurve::P256),
        )
        .unwrap()
        .to_jwk_public_key();
        let mut jwk: serde_json::Map<String, Value> = public.into();
        jwk.insert("kid".into(), SEAL_KID.into());
        jwk.insert("use".into(), "sig".into());
        jwk.insert("x5c".into(), json!([STANDARD.encode(cert_der)]));
        let seal = Seal {
            signer: Box::new(signer),
            iss: iss.to_owned(),
        };
        (Arc::new(seal), Value::Object(jwk))
    }

    /// The josekit signer, for tests that build their own (e.g. v3.1.3) signatures.
    pub fn signer(&self) -> &dyn josekit::jws::JwsSigner {
        self.signer.as_ref()
    }

    /// An `x-jws-signature` over `body` in the v3.1.4+ form (no `b64`).
    pub fn sign(&self, body: &[u8]) -> String {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id(SEAL_KID);
        header.set_token_type("JOSE");
        header.set_content_type("application/json");
        header
            .set_claim("http://openbanking.org.uk/iat", Some(json!(now() - 5)))
            .unwrap();
        header
            .set_claim("http://openbanking.org.uk/iss", Some(json!(self.iss)))
            .unwrap();
        header
            .set_claim(
                "http://openbanking.org.uk/tan",
                Some(json!("openbanking.org.uk")),
            )
            .unwrap();
        header.set_critical(&vec![
            "http://openbanking.org.uk/iat",
            "http://openbanking.org.uk/iss",
            "http://openbanking.org.uk/tan",
        ]);
        let compact = josekit::jws::serialize_compact(body, &header, self.signer.as_ref()).unwrap();
        let mut parts = compact.split('.');
        let (h, _payload, s) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        format!("{h}..{s}")
    }
}
