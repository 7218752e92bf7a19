//! `jwk_from_public_pem` (operators register a client's key from the PEM they already have,
//! `bulwark clients add --public-key-pem`): the JWK must be the same key as the PEM's, usable
//! for the FAPI algorithm of its type, named by its RFC 7638 thumbprint, and anything else
//! refused. The keys come from josekit (OpenSSL), an implementation independent of ours.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_jose::pem::jwk_from_public_pem;
use bulwark_jose::{Compact, JoseError, PublicKey};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::JwsSigner;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

fn pem_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// A compact JWS over a fixed payload signed by `signer`.
fn signed(signer: &dyn JwsSigner, alg: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string()),
        URL_SAFE_NO_PAD.encode(br#"{"iss":"tpp"}"#)
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// RFC 7638 3: SHA-256 over the required members in lexicographic order, no whitespace.
fn rfc7638(required: &[(&str, &Value)]) -> String {
    let members: Vec<String> = required
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{{{}}}", members.join(","))))
}

fn public_members(jwk: &Jwk) -> Map<String, Value> {
    serde_json::from_str(&jwk.to_string()).unwrap()
}

fn refused(pem: &str) -> String {
    match jwk_from_public_pem(pem, None) {
        Err(JoseError::InvalidKey(m)) => m,
        other => panic!("expected InvalidKey, got {other:?}"),
    }
}

#[test]
fn ca_1_a_p256_pem_is_the_same_key_for_es256_named_by_its_thumbprint() {
    let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
    let jwk = jwk_from_public_pem(&pem_of(pair.to_pem_public_key()), None).unwrap();
    let theirs = public_members(&pair.to_jwk_public_key());
    assert_eq!((&jwk["x"], &jwk["y"]), (&theirs["x"], &theirs["y"]));
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        (jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("ES256"), Some("sig"))
    );
    assert_eq!(
        jwk["kid"],
        rfc7638(&[
            ("crv", &json!("P-256")),
            ("kty", &json!("EC")),
            ("x", &jwk["x"]),
            ("y", &jwk["y"]),
        ])
    );
    let key = PublicKey::from_jwk(&jwk).expect("a usable ES256 key");
    let jws = signed(
        &*josekit::jws::ES256
            .signer_from_jwk(&pair.to_jwk_private_key())
            .unwrap(),
        "ES256",
    );
    key.verify(&Compact::parse(&jws).unwrap()).unwrap();
}

#[test]
fn ca_1_an_rsa_pem_of_2048_bits_is_the_same_key_for_ps256() {
    let pair = RsaKeyPair::generate(2048).unwrap();
    let jwk = jwk_from_public_pem(&pem_of(pair.to_pem_public_key()), Some("ops-given")).unwrap();
    let theirs = public_members(&pair.to_jwk_public_key());
    assert_eq!((&jwk["n"], &jwk["e"]), (&theirs["n"], &theirs["e"]));
    assert_eq!(jwk["e"], "AQAB");
    // FAPI allows PS256 for RSA (never RS256): a JWK declaring another algorithm would be
    // dropped from the client's key set and every assertion refused.
    assert_eq!(
        (jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("PS256"), Some("sig"))
    );
    assert_eq!(jwk["kid"], "ops-given", "the operator's kid is kept");
    let key = PublicKey::from_jwk(&jwk).expect("a usable PS256 key");
    let jws = signed(
        &*josekit::jws::PS256
            .signer_from_jwk(&pair.to_jwk_private_key())
            .unwrap(),
        "PS256",
    );
    key.verify(&Compact::parse(&jws).unwrap()).unwrap();
    let unnamed = jwk_from_public_pem(&pem_of(pair.to_pem_public_key()), None).unwrap();
    assert_eq!(
        unnamed["kid"],
        rfc7638(&[("e", &jwk["e"]), ("kty", &json!("RSA")), ("n", &jwk["n"])])
    );
}

#[test]
fn ca_1_short_rsa_and_other_curves_are_refused() {
    let short = RsaKeyPair::generate(1024).unwrap();
    assert!(refused(&pem_of(short.to_pem_public_key())).contains("2048"));
    for curve in [EcCurve::Secp256k1, EcCurve::P384] {
        let pair = EcKeyPair::generate(curve).unwrap();
        assert!(
            refused(&pem_of(pair.to_pem_public_key())).contains("P-256"),
            "{curve:?}"
        );
    }
}

#[test]
fn ca_1_a_private_key_pem_is_refused_by_its_label() {
    // An operator passing the private key file by mistake is told what to pass instead, and no
    // JWK is made from it.
    let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
    let private = pem_of(pair.to_pem_private_key());
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----"),
        "{private}"
    );
    assert!(refused(&private).contains("expected a PUBLIC KEY PEM"));
    // The same SubjectPublicKeyInfo under another label is refused for its label too.
    let public = pem_of(pair.to_pem_public_key());
    let relabelled = public.replace("PUBLIC KEY", "CERTIFICATE");
    assert!(refused(&relabelled).contains("expected a PUBLIC KEY PEM"));
    assert!(refused("not a pem").contains("not a PEM"));
}
