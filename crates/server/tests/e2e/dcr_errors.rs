//! DCR refusals (DCR-1..3, DCR-5, CERT-7, CERT-8): each answers an RFC 7591 error with
//! `Cache-Control: no-store` and leaves no client behind.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_certs::PspRole;
use bulwark_jose::{Alg, SigningKey};
use serde_json::{Value, json};

use crate::support::{Dcr, Identity, ORG_IDENTIFIER, PkjClient, StaticHttp, assert_oauth_error};

/// A compact JWS with the given header `alg` over `claims` and a junk signature.
fn unsigned(alg: &str, claims: &serde_json::Map<String, Value>) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
        if alg == "none" {
            String::new()
        } else {
            URL_SAFE_NO_PAD.encode([7u8; 256])
        }
    )
}

#[tokio::test]
async fn dcr_no_software_statement() {
    let d = Dcr::start().await;
    let body = d.request_with(|c| {
        c.remove("software_statement");
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    d.assert_refused(&resp, "invalid_software_statement").await;
}

#[tokio::test]
async fn dcr_invalid_software_statement_signature() {
    let d = Dcr::start().await;
    // Signed by a key the directory does not have.
    let rogue = SigningKey::generate(Alg::Es256).unwrap();
    let forged = rogue
        .sign_compact("JWT", &serde_json::to_vec(&d.ssa_claims()).unwrap())
        .unwrap();
    let resp = d
        .register(Some(&d.qwac), &d.sign_request(&d.request_claims(&forged)))
        .await;
    d.assert_refused(&resp, "invalid_software_statement").await;
    // The directory's signature over other claims (tampered payload).
    let genuine = d.ssa();
    let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
    let mut claims = d.ssa_claims();
    claims.insert("software_roles".into(), json!(["AISP", "PISP", "CBPII"]));
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = parts.join(".");
    let resp = d
        .register(Some(&d.qwac), &d.sign_request(&d.request_claims(&tampered)))
        .await;
    d.assert_refused(&resp, "invalid_software_statement").await;
    // alg none on the SSA.
    let none = unsigned("none", &d.ssa_claims());
    let resp = d
        .register(Some(&d.qwac), &d.sign_request(&d.request_claims(&none)))
        .await;
    d.assert_refused(&resp, "invalid_software_statement").await;
}

#[tokio::test]
async fn dcr_1_ssa_from_an_untrusted_directory_is_unapproved() {
    let d = Dcr::start().await;
    let mut claims = d.ssa_claims();
    claims.insert("iss".into(), json!("Rogue Directory"));
    let resp = d
        .register(
            Some(&d.qwac),
            &d.sign_request(&d.request_claims(&d.sign_ssa(&claims))),
        )
        .await;
    d.assert_refused(&resp, "unapproved_software_statement")
        .await;
}

#[tokio::test]
async fn dcr_1_expired_ssa_is_invalid() {
    let d = Dcr::start().await;
    let mut claims = d.ssa_claims();
    claims.insert("iat".into(), json!(d.h.clock_now() - 86_401));
    let resp = d
        .register(
            Some(&d.qwac),
            &d.sign_request(&d.request_claims(&d.sign_ssa(&claims))),
        )
        .await;
    d.assert_refused(&resp, "invalid_software_statement").await;
    let mut claims = d.ssa_claims();
    claims.insert("exp".into(), json!(d.h.clock_now() - 3600));
    let resp = d
        .register(
            Some(&d.qwac),
            &d.sign_request(&d.request_claims(&d.sign_ssa(&claims))),
        )
        .await;
    d.assert_refused(&resp, "invalid_software_statement").await;
}

#[tokio::test]
async fn dcr_1_request_claims_are_checked() {
    let d = Dcr::start().await;
    let now = d.h.clock_now();
    for (name, value) in [
        ("aud", json!("https://other.example")),
        ("iss", json!("another-software")),
        ("exp", json!(now - 120)),
        ("iat", json!(now + 600)),
    ] {
        let body = d.request_with(|c| {
            c.insert(name.into(), value.clone());
        });
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_client_metadata").await;
    }
    for name in ["jti", "exp", "iat"] {
        let body = d.request_with(|c| {
            c.remove(name);
        });
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_client_metadata").await;
    }
    // Signed by a key that is not at the software_jwks_endpoint.
    let other = SigningKey::generate(Alg::Es256).unwrap();
    let body = other
        .sign_compact(
            "JWT",
            &serde_json::to_vec(&d.request_claims(&d.ssa())).unwrap(),
        )
        .unwrap();
    let resp = d.register(Some(&d.qwac), &body).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    // Not application/jwt.
    let resp = d
        .send(
            reqwest::Method::POST,
            "/register",
            Some(&d.qwac),
            None,
            None,
        )
        .await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
}

#[tokio::test]
async fn dcr_1_rs256_and_alg_none_requests_are_refused() {
    let d = Dcr::start().await;
    for alg in ["RS256", "none", "HS256"] {
        let body = unsigned(alg, &d.request_claims(&d.ssa()));
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_client_metadata").await;
        assert!(
            resp.2["error_description"]
                .as_str()
                .unwrap()
                .contains("PS256"),
            "{:?}",
            resp.2
        );
    }
}

#[tokio::test]
async fn dcr_1_replayed_request_jti_is_refused() {
    let d = Dcr::start().await;
    // A refused request does not burn its jti: the same jti then registers.
    let mut claims = d.request_claims(&d.ssa());
    claims.insert("redirect_uris".into(), json!(["https://evil.example/cb"]));
    let refused = d.register(Some(&d.qwac), &d.sign_request(&claims)).await;
    d.assert_refused(&refused, "invalid_redirect_uri").await;
    claims.insert("redirect_uris".into(), json!(["https://tpp.example/cb"]));
    let body = d.sign_request(&claims);
    assert_eq!(d.register(Some(&d.qwac), &body).await.0, 201);
    let replay = d.register(Some(&d.qwac), &body).await;
    assert_eq!(replay.0, 400);
    assert_eq!(replay.2["error"], "invalid_client_metadata");
    assert!(
        replay.2["error_description"]
            .as_str()
            .unwrap()
            .contains("replay")
    );
    assert_eq!(d.client_count().await, 1, "the replay registered nothing");
}

#[tokio::test]
async fn dcr_no_mtls() {
    let d = Dcr::start().await;
    let resp = d.register(None, &d.request()).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("transport certificate")
    );
    management_needs_the_certificate(&d, None).await;
}

/// The rest of the suite's mTLS modules: registered with the right certificate, the client's
/// registration cannot be read or deleted with `identity` (none, or not the QWAC), and can
/// be with the QWAC.
async fn management_needs_the_certificate(d: &Dcr, identity: Option<&Identity>) {
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let refused = d
            .send(method.clone(), &path, identity, Some(rat), None)
            .await;
        assert_eq!(refused.0, 401, "{method}: {:?}", refused.2);
        assert!(refused.2.get("client_id").is_none());
    }
    assert_eq!(d.client_count().await, 1);
    let del = d
        .send(
            reqwest::Method::DELETE,
            &path,
            Some(&d.qwac),
            Some(rat),
            None,
        )
        .await;
    assert_eq!(del.0, 204, "{:?}", del.2);
}

#[tokio::test]
async fn dcr_bad_mtls() {
    let d = Dcr::start().await;
    // A certificate from a CA nobody trusts: TLS still completes, the app refuses.
    let untrusted = Identity::self_made("tpp.example");
    let resp = d.register(Some(&untrusted), &d.request()).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    // A trusted transport certificate that is not a QWAC.
    let (plain, _) = d.h.pki.client("TPP Ltd", "tpp.example", None);
    let resp = d.register(Some(&plain), &d.request()).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("QWAC")
    );
    management_needs_the_certificate(&d, Some(&untrusted)).await;
    // GenerateFakeMTLSCertificate: a copy of the QWAC (same subject, issuer names, serial
    // numbering and qcStatements) under a forger's CA of the same name, with the forger's keys.
    let forger = crate::support::TestPki::new("Test QTSP Root");
    let forged = forger.qwac(
        "tpp.example",
        Some(ORG_IDENTIFIER),
        None,
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    assert_ne!(forged.chain[0], d.qwac.chain[0]);
    let resp = d.register(Some(&forged), &d.request()).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    management_needs_the_certificate(&d, Some(&forged)).await;
}

#[tokio::test]
async fn dcr_3_qwac_of_another_organisation_is_unapproved() {
    let d = Dcr::start().await;
    let other = d.h.pki.qwac(
        "other.example",
        Some("PSDGB-FCA-999999"),
        None,
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let resp = d.register(Some(&other), &d.request()).await;
    d.assert_refused(&resp, "unapproved_software_statement")
        .await;
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("PSDGB-FCA-999999")
    );
}

#[tokio::test]
async fn dcr_3_qwac_lacking_a_role_the_ssa_claims_is_unapproved() {
    let d = Dcr::start().await;
    let pisp_only = d.h.pki.qwac(
        "tpp.example",
        Some(ORG_IDENTIFIER),
        None,
        &[PspRole::PaymentInitiation],
    );
    let mut ssa = d.ssa_claims();
    ssa.insert("software_roles".into(), json!(["AISP"]));
    let mut claims = d.request_claims(&d.sign_ssa(&ssa));
    claims.insert("scope".into(), json!("openid accounts"));
    let resp = d.register(Some(&pisp_only), &d.sign_request(&claims)).await;
    d.assert_refused(&resp, "unapproved_software_statement")
        .await;
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("AISP")
    );
}

#[tokio::test]
async fn dcr_invalid_jwks_uri() {
    // Any jwks_uri allowed, so each is fetched and judged.
    let d = Dcr::start_with(None, |c| c.dcr.jwks_uri_must_be_ssa_endpoint = false).await;
    for uri in [
        "http://tpp.example/jwks".to_string(),
        // https, but nothing listens there.
        format!("https://localhost:{}/nothing", d.h.addr.port() + 1),
        // https, answers, but not a JWK Set (our discovery document).
        d.h.url("/.well-known/openid-configuration"),
    ] {
        let body = d.request_with(|c| {
            c.insert("jwks_uri".into(), json!(uri));
        });
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_client_metadata").await;
    }
}

#[tokio::test]
async fn dcr_invalid_jwks_by_value() {
    let d = Dcr::start().await;
    for jwks in [
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        json!({"keys": []}),
        json!({"not": "a set"}),
        json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RS256"}]}),
        json!({"keys": [Value::Object({
            let mut k = d.software.public_jwk().clone();
            k.insert("d".into(), json!("private-part"));
            k
        })]}),
    ] {
        let body = d.request_with(|c| {
            c.insert("jwks".into(), jwks.clone());
        });
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_client_metadata").await;
    }
}

#[tokio::test]
async fn dcr_invalid_redirect_uri() {
    let d = Dcr::start().await;
    for uris in [
        json!(["https://evil.example/cb"]),
        json!(["https://tpp.example/cb", "https://evil.example/cb"]),
        json!(["http://tpp.example/cb"]),
    ] {
        let body = d.request_with(|c| {
            c.insert("redirect_uris".into(), uris.clone());
        });
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_redirect_uri").await;
    }
}

#[tokio::test]
async fn dcr_no_redirect_uri() {
    let d = Dcr::start().await;
    let body = d.request_with(|c| {
        c.remove("redirect_uris");
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    d.assert_refused(&resp, "invalid_redirect_uri").await;
}

#[tokio::test]
async fn dcr_2_metadata_rules() {
    let d = Dcr::start().await;
    for (name, value) in [
        ("token_endpoint_auth_method", json!("client_secret_basic")),
        ("token_endpoint_auth_signing_alg", json!("RS256")),
        ("id_token_signed_response_alg", json!("none")),
        ("grant_types", json!(["implicit"])),
        ("response_types", json!(["token"])),
        ("scope", json!("openid fundsconfirmations")),
        ("application_type", json!("native")),
        ("sector_identifier_uri", json!("https://localhost:1/sector")),
    ] {
        let body = d.request_with(|c| {
            c.insert(name.into(), value.clone());
        });
        let resp = d.register(Some(&d.qwac), &body).await;
        d.assert_refused(&resp, "invalid_client_metadata").await;
    }
    let body = d.request_with(|c| {
        c.insert(
            "token_endpoint_auth_method".into(),
            json!("tls_client_auth"),
        );
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
}

#[tokio::test]
async fn dcr_3_revoked_qwac_is_refused() {
    let crl = StaticHttp::start(Vec::new(), "application/pkix-crl").await;
    let d = Dcr::start_with(None, |c| c.revocation.enabled = true).await;
    let roles = [PspRole::AccountInformation, PspRole::PaymentInitiation];
    let (revoked, serial) = d.h.pki.qwac_with_crl(
        "tpp.example",
        Some(ORG_IDENTIFIER),
        None,
        &roles,
        Some(&crl.url),
    );
    let (good, _) = d.h.pki.qwac_with_crl(
        "tpp.example",
        Some(ORG_IDENTIFIER),
        None,
        &roles,
        Some(&crl.url),
    );
    *crl.body.lock().unwrap() = (d.h.pki.crl(&[serial]), "application/pkix-crl");
    let resp = d.register(Some(&revoked), &d.request()).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{:?}",
        resp.2
    );
    assert_eq!(d.register(Some(&good), &d.request()).await.0, 201);
}

/// CERT-5 at registration: a QWAC whose PSD2 statement names another competent authority
/// (`FR-ACPR`) than its organizationIdentifier (`PSDGB-FCA-…`) is refused as
/// `invalid_client_metadata` naming the inconsistency, and stores nothing; the same QWAC with
/// the statement of its own authority registers.
#[tokio::test]
async fn cert_5_a_qwac_of_another_authority_than_its_organization_identifier_is_not_registered() {
    let d = Dcr::start_with(None, |_| {}).await;
    let roles = [PspRole::AccountInformation, PspRole::PaymentInitiation];
    let qwac = |nca: &str| {
        d.h.pki
            .qwac_of_authority("tpp.example", Some(ORG_IDENTIFIER), None, &roles, None, nca)
            .0
    };
    let resp = d.register(Some(&qwac("FR-ACPR")), &d.request()).await;
    d.assert_refused(&resp, "invalid_client_metadata").await;
    let said = resp.2["error_description"].as_str().unwrap_or_default();
    assert!(said.contains("(inconsistent_identity)"), "{said}");
    assert_eq!(d.register(Some(&qwac("GB-FCA")), &d.request()).await.0, 201);
}

/// hardening_ssrf_from_registration: with private addresses not allowed (the default), a
/// registration naming a `jwks_uri` on loopback is refused without any connection to it, and
/// the answer tells nothing about the host (no port scanner for an onboarded TPP).
#[tokio::test]
async fn hardening_registration_urls_on_private_addresses_are_refused() {
    // A server that counts connections, on loopback.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok(_conn) = probe.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let strict = Dcr::start_with(None, |c| {
        c.http.outbound_allow_private = false;
        c.dcr.jwks_uri_must_be_ssa_endpoint = false;
    })
    .await;
    for uri in [
        format!("https://127.0.0.1:{port}/jwks"),
        format!("https://localhost:{port}/jwks"),
    ] {
        // The software's keys by value in the SSA, so the request itself verifies and the
        // refusal is the jwks_uri's.
        let mut ssa = strict.ssa_claims();
        ssa.remove("software_jwks_endpoint");
        ssa.insert(
            "software_jwks".into(),
            json!({"keys": [Value::Object(strict.software.public_jwk().clone())]}),
        );
        let mut claims = strict.request_claims(&strict.sign_ssa(&ssa));
        claims.insert("jwks_uri".into(), json!(uri));
        let resp = strict
            .register(Some(&strict.qwac), &strict.sign_request(&claims))
            .await;
        strict
            .assert_refused(&resp, "invalid_client_metadata")
            .await;
        let text = resp.2["error_description"].as_str().unwrap_or("");
        assert!(text.contains("jwks_uri"), "refused at the jwks_uri: {text}");
        assert!(!text.contains(&port.to_string()), "{text}");
        assert!(
            !text.contains("refused") && !text.contains("connect"),
            "{text}"
        );
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "never connected"
    );
}

/// hardening_jwks_by_value_is_the_directory's (UK OB DCR, `dcr.jwks_uri_must_be_ssa_endpoint`
/// on by default): keys sent by value cannot take the place of the software statement's
/// `software_jwks_endpoint`, or the directory withdrawing a key would not reach the client.
#[tokio::test]
async fn hardening_jwks_by_value_cannot_replace_the_directorys_keys() {
    let d = Dcr::start().await;
    let stranger = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Es256).unwrap();
    let body = d.request_with(|c| {
        c.insert(
            "jwks".into(),
            json!({"keys": [Value::Object(stranger.public_jwk().clone())]}),
        );
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    assert_eq!(resp.2["error"], "invalid_client_metadata", "{:?}", resp.2);
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("software_jwks_endpoint"),
        "{:?}",
        resp.2
    );
    d.assert_refused(&resp, "invalid_client_metadata").await;
}

/// hardening_x5c_of_another_key: a registered JWK whose `x5c` certificate holds another public
/// key is refused at registration (RFC 7517 4.7), nothing registered.
#[tokio::test]
async fn hardening_x5c_naming_another_key_is_refused() {
    use base64::Engine;
    let d = Dcr::start().await;
    let stranger = Identity::self_made("someone-else");
    let mut jwk = d.software.public_jwk().clone();
    jwk.insert(
        "x5c".into(),
        json!([base64::engine::general_purpose::STANDARD.encode(&stranger.chain[0])]),
    );
    let body = d.request_with(|c| {
        c.insert("jwks".into(), json!({"keys": [Value::Object(jwk.clone())]}));
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    assert_eq!(resp.2["error"], "invalid_client_metadata", "{:?}", resp.2);
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap()
            .contains("x5c"),
        "{:?}",
        resp.2
    );
    d.assert_refused(&resp, "invalid_client_metadata").await;
}

/// hardening_jwks_uri_is_the_directory_endpoint (UK OB DCR): by default a `jwks_uri` other
/// than the SSA's `software_jwks_endpoint` is refused before anything is fetched.
#[tokio::test]
async fn hardening_jwks_uri_must_be_the_ssa_endpoint() {
    let d = Dcr::start().await;
    let body = d.request_with(|c| {
        c.insert("jwks_uri".into(), json!("https://tpp.example/other.jwks"));
    });
    let resp = d.register(Some(&d.qwac), &body).await;
    assert!(
        resp.2["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("software_jwks_endpoint"),
        "{:?}",
        resp.2
    );
    d.assert_refused(&resp, "invalid_client_metadata").await;
    // The SSA's own endpoint is accepted.
    let endpoint = d.software_jwks_endpoint.clone();
    let body = d.request_with(|c| {
        c.insert("jwks_uri".into(), json!(endpoint));
    });
    assert_eq!(d.register(Some(&d.qwac), &body).await.0, 201);
}

/// CERT-8 after registration: a dynamically registered client is held to the organisation its
/// software statement named, at the token endpoint as at `/register`: a valid QWAC of another
/// organisation, with every role, authenticates nothing (`invalid_client`), while the
/// statement's own organisation's QWAC does.
#[tokio::test]
async fn cert_8_a_registered_client_is_refused_over_a_qwac_of_another_organisation() {
    let d = Dcr::start().await;
    let resp = d.register(Some(&d.qwac), &d.request()).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    let client_id = resp.2["client_id"].as_str().unwrap();
    let own = d.as_client(client_id);
    assert_eq!(own.token(&d.h, &own.assertion(&d.h)).await.0, 200);
    let other = PkjClient {
        identity: d.h.pki.qwac(
            "other.example",
            Some("PSDGB-FCA-999999"),
            None,
            &[
                PspRole::AccountInformation,
                PspRole::PaymentInitiation,
                PspRole::CardIssuing,
            ],
        ),
        ..d.as_client(client_id)
    };
    let refused = other.token(&d.h, &other.assertion(&d.h)).await;
    assert_oauth_error(&refused, 401, "invalid_client");
}
