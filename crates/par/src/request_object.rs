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

/// RFC 9101 10.8 (explicit typing): a request object is `oauth-authz-req+jwt`, with or without
/// `application/` (RFC 7515 4.1.9), compared case-insensitively. Clients that predate the
/// registration send `JWT` or no `typ`, and are still accepted; any other type (an access
/// token's `at+jwt`, a DPoP proof, a logout token) is a JWT made for another purpose, which a
/// request object must never be confused with.
fn typ_allowed(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return true };
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    matches!(typ, "oauth-authz-req+jwt" | "jwt")
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
    if !typ_allowed(jws.typ()) {
        return Err(bad(
            "typ names another kind of JWT; a request object is oauth-authz-req+jwt",
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::typ_allowed;

    #[test]
    fn az_2_a_request_object_is_typed_as_one_or_left_untyped() {
        for ok in [
            None,
            Some("oauth-authz-req+jwt"),
            Some("application/oauth-authz-req+jwt"),
            Some("OAUTH-AUTHZ-REQ+JWT"),
            Some("JWT"),
            Some("jwt"),
        ] {
            assert!(typ_allowed(ok), "{ok:?}");
        }
        for refused in [
            Some("at+jwt"),
            Some("application/at+jwt"),
            Some("dpop+jwt"),
            Some("logout+jwt"),
            Some("secevent+jwt"),
            Some("client-authentication+jwt"),
            Some(""),
            Some("application/"),
        ] {
            assert!(!typ_allowed(refused), "{refused:?}");
        }
    }
}
