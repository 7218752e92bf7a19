//! OP-1 and OP-4 at shutdown: while a node drains the requests in flight it reports not ready
//! on its admin listener (a load balancer sends it nothing new), and a request in flight on the
//! staff listener finishes with its answer before the database closes. A stopping gateway waits
//! for an upstream call in flight as long as the upstream may take to answer.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::support::{install_crypto, test_config};

/// A TLS connection to `addr` (trusting the development CA in `data_dir`) that has sent the
/// head of a POST and two of its ten body bytes: a request in flight until the rest comes.
async fn request_in_flight(
    addr: std::net::SocketAddr,
    data_dir: &std::path::Path,
    path: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut config =
        crate::support::http::client_tls_config(&data_dir.join("dev-pki/ca.pem"), None);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\nab"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    tls
}

/// Sends the rest of the body of a [`request_in_flight`] and expects an HTTP answer.
async fn answered(name: &str, conn: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
    conn.write_all(b"cdefghij").await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("{name}: no answer while draining"))
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 "), "{name}: {answer:?}");
}

#[tokio::test]
async fn op_4_a_draining_node_is_not_ready_and_op_1_the_staff_listener_drains_too() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.http.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    config.staff.listen = Some("127.0.0.1:0".parse().unwrap());
    let app = bulwark_server::app::Application::build(config)
        .await
        .unwrap();
    let (addr, admin, staff) = (
        app.addr(),
        app.admin_addr().unwrap(),
        app.staff_addr().unwrap(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let readyz = || async move {
        reqwest::get(format!("http://{admin}/readyz"))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(readyz().await, 200);

    // One request in flight on each TLS listener, then the shutdown signal.
    let mut public = request_in_flight(addr, dir.path(), "/token").await;
    let mut staff_req = request_in_flight(staff, dir.path(), "/staff/login").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "draining the requests in flight");
    assert_eq!(readyz().await, 503, "not ready while draining");

    // The public request completes and is answered; the node keeps draining the staff
    // listener's (its audit row and the database must outlive it), then that one is answered
    // too, and only then does the node stop.
    answered("public", &mut public).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !task.is_finished(),
        "the staff request in flight is still drained"
    );
    answered("staff", &mut staff_req).await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the node stops once drained")
        .unwrap();
}

/// OP-1 for the gateway: a request whose upstream is still answering when the gateway is told
/// to stop (a payment the bank is making, its consent already consumed) gets the bank's answer:
/// the drain lasts the upstream timeout and a margin, not a fixed 10 s shorter than it.
#[tokio::test]
async fn op_1_a_stopping_gateway_waits_for_an_upstream_answer_within_its_timeout() {
    use crate::support::gateway::{gateway_stoppable, get, journey};
    let h = crate::support::Harness::start(|_| {}).await;
    // An upstream answering after 11 s (beyond the old fixed drain, within the timeout).
    let (called, mut reached) = tokio::sync::mpsc::channel::<()>(1);
    let answered_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let answering = answered_at.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || {
        let (called, answering) = (called.clone(), answering.clone());
        async move {
            let _ = called.send(()).await;
            tokio::time::sleep(Duration::from_secs(11)).await;
            *answering.lock().unwrap() = Some(std::time::Instant::now());
            axum::Json(serde_json::json!({"Data": {"Account": []}}))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (base, stop, running) = gateway_stoppable(&h, |c| {
        c["upstream_timeout_secs"] = serde_json::json!(20);
        c["routes"].as_array_mut().unwrap().push(serde_json::json!(
            {"method": "GET", "path": "/slow/accounts", "upstream": slow, "api": "accounts"}
        ));
    })
    .await;
    // When the gateway's run ends (the process would exit then, cutting what is open).
    let stopped_at = tokio::spawn(async move {
        running.await.unwrap();
        std::time::Instant::now()
    });
    let (t, token, _, _) = journey(&h).await;
    let call = get(
        &h,
        &base,
        &t.c.identity,
        Some(&token),
        "/slow/accounts",
        &[],
    );
    let stopping = async {
        reached.recv().await.unwrap();
        stop.send(()).unwrap();
    };
    let (answer, ()) = tokio::join!(call, stopping);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(
        answer.body["Data"]["Account"].is_array(),
        "{:?}",
        answer.body
    );
    let stopped = tokio::time::timeout(Duration::from_secs(10), stopped_at)
        .await
        .expect("the gateway stops once drained")
        .unwrap();
    let answered = answered_at.lock().unwrap().unwrap();
    assert!(
        stopped > answered,
        "the gateway stopped before the upstream answered"
    );
}

/// hardening_slow_clients on the admin listener: it closes a connection that sends nothing
/// within `http.tls_handshake_timeout_secs`, or trickles its headers past
/// `http.header_read_timeout_secs`, as the public listener does
/// (it was served without any timeout, so an internal peer could hold sockets for good).
#[tokio::test]
async fn hardening_the_admin_listener_cuts_off_silent_and_trickling_connections() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.http.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    config.http.header_read_timeout_secs = 1;
    config.http.tls_handshake_timeout_secs = 1;
    let app = bulwark_server::app::Application::build(config)
        .await
        .unwrap();
    let admin = app.admin_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let silent = tokio::net::TcpStream::connect(admin).await.unwrap();
    let mut trickling = tokio::net::TcpStream::connect(admin).await.unwrap();
    trickling
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    for (name, mut conn) in [("silent", silent), ("trickling", trickling)] {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{name}: still open after 5 s"));
        if let Ok(n) = read {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{name}: {text}");
        }
    }
    // It still serves a well-behaved client.
    let ok = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}
