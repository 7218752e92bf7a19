//! Assertions and decoders shared by the e2e files: RFC 6749 error answers and JWT parts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The header and claims of a compact JWT, unverified.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

/// An OAuth error answer: `status`, `error` = `code` and `Cache-Control: no-store`.
pub fn assert_oauth_error(
    resp: &(u16, reqwest::header::HeaderMap, Value),
    status: u16,
    code: &str,
) {
    assert_eq!(resp.0, status, "{:?}", resp.2);
    assert_eq!(resp.2["error"], code, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
}
