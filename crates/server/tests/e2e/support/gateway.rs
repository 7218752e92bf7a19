//! GW-1 helpers shared by the in-process gateway suite (`gateway.rs`) and the one with every
//! part its own process (`gateway_process.rs`).

use serde_json::Value;

use super::journey::{FlowTpp, fapi2_code};
use super::{Harness, Identity, http_client};

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
