//! A man-in-the-middle in front of the real `openssl ocsp` responder, for the two answers
//! openssl will not produce: a response whose signed data was altered, and a replay of an
//! earlier response (stale nonce).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use der::{Decode, Encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use x509_ocsp::{BasicOcspResponse, OcspGeneralizedTime, OcspResponse};

#[derive(Clone, Copy)]
pub enum Mode {
    /// Move producedAt by one second after signing (signature no longer matches).
    Tamper,
    /// Answer every request after the first with the first response.
    Replay,
    /// Pass the responder's answers through unchanged (to see the requests).
    Pass,
}

pub struct OcspMitm {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
    /// The body of every request received, in order.
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl OcspMitm {
    pub async fn start(upstream: u16, mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let requests: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let first = first.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Some(req) = read_http(&mut client).await else {
                        return;
                    };
                    seen.lock().unwrap().push(body_of(&req).to_vec());
                    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await.unwrap();
                    up.write_all(&req).await.unwrap();
                    let resp = read_http(&mut up).await.unwrap();
                    let body = body_of(&resp).to_vec();
                    let out = match mode {
                        Mode::Tamper => tamper(&body),
                        Mode::Replay => {
                            let mut f = first.lock().unwrap();
                            f.get_or_insert(body).clone()
                        }
                        Mode::Pass => body,
                    };
                    let head = format!(
                        "HTTP/1.0 200 OK\r\ncontent-type: application/ocsp-response\r\ncontent-length: {}\r\n\r\n",
                        out.len()
                    );
                    let _ = client.write_all(head.as_bytes()).await;
                    let _ = client.write_all(&out).await;
                });
            }
        });
        Self {
            port,
            task,
            requests,
        }
    }

    /// The bodies of the requests received so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for OcspMitm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tamper(body: &[u8]) -> Vec<u8> {
    let mut resp = OcspResponse::from_der(body).unwrap();
    let bytes = resp.response_bytes.as_mut().unwrap();
    let mut basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let t = basic.tbs_response_data.produced_at.0.to_unix_duration() + Duration::from_secs(1);
    basic.tbs_response_data.produced_at =
        OcspGeneralizedTime(der::asn1::GeneralizedTime::from_unix_duration(t).unwrap());
    bytes.response = der::asn1::OctetString::new(basic.to_der().unwrap()).unwrap();
    resp.to_der().unwrap()
}

/// Reads one HTTP message (headers plus content-length body).
async fn read_http(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return Some(got);
            }
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return if got.is_empty() { None } else { Some(got) },
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn body_of(msg: &[u8]) -> &[u8] {
    let end = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &msg[end + 4..]
}
