//! TK-2, CA-1 and TK-5 at the token endpoint after a PSU journey: a code is single use (reuse
//! revokes what it issued), a refused exchange (bad verifier, wrong client, replayed assertion)
//! leaves it usable, an expired one is refused, and an ID token is encrypted when registered.

use serde_json::{Map, Value, json};

use crate::support::journey::{CHALLENGE, FlowTpp, REDIRECT, VERIFIER, fapi2_code};

use crate::support::{
    Harness, assert_code_unspent, assert_oauth_error, both_backends, introspect, jwt_parts,
    open_id_token, valid_id_token,
};

/// TK-2 (fapi2 "ensure-authorization-code-reuse-fails", RFC 6749 4.1.2): the second exchange
/// is refused and revokes what the first one issued: its access and refresh tokens, and the
/// access token a refresh made from them.
async fn tk_2_code_reuse_revokes_what_it_issued_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-reuse", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "reuse").await;
    let first = t.exchange(&h, &code).await;
    assert_eq!(first.0, 200, "{:?}", first.2);
    let refreshed = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first.2["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let refreshed_access = refreshed.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, refreshed_access).await["active"], true);
    let second = t.exchange(&h, &code).await;
    assert_oauth_error(&second, 400, "invalid_grant");
    let access = first.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, access).await["active"], false);
    assert_eq!(
        introspect(&h, &t.c, refreshed_access).await["active"],
        false,
        "the access token refreshed from the first use is revoked too"
    );
    let refresh = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first.2["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_oauth_error(&refresh, 400, "invalid_grant");
}
both_backends!(tk_2_code_reuse_revokes_what_it_issued, tk_2_code_reuse_revokes_what_it_issued_on_postgres => tk_2_code_reuse_revokes_what_it_issued_case);

/// TK-2 / AZ-4 (fapi2 "ensure-pkce-code-verifier-required", "incorrect-pkce-code-verifier",
/// "ensure-different-redirect-uri-in-token-endpoint-fails", "ensure-client-id-in-token-endpoint"):
/// a bad verifier, a different redirect_uri, or another client is invalid_grant, and the code
/// stays usable by its holder (nothing consumed); the refused request's assertion is spent.
async fn tk_2_bad_exchange_leaves_the_code_usable_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-pkce", None).await;
    let other = FlowTpp::register(&h, "tpp-other", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "pkce").await;
    let wrong = format!("{VERIFIER}0");
    for params in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", wrong.as_str()),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", CHALLENGE),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://tpp.example/other"),
            ("code_verifier", VERIFIER),
        ],
    ] {
        assert_oauth_error(&t.token(&h, &params).await, 400, "invalid_grant");
    }
    assert_oauth_error(&other.exchange(&h, &code).await, 400, "invalid_grant");
    // The assertion of a refused exchange is spent (OIDC Core 9: used once): sent again with
    // the right verifier, it is invalid_client, and the code is still not spent.
    let spent = t.c.assertion(&h);
    let with = |verifier: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_assertion_type", crate::support::BEARER),
            ("client_assertion", spent.as_str()),
        ]
    };
    let refused = h
        .post(Some(&t.c.identity), "/token", &with(CHALLENGE))
        .await;
    assert_oauth_error(&refused, 400, "invalid_grant");
    let replayed = h.post(Some(&t.c.identity), "/token", &with(VERIFIER)).await;
    assert_oauth_error(&replayed, 401, "invalid_client");
    assert_code_unspent(&h, &code).await;
    assert_eq!(t.exchange(&h, &code).await.0, 200);
}
both_backends!(tk_2_bad_exchange_leaves_the_code_usable, tk_2_bad_exchange_leaves_the_code_usable_on_postgres => tk_2_bad_exchange_leaves_the_code_usable_case);

/// TK-2: a code older than 60 s is refused.
async fn tk_2_expired_code_is_refused_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-late", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "late").await;
    h.clock.advance(61);
    assert_oauth_error(&t.exchange(&h, &code).await, 400, "invalid_grant");
}
both_backends!(tk_2_expired_code_is_refused, tk_2_expired_code_is_refused_on_postgres => tk_2_expired_code_is_refused_case);

/// CA-1 / TK-2 (DESIGN hot-path budget): the code exchange claims the client assertion's jti
/// in the same transaction as the code; a replayed assertion is invalid_client and leaves the
/// code unused.
async fn ca_1_assertion_replay_at_code_exchange_leaves_the_code_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-replay", None).await;
    let (code, consent_id, _) = fapi2_code(&h, &t, "replayer").await;
    let assertion = t.c.assertion(&h);
    // The assertion is spent on another request first.
    let mut params: Vec<(&str, &str)> = vec![];
    let fapi = t.fapi2_params(&consent_id);
    for (k, v) in &fapi {
        params.push((k.as_str(), v.as_str()));
    }
    params.push(("client_assertion_type", crate::support::BEARER));
    params.push(("client_assertion", &assertion));
    assert_eq!(h.post(Some(&t.c.identity), "/par", &params).await.0, 201);
    let replay = h
        .post(
            Some(&t.c.identity),
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_assertion_type", crate::support::BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_oauth_error(&replay, 401, "invalid_client");
    assert_code_unspent(&h, &code).await;
    assert_eq!(t.exchange(&h, &code).await.0, 200);
}
both_backends!(ca_1_assertion_replay_at_code_exchange_leaves_the_code, ca_1_assertion_replay_at_code_exchange_leaves_the_code_on_postgres => ca_1_assertion_replay_at_code_exchange_leaves_the_code_case);

/// TK-5: a client that registered ID token encryption gets the signed ID token nested in a JWE
/// (RSA-OAEP + A256GCM) to its encryption key; the inner JWT verifies with the server's keys.
async fn tk_5_id_token_is_encrypted_when_registered_case(h: Harness) {
    use josekit::jwe;
    let pair = jwe::RSA_OAEP.generate_key_pair(2048).unwrap();
    let mut public: Map<String, Value> = pair.to_jwk_public_key().as_ref().clone();
    public.insert("use".into(), json!("enc"));
    public.insert("kid".into(), json!("tpp-enc-1"));
    let t = FlowTpp::register_full(
        &h,
        "tpp-jwe",
        None,
        REDIRECT,
        json!({"id_token_encrypted_response_alg": "RSA-OAEP", "id_token_encrypted_response_enc": "A256GCM"}),
        vec![Value::Object(public)],
    )
    .await;
    let (code, consent_id, _) = fapi2_code(&h, &t, "jwe").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let decrypter = jwe::RSA_OAEP
        .decrypter_from_jwk(&pair.to_jwk_private_key())
        .unwrap();
    let claims = open_id_token(
        &h,
        tokens.2["id_token"].as_str().unwrap(),
        &decrypter,
        "tpp-enc-1",
    );
    assert_eq!(claims["openbanking_intent_id"], consent_id.as_str());
}
both_backends!(tk_5_id_token_is_encrypted_when_registered, tk_5_id_token_is_encrypted_when_registered_on_postgres => tk_5_id_token_is_encrypted_when_registered_case);

/// TK-5 (OIDC Dynamic Client Registration 2, `id_token_signed_response_alg`): the ID token is
/// signed with the algorithm the client registered (ES256 here), not the access tokens'
/// (PS256, the default), at the code exchange and at every refresh.
async fn tk_5_id_tokens_use_the_registered_alg_case(h: Harness) {
    let t = FlowTpp::register_full(
        &h,
        "tpp-es-id",
        None,
        REDIRECT,
        json!({"id_token_signed_response_alg": "ES256"}),
        Vec::new(),
    )
    .await;
    let (code, _, _) = fapi2_code(&h, &t, "es-id").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let algs = |tokens: &Value| {
        let alg = |name: &str| jwt_parts(tokens[name].as_str().unwrap()).0["alg"].clone();
        (alg("access_token"), alg("id_token"))
    };
    assert_eq!(algs(&tokens.2), (json!("PS256"), json!("ES256")));
    valid_id_token(&h, tokens.2["id_token"].as_str().unwrap(), "tpp-es-id", 600);
    let refreshed = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.2["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    assert_eq!(algs(&refreshed.2), (json!("PS256"), json!("ES256")));
}
both_backends!(tk_5_id_tokens_use_the_registered_alg, tk_5_id_tokens_use_the_registered_alg_on_postgres => tk_5_id_tokens_use_the_registered_alg_case);

/// CA-1 / TK-2: only a genuine second use by the code's own client revokes what the code
/// issued. The first exchange replayed as recorded (same assertion, same code) is a replay,
/// `invalid_client`; another client presenting the used code is `invalid_grant`; neither
/// revokes the rightful client's tokens. Then the client itself reusing the code does.
async fn ca_1_a_replayed_or_foreign_exchange_of_a_used_code_revokes_nothing_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-recorded", None).await;
    let other = FlowTpp::register(&h, "tpp-foreign", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "recorded").await;
    let assertion = t.c.assertion(&h);
    let recorded = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_assertion_type", crate::support::BEARER),
        ("client_assertion", assertion.as_str()),
    ];
    let first = h.post(Some(&t.c.identity), "/token", &recorded).await;
    assert_eq!(first.0, 200, "{:?}", first.2);
    let access = first.2["access_token"].as_str().unwrap();

    let replayed = h.post(Some(&t.c.identity), "/token", &recorded).await;
    assert_oauth_error(&replayed, 401, "invalid_client");
    assert_eq!(introspect(&h, &t.c, access).await["active"], true);

    let foreign = other.exchange(&h, &code).await;
    assert_oauth_error(&foreign, 400, "invalid_grant");
    assert_eq!(introspect(&h, &t.c, access).await["active"], true);

    let reused = t.exchange(&h, &code).await;
    assert_oauth_error(&reused, 400, "invalid_grant");
    assert_eq!(introspect(&h, &t.c, access).await["active"], false);
}
both_backends!(
    ca_1_a_replayed_or_foreign_exchange_of_a_used_code_revokes_nothing,
    ca_1_a_replayed_or_foreign_exchange_of_a_used_code_revokes_nothing_on_postgres
        => ca_1_a_replayed_or_foreign_exchange_of_a_used_code_revokes_nothing_case
);

/// TK-2 / CO-2: a code whose consent expired (its `ExpirationDateTime` passed) after the PSU
/// authorised it, the code itself still unexpired, is refused (`invalid_grant`) and issues
/// nothing, though the consent's stored status is still Authorised (its expiry is read).
async fn tk_2_a_code_of_a_consent_expired_since_is_refused_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-consent-expiry", None).await;
    let mut body = crate::support::consents::aac_body();
    let expires = time::OffsetDateTime::from_unix_timestamp(h.clock_now() + 30).unwrap();
    body["Data"]["ExpirationDateTime"] = json!(bulwark_consent::format_datetime(expires));
    let consent_id = t.consent_with(&h, &body).await;
    let (user, password, accounts, _) = crate::support::journey::psu(&h, "consent-expiry").await;
    let (status, params) = crate::support::journey::authorise_once(
        &h,
        &t,
        &consent_id,
        &user,
        &password,
        Some(&accounts[0]),
    )
    .await;
    assert_eq!(status, 303);
    h.clock.advance(31);
    let late = t.exchange(&h, &params["code"]).await;
    assert_oauth_error(&late, 400, "invalid_grant");
    assert!(late.2.get("access_token").is_none(), "{:?}", late.2);
}

both_backends!(
    tk_2_a_code_of_a_consent_expired_since_is_refused,
    tk_2_a_code_of_a_consent_expired_since_is_refused_on_postgres
        => tk_2_a_code_of_a_consent_expired_since_is_refused_case
);

/// TK-3 / RFC 7591 2: a client registered for the code grant but not `refresh_token` gets no
/// refresh token from the exchange (RFC 6749 5.1: it is optional), and none is stored: a
/// secret it may not use would start working the day its registration gained the grant.
async fn tk_3_no_refresh_token_for_a_client_not_registered_for_the_grant_case(h: Harness) {
    let t = FlowTpp::register_full(
        &h,
        "tpp-no-refresh",
        None,
        REDIRECT,
        json!({"grant_types": ["client_credentials", "authorization_code"]}),
        Vec::new(),
    )
    .await;
    let (code, consent_id, _) = fapi2_code(&h, &t, "norefresh").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert!(tokens.2["access_token"].is_string(), "{:?}", tokens.2);
    assert!(tokens.2.get("refresh_token").is_none(), "{:?}", tokens.2);
    let stored =
        bulwark_store::AuthorizationStore::refresh_tokens_of_consent(&h.store, &consent_id)
            .await
            .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}
both_backends!(
    tk_3_no_refresh_token_for_a_client_not_registered_for_the_grant,
    tk_3_no_refresh_token_for_a_client_not_registered_for_the_grant_on_postgres
        => tk_3_no_refresh_token_for_a_client_not_registered_for_the_grant_case
);

/// CA-1 / OIDC Core 9: an exchange refused at the redemption itself, because the consent was
/// revoked or the code taken by another exchange after this one's checks read them, still spends
/// its client assertion: sent again it is a replay (`invalid_client`), not another try. The
/// interleaving is made deterministic on PostgreSQL: the other party's change is held in an
/// open transaction until the exchange waits on its row lock, then committed.
#[tokio::test]
async fn ca_1_an_exchange_refused_at_redemption_spends_its_assertion() {
    use sqlx::Connection as _;
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let h = Harness::start_postgres(db.url.clone(), |_| {}).await;
    let t = FlowTpp::register(&h, "tpp-midway", None).await;
    for (case, change) in [
        (
            "consent revoked",
            "UPDATE consents SET status = 'Revoked' WHERE id = $1",
        ),
        (
            "code taken",
            "UPDATE authorization_codes SET used_at = 1 WHERE consent_id = $1",
        ),
    ] {
        let (code, consent_id, _) = fapi2_code(&h, &t, &case.replace(' ', "-")).await;
        let mut other = sqlx::PgConnection::connect(&h.db_url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut other).await.unwrap();
        sqlx::query(change)
            .bind(&consent_id)
            .execute(&mut other)
            .await
            .unwrap();
        let assertion = t.c.assertion(&h);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", t.redirect.as_str()),
            ("code_verifier", VERIFIER),
            ("client_assertion_type", crate::support::BEARER),
            ("client_assertion", assertion.as_str()),
        ];
        let release = async {
            let mut watcher = sqlx::PgConnection::connect(&h.db_url).await.unwrap();
            let mut waited = 0;
            loop {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&mut watcher)
                .await
                .unwrap();
                if waiting > 0 {
                    break;
                }
                waited += 1;
                assert!(waited < 500, "{case}: the exchange never waited on the row");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        };
        let (refused, ()) = tokio::join!(h.post(Some(&t.c.identity), "/token", &form), release);
        assert_oauth_error(&refused, 400, "invalid_grant");
        let again = h.post(Some(&t.c.identity), "/token", &form).await;
        assert_oauth_error(&again, 401, "invalid_client");
    }
    drop(db);
}
