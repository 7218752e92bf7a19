//! OP-1: the development PKI generated on first start of the embedded default, so a newcomer
//! gets a working TLS server (and a client certificate to try mTLS with) without openssl.
//! Generated once into `<data_dir>/dev-pki/` and reused on every later start.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Paths of the development PKI files.
#[derive(Clone, Debug)]
pub struct DevPki {
    /// The development CA certificate (trusted for client certificates in development).
    pub ca_cert: PathBuf,
    /// The server certificate chain for localhost.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate issued by the development CA, for trying mTLS.
    pub client_cert: PathBuf,
    /// The client certificate's private key.
    pub client_key: PathBuf,
}

impl DevPki {
    fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }

    /// Where the development CA certificate lives for a data directory.
    pub fn ca_path(data_dir: &Path) -> PathBuf {
        Self::in_dir(&data_dir.join("dev-pki")).ca_cert
    }

    /// Loads the development PKI from `<data_dir>/dev-pki`, generating it when absent.
    /// Returns the paths and whether it was generated now.
    pub fn ensure(data_dir: &Path) -> Result<(Self, bool), anyhow::Error> {
        let dir = data_dir.join("dev-pki");
        let pki = Self::in_dir(&dir);
        let present = [
            &pki.ca_cert,
            &pki.server_cert,
            &pki.server_key,
            &pki.client_cert,
            &pki.client_key,
        ]
        .iter()
        .all(|p| p.exists());
        if present {
            return Ok((pki, false));
        }
        crate::config::create_private_dir(&dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        generate(&pki)?;
        Ok((pki, true))
    }
}

fn generate(pki: &DevPki) -> Result<(), anyhow::Error> {
    let now = OffsetDateTime::now_utc();
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = dn("Bulwark Development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = now - Duration::hours(1);
    ca_params.not_after = now + Duration::days(3650);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut server = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    server.distinguished_name = dn("localhost");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = now - Duration::hours(1);
    server.not_after = now + Duration::days(825);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &ca)?;

    // The development TPP certificate is a PSD2 QWAC with every TPP role, so the consent APIs
    // can be tried with it.
    let mut client = CertificateParams::new(Vec::<String>::new())?;
    client.distinguished_name = dn("dev-tpp");
    client
        .distinguished_name
        .push(DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDGB-DEV-000001");
    let psd2 = bulwark_certs::Psd2Statement {
        roles: vec![
            bulwark_certs::PspRole::AccountInformation,
            bulwark_certs::PspRole::PaymentInitiation,
            bulwark_certs::PspRole::CardIssuing,
        ],
        nca_name: "Development NCA".into(),
        nca_id: "GB-DEV".into(),
    };
    let qc =
        bulwark_certs::qc::encode_qc_statements(true, &[bulwark_certs::QcType::Web], Some(&psd2))
            .map_err(|e| anyhow::anyhow!("encoding qcStatements: {e}"))?;
    client.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 1, 3],
        qc,
    )];
    client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client.not_before = now - Duration::hours(1);
    client.not_after = now + Duration::days(825);
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &ca)?;

    write(&pki.ca_cert, &ca.pem(), false)?;
    write(
        &pki.server_cert,
        &format!("{}{}", server_cert.pem(), ca.pem()),
        false,
    )?;
    write(&pki.server_key, &server_key.serialize_pem(), true)?;
    write(&pki.client_cert, &client_cert.pem(), false)?;
    write(&pki.client_key, &client_key.serialize_pem(), true)?;
    Ok(())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Bulwark Development");
    dn.push(DnType::CommonName, cn);
    dn
}

/// Writes `contents` to `path`, synced; a `secret` file is created readable by its owner only.
pub(crate) fn write(path: &Path, contents: &str, secret: bool) -> Result<(), anyhow::Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = secret;
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}
