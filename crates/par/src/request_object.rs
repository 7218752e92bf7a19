//! RFC 9101 request objects as FAPI 1.0 Advanced 5.2.2 and FAPI 2.0 constrain them: signed
//! (PS256/ES256, never `none`) by a key of the client, `iss` the client, `aud` our issuer,
//! `exp` required, `exp` - `nbf` at most 60 minutes and `nbf` no older than 60 minutes.

use bulwark_clients::{ClientDirectory, RegisteredClient};
use bulwark_core::UnixTime;
use bulwark_jose::{Compact, Presence, TimeWindow};
use serde_json::{Map, Value};

use crate::ParError;

/// FAPI 1.0 Advanced 5.2.2-13: the longest `exp` - `nbf`, and the oldest `nbf`.
const SIXTY_MINUTES: i64 = 3600;

/// The request-object time policy (FAPI 1.0 Advanced 5.2.2-13; FAPI 2.0 Message Signing 5.3.1
/// takes the same rule).
fn window(skew: i64) -> TimeWindow {
    TimeWindow {
        exp: Presence::Required,
        nbf: Presence::Required,
        max_nbf_lifetime: Some(SIXTY_MINUTES),
        max_nbf_age: Some(SIXTY_MINUTES),
        ..TimeWindow::with_skew(skew)
    }
}

/// Verifies a request object and returns its claims (RFC 9101 6.1-6.3).
pub async fn verify_request_object(
    jwt: &str,
    client: &RegisteredClient,
    directory: &ClientDirectory,
    issuer: &str,
    skew: i64,
    now: UnixTime,
) -> Result<Map<String, Value>, ParError> {
    let bad = |m: &str| ParError::RequestObject(m.to_string());
    let jws = Compact::parse(jwt).map_err(|e| ParError::RequestObject(e.to_string()))?;
    // RFC 9101 6.1 / FAPI: unsigned (`alg: none`) and non-allow-listed algorithms are refused.
    let alg = jws
        .alg()
        .map_err(|e| ParError::RequestObject(e.to_string()))?;
    let meta = &client.client.metadata;
    if let Some(registered) = meta.request_object_signing_alg.as_deref()
        && registered != alg.as_str()
    {
        return Err(bad(
            "signed with an algorithm other than the registered request_object_signing_alg",
        ));
    }
    let keys = directory
        .keys(client, jws.kid())
        .await
        .map_err(|_| bad("the client's keys could not be obtained"))?;
    keys.verify(&jws)
        .map_err(|e| ParError::RequestObject(e.to_string()))?;
    let claims = jws
        .claims()
        .map_err(|e| ParError::RequestObject(e.to_string()))?;
    let client_id = client.client.client_id.as_str();
    // RFC 9101 10.8 / FAPI 1.0 Adv 5.2.2-? : iss is the client.
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return Err(bad("iss is not the client_id"));
    }
    // RFC 9101 6.3 / OIDC Core 6.1: a client_id inside must be the client.
    if let Some(inner) = claims.get("client_id")
        && inner.as_str() != Some(client_id)
    {
        return Err(bad("client_id does not match the client"));
    }
    // FAPI 1.0 Adv 5.2.2-15: aud contains the issuer.
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud does not contain the issuer"));
    }
    window(skew)
        .check(&claims, now)
        .map_err(|e| ParError::RequestObject(format!("request object {e}")))?;
    // RFC 9101 4: a request object cannot nest another.
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(bad(
            "request and request_uri are not allowed inside a request object",
        ));
    }
    Ok(claims)
}
