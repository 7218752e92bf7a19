//! GW-1 paths the other gateway suites leave out: the server rotating its signing key (the
//! gateway meets a token of the new key before its cached JWK Set has it, and fetches again;
//! a withdrawn key's tokens stop once their verification is a minute old),
//! and behind a TLS-terminating proxy the RFC 9440 `Client-Cert` header (repeated: refused)
//! believed from a trusted proxy only.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bulwark_certs::PspRole;
use serde_json::json;

use crate::support::consents::tpp;
use crate::support::gateway::{gateway_with, get};
use crate::support::{Harness, http_client, jwt_parts};

fn kid(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn gw_1_a_token_of_a_rotated_key_is_accepted_once_the_gateway_refetches() {
    let h = Harness::start(|c| c.keys.reload_secs = 1).await;
    // A JWK Set cached for an hour: only an unknown kid makes the gateway fetch again.
    let base = gateway_with(&h, |c| c["jwks_cache_secs"] = json!(3600)).await;
    let (c, before) = tpp(&h, "tpp-gw-keys", &[PspRole::AccountInformation]).await;
    let id = &c.identity;
    assert_eq!(
        get(&h, &base, id, Some(&before), "/echo/app", &[])
            .await
            .status,
        200
    );

    let rotated = h.rotate_at_once().await;
    h.clock.advance(2);
    let mut after = String::new();
    for _ in 0..50 {
        let resp = c.token(&h, &c.assertion(&h)).await;
        assert_eq!(resp.0, 200, "{:?}", resp.2);
        after = resp.2["access_token"].as_str().unwrap().to_string();
        if kid(&after) == rotated.next.kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        kid(&after),
        rotated.next.kid,
        "the server signs with the new key"
    );
    let ok = get(&h, &base, id, Some(&after), "/echo/app", &[]).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

/// GW-1 / DS-2: a key withdrawn from the server's JWK Set (a compromise: `keys rotate
/// --immediately`) stops admitting its tokens at the gateway once the gateway's minute of
/// trust in a signature it verified has passed on its clock, although the token itself has
/// not expired: after that minute the gateway checks the signature against the key set again.
#[tokio::test]
async fn gw_1_a_token_of_a_withdrawn_key_is_refused_once_its_verification_is_a_minute_old() {
    let h = Harness::start(|c| c.keys.reload_secs = 1).await;
    // The JWK Set is fetched again after a second (of real time), so the withdrawal is
    // visible to the gateway as soon as it verifies the signature again.
    let base = gateway_with(&h, |c| c["jwks_cache_secs"] = json!(1)).await;
    let (c, before) = tpp(&h, "tpp-gw-withdrawn", &[PspRole::AccountInformation]).await;
    let id = &c.identity;
    let old = kid(&before);
    assert_eq!(
        get(&h, &base, id, Some(&before), "/echo/app", &[])
            .await
            .status,
        200
    );

    h.rotate_at_once().await;
    for _ in 0..50 {
        if !h.published_kids().await.contains(&old) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !h.published_kids().await.contains(&old),
        "the server withdraws the old key"
    );
    // The gateway's cached key set is stale by now (real time).
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Within the minute the verified signature still counts (the documented bound)...
    h.clock.advance(59);
    assert_eq!(
        get(&h, &base, id, Some(&before), "/echo/app", &[])
            .await
            .status,
        200,
        "a signature verified 59 s ago is trusted"
    );
    // ...after it, the signature is checked again and the key is gone.
    h.clock.advance(1);
    let refused = get(&h, &base, id, Some(&before), "/echo/app", &[]).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
}

/// `Client-Cert: :<base64 DER>:` (RFC 9440 2.1).
fn client_cert_header(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

#[tokio::test]
async fn gw_1_behind_a_proxy_rfc9440_headers_are_believed_from_trusted_proxies_only() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "tpp-gw-9440", &[PspRole::AccountInformation]).await;
    let header = client_cert_header(&c.identity.chain[0]);
    let call = |base: String, headers: Vec<(&'static str, String)>| {
        let mut req = http_client(&h.dev_ca, None)
            .get(format!("{base}/echo/app"))
            .bearer_auth(&token);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };

    let trusted = gateway_with(&h, |g| {
        g["mtls"] = json!({"mode": "proxy", "trusted_proxies": ["127.0.0.1/32"]});
    })
    .await;
    let ok = call(trusted.clone(), vec![("Client-Cert", header.clone())])
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let twice = call(
        trusted,
        vec![
            ("Client-Cert", header.clone()),
            ("Client-Cert", header.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        twice.status().as_u16(),
        401,
        "a repeated Client-Cert header"
    );

    // The same header from a peer that is not a trusted proxy: refused, never believed.
    let untrusted = gateway_with(&h, |g| {
        g["mtls"] = json!({"mode": "proxy", "trusted_proxies": ["10.0.0.0/8"]});
    })
    .await;
    let spoofed = call(untrusted, vec![("Client-Cert", header)])
        .await
        .unwrap();
    assert_eq!(spoofed.status().as_u16(), 401);
    let challenge = spoofed.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}
