//! TK-6 and TK-7 end to end: introspection of valid, expired, revoked, tampered and foreign
//! tokens (on SQLite and PostgreSQL), introspection following the standing of the consent a
//! token is bound to, and revocation by the owner only, visible on another node.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulwark_certs::PspRole;
use bulwark_core::Clock;
use bulwark_jose::{Alg, SigningKey};
use bulwark_store::ClientStore;
use serde_json::{Value, json};

use crate::support::consents::{AISP, aac_body, as_tpp, tpp};
use crate::support::{
    BEARER, Harness, PkjClient, TestPki, assert_oauth_error, both_backends, introspect, now,
};

both_backends!(
    tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens,
    tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_on_postgres
        => tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_case
);

async fn tk_6_introspection_of_valid_expired_revoked_tampered_and_foreign_tokens_case(h: Harness) {
    let c = PkjClient::register(&h, "tpp-int", "accounts").await;
    let other = PkjClient::register(&h, "tpp-int-other", "accounts").await;
    let rs = PkjClient::register(&h, "resource-server", "").await;
    let mut meta = h
        .store
        .get_client("resource-server")
        .await
        .unwrap()
        .unwrap()
        .metadata;
    meta.resource_server = true;
    h.store
        .update_client_metadata("resource-server", &meta, now())
        .await
        .unwrap();

    let token = c.token(&h, &c.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = introspect(&h, &c, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "tpp-int");
    assert_eq!(answer["scope"], "accounts");
    assert_eq!(answer["token_kind"], "application");
    assert_eq!(
        answer["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.identity.chain[0])
    );
    assert!(answer["exp"].is_i64() && answer["iat"].is_i64() && answer["sub"] == "tpp-int");
    assert!(answer.get("consent_id").is_none());

    assert_eq!(
        introspect(&h, &other, &token).await,
        json!({"active": false}),
        "only the owner"
    );
    assert_eq!(
        introspect(&h, &rs, &token).await["active"],
        true,
        "resource servers see every token"
    );

    // Tampered: flip the scope in the payload.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["scope"] = "accounts payments".into();
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_eq!(
        introspect(&h, &c, &parts.join(".")).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&h, &c, "not-a-token").await,
        json!({"active": false})
    );
    // Foreign issuer: a well-formed token signed by a key we do not hold.
    let foreign_key = SigningKey::generate(Alg::Ps256).unwrap();
    let foreign = foreign_key
        .sign_compact("at+jwt", &serde_json::to_vec(&claims).unwrap())
        .unwrap();
    assert_eq!(introspect(&h, &c, &foreign).await, json!({"active": false}));

    // Revoked.
    let resp = h
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(resp.0, 200);
    assert_eq!(introspect(&h, &c, &token).await, json!({"active": false}));

    // Expired.
    let fresh = c.token(&h, &c.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(introspect(&h, &c, &fresh).await["active"], true);
    h.clock.advance(601);
    assert_eq!(introspect(&h, &c, &fresh).await, json!({"active": false}));
}

#[tokio::test]
async fn tk_7_revocation_is_visible_on_another_node_and_only_the_owner_may_revoke() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let pki = Arc::new(TestPki::new("Shared QTSP"));
    let pg = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL");
    let url = pg.as_ref().map(|db| db.url.clone());
    let a = Harness::start_shared(dir.clone(), pki.clone(), url.clone(), |_| {}).await;
    let b = Harness::start_shared(dir.clone(), pki.clone(), url, |_| {}).await;
    let c = PkjClient::register(&a, "tpp-rev", "accounts").await;
    let other = PkjClient::register(&a, "tpp-rev-other", "accounts").await;
    let token = c.token(&a, &c.assertion(&a)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        introspect(&b, &c, &token).await["active"],
        true,
        "the other node accepts the token"
    );
    let refused = a
        .post(
            Some(&other.identity),
            "/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &other.assertion(&a)),
            ],
        )
        .await;
    assert_oauth_error(&refused, 400, "unauthorized_client");
    assert_eq!(introspect(&b, &c, &token).await["active"], true);
    let ok = a
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&a)),
            ],
        )
        .await;
    assert_eq!(ok.0, 200);
    assert_eq!(
        introspect(&b, &c, &token).await,
        json!({"active": false}),
        "revocation seen by the other node"
    );
    // Revoking garbage is a success (RFC 7009 2.2).
    let junk = a
        .post(
            Some(&c.identity),
            "/revoke",
            &[
                ("token", "junk"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&a)),
            ],
        )
        .await;
    assert_eq!(junk.0, 200);
    drop(pg);
}

#[tokio::test]
async fn tk_6_introspection_follows_the_consent_status() {
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-int", &[PspRole::AccountInformation]).await;
    let created = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    let consent_id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    // A user token bound to the consent, signed with the server's key (the authorization
    // code flow that issues these arrives with the authorization issue).
    let claims = bulwark_token::access_token::AccessTokenClaims {
        iss: "https://localhost:8443".into(),
        sub: "psu-1".into(),
        aud: "https://localhost:8443".into(),
        exp: h.clock.unix() + 300,
        iat: h.clock.unix(),
        jti: "user-token-1".into(),
        client_id: "aisp-int".into(),
        scope: "accounts".into(),
        cnf: bulwark_token::access_token::Confirmation {
            x5t_s256: bulwark_certs::x5t_s256(&c.identity.chain[0]),
        },
        token_kind: bulwark_token::access_token::TokenKind::User,
        consent_id: Some(consent_id.clone()),
        openbanking_intent_id: Some(consent_id.clone()),
        grant_generation: Some(1),
    };
    let ring = h.state.meta.keys.current();
    let key = ring.signing_key(Alg::Ps256).unwrap();
    let user_token = bulwark_token::access_token::sign(key, &claims).unwrap();
    let introspect = |t: String| {
        let h = &h;
        let c = &c;
        async move {
            h.post(
                Some(&c.identity),
                "/introspect",
                &[
                    ("token", &t),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &c.assertion(h)),
                ],
            )
            .await
            .2
        }
    };
    assert_eq!(
        introspect(user_token.clone()).await["active"],
        false,
        "consent awaiting authorisation"
    );
    h.state
        .consents
        .service
        .authorise(&consent_id, "psu-1", &["acc-1".into()], h.clock.now())
        .await
        .unwrap();
    let active = introspect(user_token.clone()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["consent_id"], consent_id.as_str());
    assert_eq!(active["token_kind"], "user");
    h.state
        .consents
        .service
        .revoke(
            &consent_id,
            &bulwark_consent::Actor::psu("psu-1"),
            Some("changed my mind"),
            h.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        introspect(user_token).await,
        json!({"active": false}),
        "revoked consent"
    );
}

/// RFC 7662 2.2: an active answer reports the token's own `jti`, `iat`, `exp` and `sub`. A
/// token is ours only with our issuer in it (our key signing another issuer's name is not a
/// token we issued); `typ` may be RFC 9068's full media type; and a consent whose
/// ExpirationDateTime has passed makes its tokens inactive though they have not expired.
#[tokio::test]
async fn tk_6_an_active_answer_is_the_tokens_own_and_issuer_type_and_consent_expiry_hold() {
    use bulwark_token::access_token::{AccessTokenClaims, Confirmation, TokenKind};
    let h = Harness::start(|_| {}).await;
    let (c, token) = tpp(&h, "aisp-int-2", &[PspRole::AccountInformation]).await;
    let body = json!({"Data": {"Permissions": ["ReadAccountsDetail"],
        "ExpirationDateTime": crate::support::consents::iso(120)}, "Risk": {}});
    let created = as_tpp(&h, &c, &token).post(AISP, &body, &[]).await;
    let consent_id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    h.state
        .consents
        .service
        .authorise(&consent_id, "psu-2", &["acc-1".into()], h.clock.now())
        .await
        .unwrap();
    let claims = |jti: &str| AccessTokenClaims {
        iss: "https://localhost:8443".into(),
        sub: "psu-2".into(),
        aud: "https://localhost:8443".into(),
        exp: h.clock.unix() + 600,
        iat: h.clock.unix() - 5,
        jti: jti.into(),
        client_id: "aisp-int-2".into(),
        scope: "accounts".into(),
        cnf: Confirmation {
            x5t_s256: bulwark_certs::x5t_s256(&c.identity.chain[0]),
        },
        token_kind: TokenKind::User,
        consent_id: Some(consent_id.clone()),
        openbanking_intent_id: Some(consent_id.clone()),
        grant_generation: Some(1),
    };
    let ring = h.state.meta.keys.current();
    let key = ring.signing_key(Alg::Ps256).unwrap();
    let signed = |typ: &str, claims: &AccessTokenClaims| {
        key.sign_compact(typ, &serde_json::to_vec(claims).unwrap())
            .unwrap()
    };
    let ours = claims("user-token-2");
    let answer = introspect(&h, &c, &signed("at+jwt", &ours)).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["jti"], "user-token-2");
    assert_eq!(answer["iat"], ours.iat);
    assert_eq!(answer["exp"], ours.exp);
    assert_eq!(answer["sub"], "psu-2");
    let full_type = signed("application/at+jwt", &claims("user-token-3"));
    assert_eq!(introspect(&h, &c, &full_type).await["active"], true);
    let elsewhere = AccessTokenClaims {
        iss: "https://elsewhere.example".into(),
        ..claims("user-token-4")
    };
    assert_eq!(
        introspect(&h, &c, &signed("at+jwt", &elsewhere)).await,
        json!({"active": false})
    );
    h.clock.advance(180);
    assert_eq!(
        introspect(&h, &c, &signed("at+jwt", &ours)).await,
        json!({"active": false}),
        "the consent expired"
    );
}

/// OP-2 / TK-6: when the database cannot say whether a token was revoked, introspection says
/// so (503, retry later) rather than "active": a revocation is never skipped because its record
/// could not be read. (The caller authenticates with its certificate alone and the client is
/// in the directory's cache, so nothing but the revocation look-up needs the database.)
#[tokio::test]
async fn op_2_introspection_fails_closed_when_revocations_cannot_be_read() {
    // The client directory is cached as in production (the harness turns the cache off), so
    // the client and its certificate are known without the database.
    let h = Harness::start(|c| c.tokens.client_cache_secs = 60).await;
    let id = "tpp-int-mtls";
    let identity = h.pki.qwac(
        id,
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation],
    );
    let cert =
        <x509_cert::Certificate as x509_cert::der::Decode>::from_der(&identity.chain[0]).unwrap();
    let dn =
        bulwark_certs::DistinguishedName::from_name(&cert.tbs_certificate.subject).to_rfc4514();
    h.register(
        id,
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": dn,
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let issued = h
        .post(
            Some(&identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("scope", "accounts"),
            ],
        )
        .await;
    assert_eq!(issued.0, 200, "{:?}", issued.2);
    let token = issued.2["access_token"].as_str().unwrap().to_string();
    let form = [("token", token.as_str()), ("client_id", id)];
    let ask = || h.post(Some(&identity), "/introspect", &form);
    let answer = ask().await;
    assert_eq!(
        (answer.0, &answer.2["active"]),
        (200, &json!(true)),
        "{:?}",
        answer.2
    );
    h.store.close().await;
    let answer = ask().await;
    assert_eq!(answer.0, 503, "{:?}", answer.2);
    assert_eq!(answer.2["error"], "temporarily_unavailable");
}

/// TK-6, TK-7: introspection and revocation answer authenticated clients only. A valid token
/// sent with no client authentication, with a `client_id` alone, or with an assertion signed
/// by a key the client never registered is 401 `invalid_client`: the answer tells nothing of
/// the token (no `active`), and the token is still active afterwards (nothing revoked).
#[tokio::test]
async fn tk_6_tk_7_unauthenticated_introspection_and_revocation_are_refused_and_change_nothing() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-unauth", "accounts").await;
    let token = c.token(&h, &c.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let forged = stranger
        .sign_compact("JWT", &serde_json::to_vec(&c.claims(&h)).unwrap())
        .unwrap();
    for path in ["/introspect", "/revoke"] {
        let cases: [(&str, Vec<(&str, &str)>); 3] = [
            ("no client authentication", vec![("token", &token)]),
            (
                "client_id alone",
                vec![("token", &token), ("client_id", "tpp-unauth")],
            ),
            (
                "forged assertion",
                vec![
                    ("token", &token),
                    ("client_assertion_type", BEARER),
                    ("client_assertion", &forged),
                ],
            ),
        ];
        for (case, form) in cases {
            let r = h.post(Some(&c.identity), path, &form).await;
            assert_oauth_error(&r, 401, "invalid_client");
            assert!(r.2.get("active").is_none(), "{path} {case}: {:?}", r.2);
        }
    }
    assert_eq!(introspect(&h, &c, &token).await["active"], true);
}
