//! CA-1..CA-4 end to end: `private_key_jwt` client assertions (the FAPI conformance suite's
//! client-assertion modules, FAPI 1 audiences, replay across nodes, RS256), the FAPI 1 Advanced
//! holder-of-key and client_id modules, `tls_client_auth`, `self_signed_tls_client_auth`, and
//! refusal of client secrets and of unknown or suspended clients.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_core::{ClientStatus, Profile};
use bulwark_jose::{Alg, SigningKey};
use bulwark_store::ClientStore;
use serde_json::{Value, json};

use crate::support::{
    BEARER, Harness, ISSUER, Identity, PkjClient, TestPki, assert_oauth_error, http_client,
    jwt_parts, now,
};

/// The conformance suite's client-assertion modules, table-driven: each bad assertion is
/// `invalid_client` and leaves its jti unconsumed.
#[tokio::test]
async fn ca_1_client_assertion_conformance_modules() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-ca1", "accounts").await;
    let other = PkjClient::register(&h, "tpp-other", "accounts").await;
    let now = h.clock_now();
    type Tweak = Box<dyn Fn(&mut serde_json::Map<String, Value>)>;
    let cases: Vec<(&str, Tweak)> = vec![
        (
            "ensure-client-assertion-with-exp-is-5-minutes-in-past-fails",
            Box::new(move |m| {
                m.insert("exp".into(), (now - 300).into());
                m.insert("iat".into(), (now - 360).into());
            }),
        ),
        (
            "ensure-client-assertion-with-wrong-aud-fails",
            Box::new(|m| {
                m.insert("aud".into(), "https://other.example".into());
            }),
        ),
        (
            "ensure-client-assertion-with-no-sub-fails",
            Box::new(|m| {
                m.remove("sub");
            }),
        ),
        (
            "ensure-client-assertion-with-wrong-sub-fails",
            Box::new(|m| {
                m.insert("sub".into(), "tpp-other".into());
            }),
        ),
        (
            "no-exp",
            Box::new(|m| {
                m.remove("exp");
            }),
        ),
        (
            "no-jti",
            Box::new(|m| {
                m.remove("jti");
            }),
        ),
        (
            "exp-too-far",
            Box::new(move |m| {
                m.insert("exp".into(), (now + 3600).into());
            }),
        ),
        (
            "fapi2-par-test-token-endpoint-url-as-audience-fails",
            Box::new(|m| {
                m.insert("aud".into(), format!("{ISSUER}/token").into());
            }),
        ),
        (
            "fapi2-par-test-array-as-audience-fails",
            Box::new(|m| {
                m.insert("aud".into(), json!([ISSUER]));
            }),
        ),
        (
            "fapi2-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails",
            Box::new(move |m| {
                m.insert("nbf".into(), (now + 70).into());
            }),
        ),
    ];
    for (module, tweak) in cases {
        let mut claims = c.claims(&h);
        tweak(&mut claims);
        let resp = c.token(&h, &c.sign(&claims)).await;
        assert_oauth_error(&resp, 401, "invalid_client");
        // Nothing left behind: the same jti still works in a good assertion.
        if let Some(jti) = claims.get("jti").cloned() {
            let mut good = c.claims(&h);
            good.insert("jti".into(), jti);
            assert_eq!(
                c.token(&h, &c.sign(&good)).await.0,
                200,
                "{module}: jti not consumed"
            );
        }
    }
    // nbf 8 seconds in the future is tolerated.
    let mut claims = c.claims(&h);
    claims.insert("nbf".into(), (now + 8).into());
    assert_eq!(
        c.token(&h, &c.sign(&claims)).await.0,
        200,
        "nbf-8-seconds-in-the-future-is-accepted"
    );

    // ensure-client-assertion-with-wrong-iss-fails: iss of another client, signed by us.
    let mut claims = c.claims(&h);
    claims.insert("iss".into(), other.id.clone().into());
    claims.insert("sub".into(), other.id.clone().into());
    assert_oauth_error(&c.token(&h, &c.sign(&claims)).await, 401, "invalid_client");

    // ensure-signed-client-assertion-with-RS256-fails, alg none, HS256.
    for alg in ["RS256", "none", "HS256"] {
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, c.key.kid()));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c.claims(&h)).unwrap());
        let sig = if alg == "none" {
            String::new()
        } else {
            URL_SAFE_NO_PAD.encode([7u8; 64])
        };
        let resp = c.token(&h, &format!("{header}.{payload}.{sig}")).await;
        assert_oauth_error(&resp, 401, "invalid_client");
    }
    // A key that is not the client's.
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let forged = stranger
        .sign_compact("JWT", &serde_json::to_vec(&c.claims(&h)).unwrap())
        .unwrap();
    assert_oauth_error(&c.token(&h, &forged).await, 401, "invalid_client");
}

#[tokio::test]
async fn ca_1_fapi1_accepts_token_endpoint_and_array_audience() {
    let h = Harness::start(|c| c.tokens.profile = Profile::Fapi1Advanced).await;
    let c = PkjClient::register(&h, "tpp-f1", "accounts").await;
    for aud in [
        json!(format!("{ISSUER}/token")),
        json!([ISSUER, "https://x.example"]),
        json!(ISSUER),
    ] {
        let mut claims = c.claims(&h);
        claims.insert("aud".into(), aud.clone());
        assert_eq!(
            c.token(&h, &c.sign(&claims)).await.0,
            200,
            "fapi1 aud {aud}"
        );
    }
    let mut claims = c.claims(&h);
    claims.insert("aud".into(), json!(["https://x.example"]));
    assert_oauth_error(&c.token(&h, &c.sign(&claims)).await, 401, "invalid_client");
}

/// AZ-3 / CA-1: a client's assertion audience is judged by the client's own profile. On a
/// FAPI 1.0 Advanced server a client registered as FAPI 2.0 may only name the issuer, as a
/// string (FAPI 2.0 SP 5.3.2.1); on a FAPI 2.0 server a FAPI 1.0 Advanced client may name the
/// token endpoint or use an array (FAPI 1.0 Adv 5.2.2-14).
#[tokio::test]
async fn ca_1_assertion_audience_follows_the_clients_own_profile() {
    async fn client(h: &Harness, id: &str, profile: &str) -> PkjClient {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let (identity, _) = h.pki.client("TPP Ltd", id, None);
        h.register(
            id,
            json!({"token_endpoint_auth_method": "private_key_jwt",
                   "token_endpoint_auth_signing_alg": "ES256",
                   "grant_types": ["client_credentials"], "scope": "accounts",
                   "fapi_profile": profile,
                   "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
        )
        .await;
        PkjClient {
            id: id.into(),
            key,
            identity,
        }
    }
    let token_url = json!(format!("{ISSUER}/token"));
    let array = json!([ISSUER]);

    let fapi1_server = Harness::start(|c| c.tokens.profile = Profile::Fapi1Advanced).await;
    let strict = client(&fapi1_server, "tpp-own-fapi2", "fapi2").await;
    for aud in [&token_url, &array] {
        let mut claims = strict.claims(&fapi1_server);
        claims.insert("aud".into(), aud.clone());
        let resp = strict.token(&fapi1_server, &strict.sign(&claims)).await;
        assert_oauth_error(&resp, 401, "invalid_client");
    }
    assert_eq!(
        strict
            .token(&fapi1_server, &strict.assertion(&fapi1_server))
            .await
            .0,
        200
    );

    let fapi2_server = Harness::start(|c| c.tokens.profile = Profile::Fapi2).await;
    let lenient = client(&fapi2_server, "tpp-own-fapi1", "fapi1-advanced").await;
    for aud in [&token_url, &array] {
        let mut claims = lenient.claims(&fapi2_server);
        claims.insert("aud".into(), aud.clone());
        let resp = lenient.token(&fapi2_server, &lenient.sign(&claims)).await;
        assert_eq!(resp.0, 200, "fapi1 client, aud {aud}");
    }
}

#[tokio::test]
async fn ca_1_assertion_replay_is_rejected_on_this_and_another_node() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let pki = Arc::new(TestPki::new("Shared QTSP"));
    let pg = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL");
    let url = pg.as_ref().map(|db| db.url.clone());
    let a = Harness::start_shared(dir.clone(), pki.clone(), url.clone(), |_| {}).await;
    let b = Harness::start_shared(dir.clone(), pki.clone(), url, |_| {}).await;
    let c = PkjClient::register(&a, "tpp-replay", "accounts").await;
    let assertion = c.assertion(&a);
    assert_eq!(c.token(&a, &assertion).await.0, 200);
    assert_oauth_error(&c.token(&a, &assertion).await, 401, "invalid_client");
    assert_oauth_error(&c.token(&b, &assertion).await, 401, "invalid_client");
    let fresh = c.assertion(&b);
    assert_eq!(
        c.token(&b, &fresh).await.0,
        200,
        "the second node serves the same client"
    );
    assert_oauth_error(&c.token(&a, &fresh).await, 401, "invalid_client");
    drop(pg);
}

/// `fapi1-advanced-final-ensure-signed-client-assertion-with-RS256-fails`, with a genuine RS256
/// signature by the client's registered RSA key: only the algorithm is wrong.
#[tokio::test]
async fn ca_1_genuinely_signed_rs256_assertion_fails() {
    let h = Harness::start(|_| {}).await;
    let key = SigningKey::generate(Alg::Ps256).unwrap();
    h.register(
        "tpp-rsa",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let c = PkjClient {
        id: "tpp-rsa".into(),
        key,
        identity: h.pki.client("TPP", "tpp-rsa", None).0,
    };
    // The same key, as a josekit RS256 signer.
    let mut private: serde_json::Map<String, Value> =
        serde_json::from_str(&c.key.private_jwk_json()).unwrap();
    private.remove("alg");
    let jwk = josekit::jwk::Jwk::from_map(private).unwrap();
    let rs256 = josekit::jws::RS256.signer_from_jwk(&jwk).unwrap();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{}"}}"#, c.key.kid()));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c.claims(&h)).unwrap());
    let input = format!("{header}.{payload}");
    let sig = josekit::jws::JwsSigner::sign(&rs256, input.as_bytes()).unwrap();
    let assertion = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_oauth_error(&c.token(&h, &assertion).await, 401, "invalid_client");
    // The same key signing PS256 is accepted: the refusal above is the algorithm alone.
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_mtls_holder_of_key_required() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-hok", "accounts").await;
    let resp = h
        .post(
            None,
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
    // An untrusted certificate is refused by the application, not the handshake.
    let resp = h
        .post(
            Some(&Identity::self_made("x")),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_client_id_in_token_endpoint() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-cid", "accounts").await;
    let resp = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
    // mTLS client without client_id: nothing identifies the client.
    let resp = h
        .post(
            Some(&c.identity),
            "/token",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
}

#[tokio::test]
async fn ca_2_tls_client_auth_matches_subject_dn_and_refuses_other_certificates() {
    let h = Harness::start(|_| {}).await;
    h.register(
        "tpp-mtls",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=TPP Ltd,CN=tpp-mtls",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let (good, _) = h.pki.client("TPP Ltd", "tpp-mtls", None);
    let (other, _) = h.pki.client("TPP Ltd", "tpp-someone-else", None);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-mtls"),
    ];
    let ok = h.post(Some(&good), "/token", &form).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    assert_eq!(
        jwt_parts(ok.2["access_token"].as_str().unwrap()).1["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&good.chain[0])
    );
    assert_oauth_error(
        &h.post(Some(&other), "/token", &form).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(&h.post(None, "/token", &form).await, 401, "invalid_client");
    // Same DN from an untrusted CA: refused by path validation.
    let foreign = TestPki::new("Rogue CA")
        .client("TPP Ltd", "tpp-mtls", None)
        .0;
    assert_oauth_error(
        &h.post(Some(&foreign), "/token", &form).await,
        401,
        "invalid_client",
    );
    // A client_assertion for a tls_client_auth client is ambiguous.
    let resp = h
        .post(
            Some(&good),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "tpp-mtls"),
                ("client_assertion_type", BEARER),
                ("client_assertion", "a.b.c"),
            ],
        )
        .await;
    assert_oauth_error(&resp, 401, "invalid_client");
}

/// CA-2 (RFC 8705 2.1.2): a `tls_client_auth` client may register one SAN instead of a
/// subject DN, of any of the four kinds; a certificate carrying it authenticates the client
/// (DNS names and e-mail domains compared without case), one carrying other SANs of the same
/// kinds from the same trusted CA does not, nor one carrying the registered values as SANs of
/// other kinds.
#[tokio::test]
async fn ca_2_tls_client_auth_matches_a_registered_san_of_each_kind() {
    use rcgen::SanType;
    let h = Harness::start(|_| {}).await;
    let registered = [
        ("tpp-san-dns", "tls_client_auth_san_dns", "TPP.example.com"),
        (
            "tpp-san-uri",
            "tls_client_auth_san_uri",
            "https://tpp.example.com/id",
        ),
        ("tpp-san-ip", "tls_client_auth_san_ip", "192.0.2.7"),
        (
            "tpp-san-email",
            "tls_client_auth_san_email",
            "ops@TPP.example.com",
        ),
    ];
    for (client_id, field, value) in registered {
        h.register(
            client_id,
            json!({"token_endpoint_auth_method": "tls_client_auth", field: value,
                   "grant_types": ["client_credentials"], "scope": "accounts"}),
        )
        .await;
    }
    let sans = |dns: &str, uri: &str, ip: [u8; 4], email: &str| {
        vec![
            SanType::DnsName(dns.try_into().unwrap()),
            SanType::URI(uri.try_into().unwrap()),
            SanType::IpAddress(std::net::IpAddr::from(ip)),
            SanType::Rfc822Name(email.try_into().unwrap()),
        ]
    };
    let good = h.pki.client_with_sans(
        "TPP Ltd",
        "tpp-san",
        sans(
            "tpp.example.com",
            "https://tpp.example.com/id",
            [192, 0, 2, 7],
            "ops@tpp.example.com",
        ),
    );
    let other = h.pki.client_with_sans(
        "TPP Ltd",
        "tpp-san",
        sans(
            "other.example.com",
            "https://tpp.example.com/other",
            [192, 0, 2, 8],
            "ops@other.example.com",
        ),
    );
    // Each registered value, but as a SAN of another kind: a SAN matches by its kind.
    let crossed = h.pki.client_with_sans(
        "TPP Ltd",
        "tpp-san",
        vec![
            SanType::URI("TPP.example.com".try_into().unwrap()),
            SanType::DnsName("https://tpp.example.com/id".try_into().unwrap()),
            SanType::DnsName("192.0.2.7".try_into().unwrap()),
            SanType::DnsName("ops@TPP.example.com".try_into().unwrap()),
        ],
    );
    for (client_id, _, _) in registered {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ];
        let ok = h.post(Some(&good), "/token", &form).await;
        assert_eq!(ok.0, 200, "{client_id}: {:?}", ok.2);
        for refused in [&other, &crossed] {
            assert_oauth_error(
                &h.post(Some(refused), "/token", &form).await,
                401,
                "invalid_client",
            );
        }
    }
    // Two registered subjects (a SAN and a DN) are one too many, even for a certificate that
    // carries both.
    h.register(
        "tpp-san-and-dn",
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_san_dns": "tpp.example.com",
               "tls_client_auth_subject_dn": "O=TPP Ltd,CN=tpp-san",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    assert_oauth_error(
        &h.post(
            Some(&good),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "tpp-san-and-dn"),
            ],
        )
        .await,
        401,
        "invalid_client",
    );
}

/// CERT-8 at client authentication: a `tls_client_auth` client that registered the subject of
/// another organisation's QWAC is not authenticated by that certificate (its organisation
/// is not the client's); the same registration by that organisation's own client is.
#[tokio::test]
async fn cert_8_tls_client_auth_refuses_a_certificate_of_another_organisation() {
    let h = Harness::start(|_| {}).await;
    let theirs = h
        .pki
        .qwac("svc.partner.example", Some("PSDGB-FCA-222222"), None, &[]);
    let leaf = {
        use x509_cert::der::Decode;
        x509_cert::Certificate::from_der(theirs.chain[0].as_ref()).unwrap()
    };
    let dn =
        bulwark_certs::DistinguishedName::from_name(&leaf.tbs_certificate.subject).to_rfc4514();
    assert!(dn.contains("PSDGB-FCA-222222"), "{dn}");
    let client = |org: &str| {
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": dn,
               "organization_identifier": org,
               "grant_types": ["client_credentials"], "scope": "accounts"})
    };
    h.register("tpp-borrowing", client("PSDGB-FCA-111111"))
        .await;
    h.register("tpp-partner", client("PSDGB-FCA-222222")).await;
    let form = |id: &'static str| [("grant_type", "client_credentials"), ("client_id", id)];
    let own = h.post(Some(&theirs), "/token", &form("tpp-partner")).await;
    assert_eq!(own.0, 200, "{:?}", own.2);
    assert_oauth_error(
        &h.post(Some(&theirs), "/token", &form("tpp-borrowing"))
            .await,
        401,
        "invalid_client",
    );
}

/// CERT-5 at client authentication: a QWAC whose PSD2 statement names another competent
/// authority (`FR-ACPR`) than its organizationIdentifier (`PSDGB-FCA-…`) does not authenticate
/// the `tls_client_auth` client registered with its subject (`invalid_client`), while a QWAC
/// differing only in naming its own authority does.
#[tokio::test]
async fn cert_5_a_qwac_of_another_authority_than_its_organization_identifier_is_invalid_client() {
    let h = Harness::start(|_| {}).await;
    let roles = [bulwark_certs::PspRole::AccountInformation];
    let qwac = |nca: &str| {
        h.pki
            .qwac_of_authority(
                "svc.tpp.example",
                Some("PSDGB-FCA-333333"),
                None,
                &roles,
                None,
                nca,
            )
            .0
    };
    let (consistent, inconsistent) = (qwac("GB-FCA"), qwac("FR-ACPR"));
    let leaf = {
        use x509_cert::der::Decode;
        x509_cert::Certificate::from_der(consistent.chain[0].as_ref()).unwrap()
    };
    let dn =
        bulwark_certs::DistinguishedName::from_name(&leaf.tbs_certificate.subject).to_rfc4514();
    h.register(
        "tpp-fca",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": dn,
               "organization_identifier": "PSDGB-FCA-333333",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-fca"),
    ];
    let refused = h.post(Some(&inconsistent), "/token", &form).await;
    assert_oauth_error(&refused, 401, "invalid_client");
    let own = h.post(Some(&consistent), "/token", &form).await;
    assert_eq!(own.0, 200, "{:?}", own.2);
}

#[tokio::test]
async fn ca_3_self_signed_tls_client_auth_matches_a_jwks_certificate_in_its_validity() {
    let h = Harness::start(|_| {}).await;
    let mine = Identity::self_made("self-signed-tpp");
    h.register(
        "tpp-ss",
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": {"keys": [mine.self_signed_jwk()]},
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-ss"),
    ];
    let ok = h.post(Some(&mine), "/token", &form).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    assert_eq!(
        jwt_parts(ok.2["access_token"].as_str().unwrap()).1["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&mine.chain[0])
    );
    assert_oauth_error(
        &h.post(Some(&Identity::self_made("other")), "/token", &form)
            .await,
        401,
        "invalid_client",
    );
    // RFC 7517 4.9: a key given the thumbprint of another key's certificate (its RFC 7638
    // thumbprint, by which a directory's keys are compared, ignores the member) does not
    // make that certificate the client's.
    let stranger = Identity::self_made("stranger");
    let mut borrowed = mine.self_signed_jwk();
    borrowed.as_object_mut().unwrap().remove("x5c");
    borrowed["x5t#S256"] = json!(bulwark_certs::x5t_s256(&stranger.chain[0]));
    h.register(
        "tpp-ss-thumb",
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": {"keys": [borrowed]},
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let thumb = [
        ("grant_type", "client_credentials"),
        ("client_id", "tpp-ss-thumb"),
    ];
    assert_oauth_error(
        &h.post(Some(&stranger), "/token", &thumb).await,
        401,
        "invalid_client",
    );
    // A self-signed certificate is not path-validated, but its validity period is checked:
    // an expired one in the client's JWK Set does not authenticate it.
    let expired = Identity::self_made_expired("self-signed-tpp");
    h.register(
        "tpp-ss-expired",
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": {"keys": [expired.self_signed_jwk()]},
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    assert_oauth_error(
        &h.post(
            Some(&expired),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "tpp-ss-expired"),
            ],
        )
        .await,
        401,
        "invalid_client",
    );
}

/// RFC 8705 2.2.2: the self-signed certificate may be registered on any key of the set; the
/// OB directory publishes transport keys as `"use": "tls"`. Such a key authenticates its
/// certificate, and still verifies no client assertion.
#[tokio::test]
async fn ca_3_self_signed_certificate_on_a_transport_key_authenticates_but_signs_nothing() {
    let h = Harness::start(|_| {}).await;
    let mine = Identity::self_made("transport-key-tpp");
    let signing = SigningKey::generate(Alg::Es256).unwrap();
    let pem = rcgen::KeyPair::try_from(mine.key.secret_der())
        .unwrap()
        .serialize_pem();
    let transport = SigningKey::from_pem(Alg::Es256, pem.as_bytes()).unwrap();
    let mut tls = mine.self_signed_jwk();
    tls["use"] = json!("tls");
    tls["kid"] = json!(transport.kid());
    let jwks = json!({"keys": [signing.public_jwk(), tls]});
    let metadata = json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwks,
           "grant_types": ["client_credentials"], "scope": "accounts"});
    bulwark_clients::validate_metadata(&serde_json::from_value(metadata.clone()).unwrap()).unwrap();
    h.register("tpp-ss-tls", metadata).await;
    let ok = h
        .post(
            Some(&mine),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "tpp-ss-tls"),
            ],
        )
        .await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    // The same set behind private_key_jwt: the signing key's assertion passes, the transport
    // key's (same kid as published) does not.
    let (identity, _) = h.pki.client("TPP Ltd", "tpp-pkj-tls", None);
    h.register(
        "tpp-pkj-tls",
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
               "token_endpoint_auth_signing_alg": "ES256",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let by_transport = PkjClient {
        id: "tpp-pkj-tls".into(),
        key: transport,
        identity,
    };
    let refused = by_transport.token(&h, &by_transport.assertion(&h)).await;
    assert_oauth_error(&refused, 401, "invalid_client");
    let by_signing = PkjClient {
        key: signing,
        ..by_transport
    };
    let ok = by_signing.token(&h, &by_signing.assertion(&h)).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
}

#[tokio::test]
async fn ca_4_client_secrets_and_unknown_or_suspended_clients_are_refused() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-susp", "accounts").await;
    // Authorization: Basic is a client secret: 401 with a matching challenge.
    let resp = http_client(&h.dev_ca, Some(&c.identity))
        .post(h.url("/token"))
        .basic_auth("tpp-susp", Some("secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // FAPI 1.0 Adv 5.2.2-14, FAPI 2.0 SP 5.3.2.1: a valid assertion beside a client secret
    // (in the header or the form) or under another assertion type does not authenticate.
    let beside_basic = c.assertion(&h);
    let resp = http_client(&h.dev_ca, Some(&c.identity))
        .post(h.url("/token"))
        .basic_auth("tpp-susp", Some("secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", beside_basic.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
    // Refused before the assertion was read: it was not spent, so sent alone it works once.
    assert_eq!(c.token(&h, &beside_basic).await.0, 200);
    assert_oauth_error(&c.token(&h, &beside_basic).await, 401, "invalid_client");
    for (name, value) in [
        ("client_secret", "secret"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ),
    ] {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_assertion_type", BEARER.to_string()),
            ("client_assertion", c.assertion(&h)),
        ];
        form.retain(|(n, _)| *n != name);
        form.push((name, value.to_string()));
        let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_oauth_error(
            &h.post(Some(&c.identity), "/token", &form).await,
            401,
            "invalid_client",
        );
    }
    // The client itself still authenticates the FAPI way.
    assert_eq!(c.token(&h, &c.assertion(&h)).await.0, 200);
    h.store
        .set_client_status("tpp-susp", ClientStatus::Suspended, now())
        .await
        .unwrap();
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    let ghost = PkjClient {
        id: "ghost".into(),
        key: SigningKey::generate(Alg::Es256).unwrap(),
        identity: h.pki.client("X", "ghost", None).0,
    };
    assert_oauth_error(
        &ghost.token(&h, &ghost.assertion(&h)).await,
        401,
        "invalid_client",
    );
}

/// hardening_generic_invalid_client: an unknown client, a suspended one and one registered for
/// another method get the same `invalid_client` description: an unauthenticated caller learns
/// nothing about which clients exist or how they authenticate.
#[tokio::test]
async fn hardening_invalid_client_descriptions_are_generic() {
    let h = crate::support::Harness::start(|_| {}).await;
    let c = crate::support::PkjClient::register(&h, "tpp-generic", "accounts").await;
    let mut descriptions = Vec::new();
    // Unknown client.
    let mut claims = c.claims(&h);
    claims.insert("iss".into(), serde_json::json!("nobody"));
    claims.insert("sub".into(), serde_json::json!("nobody"));
    let unknown = c.token(&h, &c.sign(&claims)).await;
    descriptions.push(unknown.2["error_description"].clone());
    // Suspended client.
    bulwark_store::ClientStore::set_client_status(
        &h.store,
        "tpp-generic",
        bulwark_core::ClientStatus::Suspended,
        crate::support::now(),
    )
    .await
    .unwrap();
    let suspended = c.token(&h, &c.assertion(&h)).await;
    descriptions.push(suspended.2["error_description"].clone());
    // A client registered for tls_client_auth, sent a signed assertion naming it.
    h.register(
        "tpp-generic-mtls",
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_subject_dn": "O=TPP Ltd,CN=tpp-generic-mtls",
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let mut claims = c.claims(&h);
    claims.insert("iss".into(), json!("tpp-generic-mtls"));
    claims.insert("sub".into(), json!("tpp-generic-mtls"));
    let other_method = c.token(&h, &c.sign(&claims)).await;
    descriptions.push(other_method.2["error_description"].clone());
    for (resp, d) in [
        (&unknown, &descriptions[0]),
        (&suspended, &descriptions[1]),
        (&other_method, &descriptions[2]),
    ] {
        crate::support::assert_oauth_error(resp, 401, "invalid_client");
        let text = d.as_str().unwrap();
        assert!(
            !text.contains("unknown")
                && !text.contains("suspended")
                && !text.contains("tls_client_auth"),
            "{text}"
        );
    }
    assert!(
        descriptions.iter().all(|d| d == &descriptions[0]),
        "{descriptions:?}"
    );
}

/// CA-1: a `private_key_jwt` client is authenticated by its assertion only: its `client_id`
/// with its own valid, trusted certificate and no assertion is refused.
#[tokio::test]
async fn ca_1_a_private_key_jwt_client_is_not_authenticated_by_its_certificate_alone() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-pkj-only", "accounts").await;
    assert_oauth_error(
        &h.post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "tpp-pkj-only"),
            ],
        )
        .await,
        401,
        "invalid_client",
    );
}
