//! TK-1, TK-4, TK-8 end to end over real TLS with client certificates made in the test: the
//! client-credentials grant issuing certificate-bound JWT access tokens (on SQLite and
//! PostgreSQL), ES256 tokens and RFC 8707 `resource`, and RFC 6749 errors for malformed requests.

use bulwark_jose::{Alg, SigningKey};
use bulwark_store::ClientStore;
use serde_json::{Value, json};

use crate::support::{
    BEARER, Harness, ISSUER, PkjClient, assert_oauth_error, both_backends, http_client, introspect,
    jwt_parts, now,
};

both_backends!(
    tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt,
    tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_on_postgres
        => tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_case
);

async fn tk_1_tk_4_client_credentials_issues_a_certificate_bound_jwt_case(h: Harness) {
    let c = PkjClient::register(&h, "tpp-1", "accounts payments openid").await;
    let resp = c.token(&h, &c.assertion(&h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
    assert_eq!(resp.2["token_type"], "Bearer");
    assert_eq!(
        resp.2["scope"], "accounts payments",
        "openid is not for client_credentials"
    );
    assert_eq!(resp.2["expires_in"], 600);
    let token = resp.2["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "PS256");
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&c.identity.chain[0])
    );
    assert_eq!(claims["client_id"], "tpp-1");
    assert_eq!(claims["sub"], "tpp-1");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], ISSUER);
    assert_eq!(claims["token_kind"], "application");
    assert!(claims.get("consent_id").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    // The signature verifies against the published JWKS.
    let jwks: Value = h.get_json("/jwks").await;
    let set = bulwark_jose::PublicKeySet::from_jwks(&jwks).unwrap();
    set.verify(&bulwark_jose::Compact::parse(token).unwrap())
        .unwrap();

    // Narrowing: a requested scope the client may not have is dropped; none left is invalid_scope.
    let narrowed = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts fundsconfirmations"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(narrowed.2["scope"], "accounts");
    let none = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "fundsconfirmations"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&none, 400, "invalid_scope");
}

#[tokio::test]
async fn tk_4_es256_access_tokens_and_rfc8707_resource() {
    let h = Harness::start(|c| {
        c.tokens.access_token_alg = "ES256".into();
        c.tokens.default_audience = Some("https://api.bank.example".into());
    })
    .await;
    let c = PkjClient::register(&h, "tpp-res", "accounts").await;
    let mut meta = h
        .store
        .get_client("tpp-res")
        .await
        .unwrap()
        .unwrap()
        .metadata;
    // The last two, an operator's mistakes, are not RFC 8707 resources (an absolute URI
    // without a fragment): never an audience, even registered.
    meta.resources = vec![
        "https://payments.bank.example".into(),
        "payments-api".into(),
        "https://payments.bank.example#v2".into(),
    ];
    h.store
        .update_client_metadata("tpp-res", &meta, now())
        .await
        .unwrap();
    let resp = c.token(&h, &c.assertion(&h)).await;
    let (header, claims) = jwt_parts(resp.2["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["aud"], "https://api.bank.example");
    let with = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://payments.bank.example"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(
        jwt_parts(with.2["access_token"].as_str().unwrap()).1["aud"],
        "https://payments.bank.example"
    );
    let other = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://other.example"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&other, 400, "invalid_target");
    for not_a_resource in ["payments-api", "https://payments.bank.example#v2"] {
        let refused = h
            .post(
                Some(&c.identity),
                "/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", not_a_resource),
                    ("client_assertion_type", BEARER),
                    ("client_assertion", &c.assertion(&h)),
                ],
            )
            .await;
        assert_oauth_error(&refused, 400, "invalid_target");
    }
}

#[tokio::test]
async fn tk_8_malformed_requests_get_rfc6749_errors() {
    let h = Harness::start(|_| {}).await;
    let c = PkjClient::register(&h, "tpp-bad", "accounts").await;
    let a = c.assertion(&h);
    let repeated = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &a),
            ],
        )
        .await;
    assert_oauth_error(&repeated, 400, "invalid_request");
    assert_eq!(
        c.token(&h, &a).await.0,
        200,
        "the refused request consumed nothing"
    );
    let json_body = http_client(&h.dev_ca, Some(&c.identity))
        .post(h.url("/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let answer: serde_json::Value = json_body.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_request", "{answer}");
    let grant = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "password"),
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&grant, 400, "unsupported_grant_type");
    let missing = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("client_assertion_type", BEARER),
                ("client_assertion", &c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&missing, 400, "invalid_request");
    // CA-1: a client not registered for the code grant asking for it is refused, and the
    // assertion that authenticated it is spent with the refusal.
    let assertion = c.assertion(&h);
    let not_its_grant = h
        .post(
            Some(&c.identity),
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", "a-code"),
                ("redirect_uri", "https://tpp.example/cb"),
                ("code_verifier", &"v".repeat(43)),
                ("client_assertion_type", BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_oauth_error(&not_its_grant, 400, "unauthorized_client");
    assert_oauth_error(&c.token(&h, &assertion).await, 401, "invalid_client");
    // A client not registered for client_credentials.
    let key = SigningKey::generate(Alg::Es256).unwrap();
    h.register("tpp-code-only", json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["authorization_code"], "scope": "accounts", "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}})).await;
    let code_only = PkjClient {
        id: "tpp-code-only".into(),
        key,
        identity: c.identity,
    };
    assert_oauth_error(
        &code_only.token(&h, &code_only.assertion(&h)).await,
        400,
        "unauthorized_client",
    );
}

/// TK-4: the access token lifetime is the configured one (`tokens.access_token_lifetime_secs`),
/// in `expires_in`, in the token's `exp`, and in introspection, which calls it inactive from
/// that second on.
#[tokio::test]
async fn tk_4_the_access_token_lifetime_is_configurable() {
    let h = Harness::start(|c| c.tokens.access_token_lifetime_secs = 120).await;
    let c = PkjClient::register(&h, "tpp-lifetime", "accounts").await;
    let resp = c.token(&h, &c.assertion(&h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    assert_eq!(resp.2["expires_in"], 120);
    let token = resp.2["access_token"].as_str().unwrap();
    let (_, claims) = jwt_parts(token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    h.clock.advance(119);
    assert_eq!(introspect(&h, &c, token).await["active"], true);
    h.clock.advance(1);
    assert_eq!(introspect(&h, &c, token).await["active"], false);
}
