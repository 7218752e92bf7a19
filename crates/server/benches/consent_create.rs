//! Load benchmark of account-access consent creation end to end: TLS with a client QWAC,
//! access token check (signature, revocation, certificate binding), CERT-7 role check, insert
//! and audit row. Runs the real server in-process on its own runtime and a keep-alive load
//! generator on another, against PostgreSQL (DATABASE_URL or 127.0.0.1:5432; a fresh database)
//! or SQLite with `--sqlite`.
//!
//! `cargo bench -p bulwark-server --bench consent_create -- [--sqlite] [--concurrency N] [--seconds S]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bulwark_certs::{Psd2Statement, PspRole, QcType};
use bulwark_core::{Client, ClientStatus};
use bulwark_jose::{Alg, SigningKey};
use bulwark_server::{Application, Config};
use bulwark_store::ClientStore;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sqlite = std::env::args().any(|a| a == "--sqlite");
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seconds: u64 = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(10);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A QTSP with a QWAC (PSP_AI) for the TPP.
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Bench QTSP");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let ca_path = dir.path().join("qtsp.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name
        .push(DnType::OrganizationName, "Bench TPP");
    leaf.distinguished_name
        .push(DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDGB-FCA-123456");
    leaf.distinguished_name
        .push(DnType::CommonName, "bench-tpp");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let psd2 = Psd2Statement {
        roles: vec![PspRole::AccountInformation],
        nca_name: "FCA".into(),
        nca_id: "GB-FCA".into(),
    };
    let qc = bulwark_certs::qc::encode_qc_statements(true, &[QcType::Web], Some(&psd2)).unwrap();
    leaf.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 1, 3],
        qc,
    )];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).unwrap();

    let pg = if sqlite {
        None
    } else {
        server_rt
            .block_on(bulwark_store::testing::TestDb::postgres())
            .unwrap()
    };
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = pg.as_ref().map(|db| db.url.clone());
    config.trust.anchors = vec![ca_path];
    config.revocation.exclude_issuers = vec!["CN=Bench QTSP".into()];
    config.tokens.access_token_alg = "ES256".into();
    config.log.level = "warn".into();
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };

    let app = server_rt.block_on(Application::build(config)).unwrap();
    let addr = app.addr();
    let store = app.store().clone();
    server_rt.spawn(app.run_until(std::future::pending()));

    let key = SigningKey::generate(Alg::Es256).unwrap();
    let client = Client {
        client_id: "bench-tpp".into(),
        metadata: serde_json::from_value(serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
            "scope": "accounts", "jwks": {"keys": [serde_json::Value::Object(key.public_jwk().clone())]}
        }))
        .unwrap(),
        status: ClientStatus::Active,
        client_id_issued_at: 0,
        updated_at: 0,
    };
    server_rt.block_on(store.insert_client(&client)).unwrap();

    let dev_ca = dir.path().join("dev-pki/ca.pem");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&dev_ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![leaf_cert.der().clone()],
            PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .pool_max_idle_per_host(concurrency)
        .http1_only()
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({"iss": "bench-tpp", "sub": "bench-tpp", "aud": "https://localhost:8443",
        "iat": now, "exp": now + 300, "jti": "bench-1"});
    let assertion = key
        .sign_compact("JWT", claims.to_string().as_bytes())
        .unwrap();
    let token: String = client_rt.block_on(async {
        let resp: serde_json::Value = http
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "accounts"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        resp["access_token"].as_str().expect("token").to_string()
    });
    let expiry = time::OffsetDateTime::from_unix_timestamp(now + 86_400).unwrap();
    let body = serde_json::json!({"Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances"],
        "ExpirationDateTime": bulwark_consent::format_datetime(expiry)}, "Risk": {}})
    .to_string();

    let url = format!("{base}/open-banking/v3.1/aisp/account-access-consents");
    let run = |secs: u64| {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let results = client_rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (http, url, token, body, stop) = (
                    http.clone(),
                    url.clone(),
                    token.clone(),
                    body.clone(),
                    stop.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut errors = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let resp = http
                            .post(&url)
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await;
                        match resp {
                            Ok(r) if r.status() == 201 => {
                                let _ = r.bytes().await;
                                lat.push(t.elapsed());
                            }
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                }));
            }
            tokio::time::sleep(Duration::from_secs(secs)).await;
            stop.store(true, Ordering::Relaxed);
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (l, e) = t.await.unwrap();
                all.extend(l);
                errors += e;
            }
            (all, errors)
        });
        (results, started.elapsed())
    };
    let _warmup = run(2);
    let cpu_before = process_cpu();
    let ((mut lat, errors), elapsed) = run(seconds);
    let cpu = process_cpu() - cpu_before;
    lat.sort();
    let n = lat.len();
    let pct = |p: f64| {
        lat.get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "consent create ({backend}, concurrency {concurrency}): {:.0} consents/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors, process CPU {:.0} us/consent (server + load generator)",
        n as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        cpu * 1e6 / n.max(1) as f64
    );
    drop(pg);
}

/// CPU seconds used by this process so far (utime + stime).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
