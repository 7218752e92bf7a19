//! OP-3: two stateless nodes behind nginx on one PostgreSQL share every security decision.

use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use serde_json::Value;

use crate::support::{CertHeader, Cluster, Postgres, eventually, http, require};

/// The node that answered the last request on `route`, from the per-node counters.
fn which(before: &[u64], after: &[u64]) -> usize {
    let moved: Vec<usize> = (0..before.len())
        .filter(|&i| after[i] > before[i])
        .collect();
    assert_eq!(
        moved.len(),
        1,
        "exactly one node answered: {before:?} -> {after:?}"
    );
    moved[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_3_two_nodes_behind_nginx_share_replay_revocation_and_suspension() {
    if !require(&["postgres", "nginx"]) {
        return;
    }
    let _one = crate::support::exclusive().await;
    shared_decisions(Cluster::start(2, |_| {}).await).await;
}

/// The same through nginx's RFC 9440 variant (`deploy/nginx/rfc9440.js`, `Client-Cert`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_3_two_nodes_behind_nginx_rfc9440_variant() {
    if !require(&["postgres", "nginx", "njs"]) {
        return;
    }
    let _one = crate::support::exclusive().await;
    let pg = Postgres::start_primary();
    shared_decisions(Cluster::start_on(pg, 2, CertHeader::Rfc9440, |_| {}).await).await;
}

async fn shared_decisions(c: Cluster) {
    let tpp = &c.client;
    assert!(
        tpp.base.ends_with(&format!(":{}", c.nginx.port)),
        "calls go through nginx"
    );

    // Tokens, introspections and revocations land on both nodes.
    let mut tokens = Vec::new();
    for _ in 0..6 {
        let (status, body) = tpp
            .post("/token", &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(
            status,
            200,
            "{body}; nginx: {}; nodes: {}",
            c.nginx.error_log(),
            c.nodes
                .iter()
                .map(|n| n.log())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokens.push(body["access_token"].as_str().unwrap().to_string());
    }
    for token in &tokens {
        let (status, body) = tpp.post("/introspect", &[("token", token)]).await;
        assert_eq!(
            (status, &body["active"]),
            (200, &Value::Bool(true)),
            "{body}"
        );
    }
    let per_node = c.requests_on("/token").await;
    assert!(
        per_node.iter().all(|&n| n >= 2),
        "round robin: {per_node:?}"
    );
    let per_node = c.requests_on("/introspect").await;
    assert!(
        per_node.iter().all(|&n| n >= 2),
        "round robin: {per_node:?}"
    );

    // A client assertion used on one node is refused on the other.
    let (_, assertion) = tpp.assertion();
    let before = c.requests_on("/token").await;
    assert_eq!(tpp.token_with(&assertion).await.0, 200);
    let mid = c.requests_on("/token").await;
    let (status, body) = tpp.token_with(&assertion).await;
    let after = c.requests_on("/token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert_ne!(
        which(&before, &mid),
        which(&mid, &after),
        "the replay reached the other node"
    );

    // Whole journeys: the consent API, PAR, the PSU's pages and the code exchange land on
    // both nodes; a code or a request_uri used on one node is refused on the other.
    let app_token = tpp.accounts_token().await.unwrap();
    let mut browser = c.browser();
    let mut journeys = Vec::new();
    for i in 0..4 {
        // nginx alternates the nodes per request: one extra request before every other
        // journey shifts which node each step meets, whatever a journey's length.
        if i % 2 == 1 {
            let (status, _, _) = tpp
                .get_bearer("/.well-known/openid-configuration", "")
                .await;
            assert_eq!(status, 200);
        }
        let authorized = tpp
            .authorize(&mut browser, &app_token)
            .await
            .unwrap_or_else(|stopped| panic!("{stopped}; nodes: {}", logs(&c)));
        let (status, body) = tpp.exchange(&authorized.code).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["id_token"].is_string(), "{body}");
        let (status, _, consent) = tpp
            .get_bearer(&format!("{CONSENTS}/{}", authorized.consent_id), &app_token)
            .await;
        assert_eq!(
            (status, consent["Data"]["Status"].as_str()),
            (200, Some("Authorised")),
            "{consent}"
        );
        journeys.push(authorized);
    }
    for route in [CONSENTS, "/par", "/authorize"] {
        let per_node = c.requests_on(route).await;
        assert!(
            per_node.iter().all(|&n| n >= 1),
            "{route} on both nodes: {per_node:?}"
        );
    }
    crate::support::check_single_use(
        &c,
        &journeys
            .iter()
            .map(|a| crate::support::journey_done(a.clone()))
            .collect::<Vec<_>>(),
        false,
    )
    .await;

    // A token revoked through one node is inactive on both at once.
    let token = &tokens[0];
    let (status, _) = tpp.post("/revoke", &[("token", token)]).await;
    assert_eq!(status, 200);
    let before = c.requests_on("/introspect").await;
    for _ in 0..4 {
        let (status, body) = tpp.post("/introspect", &[("token", token)]).await;
        assert_eq!(
            (status, &body["active"]),
            (200, &Value::Bool(false)),
            "{body}"
        );
    }
    let after = c.requests_on("/introspect").await;
    assert!(
        (0..2).all(|i| after[i] >= before[i] + 2),
        "both nodes answered inactive: {before:?} -> {after:?}"
    );

    // A caller's own certificate headers never reach a node as the certificate: without a
    // certificate of its own, a caller naming the TPP's certificate in Client-Cert or in the
    // proxy's header is still a caller without a certificate.
    let der = rustls::pki_types::CertificateDer::from_pem_slice(c.pki.client_cert_pem.as_bytes())
        .unwrap();
    let b64 = base64_std(der.as_ref());
    let no_cert = http(&c.pki, false);
    for (name, value) in [
        ("Client-Cert", format!(":{b64}:")),
        ("X-SSL-Client-Cert", url_encode(&c.pki.client_cert_pem)),
    ] {
        let (_, assertion) = tpp.assertion();
        let resp = no_cert
            .post(format!("{}/token", tpp.base))
            .header(name, value)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        // A caller without a certificate (RFC 8705: the token would be bound to none).
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{name} from the caller was taken for a certificate: {body}"
        );
    }

    // A suspended client is refused on both nodes within the client cache time (5 s).
    c.nodes[0].cli(&["clients", "suspend", "ops-tpp"]);
    let suspended = Instant::now();
    eventually(8, "both nodes refuse the suspended client", || async {
        let mut refused = 0;
        for _ in 0..4 {
            let (status, body) = tpp
                .post("/token", &[("grant_type", "client_credentials")])
                .await;
            if status == 401 && body["error"] == "invalid_client" {
                refused += 1;
            }
        }
        refused == 4
    })
    .await;
    assert!(
        suspended.elapsed() <= Duration::from_secs(7),
        "{:?}",
        suspended.elapsed()
    );
}

/// The consent API's route, as `/metrics` labels it.
const CONSENTS: &str = "/open-banking/v3.1/aisp/account-access-consents";

fn logs(c: &Cluster) -> String {
    c.nodes
        .iter()
        .map(|n| n.log())
        .collect::<Vec<_>>()
        .join("\n")
}

fn base64_std(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
