//! Test PKI and loopback revocation services, built fresh by every test: rcgen CAs and leaves,
//! a real `openssl ocsp` responder child process, a tiny HTTP server for rcgen CRLs, and a
//! "black hole" server that accepts connections and never answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    missing_docs,
    unreachable_pub
)]

pub mod tamper;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bulwark_certs::{Psd2Statement, PspRole, QcType, qc::encode_qc_statements};
use der::Encode;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    CrlDistributionPoint, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static SERIAL: AtomicU32 = AtomicU32::new(0x10_0000);

/// A fresh positive serial, as bytes and as the upper-case hex openssl's index.txt uses.
fn next_serial() -> (Vec<u8>, String) {
    let n = SERIAL.fetch_add(1, Ordering::SeqCst);
    let bytes = vec![0x1f, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    let hex = bytes.iter().map(|b| format!("{b:02X}")).collect();
    (bytes, hex)
}

pub fn now_odt() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    pub key_pem: String,
    pub serial: Vec<u8>,
    pub serial_hex: String,
    pub not_after: OffsetDateTime,
}

impl Ca {
    fn params(cn: &str, serial: &[u8]) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, "GB");
        p.distinguished_name
            .push(DnType::OrganizationName, "Test QTSP");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = now_odt() - time::Duration::days(365);
        p.not_after = now_odt() + time::Duration::days(3650);
        p.serial_number = Some(SerialNumber::from_slice(serial));
        p
    }

    pub fn root(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let (serial, serial_hex) = next_serial();
        let p = Self::params(cn, &serial);
        let not_after = p.not_after;
        Ca {
            issuer: CertifiedIssuer::self_signed(p, key).unwrap(),
            key_pem,
            serial,
            serial_hex,
            not_after,
        }
    }

    /// A root whose certificate's key usage leaves out cRLSign, and its twin: the same name
    /// and key with cRLSign. rcgen will not sign a CRL as the first, but its key can sign one
    /// (the twin does), which the tests present as evidence that must not count.
    pub fn root_without_crl_sign(cn: &str) -> (Ca, Ca) {
        let key = KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let (serial, serial_hex) = next_serial();
        let mut p = Self::params(cn, &serial);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let not_after = p.not_after;
        let anchor = Ca {
            issuer: CertifiedIssuer::self_signed(p, key).unwrap(),
            key_pem: key_pem.clone(),
            serial: serial.clone(),
            serial_hex: serial_hex.clone(),
            not_after,
        };
        let twin_key = KeyPair::from_pem(&key_pem).unwrap();
        let twin = Ca {
            issuer: CertifiedIssuer::self_signed(Self::params(cn, &serial), twin_key).unwrap(),
            key_pem,
            serial,
            serial_hex,
            not_after,
        };
        (anchor, twin)
    }

    pub fn intermediate(&self, cn: &str) -> Ca {
        self.intermediate_with(cn, None, None)
    }

    /// An issuing CA whose own revocation status is published at `crl_url` / `ocsp_url`
    /// (by this CA).
    pub fn intermediate_with(&self, cn: &str, crl_url: Option<&str>, ocsp_url: Option<&str>) -> Ca {
        self.intermediate_shaped(cn, |p| {
            if let Some(url) = crl_url {
                p.crl_distribution_points = vec![CrlDistributionPoint {
                    uris: vec![url.to_owned()],
                }];
            }
            if let Some(url) = ocsp_url {
                p.custom_extensions.push(aia_extension(url));
            }
        })
    }

    /// An issuing CA whose own revocation status this CA publishes at `crl_url`, with a key
    /// usage that leaves out cRLSign, and its twin: the same name and key with cRLSign. rcgen
    /// will not sign a CRL as the first, but its key can sign one (the twin does), which the
    /// tests present as evidence that must not count under the first.
    pub fn intermediate_without_crl_sign(&self, cn: &str, crl_url: &str) -> (Ca, Ca) {
        let key_pem = KeyPair::generate().unwrap().serialize_pem();
        let (serial, serial_hex) = next_serial();
        let certify = |usages: Option<Vec<KeyUsagePurpose>>| {
            let mut p = Self::params(cn, &serial);
            p.use_authority_key_identifier_extension = true;
            p.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![crl_url.to_owned()],
            }];
            if let Some(usages) = usages {
                p.key_usages = usages;
            }
            let not_after = p.not_after;
            let key = KeyPair::from_pem(&key_pem).unwrap();
            Ca {
                issuer: CertifiedIssuer::signed_by(p, key, &self.issuer).unwrap(),
                key_pem: key_pem.clone(),
                serial: serial.clone(),
                serial_hex: serial_hex.clone(),
                not_after,
            }
        };
        let ca = certify(Some(vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ]));
        (ca, certify(None))
    }

    /// An issuing certificate certified by this CA with its parameters changed by `shape`
    /// (basic constraints, validity): the shapes a chain must not be built through.
    pub fn intermediate_shaped(&self, cn: &str, shape: impl FnOnce(&mut CertificateParams)) -> Ca {
        let key = KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let (serial, serial_hex) = next_serial();
        let mut p = Self::params(cn, &serial);
        p.use_authority_key_identifier_extension = true;
        shape(&mut p);
        let not_after = p.not_after;
        Ca {
            issuer: CertifiedIssuer::signed_by(p, key, &self.issuer).unwrap(),
            key_pem,
            serial,
            serial_hex,
            not_after,
        }
    }

    /// An issuing CA (`cA` true) whose key usage is `usages` only.
    pub fn intermediate_with_usages(&self, cn: &str, usages: Vec<KeyUsagePurpose>) -> Ca {
        self.intermediate_shaped(cn, |p| p.key_usages = usages)
    }

    /// This CA's key certified again by `root` under another name (a renamed or re-certified
    /// CA): the same key, another issuer name for what it signs.
    pub fn recertified(&self, root: &Ca, cn: &str) -> Ca {
        let key = KeyPair::from_pem(&self.key_pem).unwrap();
        let (serial, serial_hex) = next_serial();
        let mut p = Self::params(cn, &serial);
        p.use_authority_key_identifier_extension = true;
        let not_after = p.not_after;
        Ca {
            issuer: CertifiedIssuer::signed_by(p, key, &root.issuer).unwrap(),
            key_pem: self.key_pem.clone(),
            serial,
            serial_hex,
            not_after,
        }
    }

    /// This CA's certificate in the shape the CRL and OCSP helpers take.
    pub fn as_leaf(&self) -> Leaf {
        Leaf {
            der: self.der(),
            pem: self.pem(),
            key_pem: self.key_pem.clone(),
            serial: self.serial.clone(),
            serial_hex: self.serial_hex.clone(),
            not_after: self.not_after,
        }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn issue(&self, spec: &LeafSpec) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let (serial, serial_hex) = match &spec.serial {
            Some(chosen) => (
                chosen.clone(),
                chosen.iter().map(|b| format!("{b:02X}")).collect(),
            ),
            None => next_serial(),
        };
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, "GB");
        p.distinguished_name
            .push(DnType::OrganizationName, spec.org.clone());
        if let Some(ou) = &spec.ou {
            p.distinguished_name
                .push(DnType::OrganizationalUnitName, ou.clone());
        }
        if let Some(oi) = &spec.org_id {
            p.distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 97]), oi.clone());
        }
        p.distinguished_name
            .push(DnType::CommonName, spec.cn.clone());
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.not_before = spec.not_before;
        p.not_after = spec.not_after;
        p.key_usages = spec.ku.clone();
        p.extended_key_usages = spec.eku.clone();
        p.use_authority_key_identifier_extension = true;
        p.key_identifier_method = KeyIdMethod::Sha256;
        p.subject_alt_names = spec.sans.clone();
        if let Some(url) = &spec.crl_url {
            p.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![url.clone()],
            }];
        }
        if let Some(url) = &spec.ocsp_url {
            p.custom_extensions.push(aia_extension(url));
        }
        if let Some(qc) = &spec.qc {
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 3],
                qc.clone(),
            ));
        }
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_pem,
            serial,
            serial_hex,
            not_after: spec.not_after,
        }
    }

    /// A CRL listing `revoked`, valid from `this_update` to `next_update`.
    pub fn crl(
        &self,
        revoked: &[&Leaf],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|l| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&l.serial),
                    revocation_time: this_update - time::Duration::hours(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().der().to_vec()
    }

    /// A CRL valid now for a day, scoped by an issuing distribution point.
    pub fn scoped_crl(
        &self,
        revoked: &[&Leaf],
        idp: rcgen::CrlIssuingDistributionPoint,
    ) -> Vec<u8> {
        let this_update = now_odt() - time::Duration::minutes(5);
        let params = CertificateRevocationListParams {
            this_update,
            next_update: now_odt() + time::Duration::days(1),
            crl_number: SerialNumber::from(2u64),
            issuing_distribution_point: Some(idp),
            revoked_certs: revoked
                .iter()
                .map(|l| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&l.serial),
                    revocation_time: this_update - time::Duration::hours(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().der().to_vec()
    }

    /// A CRL valid now for a day.
    pub fn fresh_crl(&self, revoked: &[&Leaf]) -> Vec<u8> {
        self.crl(
            revoked,
            now_odt() - time::Duration::minutes(5),
            now_odt() + time::Duration::days(1),
        )
    }

    /// An OCSP delegated responder certificate issued by this CA (with id-kp-OCSPSigning when
    /// `ocsp_eku`).
    pub fn responder(&self, ocsp_eku: bool) -> Leaf {
        let mut spec = LeafSpec::plain("OCSP Responder");
        spec.eku = if ocsp_eku {
            vec![ExtendedKeyUsagePurpose::OcspSigning]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        spec.ku = vec![KeyUsagePurpose::DigitalSignature];
        self.issue(&spec)
    }
}

fn aia_extension(url: &str) -> CustomExtension {
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: const_oid::db::rfc5280::ID_AD_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(
            der::asn1::Ia5String::new(url).unwrap(),
        ),
    }]);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia.to_der().unwrap())
}

#[derive(Clone)]
pub struct LeafSpec {
    pub cn: String,
    pub org: String,
    pub ou: Option<String>,
    pub org_id: Option<String>,
    pub qc: Option<Vec<u8>>,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    pub ku: Vec<KeyUsagePurpose>,
    pub ocsp_url: Option<String>,
    pub crl_url: Option<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub sans: Vec<SanType>,
    /// A chosen serial (default: the next of the sequence).
    pub serial: Option<Vec<u8>>,
}

impl LeafSpec {
    /// A transport certificate: clientAuth, digitalSignature, valid for 30 days.
    pub fn plain(cn: &str) -> Self {
        Self {
            cn: cn.into(),
            org: "Example TPP Ltd".into(),
            ou: None,
            org_id: None,
            qc: None,
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            ku: vec![KeyUsagePurpose::DigitalSignature],
            ocsp_url: None,
            crl_url: None,
            not_before: now_odt() - time::Duration::days(1),
            not_after: now_odt() + time::Duration::days(30),
            sans: Vec::new(),
            serial: None,
        }
    }

    /// A PSD2 QWAC with the given roles.
    pub fn qwac(cn: &str, roles: &[PspRole]) -> Self {
        let mut s = Self::plain(cn);
        s.org_id = Some("PSDGB-FCA-123456".into());
        s.qc = Some(qc(true, &[QcType::Web], Some(roles)));
        s
    }

    /// A PSD2 QSealC with the given roles.
    pub fn qsealc(cn: &str, roles: &[PspRole]) -> Self {
        let mut s = Self::plain(cn);
        s.org_id = Some("PSDGB-FCA-123456".into());
        s.qc = Some(qc(true, &[QcType::Eseal], Some(roles)));
        s.eku = Vec::new();
        s.ku = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        s
    }

    pub fn ocsp(mut self, url: &str) -> Self {
        self.ocsp_url = Some(url.into());
        self
    }

    pub fn crl(mut self, url: &str) -> Self {
        self.crl_url = Some(url.into());
        self
    }
}

pub fn qc(compliance: bool, types: &[QcType], roles: Option<&[PspRole]>) -> Vec<u8> {
    let psd2 = roles.map(|r| Psd2Statement {
        roles: r.to_vec(),
        nca_name: "Financial Conduct Authority".into(),
        nca_id: "GB-FCA".into(),
    });
    encode_qc_statements(compliance, types, psd2.as_ref()).unwrap()
}

pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_pem: String,
    pub serial: Vec<u8>,
    pub serial_hex: String,
    pub not_after: OffsetDateTime,
}

/// A port that was free a moment ago (for URLs that must be baked into certificates).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// openssl index.txt line status.
pub enum Entry<'a> {
    Valid(&'a Leaf),
    Revoked(&'a Leaf),
}

fn openssl_time(t: OffsetDateTime) -> String {
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A real `openssl ocsp` responder on loopback, killed on drop.
pub struct OcspResponder {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl OcspResponder {
    pub fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}/")
    }

    /// Starts `openssl ocsp -index ... -port PORT -rsigner ... -rkey ... -CA ca` answering for
    /// `entries` (serials not listed are "unknown"), with nextUpdate `valid_min` minutes ahead.
    pub fn start(
        port: u16,
        ca: &Ca,
        signer_pem: &str,
        signer_key_pem: &str,
        entries: &[Entry<'_>],
        valid_min: u32,
    ) -> Self {
        Self::start_with(
            port,
            ca,
            (signer_pem, signer_key_pem),
            entries,
            valid_min,
            &[],
        )
    }

    /// [`OcspResponder::start`] with more `openssl ocsp` options (e.g. `-resp_key_id`: the
    /// responder names itself by its key's hash rather than by its name); a `valid_min` of 0
    /// gives answers without nextUpdate.
    pub fn start_with(
        port: u16,
        ca: &Ca,
        (signer_pem, signer_key_pem): (&str, &str),
        entries: &[Entry<'_>],
        valid_min: u32,
        extra: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut index = String::new();
        for e in entries {
            let (flag, leaf, rev) = match e {
                Entry::Valid(l) => ("V", l, String::new()),
                Entry::Revoked(l) => ("R", l, openssl_time(now_odt() - time::Duration::hours(1))),
            };
            index.push_str(&format!(
                "{flag}\t{}\t{rev}\t{}\tunknown\t/CN=leaf\n",
                openssl_time(leaf.not_after),
                leaf.serial_hex
            ));
        }
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("index.txt"), index).unwrap();
        std::fs::write(p("index.txt.attr"), "unique_subject = no\n").unwrap();
        std::fs::write(p("ca.pem"), ca.pem()).unwrap();
        std::fs::write(p("rsigner.pem"), signer_pem).unwrap();
        std::fs::write(p("rkey.pem"), signer_key_pem).unwrap();
        let child = Command::new("openssl")
            .arg("ocsp")
            .arg("-index")
            .arg(p("index.txt"))
            .arg("-port")
            .arg(port.to_string())
            .arg("-rsigner")
            .arg(p("rsigner.pem"))
            .arg("-rkey")
            .arg(p("rkey.pem"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .args(match valid_min {
                0 => Vec::new(),
                n => vec!["-nmin".to_string(), n.to_string()],
            })
            .arg("-ignore_err")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl on PATH");
        // Readiness: wait for openssl's "ACCEPT" line rather than probing the port (a probe
        // connection that closes without a request wedges the single-threaded responder).
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut child = child;
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    if line.contains("ACCEPT") || line.contains("waiting for OCSP client") {
                        let _ = tx.send(());
                    }
                }
            });
        }
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("openssl ocsp did not start on port {port}"));
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the tiny HTTP server does with a request.
#[derive(Clone)]
pub enum Behaviour {
    /// Answer 200 with these bytes.
    Serve(Arc<Vec<u8>>),
    /// Accept and never answer.
    BlackHole,
    /// Answer 200 with whatever the slot holds at request time (for a CRL whose URL must be
    /// baked into the certificate it covers).
    Slot(Arc<std::sync::Mutex<Vec<u8>>>),
}

/// A tiny loopback HTTP server (CRLs, or a black hole), counting requests.
pub struct HttpStub {
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpStub {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let behaviour = behaviour.clone();
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let behaviour = match behaviour {
                        Behaviour::Slot(slot) => {
                            Behaviour::Serve(Arc::new(slot.lock().unwrap().clone()))
                        }
                        other => other,
                    };
                    match behaviour {
                        Behaviour::Slot(_) => {}
                        Behaviour::Serve(body) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/pkix-crl\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = sock.write_all(head.as_bytes()).await;
                            let _ = sock.write_all(&body).await;
                        }
                        Behaviour::BlackHole => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                });
            }
        });
        Self { port, hits, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ca.crl", self.port)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn now() -> SystemTime {
    SystemTime::now()
}

/// A validator trusting `root`, with short timeouts.
pub fn validator(
    root: &Ca,
    settings: bulwark_certs::RevocationSettings,
) -> bulwark_certs::CertValidator {
    let anchors = bulwark_certs::TrustAnchors::from_ders(vec![root.der()]);
    bulwark_certs::CertValidator::new(&anchors, Duration::from_secs(60), settings).unwrap()
}

pub fn fast_settings() -> bulwark_certs::RevocationSettings {
    bulwark_certs::RevocationSettings {
        ocsp_timeout_ms: 1000,
        crl_timeout_ms: 1000,
        ..Default::default()
    }
}

pub fn no_revocation() -> bulwark_certs::RevocationSettings {
    bulwark_certs::RevocationSettings {
        enabled: false,
        ..Default::default()
    }
}

/// Root + issuing CA, the usual QTSP shape.
pub struct Pki {
    pub root: Ca,
    pub ca: Ca,
}

impl Pki {
    pub fn new() -> Self {
        Self::named("Test")
    }

    /// A PKI whose CA names start with `prefix` (a stranger PKI must not share names, or
    /// webpki reports a bad signature instead of an unknown issuer).
    pub fn named(prefix: &str) -> Self {
        let root = Ca::root(&format!("{prefix} Root CA"));
        let ca = root.intermediate(&format!("{prefix} Issuing CA"));
        Self { root, ca }
    }

    pub fn chain(&self, leaf: &Leaf) -> Vec<CertificateDer<'static>> {
        vec![leaf.der.clone(), self.ca.der()]
    }
}
