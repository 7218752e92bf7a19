//! DCR configuration variants and the metadata checks that reach out to the network: directory
//! keys from a `jwks_uri`, requests verified with their own `jwks`
//! (`dcr.use_software_jwks_endpoint = false`), `sector_identifier_uri`, `tls_client_auth`.

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::support::{Dcr, jwks_server};

#[tokio::test]
async fn dcr_1_directory_keys_from_a_jwks_uri() {
    let d = Dcr::start_full(None, true, |_| {}).await;
    let body = d.registered().await;
    assert!(body["client_id"].is_string());
}

/// The directory's keys cannot be fetched (its JWKS endpoint is down): not the registrant's
/// fault, so 503 `temporarily_unavailable` with `Retry-After` (the same request may be sent
/// again), and nothing is stored.
#[tokio::test]
async fn dcr_1_a_directory_whose_keys_cannot_be_fetched_is_503() {
    let d = Dcr::start_full(None, true, |c| {
        // Nothing listens on the discard port.
        c.dcr.directories[0].jwks_uri = Some("https://127.0.0.1:9/jwks".into());
    })
    .await;
    let resp = d.register(Some(&d.qwac), &d.request()).await;
    assert_eq!(resp.0, 503, "{:?}", resp.2);
    assert_eq!(resp.2["error"], "temporarily_unavailable");
    assert!(resp.1.contains_key("retry-after"), "{:?}", resp.1);
    assert_eq!(d.client_count().await, 0);
}

/// OB DCR 3.3: the request's `aud` may be the bank's directory organisation id when the bank
/// lists it in `dcr.audiences`; not otherwise.
#[tokio::test]
async fn dcr_1_the_banks_organisation_id_as_audience_when_configured() {
    let org = "0015800001041REAAY";
    let with_org = |d: &Dcr| {
        d.request_with(|c| {
            c.insert("aud".into(), json!(org));
        })
    };
    let plain = Dcr::start().await;
    let refused = plain.register(Some(&plain.qwac), &with_org(&plain)).await;
    plain
        .assert_refused(&refused, "invalid_client_metadata")
        .await;
    let d = Dcr::start_with(None, |c| c.dcr.audiences = vec![org.into()]).await;
    let resp = d.register(Some(&d.qwac), &with_org(&d)).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
}

#[tokio::test]
async fn dcr_1_request_verified_with_its_own_jwks_when_configured() {
    let d = Dcr::start_with(None, |c| {
        c.dcr.use_software_jwks_endpoint = false;
        c.dcr.jwks_uri_must_be_ssa_endpoint = false;
    })
    .await;
    let jwks = json!({"keys": [serde_json::Value::Object(d.software.public_jwk().clone())]});
    let without = d.register(Some(&d.qwac), &d.request()).await;
    d.assert_refused(&without, "invalid_client_metadata").await;
    let body = d.request_with(|c| {
        c.insert("jwks".into(), jwks.clone());
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    assert_eq!(resp.2["jwks"], jwks);
    assert!(resp.2.get("jwks_uri").is_none());
}

#[tokio::test]
async fn dcr_2_sector_identifier_uri_must_list_every_redirect_uri() {
    let d = Dcr::start().await;
    let doc = Arc::new(Mutex::new(json!(["https://tpp.example/other"])));
    let uri = jwks_server(&d.h, doc.clone(), Arc::new(Mutex::new(0))).await;
    let body = d.request_with(|c| {
        c.insert("sector_identifier_uri".into(), json!(uri));
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    *doc.lock().unwrap() = json!(["https://tpp.example/other", "https://tpp.example/cb"]);
    let body = d.request_with(|c| {
        c.insert("sector_identifier_uri".into(), json!(uri));
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    assert_eq!(resp.2["sector_identifier_uri"], uri.as_str());
}

#[tokio::test]
async fn dcr_2_tls_client_auth_registration_gets_tokens_with_the_qwac() {
    use x509_cert::der::Decode;
    let d = Dcr::start().await;
    let leaf = x509_cert::Certificate::from_der(d.qwac.chain[0].as_ref()).unwrap();
    let subject =
        bulwark_certs::DistinguishedName::from_name(&leaf.tbs_certificate.subject).to_rfc4514();
    let body = d.request_with(|c| {
        c.insert(
            "token_endpoint_auth_method".into(),
            json!("tls_client_auth"),
        );
        c.remove("token_endpoint_auth_signing_alg");
        c.insert("tls_client_auth_subject_dn".into(), json!(subject));
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    let client_id = resp.2["client_id"].as_str().unwrap();
    let token =
        d.h.post(
            Some(&d.qwac),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("scope", "accounts"),
            ],
        )
        .await;
    assert_eq!(token.0, 200, "{:?}", token.2);
    assert_eq!(token.2["scope"], "accounts");
}

/// TK-5 at registration: ID token encryption to a key at the `jwks_uri` is accepted only when
/// the key is there (fetched now); without one the registration is refused and nothing is
/// registered.
#[tokio::test]
async fn tk_5_dcr_encryption_to_a_jwks_uri_needs_the_key_there() {
    use josekit::jwe;
    // Key sets fetched from a jwks_uri are not kept, so the key added below is seen at once.
    let d = Dcr::start_with(None, |c| {
        c.dcr.jwks_uri_must_be_ssa_endpoint = false;
        c.tokens.jwks_cache_secs = 0;
    })
    .await;
    let signing = serde_json::Value::Object(d.software.public_jwk().clone());
    let doc = Arc::new(Mutex::new(json!({"keys": [signing.clone()]})));
    let uri = jwks_server(&d.h, doc.clone(), Arc::new(Mutex::new(0))).await;
    let body = || {
        d.request_with(|c| {
            c.insert("jwks_uri".into(), json!(uri));
            c.insert("id_token_encrypted_response_alg".into(), json!("RSA-OAEP"));
            c.insert("id_token_encrypted_response_enc".into(), json!("A256GCM"));
        })
    };
    let refused = d.register(Some(&d.qwac), &body()).await;
    d.assert_refused(&refused, "invalid_client_metadata").await;

    let pair = jwe::RSA_OAEP.generate_key_pair(2048).unwrap();
    let mut enc = pair.to_jwk_public_key().as_ref().clone();
    enc.insert("use".into(), json!("enc"));
    *doc.lock().unwrap() = json!({"keys": [signing, serde_json::Value::Object(enc)]});
    let resp = d.register(Some(&d.qwac), &body()).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    assert_eq!(resp.2["id_token_encrypted_response_alg"], "RSA-OAEP");
}
