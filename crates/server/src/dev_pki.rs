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
    ///
    /// The set is generated whole in a staging directory beside it and put in place by one
    /// rename: a start that dies half-way leaves no half-written set behind, and of two
    /// processes starting at once on a fresh data directory (`serve` and `demo-bank`), one set
    /// wins and both use it (never one's certificate with the other's key).
    pub fn ensure(data_dir: &Path) -> Result<(Self, bool), anyhow::Error> {
        let dir = data_dir.join("dev-pki");
        let pki = Self::in_dir(&dir);
        if pki.complete() {
            return Ok((pki, false));
        }
        let staging = staging_dir(data_dir);
        crate::config::create_private_dir(&staging)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", staging.display()))?;
        if let Err(e) = generate(&Self::in_dir(&staging)) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        // A set missing a file (one removed by hand) is replaced whole.
        if dir.exists() && !pki.complete() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        match std::fs::rename(&staging, &dir) {
            Ok(()) => Ok((pki, true)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                if pki.complete() {
                    // Another process put its set in place first.
                    Ok((pki, false))
                } else {
                    Err(anyhow::anyhow!("creating {}: {e}", dir.display()))
                }
            }
        }
    }

    /// Whether every file of the set is there.
    fn complete(&self) -> bool {
        [
            &self.ca_cert,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
        .iter()
        .all(|p| p.exists())
    }
}

/// A staging path of this process (and call) beside `dev-pki`, in the same directory, so the
/// rename that puts it in place stays on one file system.
fn staging_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(format!(".{}", unique_name("dev-pki")))
}

/// `name.<pid>.<n>.tmp`: unique to this process and call.
fn unique_name(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}.{}.{n}.tmp", std::process::id())
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
/// The file is written beside `path` and renamed over it, so `path` is always a whole file,
/// the old or the new one (a crash mid-write, a reader at that moment).
pub(crate) fn write(path: &Path, contents: &str, secret: bool) -> Result<(), anyhow::Error> {
    let fail = |e: std::io::Error| anyhow::anyhow!("writing {}: {e}", path.display());
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("writing {}: not a file name", path.display()))?;
    let staged = path.with_file_name(format!(".{}", unique_name(&name.to_string_lossy())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = secret;
    let written = options.open(&staged).and_then(|mut file| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&staged, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(fail(e))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// OP-1: the files are replaced whole: a reader that opened the previous file reads it to
    /// the end unchanged (a write in place would truncate it under the reader), the new file
    /// keeps its owner-only mode, and nothing is left beside it.
    #[test]
    fn op_1_a_file_is_replaced_whole() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo-psu.txt");
        write(&path, "username: old\n", true).unwrap();
        let mut reader = std::fs::File::open(&path).unwrap();
        write(&path, "username: new\npassword: x\n", true).unwrap();
        let mut before = String::new();
        reader.read_to_string(&mut before).unwrap();
        assert_eq!(before, "username: old\n");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "username: new\npassword: x\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["demo-psu.txt"]);
    }

    /// OP-1: processes starting at once on a fresh data directory end with one development
    /// PKI, not a mix of two (the server certificate's chain ends in the CA next to it); a
    /// set missing a file is replaced whole; no staging directory is left.
    #[test]
    fn op_1_the_development_pki_is_put_in_place_whole() {
        let data = tempfile::tempdir().unwrap();
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let dir = data.path().to_path_buf();
                std::thread::spawn(move || DevPki::ensure(&dir).unwrap().1)
            })
            .collect();
        let generated = starts
            .into_iter()
            .map(|s| s.join().unwrap())
            .filter(|generated| *generated)
            .count();
        assert_eq!(generated, 1, "one set was put in place");
        let pki = DevPki::in_dir(&data.path().join("dev-pki"));
        let one_set = |pki: &DevPki| {
            let ca = std::fs::read_to_string(&pki.ca_cert).unwrap();
            assert!(
                std::fs::read_to_string(&pki.server_cert)
                    .unwrap()
                    .ends_with(&ca)
            );
            ca
        };
        let first_ca = one_set(&pki);
        std::fs::remove_file(&pki.client_key).unwrap();
        let (_, again) = DevPki::ensure(data.path()).unwrap();
        assert!(again, "an incomplete set is generated anew");
        assert_ne!(one_set(&pki), first_ca);
        let names: Vec<_> = std::fs::read_dir(data.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["dev-pki"]);
    }
}
