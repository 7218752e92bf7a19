//! Assertions and decoders shared by the e2e files: RFC 6749 error answers, JWT parts and
//! encrypted ID tokens.

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

/// An ID token checked as its client validates it (OIDC Core 3.1.3.7 and 3.3.2.12, the OIDF
/// suite's ValidateIdToken): signed by the server's current keys, issued by the issuer to
/// `client_id`, issued now, living exactly `lifetime` seconds, after its PSU's login; its claims.
pub fn valid_id_token(
    h: &super::Harness,
    id_token: &str,
    client_id: &str,
    lifetime: i64,
) -> serde_json::Map<String, Value> {
    let claims = server_signed(h, id_token);
    assert_eq!(claims["iss"], super::ISSUER, "{claims:?}");
    assert_eq!(claims["aud"], client_id, "{claims:?}");
    let now = h.clock_now();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((now - 5..=now).contains(&iat), "iat {iat}, now {now}");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - iat,
        lifetime,
        "{claims:?}"
    );
    assert!(claims["auth_time"].as_i64().unwrap() <= iat, "{claims:?}");
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
    claims
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

/// An encrypted ID token opened as its client would: a compact JWE to `kid`, decrypted with
/// `decrypter`, holding a JWT (`cty`) signed by the server's keys; its claims.
pub fn open_id_token(
    h: &super::Harness,
    id_token: &str,
    decrypter: &dyn josekit::jwe::JweDecrypter,
    kid: &str,
) -> serde_json::Map<String, Value> {
    assert_eq!(id_token.split('.').count(), 5, "a compact JWE");
    let (inner, header) = josekit::jwe::deserialize_compact(id_token, decrypter).unwrap();
    assert_eq!(header.content_type(), Some("JWT"));
    assert_eq!(header.key_id(), Some(kid));
    server_signed(h, std::str::from_utf8(&inner).unwrap())
}

/// The claims of a compact JWT that the server's current keys signed.
fn server_signed(h: &super::Harness, jwt: &str) -> serde_json::Map<String, Value> {
    let jws = bulwark_jose::Compact::parse(jwt).unwrap();
    h.state
        .meta
        .keys
        .current()
        .public_set()
        .verify(&jws)
        .unwrap();
    jws.claims().unwrap()
}

/// The code is stored and not spent: a retry of its exchange is not a reuse.
pub async fn assert_code_unspent(h: &super::Harness, code: &str) {
    let stored =
        bulwark_store::AuthorizationStore::get_code(&h.store, &bulwark_token::secret_hash(code))
            .await
            .unwrap()
            .unwrap();
    assert!(stored.used_at.is_none(), "the code is still usable");
}
