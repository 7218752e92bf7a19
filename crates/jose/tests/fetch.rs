//! CA-1 with a client `jwks_uri`: the fetcher's own rules, each at its edges, against a real
//! HTTP server on loopback that counts what it is asked: how long a set is served from cache
//! and, while its URI fails, past its lifetime; how often an unknown `kid` may trigger a
//! refetch; the backoff after a failure and its reset after a success; what a caller gets while
//! another caller's fetch is in flight; and what is refused (not a JWK Set, over the size cap,
//! plain http).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_core::{OutboundHttp, OutboundSettings};
use bulwark_jose::{Alg, FetchError, JwksFetcher, SigningKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the host answers: a status, a body, and how long it takes before answering.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
}

/// A `jwks_uri` host on loopback (plain http: the fetcher's transport rules are tested apart).
struct Host {
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
    uri: String,
}

impl Host {
    async fn start(keys: &Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(Answer {
            status: 200,
            body: keys.to_string().into_bytes(),
            delay: Duration::ZERO,
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (a, h) = (a.clone(), h.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let answer = a.lock().unwrap().clone();
                    tokio::time::sleep(answer.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(&answer.body).await;
                });
            }
        });
        Self { answer, hits, uri }
    }

    fn serve(&self, keys: &Value) {
        self.serve_raw(keys.to_string().into_bytes());
    }

    fn serve_raw(&self, body: Vec<u8>) {
        let mut a = self.answer.lock().unwrap();
        a.status = 200;
        a.body = body;
    }

    fn fail(&self) {
        self.answer.lock().unwrap().status = 500;
    }

    fn slow(&self, delay: Duration) {
        self.answer.lock().unwrap().delay = delay;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn key() -> SigningKey {
    SigningKey::generate(Alg::Es256).unwrap()
}

fn set(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| Value::Object(k.public_jwk().clone())).collect::<Vec<_>>()})
}

/// A fetcher over plain http (loopback) with the given lifetime and stale window.
fn fetcher(ttl: Duration, max_stale: Duration) -> JwksFetcher {
    let http = OutboundHttp::new(&OutboundSettings {
        https_only: false,
        ..OutboundSettings::https(Duration::from_secs(5), "test")
    })
    .unwrap();
    JwksFetcher::with_client(http, ttl).with_max_stale(max_stale)
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn ca_1_a_failing_jwks_uri_is_served_from_its_last_set_for_ttl_plus_max_stale_only() {
    let k1 = key();
    let host = Host::start(&set(&[&k1])).await;
    let f = fetcher(Duration::from_secs(1), Duration::from_secs(1));
    let start = tokio::time::Instant::now();
    assert!(f.get(&host.uri, None).await.unwrap().has_kid(k1.kid()));
    host.fail();
    // Past its lifetime, within lifetime + max_stale (2 s): refetched, the failure answered
    // with the last good set.
    tokio::time::sleep_until(start + Duration::from_millis(1300)).await;
    assert!(f.get(&host.uri, None).await.unwrap().has_kid(k1.kid()));
    assert_eq!(host.hits(), 2, "refetched once its lifetime ended");
    // Past lifetime + max_stale, still inside the 2 s backoff of that failure: not asked again,
    // and the set is no longer served.
    tokio::time::sleep_until(start + Duration::from_millis(2500)).await;
    assert!(matches!(
        f.get(&host.uri, None).await,
        Err(FetchError::Http { .. })
    ));
    assert_eq!(host.hits(), 2, "not asked again during the backoff");
    // After the backoff: asked again, fails again, and the old set is not served either.
    tokio::time::sleep_until(start + Duration::from_millis(4000)).await;
    assert!(matches!(
        f.get(&host.uri, None).await,
        Err(FetchError::Http { .. })
    ));
    assert_eq!(host.hits(), 3);
}

#[tokio::test]
async fn ca_1_an_unknown_kid_refetches_at_most_once_in_ten_seconds() {
    let (k1, k2, k3) = (key(), key(), key());
    let host = Host::start(&set(&[&k1])).await;
    let f = fetcher(Duration::from_secs(60), Duration::ZERO);
    f.get(&host.uri, None).await.unwrap();
    assert!(f.get(&host.uri, Some(k1.kid())).await.is_ok());
    assert_eq!(host.hits(), 1, "a known kid is served from cache");
    // A kid the set lacks: one refetch, which finds it.
    host.serve(&set(&[&k1, &k2]));
    assert!(
        f.get(&host.uri, Some(k2.kid()))
            .await
            .unwrap()
            .has_kid(k2.kid())
    );
    assert_eq!(host.hits(), 2);
    // Another unknown kid 1.5 s later: no second refetch (at most one per 10 s), the cached
    // set is the answer.
    host.serve(&set(&[&k1, &k2, &k3]));
    sleep_ms(1500).await;
    let keys = f.get(&host.uri, Some(k3.kid())).await.unwrap();
    assert!(!keys.has_kid(k3.kid()));
    assert_eq!(
        host.hits(),
        2,
        "an unknown kid cannot make us a request amplifier"
    );
}

#[tokio::test]
async fn ca_1_a_failure_backs_off_two_seconds_and_a_success_forgets_it() {
    let k1 = key();
    let host = Host::start(&set(&[&k1])).await;
    // No cache and no stale serving: every get asks the host unless it is backing off.
    let f = fetcher(Duration::ZERO, Duration::ZERO);
    host.fail();
    assert!(f.get(&host.uri, None).await.is_err());
    assert!(f.get(&host.uri, None).await.is_err());
    assert_eq!(host.hits(), 1, "a failed URI is not asked again at once");
    // A first failure backs off 2 s, not more.
    host.serve(&set(&[&k1]));
    sleep_ms(2300).await;
    assert!(f.get(&host.uri, None).await.unwrap().has_kid(k1.kid()));
    assert_eq!(host.hits(), 2);
    // The success reset the count: the next failure is a first failure again (2 s, not 4 s).
    host.fail();
    assert!(f.get(&host.uri, None).await.is_err());
    assert_eq!(host.hits(), 3);
    host.serve(&set(&[&k1]));
    sleep_ms(2300).await;
    assert!(f.get(&host.uri, None).await.unwrap().has_kid(k1.kid()));
    assert_eq!(host.hits(), 4);
}

#[tokio::test]
async fn ca_1_a_failed_refetch_for_an_unknown_kid_is_an_error_not_the_old_set() {
    let (k1, k2) = (key(), key());
    let host = Host::start(&set(&[&k1])).await;
    let f = fetcher(Duration::from_secs(60), Duration::from_secs(3600));
    f.get(&host.uri, None).await.unwrap();
    host.fail();
    // The cached set lacks the kid and the refetch fails: the caller learns the host failed
    // (a 503 to the TPP), not "no such key" from a set that could not have it.
    assert!(matches!(
        f.get(&host.uri, Some(k2.kid())).await,
        Err(FetchError::Http { .. })
    ));
    assert_eq!(host.hits(), 2);
    // The kid it holds is still served from cache.
    assert!(f.get(&host.uri, Some(k1.kid())).await.is_ok());
}

#[tokio::test]
async fn ca_1_a_caller_wanting_a_new_kid_waits_for_the_fetch_in_flight() {
    let (k1, k2) = (key(), key());
    let host = Host::start(&set(&[&k1])).await;
    let f = Arc::new(fetcher(Duration::from_secs(60), Duration::from_secs(3600)));
    f.get(&host.uri, None).await.unwrap();
    // The client rotated to k2; its host answers slowly.
    host.serve(&set(&[&k1, &k2]));
    host.slow(Duration::from_millis(600));
    let first = tokio::spawn({
        let (f, uri, kid) = (f.clone(), host.uri.clone(), k2.kid().to_string());
        async move { f.get(&uri, Some(&kid)).await }
    });
    sleep_ms(150).await;
    // The second caller finds the fetch in flight and the last good set without k2: it waits
    // for the fetch instead of taking a set that cannot verify its assertion.
    let second = f.get(&host.uri, Some(k2.kid())).await.unwrap();
    assert!(second.has_kid(k2.kid()));
    assert!(first.await.unwrap().unwrap().has_kid(k2.kid()));
    assert_eq!(host.hits(), 2, "one fetch for both callers");
}

#[tokio::test]
async fn ca_1_a_fetch_in_flight_does_not_let_a_set_past_its_stale_window_be_served() {
    let k1 = key();
    let host = Host::start(&set(&[&k1])).await;
    let f = Arc::new(fetcher(
        Duration::from_millis(200),
        Duration::from_millis(200),
    ));
    f.get(&host.uri, None).await.unwrap();
    // Past lifetime + max_stale, the host fails slowly (a tarpit).
    sleep_ms(700).await;
    host.fail();
    host.slow(Duration::from_millis(800));
    let first = tokio::spawn({
        let (f, uri) = (f.clone(), host.uri.clone());
        async move { f.get(&uri, None).await }
    });
    sleep_ms(150).await;
    // The second caller may not take the last good set: it is older than the window.
    assert!(matches!(
        f.get(&host.uri, None).await,
        Err(FetchError::Http { .. })
    ));
    assert!(matches!(first.await.unwrap(), Err(FetchError::Http { .. })));
    assert_eq!(host.hits(), 2);
}

#[tokio::test]
async fn ca_1_a_document_that_is_not_a_jwk_set_is_refused() {
    let k1 = key();
    let host = Host::start(&set(&[&k1])).await;
    let f = fetcher(Duration::ZERO, Duration::ZERO);
    for body in [json!({"kid": "x"}), json!({"keys": "x"}), json!([])] {
        host.serve(&body);
        assert!(matches!(
            f.get(&format!("{}?{}", host.uri, host.hits()), None).await,
            Err(FetchError::Invalid { .. })
        ));
    }
    host.serve_raw(b"{not json".to_vec());
    assert!(matches!(
        f.get(&format!("{}?last", host.uri), None).await,
        Err(FetchError::Invalid { .. })
    ));
}

#[tokio::test]
async fn ca_1_a_jwk_set_over_256_kib_is_refused() {
    let k1 = key();
    let host = Host::start(&set(&[&k1])).await;
    let f = fetcher(Duration::ZERO, Duration::ZERO);
    // A valid set padded with JSON whitespace to exactly the cap, then one byte more.
    let doc = set(&[&k1]).to_string();
    let padded = |len: usize| {
        let mut body = doc.clone().into_bytes();
        body.resize(len, b' ');
        body
    };
    host.serve_raw(padded(256 * 1024));
    assert!(f.get(&format!("{}?at-cap", host.uri), None).await.is_ok());
    host.serve_raw(padded(256 * 1024 + 1));
    assert!(matches!(
        f.get(&format!("{}?over-cap", host.uri), None).await,
        Err(FetchError::Http { .. })
    ));
}

#[tokio::test]
async fn ca_1_a_plain_http_jwks_uri_is_never_fetched() {
    let k1 = key();
    let host = Host::start(&set(&[&k1])).await;
    let f = JwksFetcher::new(Duration::from_secs(2), Duration::from_secs(60), &[]).unwrap();
    assert!(matches!(
        f.get(&host.uri, None).await,
        Err(FetchError::Http { .. })
    ));
    assert_eq!(host.hits(), 0, "nothing was sent over plain http");
}
