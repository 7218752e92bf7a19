//! TK-5: ID tokens encrypted to a key the client publishes at its `jwks_uri` (as an Open
//! Banking TPP does: its keys are at the directory's `software_jwks_endpoint`), here with
//! ECDH-ES (P-256) + A256GCM; `authorize.rs` covers RSA-OAEP with keys by value. A key that has
//! gone from the `jwks_uri` is never answered with a plain ID token, and the code survives.

use std::sync::{Arc, Mutex};

use josekit::jwe;
use josekit::jwk::alg::ec::EcCurve;
use serde_json::{Map, Value, json};

use crate::support::journey::{FlowTpp, fapi2_code};
use crate::support::{assert_code_unspent, assert_oauth_error};

use crate::support::{Harness, both_backends, jwks_server, open_id_token};

async fn tk_5_id_token_encrypted_to_a_jwks_uri_key_case(h: Harness) {
    let pair = jwe::ECDH_ES.generate_ec_key_pair(EcCurve::P256).unwrap();
    let mut public: Map<String, Value> = pair.to_jwk_public_key().as_ref().clone();
    public.insert("use".into(), json!("enc"));
    public.insert("kid".into(), json!("tpp-enc-ec"));
    let served = Arc::new(Mutex::new(json!({"keys": []})));
    let url = jwks_server(&h, served.clone(), Arc::new(Mutex::new(0))).await;
    let t = FlowTpp::register_jwks_uri(
        &h,
        "tpp-jwe-uri",
        json!({"id_token_encrypted_response_alg": "ECDH-ES", "id_token_encrypted_response_enc": "A256GCM"}),
        vec![Value::Object(public)],
        &served,
        &url,
    )
    .await;

    let (code, consent_id, _) = fapi2_code(&h, &t, "jwe-uri").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let decrypter = jwe::ECDH_ES
        .decrypter_from_jwk(&pair.to_jwk_private_key())
        .unwrap();
    let claims = open_id_token(
        &h,
        tokens.2["id_token"].as_str().unwrap(),
        &decrypter,
        "tpp-enc-ec",
    );
    assert_eq!(claims["openbanking_intent_id"], consent_id.as_str());

    // The TPP drops its encryption key: no plain ID token instead, and the code is not spent.
    let (code, _, _) = fapi2_code(&h, &t, "jwe-uri-2").await;
    served.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["use"] != "enc");
    let refused = t.exchange(&h, &code).await;
    assert_oauth_error(&refused, 400, "invalid_request");
    assert!(refused.2.get("id_token").is_none());
    assert_code_unspent(&h, &code).await;
}

/// Key sets fetched from a `jwks_uri` are not kept (so the dropped key is seen at once).
fn no_jwks_cache(c: &mut bulwark_server::Config) {
    c.tokens.jwks_cache_secs = 0;
}

both_backends!(
    tk_5_id_token_encrypted_to_a_jwks_uri_key,
    tk_5_id_token_encrypted_to_a_jwks_uri_key_on_postgres
        => tk_5_id_token_encrypted_to_a_jwks_uri_key_case,
    tweak = no_jwks_cache
);

/// TK-2 / TK-5: a response that cannot be made changes nothing. The client's stored
/// encryption key is one no ID token is encrypted to (a zero modulus; registration refuses
/// such a key now, a client stored before keeps it): the exchange is refused as the client's
/// fault (400), and the code is not spent (nothing was issued from it, so a retry is not a
/// reuse).
async fn tk_5_an_unusable_encryption_key_leaves_the_code_unspent_case(h: Harness) {
    let broken = json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "broken",
                        "n": "AA", "e": "AQAB"});
    let t = FlowTpp::register_full(
        &h,
        "tpp-jwe-broken",
        None,
        crate::support::journey::REDIRECT,
        json!({"id_token_encrypted_response_alg": "RSA-OAEP", "id_token_encrypted_response_enc": "A256GCM"}),
        vec![broken],
    )
    .await;
    let (code, _, _) = fapi2_code(&h, &t, "jwe-broken").await;
    let refused = t.exchange(&h, &code).await;
    assert_oauth_error(&refused, 400, "invalid_request");
    assert_code_unspent(&h, &code).await;
}

both_backends!(
    tk_5_an_unusable_encryption_key_leaves_the_code_unspent,
    tk_5_an_unusable_encryption_key_leaves_the_code_unspent_on_postgres
        => tk_5_an_unusable_encryption_key_leaves_the_code_unspent_case
);
