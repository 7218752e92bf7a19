//! `gateway-load`: C keep-alive connections, each sending `GET url` back to back for a
//! duration (after a warm-up), over plain HTTP or TLS (with a client certificate when given)
//! and an optional bearer token. Prints one JSON line: requests per second, latency p50 / p99
//! (µs), errors, and the server process's CPU per request (from /proc, when --server-pid).
//!
//! With `--rate R` the C connections together send R requests per second on a fixed schedule
//! (each connection every C/R seconds, staggered) instead of back to back: the proxy then runs
//! below saturation, so a latency figure is its own cost and not the queue that any server
//! builds at saturation (c ÷ throughput). When a connection is behind its schedule (the previous
//! answer came late), latency is taken from the scheduled send time, so waiting counts (no
//! coordinated omission); otherwise from the moment the request leaves.
//!
//! gateway-load --url https://localhost:8444/p --ca ca.pem [--cert c.pem --key k.pem]
//!              [--token T] [--concurrency 64] [--duration 20] [--warmup 5] [--rate R]
//!              [--server-pid PID] [--label NAME]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

struct Args {
    url: String,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    token: Option<String>,
    concurrency: usize,
    duration: u64,
    warmup: u64,
    server_pid: Option<i32>,
    label: String,
    rate: Option<f64>,
}

fn die(msg: &str) -> ! {
    eprintln!("gateway-load: {msg}");
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        url: String::new(),
        ca: None,
        cert: None,
        key: None,
        token: None,
        concurrency: 64,
        duration: 20,
        warmup: 5,
        server_pid: None,
        label: "run".into(),
        rate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--url" => a.url = val(),
            "--ca" => a.ca = Some(val()),
            "--cert" => a.cert = Some(val()),
            "--key" => a.key = Some(val()),
            "--token" => a.token = Some(val()),
            "--concurrency" => {
                a.concurrency = val().parse().unwrap_or_else(|_| die("bad --concurrency"))
            }
            "--duration" => a.duration = val().parse().unwrap_or_else(|_| die("bad --duration")),
            "--warmup" => a.warmup = val().parse().unwrap_or_else(|_| die("bad --warmup")),
            "--server-pid" => {
                a.server_pid = Some(val().parse().unwrap_or_else(|_| die("bad --server-pid")))
            }
            "--label" => a.label = val(),
            "--rate" => {
                a.rate = Some(
                    val()
                        .parse()
                        .ok()
                        .filter(|r: &f64| *r > 0.0)
                        .unwrap_or_else(|| die("bad --rate")),
                )
            }
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    if a.url.is_empty() {
        die("--url is required");
    }
    a
}

/// (tls?, host, port, path)
fn split(url: &str) -> (bool, String, u16, String) {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        die("--url must be http(s)://")
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or_else(|_| die("bad port"))),
        None => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    (
        tls,
        host,
        port,
        if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    )
}

fn tls_config(a: &Args) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &a.ca {
        for c in CertificateDer::pem_file_iter(ca).unwrap_or_else(|_| die("bad --ca")) {
            roots
                .add(c.unwrap_or_else(|_| die("bad --ca")))
                .unwrap_or_else(|_| die("bad --ca"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| die("tls"))
        .with_root_certificates(roots);
    let mut config = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                .unwrap_or_else(|_| die("bad --cert"))
                .map(|c| c.unwrap_or_else(|_| die("bad --cert")))
                .collect();
            let key = PrivateKeyDer::from_pem_file(k).unwrap_or_else(|_| die("bad --key"));
            builder
                .with_client_auth_cert(chain, key)
                .unwrap_or_else(|_| die("bad --cert/--key"))
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

async fn worker(
    a: Arc<Args>,
    tls: Option<Arc<rustls::ClientConfig>>,
    start_measure: Instant,
    end: Instant,
    index: usize,
) -> (Vec<u32>, u64) {
    let (_, host, port, path) = split(&a.url);
    // --rate: this connection's own schedule, offset so the C connections interleave.
    let period = a
        .rate
        .map(|r| Duration::from_secs_f64(a.concurrency as f64 / r));
    let mut next_send =
        period.map(|p| Instant::now() + p.mul_f64(index as f64 / a.concurrency as f64));
    let mut lat = Vec::with_capacity(100_000);
    let mut errors = 0u64;
    'outer: while Instant::now() < end {
        let Ok(tcp) = TcpStream::connect((host.as_str(), port)).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let mut sender = match &tls {
            Some(cfg) => {
                let name = ServerName::try_from(host.clone()).unwrap_or_else(|_| die("bad host"));
                let Ok(stream) = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                else {
                    errors += 1;
                    continue;
                };
                let Ok((s, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                else {
                    errors += 1;
                    continue;
                };
                tokio::spawn(conn);
                s
            }
            None => {
                let Ok((s, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
                else {
                    errors += 1;
                    continue;
                };
                tokio::spawn(conn);
                s
            }
        };
        while Instant::now() < end {
            let mut req = Request::get(path.as_str()).header("host", host.as_str());
            if let Some(t) = &a.token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let req = req
                .body(Empty::<Bytes>::new())
                .unwrap_or_else(|_| die("request"));
            let t0 = match (next_send, period) {
                (Some(at), Some(p)) => {
                    next_send = Some(at + p);
                    if Instant::now() >= at {
                        at // behind schedule: the wait for the previous answer counts
                    } else {
                        // The timer wakes up to a millisecond late; the request leaves now.
                        tokio::time::sleep_until(at.into()).await;
                        Instant::now()
                    }
                }
                _ => Instant::now(),
            };
            let Ok(resp) = sender.send_request(req).await else {
                errors += 1;
                continue 'outer;
            };
            let ok = resp.status().is_success();
            if resp.into_body().collect().await.is_err() {
                errors += 1;
                continue 'outer;
            }
            if t0 >= start_measure {
                if ok {
                    lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                } else {
                    errors += 1;
                }
            }
        }
    }
    (lat, errors)
}

fn main() {
    let a = Arc::new(args());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|_| die("runtime"));
    rt.block_on(async {
        let (tls, _, _, _) = split(&a.url);
        let cfg = tls.then(|| tls_config(&a));
        let start = Instant::now();
        let start_measure = start + Duration::from_secs(a.warmup);
        let end = start_measure + Duration::from_secs(a.duration);
        let pid = a.server_pid;
        let cpu = tokio::spawn(async move {
            tokio::time::sleep_until(start_measure.into()).await;
            let before = pid.and_then(cpu_ticks);
            tokio::time::sleep_until(end.into()).await;
            let after = pid.and_then(cpu_ticks);
            before.zip(after).map(|(b, e)| e - b)
        });
        let mut tasks = Vec::new();
        for index in 0..a.concurrency {
            tasks.push(tokio::spawn(worker(a.clone(), cfg.clone(), start_measure, end, index)));
        }
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            if let Ok((l, e)) = t.await {
                lat.extend(l);
                errors += e;
            }
        }
        let ticks = cpu.await.ok().flatten();
        lat.sort_unstable();
        let n = lat.len();
        let pct = |p: f64| lat.get(((n as f64) * p) as usize).copied().unwrap_or(0);
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let cpu_us = ticks.map(|t| t as f64 / hz * 1e6 / n.max(1) as f64);
        println!(
            "{}",
            serde_json::json!({
                "label": a.label, "concurrency": a.concurrency, "seconds": a.duration, "rate": a.rate,
                "requests": n, "rps": n as f64 / a.duration as f64,
                "p50_us": pct(0.50), "p99_us": pct(0.99), "errors": errors,
                "server_cpu_us_per_req": cpu_us,
            })
        );
    });
}
