//! The test PKI made with rcgen: a trust-anchor CA issuing client certificates and PSD2 QWACs
//! (optionally naming a CRL distribution point) and signing CRLs, and the `Identity` (certificate
//! chain and key) a test client presents.

use std::path::Path;
use std::sync::Mutex;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    CrlDistributionPoint, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// A client certificate and key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The JWK a TPP authenticating with this self-signed certificate registers
    /// (`self_signed_tls_client_auth`, RFC 8705 2.2.2): the certificate's own key with the
    /// certificate as its `x5c`.
    pub fn self_signed_jwk(&self) -> serde_json::Value {
        use base64::Engine;
        let key = KeyPair::try_from(self.key.secret_der()).unwrap();
        let mut jwk = bulwark_jose::pem::jwk_from_public_pem(&key.public_key_pem(), None).unwrap();
        jwk.insert(
            "x5c".into(),
            serde_json::json!([base64::engine::general_purpose::STANDARD.encode(&self.chain[0])]),
        );
        serde_json::Value::Object(jwk)
    }

    pub fn from_files(cert: &Path, key: &Path) -> Self {
        Self {
            chain: CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(|c| c.unwrap())
                .collect(),
            key: PrivateKeyDer::from_pem_file(key).unwrap(),
        }
    }

    /// A fresh self-made CA with one client certificate, for certificates the server does not
    /// trust.
    pub fn self_made(cn: &str) -> Self {
        Self::self_made_with(cn, false)
    }

    /// [`Identity::self_made`] whose certificate expired yesterday.
    pub fn self_made_expired(cn: &str) -> Self {
        Self::self_made_with(cn, true)
    }

    fn self_made_with(cn: &str, expired: bool) -> Self {
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Untrusted Test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            let now = OffsetDateTime::now_utc();
            params.not_before = now - Duration::days(30);
            params.not_after = now - Duration::days(1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Self {
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        }
    }
}

/// A CA that client certificates chain to.
pub struct TestPki {
    pub ca: CertifiedIssuer<'static, KeyPair>,
    pub ca_pem_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    next_serial: Mutex<u64>,
}

/// The UK Open Banking directory's CA of this test process (`OpenBanking Root CA`), shared by
/// every test that configures it as `[trust] ob_directory`.
pub fn ob_directory_pki() -> &'static TestPki {
    static PKI: std::sync::OnceLock<TestPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| TestPki::with_org("OpenBanking Root CA", "OpenBanking"))
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        Self::with_org(name, "Test QTSP")
    }

    /// A root CA `O=<org>, CN=<name>`.
    pub fn with_org(name: &str, org: &str) -> Self {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(30);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_pem_path = dir.path().join("ca.pem");
        std::fs::write(&ca_pem_path, ca.pem()).unwrap();
        Self {
            ca,
            ca_pem_path,
            _dir: dir,
            next_serial: Mutex::new(1000),
        }
    }

    /// A client certificate `O=<org>, CN=<cn>` with EKU clientAuth, optionally naming a CRL
    /// distribution point. Returns the identity and its serial.
    pub fn client(&self, org: &str, cn: &str, crl_url: Option<&str>) -> (Identity, u64) {
        self.client_with(org, cn, crl_url, Vec::new())
    }

    /// [`TestPki::client`] with subject alternative names (RFC 8705 2.1.2's SAN matching).
    pub fn client_with_sans(&self, org: &str, cn: &str, sans: Vec<rcgen::SanType>) -> Identity {
        self.client_with(org, cn, None, sans).0
    }

    fn client_with(
        &self,
        org: &str,
        cn: &str,
        crl_url: Option<&str>,
        sans: Vec<rcgen::SanType>,
    ) -> (Identity, u64) {
        let serial = {
            let mut s = self.next_serial.lock().unwrap();
            *s += 1;
            *s
        };
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from(serial));
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(10);
        if let Some(url) = crl_url {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![url.to_string()],
            }];
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (
            Identity {
                chain: vec![cert.der().clone()],
                key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            },
            serial,
        )
    }

    /// A PSD2 QWAC (ETSI TS 119 495): clientAuth, qcStatements with QcCompliance, QcType web and
    /// the PSD2 statement (`roles`, NCA GB-FCA), the subject's organizationIdentifier (2.5.4.97)
    /// and / or OU (the OB directory org id) when given.
    pub fn qwac(
        &self,
        cn: &str,
        organization_identifier: Option<&str>,
        ou: Option<&str>,
        roles: &[bulwark_certs::PspRole],
    ) -> Identity {
        self.qwac_with_crl(cn, organization_identifier, ou, roles, None)
            .0
    }

    /// [`TestPki::qwac`] naming a CRL distribution point; returns the serial too.
    pub fn qwac_with_crl(
        &self,
        cn: &str,
        organization_identifier: Option<&str>,
        ou: Option<&str>,
        roles: &[bulwark_certs::PspRole],
        crl_url: Option<&str>,
    ) -> (Identity, u64) {
        self.qwac_of_authority(cn, organization_identifier, ou, roles, crl_url, "GB-FCA")
    }

    /// [`TestPki::qwac_with_crl`] whose PSD2 statement names the competent authority `nca_id`
    /// (ETSI TS 119 495: `<country>-<authority>`), for certificates whose statement and
    /// organizationIdentifier disagree.
    pub fn qwac_of_authority(
        &self,
        cn: &str,
        organization_identifier: Option<&str>,
        ou: Option<&str>,
        roles: &[bulwark_certs::PspRole],
        crl_url: Option<&str>,
        nca_id: &str,
    ) -> (Identity, u64) {
        let qc = bulwark_certs::qc::encode_qc_statements(
            true,
            &[bulwark_certs::QcType::Web],
            Some(&bulwark_certs::Psd2Statement {
                roles: roles.to_vec(),
                nca_name: "Financial Conduct Authority".into(),
                nca_id: nca_id.into(),
            }),
        )
        .unwrap();
        let serial = {
            let mut s = self.next_serial.lock().unwrap();
            *s += 1;
            *s
        };
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CountryName, "GB");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "TPP Ltd");
        if let Some(ou) = ou {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, ou);
        }
        if let Some(oi) = organization_identifier {
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 97]), oi);
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from(serial));
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 3],
                qc,
            ));
        if let Some(url) = crl_url {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![url.to_string()],
            }];
        }
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(10);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (
            Identity {
                chain: vec![cert.der().clone()],
                key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            },
            serial,
        )
    }

    /// A UK Open Banking directory certificate as the directory issues them: subject
    /// `C=GB, O=OpenBanking, OU=<org id>, CN=<software id>`, no qcStatements; a transport
    /// certificate (OBWAC: clientAuth + serverAuth, digitalSignature + keyEncipherment) or a
    /// signing one (OBSeal: no EKU, digitalSignature + nonRepudiation). Returns the identity
    /// and the certificate's DER.
    pub fn directory_cert(&self, ou: Option<&str>, cn: &str, seal: bool) -> (Identity, Vec<u8>) {
        let serial = {
            let mut s = self.next_serial.lock().unwrap();
            *s += 1;
            *s
        };
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CountryName, "GB");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "OpenBanking");
        if let Some(ou) = ou {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, ou);
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        if seal {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
        } else {
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ];
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
        }
        params.serial_number = Some(SerialNumber::from(serial));
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(10);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (
            Identity {
                chain: vec![cert.der().clone()],
                key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            },
            cert.der().to_vec(),
        )
    }

    /// A DER CRL revoking the given serials.
    pub fn crl(&self, revoked: &[u64]) -> Vec<u8> {
        let now = OffsetDateTime::now_utc();
        CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::hours(1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now - Duration::minutes(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.ca)
        .unwrap()
        .der()
        .to_vec()
    }
}
