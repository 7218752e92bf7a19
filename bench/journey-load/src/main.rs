//! journey-load: load generator for the whole FAPI 2.0 authorization-code journey of a PSU who
//! is already logged in, against Bulwark (UK Open Banking: one account-access consent per
//! journey) or panva's oidc-provider (../../../shared/peers/oidc-provider/fapi2-op.mjs).
//!
//! One journey (what a TPP back end + the PSU's browser do):
//!   TPP:     POST PAR (private_key_jwt, pre-signed ES256 assertion, unique jti; over mTLS)
//!   browser: GET /authorize?client_id&request_uri  (with the PSU session cookie)
//!            -> the redirects and pages of the server: the consent page is answered
//!               (Bulwark: csrf + first account + decision=authorise; oidc-provider's
//!               devInteractions: prompt=consent), until the 303 to redirect_uri carries the code
//!   TPP:     POST token (authorization_code, PKCE verifier, pre-signed assertion; over mTLS)
//!            -> 200 with access_token and id_token
//! Each worker (= one concurrent journey) has two keep-alive HTTP/1.1 connections: the TPP's
//! (TLS client certificate) and the browser's (no client certificate), and its own cookie jar.
//!
//! Setup (not measured): discovery; Bulwark: a client_credentials token and one consent per
//! journey (+ one per worker); pre-signing of every client assertion; per worker one full
//! journey *with* the login form (that gives the worker its PSU session; it also checks the
//! tokens: JWT access token alg and cnf.x5t#S256). Then all workers start together: warm-up,
//! measured window, stop. A journey counts when it finishes inside the window.
//!
//! `--mode login` (Bulwark): prepares N interactions (PAR + /authorize + login page) and then
//! measures only the N login form POSTs (argon2id), with --concurrency at a time.
//!
//! Output: a human summary on stderr and one JSON object on stdout.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const USAGE: &str = "\
journey-load --target bulwark|peer --issuer URL [options]

Server:
  --target bulwark|peer      Bulwark (Open Banking consents, csrf/account/decision form) or
                             oidc-provider devInteractions (prompt=consent form; PAR gets prompt=consent)
  --issuer URL               issuer (https://host:port); endpoints come from its discovery document
  --connect IP:PORT          connect here instead of resolving the issuer's host (loopback only)
  --ca PEM                   CA of the server certificate
  --cert PEM --key PEM       the TPP's TLS client certificate (mTLS on PAR, token, consents)
  --client-id ID             (default bench-client)
  --client-key PEM           ES256 PKCS#8 key for private_key_jwt      --kid KID
  --redirect-uri URI         (default https://127.0.0.1/cb)
  --scope S                  (default \"openid accounts\")
  --username U --password P  the PSU (setup login of each worker; --mode login)
  --expect-at-alg ALG        fail the preflight unless the access token is a JWT signed with ALG

Load:
  --mode journey|login       (default journey)
  --concurrency N            concurrent journeys (workers) (default 8)
  --warmup S --duration S    (default 3, 20)
  --pool N                   journeys prepared (Bulwark: consents created) (default 30000);
                             the run ends early (POOL EXHAUSTED) if used up
  --logins N                 --mode login: logins measured (default 100)
  --setup-concurrency N      concurrent consent creations / interaction preparations (default 16)
  --assertion-ttl S          exp - iat of the client assertions (default 300)
  --server-pid PID           sample this process's CPU time (utime+stime) and RSS
  --db-match TEXT            also sum the CPU of the `postgres` processes whose command line
                             contains TEXT (the backends serving a database: its name)
  --pin-db-cpus LIST         pin those processes to these CPUs (e.g. 1) at the end of setup and
                             at the start of the window
  --label TEXT               copied into the JSON output
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bulwark,
    Peer,
}

#[derive(Clone, Debug)]
struct Args {
    target: Kind,
    login_mode: bool,
    issuer: String,
    connect: Option<SocketAddr>,
    ca: String,
    cert: String,
    key: String,
    client_id: String,
    client_key: String,
    kid: Option<String>,
    redirect_uri: String,
    scope: String,
    username: String,
    password: String,
    expect_at_alg: Option<String>,
    concurrency: usize,
    warmup: f64,
    duration: f64,
    pool: usize,
    logins: usize,
    setup_concurrency: usize,
    assertion_ttl: u64,
    server_pid: Option<u32>,
    db_match: Option<String>,
    pin_db_cpus: Vec<usize>,
    label: String,
}

fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: Kind::Bulwark,
        login_mode: false,
        issuer: String::new(),
        connect: None,
        ca: String::new(),
        cert: String::new(),
        key: String::new(),
        client_id: "bench-client".into(),
        client_key: String::new(),
        kid: None,
        redirect_uri: "https://127.0.0.1/cb".into(),
        scope: "openid accounts".into(),
        username: String::new(),
        password: String::new(),
        expect_at_alg: None,
        concurrency: 8,
        warmup: 3.0,
        duration: 20.0,
        pool: 30_000,
        logins: 100,
        setup_concurrency: 16,
        assertion_ttl: 300,
        server_pid: None,
        db_match: None,
        pin_db_cpus: Vec::new(),
        label: String::new(),
    };
    let mut target = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--target" => target = Some(val()),
            "--mode" => {
                a.login_mode = match val().as_str() {
                    "journey" => false,
                    "login" => true,
                    _ => die("--mode must be journey or login"),
                }
            }
            "--issuer" => a.issuer = val().trim_end_matches('/').to_string(),
            "--connect" => a.connect = Some(val().parse().unwrap_or_else(|_| die("bad --connect"))),
            "--ca" => a.ca = val(),
            "--cert" => a.cert = val(),
            "--key" => a.key = val(),
            "--client-id" => a.client_id = val(),
            "--client-key" => a.client_key = val(),
            "--kid" => a.kid = Some(val()),
            "--redirect-uri" => a.redirect_uri = val(),
            "--scope" => a.scope = val(),
            "--username" => a.username = val(),
            "--password" => a.password = val(),
            "--expect-at-alg" => a.expect_at_alg = Some(val()),
            "--concurrency" => a.concurrency = val().parse().unwrap_or_else(|_| die("bad --concurrency")),
            "--warmup" => a.warmup = val().parse().unwrap_or_else(|_| die("bad --warmup")),
            "--duration" => a.duration = val().parse().unwrap_or_else(|_| die("bad --duration")),
            "--pool" => a.pool = val().parse().unwrap_or_else(|_| die("bad --pool")),
            "--logins" => a.logins = val().parse().unwrap_or_else(|_| die("bad --logins")),
            "--setup-concurrency" => a.setup_concurrency = val().parse().unwrap_or_else(|_| die("bad --setup-concurrency")),
            "--assertion-ttl" => a.assertion_ttl = val().parse().unwrap_or_else(|_| die("bad --assertion-ttl")),
            "--server-pid" => a.server_pid = Some(val().parse().unwrap_or_else(|_| die("bad --server-pid"))),
            "--db-match" => a.db_match = Some(val()),
            "--pin-db-cpus" => {
                a.pin_db_cpus = val().split(',').map(|c| c.trim().parse().unwrap_or_else(|_| die("bad --pin-db-cpus"))).collect()
            }
            "--label" => a.label = val(),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0)
            }
            other => die(&format!("unknown flag {other}\n\n{USAGE}")),
        }
    }
    a.target = match target.as_deref() {
        Some("bulwark") => Kind::Bulwark,
        Some("peer") => Kind::Peer,
        _ => die("--target bulwark|peer is required"),
    };
    for (n, v) in [("--issuer", &a.issuer), ("--client-key", &a.client_key), ("--cert", &a.cert), ("--key", &a.key), ("--ca", &a.ca), ("--username", &a.username), ("--password", &a.password)] {
        if v.is_empty() {
            die(&format!("{n} is required"));
        }
    }
    if a.login_mode && a.target != Kind::Bulwark {
        die("--mode login is for --target bulwark");
    }
    if a.concurrency == 0 || a.pool == 0 || a.logins == 0 || a.setup_concurrency == 0 {
        die("concurrency, pool, logins and setup-concurrency must be > 0");
    }
    if a.duration <= 0.0 || a.warmup < 0.0 || a.warmup + a.duration > 120.0 {
        die("need 0 < duration, 0 <= warmup, warmup + duration <= 120");
    }
    a
}

// ------------------------------------------------------------------------------------------
// small helpers

fn urlencode(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => o.push(b as char),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_params(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (pct_decode(k), pct_decode(v)),
            None => (pct_decode(p), String::new()),
        })
        .collect()
}

fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&#x3D;", "=")
        .replace("&#61;", "=")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn random_b64(rng: &SystemRandom, n: usize) -> String {
    let mut b = vec![0u8; n];
    rng.fill(&mut b).unwrap();
    B64.encode(b)
}

fn decode_jwt(tok: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let mut parts = tok.split('.');
    let (h, p, _s) = (parts.next()?, parts.next()?, parts.next()?);
    let h = serde_json::from_slice(&B64.decode(h.trim_end_matches('=')).ok()?).ok()?;
    let p = serde_json::from_slice(&B64.decode(p.trim_end_matches('=')).ok()?).ok()?;
    Some((h, p))
}

// ------------------------------------------------------------------------------------------
// target, TLS, connections

/// The server: where to connect, what to call it.
#[derive(Clone, Debug)]
struct Target {
    addr: SocketAddr,
    host_header: String,
    server_name: ServerName<'static>,
    origin: String,
}

fn parse_origin(url: &str, connect: Option<SocketAddr>) -> Target {
    let rest = url.strip_prefix("https://").unwrap_or_else(|| die(&format!("{url}: only https:// URLs are supported")));
    let hostport = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h.trim_matches(['[', ']']).to_string(), p.parse::<u16>().unwrap_or_else(|_| die("bad port"))),
        _ => (hostport.trim_matches(['[', ']']).to_string(), 443),
    };
    let addr = match connect {
        Some(a) => a,
        None => {
            use std::net::ToSocketAddrs;
            let all: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs().map(|i| i.collect()).unwrap_or_default();
            // prefer IPv4 (servers here listen on 127.0.0.1; "localhost" may resolve to ::1 first)
            all.iter().find(|a| a.is_ipv4()).or(all.first()).copied().unwrap_or_else(|| die(&format!("cannot resolve {host}")))
        }
    };
    if !addr.ip().is_loopback() {
        die("refusing a non-loopback target: this harness only loads 127.0.0.0/8 or ::1");
    }
    let server_name = ServerName::try_from(host.clone()).unwrap_or_else(|_| die("bad server name")).to_owned();
    Target { addr, host_header: hostport.to_string(), server_name, origin: format!("https://{hostport}") }
}

fn tls_config(a: &Args, client_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&a.ca).unwrap_or_else(|e| die(&format!("{}: {e:?}", a.ca))) {
        roots.add(c.unwrap_or_else(|e| die(&format!("ca: {e:?}")))).unwrap_or_else(|e| die(&format!("ca: {e}")));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap().with_root_certificates(roots);
    let mut cfg = if client_cert {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&a.cert)
            .unwrap_or_else(|e| die(&format!("{}: {e:?}", a.cert)))
            .map(|c| c.unwrap_or_else(|e| die(&format!("cert: {e:?}"))))
            .collect();
        let key = PrivateKeyDer::from_pem_file(&a.key).unwrap_or_else(|e| die(&format!("{}: {e:?}", a.key)));
        builder.with_client_auth_cert(chain, key).unwrap_or_else(|e| die(&format!("client cert/key: {e}")))
    } else {
        builder.with_no_client_auth()
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

fn client_cert_x5t(a: &Args) -> String {
    let first = CertificateDer::pem_file_iter(&a.cert).ok().and_then(|mut i| i.next()).and_then(|c| c.ok()).unwrap_or_else(|| die("cert: empty"));
    B64.encode(ring::digest::digest(&ring::digest::SHA256, first.as_ref()).as_ref())
}

type Sender = http1::SendRequest<Full<Bytes>>;

struct Resp {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: Bytes,
}

/// One keep-alive HTTP/1.1 connection (re-opened when the server closed it).
struct Conn {
    tls: TlsConnector,
    sender: Option<Sender>,
    connects: u64,
}

impl Conn {
    fn new(tls: &TlsConnector) -> Self {
        Self { tls: tls.clone(), sender: None, connects: 0 }
    }

    async fn connect(&mut self, t: &Target) -> Result<(), String> {
        let tcp = TcpStream::connect(t.addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let stream = self.tls.connect(t.server_name.clone(), tcp).await.map_err(|e| format!("tls: {e}"))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("http1 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    fn drop_conn(&mut self) {
        self.sender = None;
    }

    /// Sends one request. `headers` are extra headers; `body` None = no body.
    async fn send(&mut self, t: &Target, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Bytes>) -> Result<Resp, String> {
        let usable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            self.connect(t).await?;
        }
        let mut rb = Request::builder().method(method).uri(path).header("host", t.host_header.as_str());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let req = rb.body(Full::new(body.unwrap_or_default())).map_err(|e| format!("request: {e}"))?;
        let s = self.sender.as_mut().unwrap();
        let res = match s.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("send: {e}"));
            }
        };
        let status = res.status().as_u16();
        let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let set_cookies = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Err(format!("body: {e}"));
            }
        };
        Ok(Resp { status, location, set_cookies, body })
    }
}

// ------------------------------------------------------------------------------------------
// cookies (one jar per worker = one browser)

#[derive(Default)]
struct Jar {
    cookies: Vec<(String, String, String)>, // name, path, value
}

fn path_matches(req_path: &str, cookie_path: &str) -> bool {
    req_path == cookie_path
        || (req_path.starts_with(cookie_path) && (cookie_path.ends_with('/') || req_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

impl Jar {
    fn store(&mut self, set_cookie: &str, req_path: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim());
        // RFC 6265 5.1.4 default-path
        let rp = req_path.split('?').next().unwrap_or("/");
        let mut path = match rp.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => rp[..i].to_string(),
        };
        let mut delete = value.is_empty();
        for attr in parts {
            let attr = attr.trim();
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            match k.to_ascii_lowercase().as_str() {
                "path" => path = v.to_string(),
                "max-age" => delete |= v.parse::<i64>().map(|n| n <= 0).unwrap_or(false),
                "expires" => delete |= v.contains("1970"),
                _ => {}
            }
        }
        self.cookies.retain(|(n, p, _)| !(n == name && *p == path));
        if !delete {
            self.cookies.push((name.to_string(), path, value.to_string()));
        }
    }

    fn header(&self, path: &str) -> Option<String> {
        let rp = path.split('?').next().unwrap_or("/");
        let mut out = String::new();
        for (n, p, v) in &self.cookies {
            if path_matches(rp, p) {
                if !out.is_empty() {
                    out.push_str("; ");
                }
                out.push_str(n);
                out.push('=');
                out.push_str(v);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Forget cookies that will never be sent again in later journeys (those of one
    /// interaction: the peer's path-scoped ones, Bulwark's `__Host-bulwark_ia_{id}`, which a
    /// journey that failed before its end never saw deleted): keep what the authorization
    /// endpoint gets, i.e. the session.
    fn keep_only_for(&mut self, path: &str) {
        self.cookies
            .retain(|(n, p, _)| path_matches(path, p) && !n.starts_with("__Host-bulwark_ia_"));
    }

    fn has(&self, name: &str) -> bool {
        self.cookies.iter().any(|(n, _, _)| n == name)
    }
}

// ------------------------------------------------------------------------------------------
// HTML forms (minimal)

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!("{name}=\"");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&pat) {
        let at = from + i;
        // must be a whole attribute name
        if at == 0 || tag.as_bytes()[at - 1].is_ascii_whitespace() {
            let start = at + pat.len();
            let end = tag[start..].find('"')? + start;
            return Some(html_unescape(&tag[start..end]));
        }
        from = at + pat.len();
    }
    None
}

struct Page {
    action: Option<String>,
    inputs: Vec<(String, Option<String>)>, // name, value (first occurrences kept in order)
    has_decision: bool,
}

fn parse_page(html: &str) -> Page {
    let action = html.find("<form").and_then(|i| {
        let tag = &html[i..i + html[i..].find('>').unwrap_or(html.len() - i)];
        attr(tag, "action")
    });
    let mut inputs = Vec::new();
    let mut from = 0;
    while let Some(i) = html[from..].find("<input") {
        let s = from + i;
        let e = html[s..].find('>').map(|e| s + e).unwrap_or(html.len());
        let tag = &html[s..e];
        if let Some(n) = attr(tag, "name") {
            inputs.push((n, attr(tag, "value")));
        }
        from = e;
    }
    Page { action, inputs, has_decision: html.contains("name=\"decision\"") }
}

impl Page {
    fn value(&self, name: &str) -> Option<&str> {
        self.inputs.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
    fn has(&self, name: &str) -> bool {
        self.inputs.iter().any(|(n, _)| n == name)
    }
}

// ------------------------------------------------------------------------------------------
// client assertions

struct Signer {
    key: EcdsaKeyPair,
    h64: String,
    aud: String,
    client_id: String,
    ttl: u64,
}

impl Signer {
    fn new(a: &Args, aud: &str) -> Self {
        let pem = std::fs::read(&a.client_key).unwrap_or_else(|e| die(&format!("{}: {e}", a.client_key)));
        let der = match PrivateKeyDer::from_pem_slice(&pem).unwrap_or_else(|e| die(&format!("client key: {e:?}"))) {
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
            _ => die("--client-key must be a PKCS#8 EC P-256 key"),
        };
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new()).unwrap_or_else(|e| die(&format!("client key: {e}")));
        let header = match &a.kid {
            Some(k) => serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": k}),
            None => serde_json::json!({"alg": "ES256", "typ": "JWT"}),
        };
        Self { key, h64: B64.encode(header.to_string()), aud: aud.to_string(), client_id: a.client_id.clone(), ttl: a.assertion_ttl }
    }

    /// `n` assertions with unique jti (random prefix + counter).
    fn sign(&self, n: usize) -> Vec<String> {
        let rng = SystemRandom::new();
        let prefix = random_b64(&rng, 9);
        let iat = now_secs();
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let claims = serde_json::json!({
                "iss": self.client_id, "sub": self.client_id, "aud": self.aud,
                "jti": format!("{prefix}-{i}"), "iat": iat, "exp": iat + self.ttl,
            });
            let si = format!("{}.{}", self.h64, B64.encode(claims.to_string()));
            let sig = self.key.sign(&rng, si.as_bytes()).expect("sign");
            v.push(format!("{si}.{}", B64.encode(sig.as_ref())));
        }
        v
    }
}

fn client_auth(client_id: &str, assertion: &str) -> String {
    format!("client_id={}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}", urlencode(client_id))
}

// ------------------------------------------------------------------------------------------
// the shared state of a run

struct Endpoints {
    authorize_path: String,
    par_path: String,
    token_path: String,
    consents_path: String,
}

struct JourneyItem {
    par_body: Bytes,
    token_assertion: String,
    state: String,
}

const CODE_VERIFIER: &str = "journey-load-fixed-code-verifier-0123456789abcdefghijklmnopqrstuvwxyz";

struct Shared {
    a: Args,
    t: Target,
    ep: Endpoints,
    tpp_tls: TlsConnector,
    browser_tls: TlsConnector,
    items: Vec<JourneyItem>,
    preflight_items: Mutex<Vec<JourneyItem>>,
    /// The workers' setup logins run one at a time: Bulwark counts a login in flight against
    /// its address until it succeeds (AZ-6), so a burst from one address is throttled.
    setup_login: tokio::sync::Mutex<()>,
    next: AtomicUsize,
    exhausted: AtomicBool,
    preflight_failed: Mutex<Option<String>>,
    preflight_info: Mutex<serde_json::Map<String, serde_json::Value>>,
    x5t: String,
}

/// The steps of a journey, for per-step latencies.
const STEPS: [&str; 7] = ["par", "authorize", "page", "login_post", "consent_post", "resume", "token"];

#[derive(Default)]
struct Stats {
    ok: u64,
    unmeasured_ok: u64,
    requests: u64,
    lat_us: Vec<u32>,
    steps: BTreeMap<&'static str, Vec<u32>>,
    errors: BTreeMap<String, u64>,
    first_errors: BTreeMap<String, String>,
    connects: u64,
}

impl Stats {
    fn err(&mut self, kind: String, detail: String, measured: bool) {
        if measured {
            *self.errors.entry(kind.clone()).or_default() += 1;
        } else {
            *self.errors.entry(format!("{kind} (outside window)")).or_default() += 1;
        }
        self.first_errors.entry(kind).or_insert(detail);
    }
}

struct JourneyErr {
    kind: String,
    detail: String,
}

fn jerr(step: &str, kind: &str, detail: impl Into<String>) -> JourneyErr {
    JourneyErr { kind: format!("{step}:{kind}"), detail: detail.into() }
}

fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).replace('\n', " ")
}

struct JourneyOut {
    steps: Vec<(&'static str, u32)>,
    requests: u64,
    token_body: Bytes,
}

/// Turns a Location into a path on our server, or None when it points elsewhere.
fn local_path(loc: &str, origin: &str) -> Option<String> {
    if let Some(rest) = loc.strip_prefix(origin) {
        return Some(if rest.is_empty() { "/".into() } else { rest.to_string() });
    }
    loc.starts_with('/').then(|| loc.to_string())
}

/// One journey: PAR -> browser pages -> callback -> token. `allow_login`: answer a login form
/// (setup only); in measured journeys a login page means the session was not used: an error.
async fn journey(sh: &Shared, tpp: &mut Conn, br: &mut Conn, jar: &mut Jar, item: &JourneyItem, allow_login: bool) -> Result<JourneyOut, JourneyErr> {
    let a = &sh.a;
    let t = &sh.t;
    let mut steps: Vec<(&'static str, u32)> = Vec::with_capacity(8);
    let mut requests = 0u64;
    let form = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];

    // 1. PAR (TPP, mTLS)
    let s0 = Instant::now();
    let r = tpp.send(t, "POST", &sh.ep.par_path, &form, Some(item.par_body.clone())).await.map_err(|e| jerr("par", "io", e))?;
    requests += 1;
    steps.push(("par", s0.elapsed().as_micros() as u32));
    if r.status != 201 {
        return Err(jerr("par", &format!("http_{}", r.status), snippet(&r.body)));
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| jerr("par", "bad_json", e.to_string()))?;
    let request_uri = v["request_uri"].as_str().ok_or_else(|| jerr("par", "no_request_uri", snippet(&r.body)))?;

    // 2. the browser
    let mut path = format!("{}?client_id={}&request_uri={}", sh.ep.authorize_path, urlencode(&a.client_id), urlencode(request_uri));
    let mut method = "GET";
    let mut body: Option<Bytes> = None;
    let mut step: &'static str = "authorize";
    let mut callback: Option<String> = None;
    for _hop in 0..14 {
        let cookie = jar.header(&path);
        let mut h: Vec<(&str, &str)> = vec![("accept", "text/html")];
        if let Some(c) = &cookie {
            h.push(("cookie", c.as_str()));
        }
        if body.is_some() {
            h.push(("content-type", "application/x-www-form-urlencoded"));
        }
        let s0 = Instant::now();
        let r = br.send(t, method, &path, &h, body.take()).await.map_err(|e| jerr(step, "io", e))?;
        requests += 1;
        for c in &r.set_cookies {
            jar.store(c, &path);
        }
        let us = s0.elapsed().as_micros() as u32;
        match r.status {
            301 | 302 | 303 | 307 => {
                steps.push((step, us));
                let loc = r.location.ok_or_else(|| jerr(step, "redirect_without_location", ""))?;
                if loc.starts_with(&a.redirect_uri) && loc[a.redirect_uri.len()..].starts_with(['?', '#']) {
                    callback = Some(loc);
                    break;
                }
                path = local_path(&loc, &t.origin).ok_or_else(|| jerr(step, "redirect_elsewhere", loc.clone()))?;
                method = "GET";
                step = "resume";
            }
            200 => {
                let step_name = if step == "resume" { "page" } else { step };
                steps.push((if step_name == "authorize" { "authorize" } else { "page" }, us));
                let html = std::str::from_utf8(&r.body).map_err(|_| jerr("page", "not_utf8", ""))?;
                let page = parse_page(html);
                let action = page.action.as_deref().ok_or_else(|| jerr("page", "no_form", snippet(&r.body)))?;
                let action = local_path(action, &t.origin).ok_or_else(|| jerr("page", "form_elsewhere", action.to_string()))?;
                let fields: String;
                if page.has("password") {
                    if !allow_login {
                        return Err(jerr("page", "login_page_shown", "the PSU session was not used"));
                    }
                    if page.has("username") {
                        // Bulwark
                        let csrf = page.value("csrf").ok_or_else(|| jerr("page", "no_csrf", snippet(&r.body)))?;
                        fields = format!("csrf={}&username={}&password={}", urlencode(csrf), urlencode(&a.username), urlencode(&a.password));
                    } else {
                        // oidc-provider devInteractions
                        fields = format!("prompt=login&login={}&password={}", urlencode(&a.username), urlencode(&a.password));
                    }
                    step = "login_post";
                } else if page.has_decision {
                    // Bulwark consent page: csrf, the first account, Authorise
                    let csrf = page.value("csrf").ok_or_else(|| jerr("page", "no_csrf", snippet(&r.body)))?;
                    let mut f = format!("csrf={}", urlencode(csrf));
                    if let Some(acc) = page.value("account") {
                        f.push_str("&account=");
                        f.push_str(&urlencode(acc));
                    }
                    f.push_str("&decision=authorise");
                    fields = f;
                    step = "consent_post";
                } else if page.value("prompt") == Some("consent") {
                    fields = "prompt=consent".into();
                    step = "consent_post";
                } else {
                    return Err(jerr("page", "unexpected_page", snippet(&r.body)));
                }
                path = action;
                method = "POST";
                body = Some(Bytes::from(fields));
            }
            s => return Err(jerr(step, &format!("http_{s}"), format!("{path}: {}", snippet(&r.body)))),
        }
    }
    let callback = callback.ok_or_else(|| jerr("resume", "too_many_hops", path.clone()))?;
    jar.keep_only_for(&sh.ep.authorize_path);

    // 3. the authorization response
    let q = callback.split_once(['?', '#']).map(|(_, q)| q).unwrap_or("");
    let params = query_params(q);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(e) = get("error") {
        return Err(jerr("callback", &format!("error_{e}"), get("error_description").unwrap_or("").to_string()));
    }
    let code = get("code").ok_or_else(|| jerr("callback", "no_code", callback.clone()))?;
    if get("state") != Some(item.state.as_str()) {
        return Err(jerr("callback", "state_mismatch", callback.clone()));
    }
    if get("iss") != Some(a.issuer.as_str()) {
        return Err(jerr("callback", "iss_mismatch", callback.clone()));
    }

    // 4. token (TPP, mTLS)
    let tb = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={CODE_VERIFIER}&{}",
        urlencode(code),
        urlencode(&a.redirect_uri),
        client_auth(&a.client_id, &item.token_assertion)
    );
    let s0 = Instant::now();
    let r = tpp.send(t, "POST", &sh.ep.token_path, &form, Some(Bytes::from(tb))).await.map_err(|e| jerr("token", "io", e))?;
    requests += 1;
    steps.push(("token", s0.elapsed().as_micros() as u32));
    if r.status != 200 {
        return Err(jerr("token", &format!("http_{}", r.status), snippet(&r.body)));
    }
    if !contains(&r.body, b"\"access_token\"") || !contains(&r.body, b"\"id_token\"") {
        return Err(jerr("token", "no_tokens", snippet(&r.body)));
    }
    Ok(JourneyOut { steps, requests, token_body: r.body })
}

/// What the preflight journey's tokens look like (worker 0 records it).
fn inspect_tokens(sh: &Shared, body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("token response: {e}"))?;
    let mut m = serde_json::Map::new();
    let at = v["access_token"].as_str().ok_or("no access_token")?;
    let (ah, ap) = decode_jwt(at).ok_or("the access token is not a JWT")?;
    let alg = ah["alg"].as_str().unwrap_or("").to_string();
    let cnf = ap["cnf"]["x5t#S256"].as_str().unwrap_or("").to_string();
    m.insert("access_token_alg".into(), alg.clone().into());
    m.insert("access_token_typ".into(), ah["typ"].clone());
    m.insert("access_token_len".into(), at.len().into());
    m.insert("cnf_x5t_matches_client_cert".into(), (cnf == sh.x5t).into());
    if let Some((ih, ip)) = v["id_token"].as_str().and_then(decode_jwt) {
        m.insert("id_token_alg".into(), ih["alg"].clone());
        m.insert("id_token_openbanking_intent_id".into(), ip["openbanking_intent_id"].clone());
    }
    m.insert("refresh_token".into(), v["refresh_token"].is_string().into());
    m.insert("token_response_bytes".into(), body.len().into());
    if cnf != sh.x5t {
        return Err(format!("access token cnf.x5t#S256 {cnf:?} != client certificate thumbprint {}", sh.x5t));
    }
    if let Some(want) = &sh.a.expect_at_alg {
        if &alg != want {
            return Err(format!("access token alg {alg} != expected {want}"));
        }
    }
    Ok(m)
}

struct Times {
    warm_end: Instant,
    end: Instant,
}

async fn worker(sh: Arc<Shared>, w: usize, barrier: Arc<tokio::sync::Barrier>, mut times_rx: tokio::sync::watch::Receiver<Option<Arc<Times>>>) -> Stats {
    let mut st = Stats::default();
    let mut tpp = Conn::new(&sh.tpp_tls);
    let mut br = Conn::new(&sh.browser_tls);
    let mut jar = Jar::default();
    // setup: one journey with the login form -> the worker's PSU session
    let item = sh.preflight_items.lock().unwrap().pop().expect("preflight item");
    let one_at_a_time = sh.setup_login.lock().await;
    let setup = journey(&sh, &mut tpp, &mut br, &mut jar, &item, true).await;
    drop(one_at_a_time);
    match setup {
        Ok(out) => {
            let session_cookie = if sh.a.target == Kind::Bulwark { "__Host-bulwark_session" } else { "_session" };
            if !jar.has(session_cookie) {
                *sh.preflight_failed.lock().unwrap() = Some(format!("worker {w}: no {session_cookie} cookie after the login"));
            } else if w == 0 {
                match inspect_tokens(&sh, &out.token_body) {
                    Ok(mut m) => {
                        m.insert("requests_per_journey_with_login".into(), out.requests.into());
                        m.insert("setup_journey_steps".into(), out.steps.iter().map(|(s, _)| serde_json::Value::from(*s)).collect::<Vec<_>>().into());
                        sh.preflight_info.lock().unwrap().extend(m);
                    }
                    Err(e) => *sh.preflight_failed.lock().unwrap() = Some(format!("preflight: {e}")),
                }
            }
        }
        Err(e) => *sh.preflight_failed.lock().unwrap() = Some(format!("worker {w} setup journey: {}: {}", e.kind, e.detail)),
    }
    barrier.wait().await;
    let times = times_rx.wait_for(|t| t.is_some()).await.map(|t| t.clone().unwrap());
    let Ok(times) = times else { return st };
    if sh.preflight_failed.lock().unwrap().is_some() {
        return st;
    }
    let per_journey_timeout = Duration::from_secs(15);
    loop {
        if Instant::now() >= times.end {
            break;
        }
        let idx = sh.next.fetch_add(1, Ordering::Relaxed);
        if idx >= sh.items.len() {
            sh.exhausted.store(true, Ordering::Relaxed);
            break;
        }
        let item = &sh.items[idx];
        let t0 = Instant::now();
        let res = tokio::time::timeout(per_journey_timeout, journey(&sh, &mut tpp, &mut br, &mut jar, item, false)).await;
        let t1 = Instant::now();
        let measured = t1 >= times.warm_end && t1 <= times.end;
        match res {
            Err(_) => {
                tpp.drop_conn();
                br.drop_conn();
                jar.keep_only_for(&sh.ep.authorize_path);
                st.err("timeout".into(), "journey took more than 15 s".into(), measured);
            }
            Ok(Err(e)) => {
                jar.keep_only_for(&sh.ep.authorize_path);
                st.err(e.kind, e.detail, measured);
            }
            Ok(Ok(out)) => {
                if measured {
                    st.ok += 1;
                    st.requests += out.requests;
                    st.lat_us.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                    for (s, us) in out.steps {
                        st.steps.entry(s).or_default().push(us);
                    }
                } else {
                    st.unmeasured_ok += 1;
                }
            }
        }
    }
    st.connects = tpp.connects + br.connects;
    st
}

// ------------------------------------------------------------------------------------------
// /proc accounting

/// (utime+stime ticks, VmRSS kB) of a process.
fn proc_sample(pid: u32) -> Option<(u64, u64)> {
    let ticks = proc_ticks(pid)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks, rss))
}

fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// pid -> ticks of every `postgres` process whose command line contains `pat`.
fn matching_procs(pat: &str) -> HashMap<u32, u64> {
    let mut m = HashMap::new();
    let me = std::process::id();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            // only PostgreSQL processes (not e.g. `timeout`, whose command line names the database too)
            let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
            if comm.trim_end() != "postgres" {
                continue;
            }
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
            let cmd: Vec<u8> = cmd.into_iter().map(|b| if b == 0 { b' ' } else { b }).collect();
            if contains(&cmd, pat.as_bytes()) {
                if let Some(t) = proc_ticks(pid) {
                    m.insert(pid, t);
                }
            }
        }
    }
    m
}

fn pin_procs(pat: &str, cpus: &[usize]) -> usize {
    if cpus.is_empty() {
        return 0;
    }
    let mut n = 0;
    for pid in matching_procs(pat).keys() {
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_ZERO(&mut set);
            for &c in cpus {
                libc::CPU_SET(c, &mut set);
            }
            if libc::sched_setaffinity(*pid as libc::pid_t, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                n += 1;
            }
        }
    }
    n
}

/// (busy, total, steal) jiffies summed over all CPUs.
fn system_cpu() -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let l = s.lines().next().unwrap_or("");
    let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest* are inside user/nice
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    let steal = v.get(7).copied().unwrap_or(0);
    (total - idle, total, steal)
}

fn self_cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[derive(Clone)]
struct Sample {
    at: Instant,
    self_cpu: f64,
    sys: (u64, u64, u64),
    server: Option<(u64, u64)>,
    db: HashMap<u32, u64>,
}

fn sample(a: &Args) -> Sample {
    Sample {
        at: Instant::now(),
        self_cpu: self_cpu_secs(),
        sys: system_cpu(),
        server: a.server_pid.and_then(proc_sample),
        db: a.db_match.as_deref().map(matching_procs).unwrap_or_default(),
    }
}

struct Window {
    secs: f64,
    client_cpu: f64,
    server_cpu: Option<f64>,
    server_rss_kb: Option<u64>,
    db_cpu: Option<f64>,
    db_procs: usize,
    busy_pct: f64,
    steal_pct: f64,
    other_cores: Option<f64>,
}

fn window(a: &Args, s0: &Sample, s1: &Sample) -> Window {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let secs = (s1.at - s0.at).as_secs_f64();
    let client_cpu = s1.self_cpu - s0.self_cpu;
    let server_cpu = match (s0.server, s1.server) {
        (Some((t0, _)), Some((t1, _))) => Some((t1 - t0) as f64 / tick),
        _ => None,
    };
    let db_cpu = a.db_match.as_ref().map(|_| s1.db.iter().map(|(pid, t1)| t1.saturating_sub(s0.db.get(pid).copied().unwrap_or(0))).sum::<u64>() as f64 / tick);
    let (b0, tot0, st0) = s0.sys;
    let (b1, tot1, st1) = s1.sys;
    let dt = (tot1 - tot0).max(1) as f64;
    let busy_s = (b1 - b0) as f64 / tick;
    let other = server_cpu.map(|srv| ((busy_s - srv - client_cpu - db_cpu.unwrap_or(0.0)) / secs).max(0.0));
    Window {
        secs,
        client_cpu,
        server_cpu,
        server_rss_kb: s1.server.map(|(_, r)| r),
        db_cpu,
        db_procs: s1.db.len(),
        busy_pct: (b1 - b0) as f64 / dt * 100.0,
        steal_pct: (st1 - st0) as f64 / dt * 100.0,
        other_cores: other,
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[idx.saturating_sub(1).min(sorted.len() - 1)] as f64 / 1000.0
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn lat_json(v: &mut [u32]) -> serde_json::Value {
    v.sort_unstable();
    let mean = if v.is_empty() { f64::NAN } else { v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1000.0 };
    serde_json::json!({"p50": r3(pct(v, 50.0)), "p90": r3(pct(v, 90.0)), "p99": r3(pct(v, 99.0)), "max": r3(pct(v, 100.0)), "mean": r3(mean), "n": v.len()})
}

// ------------------------------------------------------------------------------------------
// setup

async fn discovery(a: &Args, t: &Target, tls: &TlsConnector) -> (Endpoints, serde_json::Value) {
    let mut c = Conn::new(tls);
    let r = c.send(t, "GET", "/.well-known/openid-configuration", &[("accept", "application/json")], None).await.unwrap_or_else(|e| die(&format!("discovery: {e}")));
    if r.status != 200 {
        die(&format!("discovery: HTTP {}", r.status));
    }
    let d: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| die(&format!("discovery: {e}")));
    if d["issuer"].as_str() != Some(a.issuer.as_str()) {
        die(&format!("discovery issuer {} != --issuer {}", d["issuer"], a.issuer));
    }
    // a TPP with a client certificate uses the mTLS aliases where published (RFC 8705 5)
    let url = |member: &str| -> String {
        let u = d["mtls_endpoint_aliases"][member].as_str().or(d[member].as_str()).unwrap_or_else(|| die(&format!("discovery: no {member}")));
        local_path(u, &t.origin).unwrap_or_else(|| die(&format!("{member} {u} is not on {} (one origin is supported)", t.origin)))
    };
    let browser_auth = d["authorization_endpoint"].as_str().unwrap_or_else(|| die("discovery: no authorization_endpoint"));
    let ep = Endpoints {
        authorize_path: local_path(browser_auth, &t.origin).unwrap_or_else(|| die("authorization_endpoint on another origin")),
        par_path: url("pushed_authorization_request_endpoint"),
        token_path: url("token_endpoint"),
        consents_path: "/open-banking/v3.1/aisp/account-access-consents".into(),
    };
    (ep, d)
}

/// Bulwark: an application token (client_credentials, scope accounts).
async fn app_token(a: &Args, t: &Target, ep: &Endpoints, tls: &TlsConnector, assertion: &str) -> String {
    let mut c = Conn::new(tls);
    let body = format!("grant_type=client_credentials&scope=accounts&{}", client_auth(&a.client_id, assertion));
    let r = c
        .send(t, "POST", &ep.token_path, &[("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")], Some(Bytes::from(body)))
        .await
        .unwrap_or_else(|e| die(&format!("app token: {e}")));
    if r.status != 200 {
        die(&format!("app token: HTTP {}: {}", r.status, snippet(&r.body)));
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| die(&format!("app token: {e}")));
    v["access_token"].as_str().unwrap_or_else(|| die("app token: no access_token")).to_string()
}

/// Bulwark: `n` account-access consents awaiting authorisation.
async fn create_consents(a: &Args, t: &Target, ep: &Endpoints, tls: &TlsConnector, token: &str, n: usize) -> Vec<String> {
    let expiry = {
        // now + 1 day, ISO 8601 with +00:00
        let s = now_secs() + 86_400;
        let (days, rem) = (s / 86_400, s % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00", rem / 3600, rem % 3600 / 60, rem % 60)
    };
    let body = Bytes::from(serde_json::json!({"Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances"], "ExpirationDateTime": expiry}, "Risk": {}}).to_string());
    let next = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let bearer = format!("Bearer {token}");
    let workers = a.setup_concurrency.min(n);
    let mut hs = Vec::new();
    for w in 0..workers {
        let (t, tls, next, out, body, bearer, path) = (t.clone(), tls.clone(), next.clone(), out.clone(), body.clone(), bearer.clone(), ep.consents_path.clone());
        hs.push(tokio::spawn(async move {
            let mut c = Conn::new(&tls);
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let fapi_id = format!("00000000-0000-4000-8000-{w:04x}{i:08x}");
                let h = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("accept", "application/json"), ("x-fapi-interaction-id", fapi_id.as_str())];
                let r = c.send(&t, "POST", &path, &h, Some(body.clone())).await.unwrap_or_else(|e| die(&format!("consent: {e}")));
                if r.status != 201 {
                    die(&format!("consent: HTTP {}: {}", r.status, snippet(&r.body)));
                }
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| die(&format!("consent: {e}")));
                mine.push(v["Data"]["ConsentId"].as_str().unwrap_or_else(|| die("consent: no Data.ConsentId")).to_string());
            }
            out.lock().unwrap().extend(mine);
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let v = std::mem::take(&mut *out.lock().unwrap());
    v
}

/// Howard Hinnant's days -> (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn par_body(a: &Args, kind: Kind, consent: Option<&str>, state: &str, nonce: &str, challenge: &str, assertion: &str) -> Bytes {
    let mut b = format!(
        "response_type=code&redirect_uri={}&scope={}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        urlencode(&a.redirect_uri),
        urlencode(&a.scope)
    );
    if let Some(c) = consent {
        let claims = serde_json::json!({"id_token": {"openbanking_intent_id": {"value": c, "essential": true}}}).to_string();
        b.push_str("&claims=");
        b.push_str(&urlencode(&claims));
    }
    if kind == Kind::Peer {
        // oidc-provider skips the consent prompt once the session holds a grant for the client;
        // prompt=consent asks for it on every journey (Bulwark asks every time anyway).
        b.push_str("&prompt=consent");
    }
    b.push('&');
    b.push_str(&client_auth(&a.client_id, assertion));
    Bytes::from(b)
}

// ------------------------------------------------------------------------------------------

fn main() {
    let a = parse_args();
    let t = parse_origin(&a.issuer, a.connect);
    let tpp_tls = TlsConnector::from(tls_config(&a, true));
    let browser_tls = TlsConnector::from(tls_config(&a, false));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let setup_t0 = Instant::now();
    let (ep, _disc) = rt.block_on(discovery(&a, &t, &browser_tls));
    let signer = Signer::new(&a, &a.issuer);
    let challenge = B64.encode(ring::digest::digest(&ring::digest::SHA256, CODE_VERIFIER.as_bytes()).as_ref());
    if a.login_mode {
        return login_main(a, t, ep, tpp_tls, browser_tls, rt, signer, challenge);
    }

    // Bulwark: consents first (one per journey + one per worker's setup journey)
    let n_items = a.pool + a.concurrency;
    let mut consents: Vec<Option<String>> = vec![None; n_items];
    let mut consents_s = 0.0;
    if a.target == Kind::Bulwark {
        let c0 = Instant::now();
        let asr = signer.sign(1).pop().unwrap();
        let tok = rt.block_on(app_token(&a, &t, &ep, &tpp_tls, &asr));
        let ids = rt.block_on(create_consents(&a, &t, &ep, &tpp_tls, &tok, n_items));
        consents = ids.into_iter().map(Some).collect();
        consents_s = c0.elapsed().as_secs_f64();
        eprintln!("created {} consents in {:.1}s", consents.len(), consents_s);
    }

    // pre-sign: PAR + token assertion per journey
    let g0 = Instant::now();
    let mut asr = signer.sign(2 * n_items);
    let presign_s = g0.elapsed().as_secs_f64();
    eprintln!("pre-signed {} ES256 client assertions in {:.2}s", asr.len(), presign_s);
    let rng = SystemRandom::new();
    let mut items: Vec<JourneyItem> = Vec::with_capacity(n_items);
    for (i, consent) in consents.iter().enumerate() {
        let state = format!("s{i}{}", random_b64(&rng, 6));
        let nonce = format!("n{i}{}", random_b64(&rng, 6));
        let pa = asr.pop().unwrap();
        let ta = asr.pop().unwrap();
        items.push(JourneyItem { par_body: par_body(&a, a.target, consent.as_deref(), &state, &nonce, &challenge, &pa), token_assertion: ta, state });
    }
    let preflight_items = items.split_off(a.pool);
    let avg_par_body = items.iter().map(|i| i.par_body.len()).sum::<usize>() / items.len().max(1);

    let x5t = client_cert_x5t(&a);
    let sh = Arc::new(Shared {
        a: a.clone(),
        t: t.clone(),
        ep,
        tpp_tls,
        browser_tls,
        items,
        preflight_items: Mutex::new(preflight_items),
        setup_login: tokio::sync::Mutex::new(()),
        next: AtomicUsize::new(0),
        exhausted: AtomicBool::new(false),
        preflight_failed: Mutex::new(None),
        preflight_info: Mutex::new(serde_json::Map::new()),
        x5t,
    });

    let (tx, rx) = tokio::sync::watch::channel::<Option<Arc<Times>>>(None);
    let barrier = Arc::new(tokio::sync::Barrier::new(a.concurrency + 1));
    let res = rt.block_on(async {
        let handles: Vec<_> = (0..a.concurrency).map(|w| tokio::spawn(worker(sh.clone(), w, barrier.clone(), rx.clone()))).collect();
        barrier.wait().await;
        let setup_s = setup_t0.elapsed().as_secs_f64();
        if let Some(e) = sh.preflight_failed.lock().unwrap().clone() {
            let _ = tx.send(Some(Arc::new(Times { warm_end: Instant::now(), end: Instant::now() })));
            die(&format!("setup failed: {e}"));
        }
        let pinned0 = a.db_match.as_deref().map(|p| pin_procs(p, &a.pin_db_cpus)).unwrap_or(0);
        eprintln!("setup done in {setup_s:.1}s: warm-up {}s, then {}s measured", a.warmup, a.duration);
        let start = Instant::now();
        let times = Arc::new(Times { warm_end: start + Duration::from_secs_f64(a.warmup), end: start + Duration::from_secs_f64(a.warmup + a.duration) });
        let _ = tx.send(Some(times.clone()));
        tokio::time::sleep_until(times.warm_end.into()).await;
        let pinned1 = a.db_match.as_deref().map(|p| pin_procs(p, &a.pin_db_cpus)).unwrap_or(0);
        let s0 = sample(&a);
        tokio::time::sleep_until(times.end.into()).await;
        let s1 = sample(&a);
        let hard = times.end + Duration::from_secs(20);
        let mut stats = Vec::new();
        for h in handles {
            match tokio::time::timeout_at(hard.into(), h).await {
                Ok(Ok(s)) => stats.push(s),
                _ => {
                    eprintln!("hard deadline reached; exiting");
                    std::process::exit(3);
                }
            }
        }
        (stats, s0, s1, setup_s, pinned0.max(pinned1))
    });
    let (stats, s0, s1, setup_s, pinned) = res;

    // aggregate
    let mut lat = Vec::new();
    let mut steps: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    let (mut ok, mut unmeasured, mut requests, mut connects) = (0u64, 0u64, 0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_errors: BTreeMap<String, String> = BTreeMap::new();
    for s in stats {
        lat.extend(s.lat_us);
        ok += s.ok;
        unmeasured += s.unmeasured_ok;
        requests += s.requests;
        connects += s.connects;
        for (k, v) in s.steps {
            steps.entry(k).or_default().extend(v);
        }
        for (k, v) in s.errors {
            *errors.entry(k).or_default() += v;
        }
        for (k, v) in s.first_errors {
            first_errors.entry(k).or_insert(v);
        }
    }
    let w = window(&a, &s0, &s1);
    let nerr: u64 = errors.iter().filter(|(k, _)| !k.ends_with("(outside window)")).map(|(_, v)| v).sum();
    let jps = ok as f64 / w.secs;
    let per = |cpu: Option<f64>| cpu.filter(|_| ok > 0).map(|c| r3(c * 1000.0 / ok as f64));
    let mut step_json = serde_json::Map::new();
    for name in STEPS {
        if let Some(v) = steps.get_mut(name) {
            step_json.insert(name.into(), lat_json(v));
        }
    }
    let latency = lat_json(&mut lat);
    let exhausted = sh.exhausted.load(Ordering::Relaxed);
    let out = serde_json::json!({
        "label": a.label,
        "mode": "journey",
        "target": if a.target == Kind::Bulwark { "bulwark" } else { "peer" },
        "issuer": a.issuer,
        "concurrency": a.concurrency,
        "warmup_s": a.warmup,
        "duration_s": r2(w.secs),
        "journeys_ok": ok,
        "errors": nerr,
        "error_kinds": errors,
        "first_errors": first_errors,
        "journeys_per_s": r2(jps),
        "latency_ms": latency,
        "step_latency_ms": step_json,
        "http_requests_per_journey": if ok > 0 { r2(requests as f64 / ok as f64) } else { f64::NAN },
        "server_pid": a.server_pid,
        "server_cpu_s": w.server_cpu.map(r2),
        "server_cpu_ms_per_journey": per(w.server_cpu),
        "server_cores_used": w.server_cpu.map(|c| r2(c / w.secs)),
        "db_cpu_s": w.db_cpu.map(r2),
        "db_cpu_ms_per_journey": per(w.db_cpu),
        "db_processes": a.db_match.as_ref().map(|_| w.db_procs),
        "db_processes_pinned": a.db_match.as_ref().map(|_| pinned),
        "server_plus_db_cpu_ms_per_journey": per(w.server_cpu.map(|s| s + w.db_cpu.unwrap_or(0.0))),
        "server_rss_kb_end": w.server_rss_kb,
        "client_cpu_s": r2(w.client_cpu),
        "client_cpu_us_per_journey": if ok > 0 { r2(w.client_cpu * 1e6 / ok as f64) } else { f64::NAN },
        "system_cpu_busy_pct": r2(w.busy_pct),
        "steal_pct": r2(w.steal_pct),
        "other_cpu_cores": w.other_cores.map(r2),
        "journeys_unmeasured_ok": unmeasured,
        "connections_opened": connects,
        "pool": a.pool,
        "pool_used": sh.next.load(Ordering::Relaxed).min(a.pool),
        "pool_exhausted": exhausted,
        "consents_created": if a.target == Kind::Bulwark { n_items } else { 0 },
        "consents_s": r2(consents_s),
        "presign_s": r2(presign_s),
        "setup_s": r2(setup_s),
        "avg_par_body_bytes": avg_par_body,
        "preflight": serde_json::Value::Object(sh.preflight_info.lock().unwrap().clone()),
    });
    eprintln!(
        "{} {} c={}: {:.1} journeys/s ok={} err={} p50={:.2}ms p99={:.2}ms | server {} ms/journey{} | client {:.0} us/journey | busy {:.0}% steal {:.1}% other {} cores{}",
        a.label,
        out["target"].as_str().unwrap_or(""),
        a.concurrency,
        jps,
        ok,
        nerr,
        out["latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
        out["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
        out["server_cpu_ms_per_journey"].as_f64().map(|v| format!("{v:.3}")).unwrap_or("-".into()),
        out["db_cpu_ms_per_journey"].as_f64().map(|v| format!(" + db {v:.3}")).unwrap_or_default(),
        w.client_cpu * 1e6 / (ok.max(1) as f64),
        w.busy_pct,
        w.steal_pct,
        w.other_cores.map(|c| format!("{c:.2}")).unwrap_or("-".into()),
        if exhausted { " [POOL EXHAUSTED: raise --pool]" } else { "" }
    );
    for (k, v) in &first_errors {
        eprintln!("first error {k}: {v}");
    }
    println!("{out}");
    std::process::exit(0);
}

// ------------------------------------------------------------------------------------------
// --mode login: the cost of the PSU login form (Bulwark)

struct LoginItem {
    action: String,
    cookie: String,
    body: Bytes,
}

#[allow(clippy::too_many_arguments)]
fn login_main(a: Args, t: Target, ep: Endpoints, tpp_tls: TlsConnector, browser_tls: TlsConnector, rt: tokio::runtime::Runtime, signer: Signer, challenge: String) {
    let n = a.logins;
    let asr0 = signer.sign(1).pop().unwrap();
    let tok = rt.block_on(app_token(&a, &t, &ep, &tpp_tls, &asr0));
    let consents = rt.block_on(create_consents(&a, &t, &ep, &tpp_tls, &tok, n));
    let mut asr = signer.sign(n);
    let rng = SystemRandom::new();
    let bodies: Vec<Bytes> = consents
        .iter()
        .enumerate()
        .map(|(i, c)| par_body(&a, Kind::Bulwark, Some(c), &format!("s{i}{}", random_b64(&rng, 6)), &format!("n{i}"), &challenge, &asr.pop().unwrap()))
        .collect();
    // prepare: PAR -> /authorize (no session) -> login page; keep (action, interaction cookie, form)
    let items: Vec<LoginItem> = rt.block_on(async {
        let mut tpp = Conn::new(&tpp_tls);
        let mut br = Conn::new(&browser_tls);
        let form = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];
        let mut out = Vec::with_capacity(n);
        for b in bodies {
            let r = tpp.send(&t, "POST", &ep.par_path, &form, Some(b)).await.unwrap_or_else(|e| die(&format!("par: {e}")));
            if r.status != 201 {
                die(&format!("par: HTTP {}: {}", r.status, snippet(&r.body)));
            }
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let ru = v["request_uri"].as_str().unwrap();
            let mut jar = Jar::default();
            let path = format!("{}?client_id={}&request_uri={}", ep.authorize_path, urlencode(&a.client_id), urlencode(ru));
            let r = br.send(&t, "GET", &path, &[("accept", "text/html")], None).await.unwrap_or_else(|e| die(&format!("authorize: {e}")));
            if r.status != 303 {
                die(&format!("authorize: HTTP {}: {}", r.status, snippet(&r.body)));
            }
            for c in &r.set_cookies {
                jar.store(c, &path);
            }
            let page_path = local_path(&r.location.unwrap(), &t.origin).unwrap();
            let ck = jar.header(&page_path).unwrap_or_default();
            let r = br.send(&t, "GET", &page_path, &[("accept", "text/html"), ("cookie", ck.as_str())], None).await.unwrap_or_else(|e| die(&format!("page: {e}")));
            let page = parse_page(std::str::from_utf8(&r.body).unwrap_or(""));
            if r.status != 200 || !page.has("password") {
                die(&format!("expected the login page, got HTTP {}: {}", r.status, snippet(&r.body)));
            }
            let action = local_path(page.action.as_deref().unwrap(), &t.origin).unwrap();
            let body = format!("csrf={}&username={}&password={}", urlencode(page.value("csrf").unwrap()), urlencode(&a.username), urlencode(&a.password));
            let cookie = jar.header(&action).unwrap_or_default();
            out.push(LoginItem { action, cookie, body: Bytes::from(body) });
        }
        out
    });
    eprintln!("prepared {} login forms", items.len());
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let (stats, s0, s1) = rt.block_on(async {
        // connections first (not measured)
        let mut conns = Vec::new();
        for _ in 0..a.concurrency {
            let mut c = Conn::new(&browser_tls);
            c.connect(&t).await.unwrap_or_else(|e| die(&e));
            conns.push(c);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let s0 = sample(&a);
        let hs: Vec<_> = conns
            .into_iter()
            .map(|mut c| {
                let (items, next, t) = (items.clone(), next.clone(), t.clone());
                tokio::spawn(async move {
                    let mut st = Stats::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items.len() {
                            break;
                        }
                        let it = &items[i];
                        let h = [("accept", "text/html"), ("content-type", "application/x-www-form-urlencoded"), ("cookie", it.cookie.as_str())];
                        let t0 = Instant::now();
                        match c.send(&t, "POST", &it.action, &h, Some(it.body.clone())).await {
                            Ok(r) if r.status == 303 && r.set_cookies.iter().any(|c| c.starts_with("__Host-bulwark_session=")) => {
                                st.ok += 1;
                                st.lat_us.push(t0.elapsed().as_micros() as u32);
                            }
                            Ok(r) => st.err(format!("login:http_{}", r.status), snippet(&r.body), true),
                            Err(e) => st.err("login:io".into(), e, true),
                        }
                    }
                    st
                })
            })
            .collect();
        let mut stats = Vec::new();
        for h in hs {
            stats.push(h.await.unwrap());
        }
        let s1 = sample(&a);
        (stats, s0, s1)
    });
    let mut lat = Vec::new();
    let mut ok = 0;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_errors: BTreeMap<String, String> = BTreeMap::new();
    for s in stats {
        ok += s.ok;
        lat.extend(s.lat_us);
        for (k, v) in s.errors {
            *errors.entry(k).or_default() += v;
        }
        for (k, v) in s.first_errors {
            first_errors.entry(k).or_insert(v);
        }
    }
    let w = window(&a, &s0, &s1);
    let per = |cpu: Option<f64>| cpu.filter(|_| ok > 0).map(|c| r3(c * 1000.0 / ok as f64));
    let out = serde_json::json!({
        "label": a.label,
        "mode": "login",
        "target": "bulwark",
        "concurrency": a.concurrency,
        "logins": n,
        "logins_ok": ok,
        "errors": errors.values().sum::<u64>(),
        "error_kinds": errors,
        "first_errors": first_errors,
        "wall_s": r3(w.secs),
        "logins_per_s": r2(ok as f64 / w.secs),
        "latency_ms": lat_json(&mut lat),
        "server_cpu_s": w.server_cpu.map(r3),
        "server_cpu_ms_per_login": per(w.server_cpu),
        "server_cores_used": w.server_cpu.map(|c| r2(c / w.secs)),
        "db_cpu_ms_per_login": per(w.db_cpu),
        "server_rss_kb_end": w.server_rss_kb,
        "client_cpu_s": r3(w.client_cpu),
        "system_cpu_busy_pct": r2(w.busy_pct),
        "steal_pct": r2(w.steal_pct),
        "other_cpu_cores": w.other_cores.map(r2),
    });
    eprintln!(
        "{} login c={} n={}: {:.1} logins/s, server {} ms CPU per login, p50 {:.1} ms p99 {:.1} ms, errors {}",
        a.label,
        a.concurrency,
        n,
        ok as f64 / w.secs,
        out["server_cpu_ms_per_login"].as_f64().map(|v| format!("{v:.2}")).unwrap_or("-".into()),
        out["latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
        out["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
        out["errors"]
    );
    for (k, v) in &first_errors {
        eprintln!("first error {k}: {v}");
    }
    println!("{out}");
    std::process::exit(0);
}
