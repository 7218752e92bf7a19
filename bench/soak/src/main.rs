//! `soak-load`: Bulwark's token endpoint under a steady mix for a long time. Two modes:
//!
//! * `--mode max`: closed loop, `--concurrency` requests in flight, token requests only; prints
//!   the sustained tokens per second (what the soak rate is a share of).
//! * `--mode soak --rate R`: open loop at R requests per second (80 % token requests, 15 %
//!   introspections of recent tokens, 5 % revocations of recent tokens), for `--duration`
//!   seconds. Every `--window` seconds it prints one JSON line: requests by kind, errors,
//!   p50 / p99 latency (ms), and the server's RSS (from /proc, with `--server-pid`).
//!
//! * `--mode rotate`: a resource server's view of a key rotation. `--concurrency` workers
//!   get tokens and verify each (ES256) against a copy of `/jwks` that is refreshed only every
//!   `--window` seconds, never on an unknown `kid` (the strictest cache a relying party may
//!   have). Prints one JSON line per second: tokens, verified, refused (kid not in the cached
//!   set), the kids seen. A rotation that publishes before it signs refuses nothing.
//!
//! The client is `private_key_jwt` (ES256, a fresh assertion per request, signed here) over
//! mTLS keep-alive; `--print-jwk` prints the public JWK to register first.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

struct Args {
    base: String,
    client_id: String,
    key: String,
    cert: String,
    cert_key: String,
    ca: String,
    mode: String,
    rate: u64,
    concurrency: usize,
    duration: u64,
    window: u64,
    server_pid: Option<u32>,
    print_jwk: bool,
}

fn die(msg: &str) -> ! {
    eprintln!("soak-load: {msg}");
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        base: String::new(),
        client_id: "soak-client".into(),
        key: String::new(),
        cert: String::new(),
        cert_key: String::new(),
        ca: String::new(),
        mode: "soak".into(),
        rate: 1000,
        concurrency: 64,
        duration: 600,
        window: 10,
        server_pid: None,
        print_jwk: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--print-jwk" {
            a.print_jwk = true;
            continue;
        }
        let mut val = || it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--base" => a.base = val(),
            "--client-id" => a.client_id = val(),
            "--key" => a.key = val(),
            "--cert" => a.cert = val(),
            "--cert-key" => a.cert_key = val(),
            "--ca" => a.ca = val(),
            "--mode" => a.mode = val(),
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| die("bad --rate")),
            "--concurrency" => a.concurrency = val().parse().unwrap_or_else(|_| die("bad --concurrency")),
            "--duration" => a.duration = val().parse().unwrap_or_else(|_| die("bad --duration")),
            "--window" => a.window = val().parse().unwrap_or_else(|_| die("bad --window")),
            "--server-pid" => a.server_pid = Some(val().parse().unwrap_or_else(|_| die("bad --server-pid"))),
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    a
}

/// The client's signing key (PKCS#8 PEM of a P-256 key).
fn signing_key(path: &str) -> EcdsaKeyPair {
    let pem = std::fs::read(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let der = PrivateKeyDer::from_pem_slice(&pem).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der(), &SystemRandom::new())
        .unwrap_or_else(|e| die(&format!("{path}: {e}")))
}

fn public_jwk(key: &EcdsaKeyPair) -> Value {
    let point = key.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
           "use": "sig", "alg": "ES256", "kid": "soak-es256"})
}

struct Client {
    http: reqwest::Client,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    id: String,
    base: String,
    seq: AtomicU64,
}

impl Client {
    fn assertion(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let header = B64.encode(br#"{"alg":"ES256","typ":"JWT","kid":"soak-es256"}"#);
        let claims = B64.encode(
            json!({"iss": self.id, "sub": self.id, "aud": self.base, "iat": now, "exp": now + 120,
                   "jti": format!("soak-{}-{n}", std::process::id())})
            .to_string(),
        );
        let input = format!("{header}.{claims}");
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .unwrap_or_else(|_| die("signing failed"));
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let assertion = self.assertion();
        let mut form = form.to_vec();
        form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
        form.push(("client_assertion", &assertion));
        match self.http.post(format!("{}{path}", self.base)).form(&form).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }
}

#[derive(Default)]
struct Window {
    counts: [u64; 3],
    errors: u64,
    error_kinds: std::collections::BTreeMap<String, u64>,
    latencies_us: Vec<u64>,
}

fn rss_mib(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The server's open file descriptors (its client connections, mostly): memory held per
/// connection is what a burst of new connections leaves behind.
fn open_fds(pid: Option<u32>) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{}/fd", pid?)).ok()?.count())
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let a = args();
    if a.print_jwk {
        println!("{}", public_jwk(&signing_key(&a.key)));
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&a.ca).unwrap_or_else(|e| die(&format!("{}: {e}", a.ca))) {
        roots.add(cert.unwrap_or_else(|e| die(&e.to_string()))).unwrap_or_else(|e| die(&e.to_string()));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&a.cert)
        .unwrap_or_else(|e| die(&format!("{}: {e}", a.cert)))
        .map(|c| c.unwrap_or_else(|e| die(&e.to_string())))
        .collect();
    let cert_key = PrivateKeyDer::from_pem_file(&a.cert_key).unwrap_or_else(|e| die(&format!("{}: {e}", a.cert_key)));
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, cert_key)
        .unwrap_or_else(|e| die(&e.to_string()));
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(512)
        .build()
        .unwrap_or_else(|e| die(&e.to_string()));
    let client = Arc::new(Client {
        http,
        key: signing_key(&a.key),
        rng: SystemRandom::new(),
        id: a.client_id.clone(),
        base: a.base.clone(),
        seq: AtomicU64::new(0),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| die(&e.to_string()));
    rt.block_on(async move {
        if a.mode == "max" {
            max(client, a.concurrency, a.duration).await;
        } else if a.mode == "rotate" {
            rotate(client, a.concurrency, a.duration, a.window).await;
        } else {
            soak(client, &a).await;
        }
    });
}

async fn max(client: Arc<Client>, concurrency: usize, duration: u64) {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let warmup = Duration::from_secs(5);
    let start = Instant::now();
    let end = start + warmup + Duration::from_secs(duration);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, done, errors) = (client.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let (status, _) = client.post("/token", &[("grant_type", "client_credentials")]).await;
                if Instant::now() > start + warmup {
                    done.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "{}",
        json!({"mode": "max", "concurrency": concurrency, "seconds": duration, "requests": n,
               "errors": errors.load(Ordering::Relaxed), "per_second": n as f64 / duration as f64})
    );
}

async fn soak(client: Arc<Client>, a: &Args) {
    let window = Arc::new(Mutex::new(Window::default()));
    let recent: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(1024));
    let start = Instant::now();
    let end = start + Duration::from_secs(a.duration);
    let mut next_report = start + Duration::from_secs(a.window);
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let mut due = start;
    let mut i: u64 = 0;
    let mut dropped = 0u64;
    while Instant::now() < end {
        let now = Instant::now();
        while due <= now {
            due += interval;
            i += 1;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                dropped += 1;
                continue;
            };
            let kind = match i % 20 {
                0 => 2,
                1..=3 => 1,
                _ => 0,
            };
            let (client, window, recent) = (client.clone(), window.clone(), recent.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let token = if kind == 0 { None } else { recent.lock().map(|r| r.front().cloned()).ok().flatten() };
                let (status, body) = match (kind, token) {
                    (1, Some(t)) => client.post("/introspect", &[("token", &t)]).await,
                    (2, Some(t)) => {
                        if let Ok(mut r) = recent.lock() {
                            r.pop_front();
                        }
                        client.post("/revoke", &[("token", &t)]).await
                    }
                    _ => client.post("/token", &[("grant_type", "client_credentials")]).await,
                };
                if let Some(t) = body["access_token"].as_str() {
                    if let Ok(mut r) = recent.lock() {
                        r.push_back(t.to_string());
                        if r.len() > 1000 {
                            r.pop_front();
                        }
                    }
                }
                let took = started.elapsed().as_micros() as u64;
                if let Ok(mut w) = window.lock() {
                    w.counts[kind] += 1;
                    w.latencies_us.push(took);
                    if status != 200 {
                        w.errors += 1;
                        *w.error_kinds
                            .entry(format!("{status} {}", body["error"].as_str().unwrap_or("")))
                            .or_insert(0) += 1;
                    }
                }
                drop(permit);
            });
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(a.window);
            let mut w = window.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
            w.latencies_us.sort_unstable();
            println!(
                "{}",
                json!({"t": start.elapsed().as_secs(), "token": w.counts[0], "introspect": w.counts[1],
                       "revoke": w.counts[2], "errors": w.errors, "error_kinds": w.error_kinds,
                       "per_second": w.latencies_us.len() as f64 / a.window as f64,
                       "p50_ms": pct(&w.latencies_us, 0.5), "p99_ms": pct(&w.latencies_us, 0.99),
                       "rss_mib": rss_mib(a.server_pid), "fds": open_fds(a.server_pid), "dropped": dropped})
            );
            dropped = 0;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The cached JWKS: ES256 keys by kid.
type Jwks = std::collections::HashMap<String, Vec<u8>>;

async fn fetch_jwks(client: &Client) -> Jwks {
    let mut keys = Jwks::new();
    let Ok(resp) = client.http.get(format!("{}/jwks", client.base)).send().await else {
        return keys;
    };
    let doc: Value = resp.json().await.unwrap_or(Value::Null);
    for k in doc["keys"].as_array().into_iter().flatten() {
        let (Some(kid), Some(x), Some(y)) = (k["kid"].as_str(), k["x"].as_str(), k["y"].as_str()) else {
            continue;
        };
        let (Ok(x), Ok(y)) = (B64.decode(x), B64.decode(y)) else { continue };
        let mut point = vec![4u8];
        point.extend(x);
        point.extend(y);
        keys.insert(kid.to_string(), point);
    }
    keys
}

/// Verifies an ES256 compact JWS against the cached keys: Ok(kid) or Err(reason).
fn verify(jwks: &Jwks, token: &str) -> Result<String, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("malformed".into());
    };
    let header: Value = serde_json::from_slice(&B64.decode(h).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let kid = header["kid"].as_str().unwrap_or_default().to_string();
    let Some(point) = jwks.get(&kid) else {
        return Err(format!("unknown kid {kid}"));
    };
    let sig = B64.decode(s).map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| "bad signature".to_string())?;
    Ok(kid)
}

async fn rotate(client: Arc<Client>, concurrency: usize, duration: u64, cache_secs: u64) {
    let jwks = Arc::new(tokio::sync::RwLock::new(fetch_jwks(&client).await));
    let stats = Arc::new(Mutex::new((0u64, 0u64, 0u64, std::collections::BTreeSet::<String>::new(), Vec::<String>::new())));
    let start = Instant::now();
    let end = start + Duration::from_secs(duration);
    {
        let (client, jwks) = (client.clone(), jwks.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(cache_secs)).await;
                let fresh = fetch_jwks(&client).await;
                if !fresh.is_empty() {
                    *jwks.write().await = fresh;
                }
            }
        });
    }
    for _ in 0..concurrency {
        let (client, jwks, stats) = (client.clone(), jwks.clone(), stats.clone());
        tokio::spawn(async move {
            while Instant::now() < end {
                let (status, body) = client.post("/token", &[("grant_type", "client_credentials")]).await;
                let verdict = match body["access_token"].as_str() {
                    Some(t) if status == 200 => Some(verify(&*jwks.read().await, t)),
                    _ => None,
                };
                if let Ok(mut s) = stats.lock() {
                    s.0 += 1;
                    match verdict {
                        Some(Ok(kid)) => {
                            s.1 += 1;
                            s.3.insert(kid);
                        }
                        Some(Err(why)) => {
                            s.2 += 1;
                            s.4.push(why);
                        }
                        None => s.4.push(format!("token request answered {status}")),
                    }
                }
            }
        });
    }
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cached: Vec<String> = jwks.read().await.keys().cloned().collect();
        if let Ok(mut s) = stats.lock() {
            let (tokens, verified, refused, kids, why) = std::mem::take(&mut *s);
            println!(
                "{}",
                json!({"t": start.elapsed().as_secs(), "tokens": tokens, "verified": verified,
                       "refused": refused, "signing_kids": kids, "cached_kids": cached,
                       "problems": why.into_iter().take(3).collect::<Vec<_>>()})
            );
        }
    }
}
