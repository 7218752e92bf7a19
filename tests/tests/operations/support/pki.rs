//! Certificates made for the test with rcgen: a server CA whose `localhost` certificate
//! nginx and the nodes present, and a QTSP-like CA issuing the TPP's client certificate (a
//! PSD2 QWAC).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// The files of the test PKI.
pub struct Pki {
    /// The CA of the server certificate (clients and nginx trust it).
    pub server_ca: PathBuf,
    /// The server certificate for `localhost` and its key.
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// The CA the nodes trust for client certificates.
    pub client_ca: PathBuf,
    /// The TPP's certificate (PEM) and key (PEM).
    pub client_cert_pem: String,
    /// The TPP's key.
    pub client_key_pem: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Ops Test");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    /// Makes every certificate and writes the files into `dir`.
    pub fn new(dir: &Path) -> Self {
        let server_ca = ca("Ops Server CA");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let server_key = KeyPair::generate().unwrap();
        let server = params.signed_by(&server_key, &server_ca).unwrap();

        let client_ca = ca("Ops QTSP");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "TPP Ltd");
        params
            .distinguished_name
            .push(DnType::CommonName, "ops-tpp");
        // A QWAC (ETSI EN 319 412-5 qcStatements with a PSD2 AISP role, and an
        // organizationIdentifier), so the TPP may call the OB consent APIs.
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDGB-FCA-000001");
        let psd2 = bulwark_certs::Psd2Statement {
            roles: vec![bulwark_certs::PspRole::AccountInformation],
            nca_name: "Financial Conduct Authority".into(),
            nca_id: "GB-FCA".into(),
        };
        let qc = bulwark_certs::qc::encode_qc_statements(
            true,
            &[bulwark_certs::QcType::Web],
            Some(&psd2),
        )
        .unwrap();
        params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 3],
            qc,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let client_key = KeyPair::generate().unwrap();
        let client = params.signed_by(&client_key, &client_ca).unwrap();

        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Self {
            server_ca: write("server-ca.pem", &server_ca.pem()),
            server_cert: write("server.pem", &server.pem()),
            server_key: write("server.key", &server_key.serialize_pem()),
            client_ca: write("client-ca.pem", &client_ca.pem()),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }
}
