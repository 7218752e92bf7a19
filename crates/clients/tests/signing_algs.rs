//! DCR-2: every signing algorithm a client registers (its assertions, request objects, ID
//! tokens and JARM responses) is PS256 or ES256; RS256, `none` and HMAC are refused by name,
//! whichever member carries them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bulwark_clients::validate_metadata;
use bulwark_core::client::ClientMetadata;
use serde_json::json;

const MEMBERS: [&str; 4] = [
    "token_endpoint_auth_signing_alg",
    "request_object_signing_alg",
    "id_token_signed_response_alg",
    "authorization_signed_response_alg",
];

fn with(member: &str, alg: &str) -> ClientMetadata {
    serde_json::from_value(json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://tpp.example/jwks",
        "redirect_uris": ["https://tpp.example/cb"],
        member: alg,
    }))
    .unwrap()
}

#[test]
fn dcr_2_every_signing_algorithm_member_is_ps256_or_es256() {
    for member in MEMBERS {
        for good in ["PS256", "ES256"] {
            validate_metadata(&with(member, good))
                .unwrap_or_else(|e| panic!("{member} {good}: {e}"));
        }
        for bad in ["RS256", "none", "HS256", "ps256", ""] {
            let err = validate_metadata(&with(member, bad)).expect_err(member);
            assert!(err.to_string().contains(member), "{member} {bad}: {err}");
        }
    }
}
