//! GW-1 helpers shared by the in-process gateway suite (`gateway.rs`) and the one with every
//! part its own process (`gateway_process.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::HeaderMap;
use bulwark_gateway::{Gateway, GatewayConfig};
use serde_json::{Value, json};

use super::journey::{FlowTpp, fapi2_code};
use super::{Harness, ISSUER, Identity, http_client};

/// A gateway answer: status, headers and the body (JSON when it parses, else the text).
pub struct Call {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// `GET base+path` over mTLS as `id`, with an optional bearer token and extra headers.
pub async fn get(
    h: &Harness,
    base: &str,
    id: &Identity,
    token: Option<&str>,
    path: &str,
    extra: &[(&str, &str)],
) -> Call {
    let mut req = http_client(&h.dev_ca, Some(id)).get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Call {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// A PSU journey: the TPP, the PSU's token, and the PSU's two accounts (the first selected).
pub async fn journey(h: &Harness) -> (FlowTpp, String, Vec<String>, String) {
    let t = FlowTpp::register(h, "tpp-gw", None).await;
    let (code, consent_id, subject) = fapi2_code(h, &t, "gwpsu").await;
    let tokens = t.exchange(h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let accounts = bulwark_store::PsuStore::psu_accounts(&h.store, &subject)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    let _ = consent_id;
    (
        t,
        tokens.2["access_token"].as_str().unwrap().to_string(),
        accounts,
        subject,
    )
}

/// A free loopback address for a gateway's `admin_listen`.
pub fn free_admin_addr() -> std::net::SocketAddr {
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    admin.local_addr().unwrap()
}

/// The metrics page a gateway serves on its admin listener `addr`.
pub async fn admin_metrics(addr: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Requests the upstreams of each test gateway received, by the gateway's base URL.
static UPSTREAM_HITS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>,
> = std::sync::LazyLock::new(Default::default);

/// How many requests the upstreams behind the gateway at `base` have received so far.
pub fn upstream_hits(base: &str) -> usize {
    UPSTREAM_HITS.lock().unwrap()[base].load(Ordering::SeqCst)
}

/// Awaits a request to the gateway at `base` that the gateway must refuse itself, and checks
/// that none of its upstreams received anything meanwhile.
pub async fn never_forwarded<T>(base: &str, request: impl std::future::Future<Output = T>) -> T {
    let before = upstream_hits(base);
    let answer = request.await;
    assert_eq!(
        upstream_hits(base),
        before,
        "the refused request reached the upstream"
    );
    answer
}

/// Counts every request `app` receives into `hits`.
fn counted(app: axum::Router, hits: Arc<AtomicUsize>) -> axum::Router {
    app.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            hits.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        },
    ))
}

/// A plain-HTTP server on loopback answering every request with what it received.
/// It counts what it receives into `hits`.
async fn echo_upstream(hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(
        |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: String| async move {
            let h: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or("?"))))
                .collect();
            axum::Json(json!({"method": method.as_str(), "uri": uri.to_string(), "headers": h, "body": body}))
        },
    );
    let app = counted(app, hits);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The demo bank on loopback over the harness's database, counting what it receives into
/// `hits`.
async fn demo_bank(h: &Harness, hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = counted(
        bulwark_server::demo_bank::router(Arc::new(h.store.clone())),
        hits,
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A gateway in front of the demo bank and the echo upstream; returns its base URL.
pub async fn gateway(h: &Harness) -> String {
    gateway_with(h, |_| {}).await
}

/// As [`gateway`], with the configuration (JSON) adjusted by `tweak`.
pub async fn gateway_with(h: &Harness, tweak: impl FnOnce(&mut Value)) -> String {
    let (base, g) = gateway_built(h, tweak).await;
    tokio::spawn(g.run_until(std::future::pending()));
    base
}

/// As [`gateway_with`], stopped by a send on the returned channel; the returned task ends
/// when the gateway has drained.
pub async fn gateway_stoppable(
    h: &Harness,
    tweak: impl FnOnce(&mut Value),
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (base, g) = gateway_built(h, tweak).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(g.run_until(async {
        let _ = stopped.await;
    }));
    (base, stop, task)
}

/// The gateway of [`gateway_with`], built and not yet running, with its base URL.
async fn gateway_built(h: &Harness, tweak: impl FnOnce(&mut Value)) -> (String, Gateway) {
    let hits = Arc::new(AtomicUsize::new(0));
    let bank = demo_bank(h, hits.clone()).await;
    let echo = echo_upstream(hits.clone()).await;
    let pki = h.data_dir().join("dev-pki");
    let mut config = json!({
        "listen": "127.0.0.1:0",
        "tls": {"cert": pki.join("server.pem"), "key": pki.join("server-key.pem")},
        "issuer": ISSUER,
        "jwks_uri": h.url("/jwks"),
        "jwks_ca": [h.dev_ca],
        "database_url": h.db_url,
        "client_cache_secs": 0,
        "trust": {"anchors": [h.pki.ca_pem_path]},
        "revocation": {"enabled": false},
        "routes": [
            {"method": "GET", "path": "/open-banking/v3.1/aisp/accounts", "upstream": bank, "api": "accounts"},
            {"method": "GET", "path": "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
             "upstream": bank, "api": "balances", "account_param": "AccountId"},
            {"method": "GET", "path": "/open-banking/v3.1/aisp/accounts/{AccountId}/transactions",
             "upstream": bank, "api": "transactions", "account_param": "AccountId"},
            {"method": "GET", "path": "/echo/accounts", "upstream": echo, "api": "accounts"},
            {"method": "POST", "path": "/open-banking/v3.1/pisp/domestic-payments", "upstream": echo,
             "api": "domestic-payments", "payment_submission": true},
            {"method": "GET", "path": "/echo/app", "upstream": echo, "api": "products", "token": "application"}
        ]
    });
    tweak(&mut config);
    let config: GatewayConfig = serde_json::from_value(config).unwrap();
    let g = Gateway::build(config, Arc::new(h.clock.clone()))
        .await
        .unwrap();
    let base = format!("https://localhost:{}", g.addr().port());
    UPSTREAM_HITS.lock().unwrap().insert(base.clone(), hits);
    (base, g)
}

pub fn reason(c: &Call) -> String {
    c.body["Errors"][0]["Message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// RFC 6750 3.1: a refused token is challenged with `error="invalid_token"`.
pub fn assert_invalid_token_challenge(c: &Call) {
    let challenge = c.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// True for a UUID as the gateway generates them (`8-4-4-4-12` hex digits, version 4).
pub fn is_uuid_v4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
        && s.as_bytes()[14] == b'4'
}

/// The URL-encoded PEM of a certificate, as nginx's `$ssl_client_escaped_cert`.
pub fn escaped_pem(der: &[u8]) -> String {
    use base64::Engine;
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    pem.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The echo upstream over TLS with the development certificate (a CA of its own, not a
/// public one), HTTP/2 offered by ALPN; it answers with the protocol version it saw.
pub async fn tls_echo_upstream(h: &Harness) -> String {
    let pki = h.data_dir().join("dev-pki");
    let chain = bulwark_web::tls::load_chain(&pki.join("server.pem")).unwrap();
    let key = bulwark_web::tls::load_key(&pki.join("server-key.pem")).unwrap();
    let tls = Arc::new(
        bulwark_web::tls::server_config(chain, key, Vec::new(), bulwark_core::Profile::Fapi2)
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        axum::Json(json!({"version": format!("{:?}", req.version()), "path": req.uri().path()}))
    });
    tokio::spawn(bulwark_web::listener::serve_with(
        listener,
        tls,
        app,
        std::future::pending(),
        std::time::Duration::from_secs(1),
        bulwark_web::ConnectionLimits::default(),
    ));
    format!("https://localhost:{port}")
}

/// A funds-confirmation consent authorised by PSU `user` for TPP `id` (the whole CBPII
/// journey: consent, PAR with the `fundsconfirmations` scope, login, authorise, code, token);
/// returns the TPP, its access token for the consent, and the consent id.
pub async fn funds_journey(h: &Harness, id: &str, user: &str) -> (FlowTpp, String, String) {
    let (t, code, consent_id) = funds_code(h, id, user).await;
    let tokens = t.exchange(h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let token = tokens.2["access_token"].as_str().unwrap().to_string();
    (t, token, consent_id)
}

/// The first half of [`funds_journey`]: the TPP, the authorization code the PSU's decision
/// gave it (not yet exchanged) and the consent id.
pub async fn funds_code(h: &Harness, id: &str, user: &str) -> (FlowTpp, String, String) {
    use super::journey::{psu, response_params};
    let t = FlowTpp::register(h, id, None).await;
    let (user, password, _, subject) = psu(h, user).await;
    // The consent names one of the PSU's accounts (OB: the DebtorAccount is the CBPII's).
    let account = bulwark_store::PsuStore::psu_accounts(&h.store, &subject)
        .await
        .unwrap()
        .remove(0);
    let consent_id = t.funds_consent_for(h, &account).await;
    let params = t.fapi2_params_with_scope(&consent_id, "openid fundsconfirmations");
    let (mut b, ia) = t.start_in_browser(h, &params).await;
    let logged = b.login(&ia, &user, &password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    // The account is the consent's: the PSU confirms, choosing none.
    let done = b.decide(&ia, "authorise", &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let params = response_params(&done.location());
    assert!(params.contains_key("code"), "{params:?}");
    (t, params["code"].clone(), consent_id)
}

/// A domestic-payment consent for `amount` GBP authorised by PSU `user` for TPP `id`; returns
/// the TPP, its access token for the consent, and the consent id.
pub async fn payment_journey(
    h: &Harness,
    id: &str,
    user: &str,
    amount: &str,
) -> (FlowTpp, String, String) {
    use super::journey::{psu, response_params};
    let t = FlowTpp::register(h, id, None).await;
    let consent_id = t.payment_consent(h, amount).await;
    let (user, password, accounts, _) = psu(h, user).await;
    let params = t.fapi2_params_with_scope(&consent_id, "openid payments");
    let (mut b, ia) = t.start_in_browser(h, &params).await;
    b.login(&ia, &user, &password).await;
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    let code = response_params(&done.location())["code"].clone();
    let tokens = t.exchange(h, &code).await;
    let token = tokens.2["access_token"].as_str().unwrap().to_string();
    (t, token, consent_id)
}
