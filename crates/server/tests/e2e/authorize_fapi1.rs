//! AZ-2, AZ-3, AZ-7 for FAPI 1.0 Advanced clients: the hybrid flow by value (the ID token as a
//! detached signature with c_hash and s_hash), bad request objects refused, and JARM.

use bulwark_store::{AuthorizationStore, ConsentStore};
use serde_json::{Map, Value, json};

use crate::support::journey::{Browser, CHALLENGE, FlowTpp, REDIRECT, psu, response_params};
use crate::support::{Harness, both_backends, jwt_parts};

/// AZ-2, AZ-3, AZ-7 (fapi1-advanced-final "fapi1-advanced-final" happy flow, hybrid, request by
/// value): the ID token in the fragment is a detached signature with c_hash and s_hash.
async fn az_2_fapi1_hybrid_by_value_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-fapi1", Some("fapi1-advanced")).await;
    let consent_id = t.consent(&h).await;
    let object = t.fapi1_object(&h, &consent_id, json!({}));
    let (user, password, accounts, _) = psu(&h, "hybrid").await;
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[
            ("client_id", "tpp-fapi1"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("request", &object),
        ])
        .await;
    b.login(&ia, &user, &password).await;
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    let location = done.location();
    assert!(location.starts_with(&format!("{REDIRECT}#")), "{location}");
    let params = response_params(&location);
    let code = &params["code"];
    let (_, id) = jwt_parts(&params["id_token"]);
    assert_eq!(id["c_hash"], bulwark_token::half_hash(code).as_str());
    assert_eq!(
        id["s_hash"],
        bulwark_token::half_hash("fapi1-state").as_str()
    );
    assert_eq!(id["nonce"], "fapi1-nonce");
    assert_eq!(id["openbanking_intent_id"], consent_id.as_str());
    // No PKCE was used: the exchange needs none.
    let tokens = t
        .token(
            &h,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
}
both_backends!(az_2_fapi1_hybrid_by_value, az_2_fapi1_hybrid_by_value_on_postgres => az_2_fapi1_hybrid_by_value_case);

/// AZ-2 (fapi1-advanced-final "ensure-request-object-without-exp-fails",
/// "ensure-request-object-with-long-exp-fails", "ensure-request-object-with-nbf-over-60-fails",
/// "ensure-request-object-with-bad-aud-fails", "ensure-request-object-signature-algorithm-is-none-fails",
/// "ensure-signed-request-object-with-RS256-fails", "ensure-request-object-signed-by-other-client-fails",
/// "ensure-response-type-code-fails" without JARM, "ensure-request-without-nonce-fails"):
/// and RFC 9101 10.8's explicit typing (an object typed `at+jwt`); an object issued as another
/// client, without `aud`, `exp` or `nbf`, with an `aud` list lacking the issuer, or signed with
/// another algorithm than the client's registered `request_object_signing_alg`: each is an
/// error page, nothing stored.
async fn az_2_bad_request_objects_are_refused_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-ro", Some("fapi1-advanced")).await;
    let stranger = FlowTpp::register(&h, "tpp-ro-2", Some("fapi1-advanced")).await;
    let consent_id = t.consent(&h).await;
    let now = h.clock_now();
    let none_alg = {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = json!({"iss": "tpp-ro", "aud": "https://localhost:8443", "exp": now + 300, "nbf": now,
            "client_id": "tpp-ro", "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
            "nonce": "n", "claims": FlowTpp::claims(&consent_id)});
        format!(
            "{}.{}.",
            e.encode(br#"{"alg":"none"}"#),
            e.encode(claims.to_string())
        )
    };
    let by_stranger = {
        let mut claims = json!({"client_id": "tpp-ro", "iss": "tpp-ro", "response_type": "code id_token", "redirect_uri": REDIRECT,
            "scope": "openid accounts", "nonce": "n", "claims": FlowTpp::claims(&consent_id)}).as_object().unwrap().clone();
        claims.insert("aud".into(), json!("https://localhost:8443"));
        stranger.request_object(&h, claims)
    };
    // The claims of a valid object, for variants the helpers cannot make.
    let valid_claims = || -> Map<String, Value> {
        use base64::Engine;
        let valid = t.fapi1_object(&h, &consent_id, json!({}));
        let payload = valid.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    // RFC 9101 10.8: a valid object, but typed as an access token.
    let typed_as_access_token = t.request_object_typed(&h, valid_claims(), "at+jwt");
    // A valid object re-signed by the client with members removed (the helpers add them).
    let without = |members: &[&str]| {
        let mut claims = valid_claims();
        for m in members {
            claims.remove(*m);
        }
        t.c.key
            .sign_compact("oauth-authz-req+jwt", &serde_json::to_vec(&claims).unwrap())
            .unwrap()
    };
    let cases = [
        typed_as_access_token,
        // RFC 9101 10.8: signed by the client's key but issued as another client, or naming
        // another client inside.
        t.fapi1_object(&h, &consent_id, json!({"iss": "tpp-ro-2"})),
        t.fapi1_object(&h, &consent_id, json!({"client_id": "tpp-ro-2"})),
        // FAPI 1.0 Advanced 5.2.2-15: no aud, or an aud list without the issuer.
        without(&["aud"]),
        t.fapi1_object(
            &h,
            &consent_id,
            json!({"aud": ["https://other.example", "https://localhost:8443/other"]}),
        ),
        without(&["exp"]),
        without(&["nbf"]),
        t.fapi1_object(&h, &consent_id, json!({"exp": Value::Null})),
        t.fapi1_object(&h, &consent_id, json!({"exp": now + 3700, "nbf": now})),
        t.fapi1_object(&h, &consent_id, json!({"nbf": now - 3700, "exp": now + 60})),
        t.fapi1_object(&h, &consent_id, json!({"aud": "https://other.example"})),
        t.fapi1_object(&h, &consent_id, json!({"response_type": "code"})),
        t.fapi1_object(&h, &consent_id, json!({"nonce": Value::Null})),
        t.fapi1_object(
            &h,
            &consent_id,
            json!({"redirect_uri": "https://attacker.example/cb"}),
        ),
        none_alg,
        by_stranger,
    ];
    for (i, object) in cases.iter().enumerate() {
        let mut b = Browser::new(&h);
        let page = b
            .get(&format!("/authorize?client_id=tpp-ro&response_type=code%20id_token&scope=openid%20accounts&request={object}"))
            .await;
        assert_eq!(page.status, 400, "case {i}: {}", page.body);
        assert!(page.headers.get("location").is_none(), "case {i}");
    }
    // The query must agree with the object.
    let ok = t.fapi1_object(&h, &consent_id, json!({}));
    let mut b = Browser::new(&h);
    let page = b
        .get(&format!(
            "/authorize?client_id=tpp-ro&response_type=code&scope=openid%20accounts&request={ok}"
        ))
        .await;
    assert_eq!(page.status, 400);

    // RFC 7591 2 / OIDC Registration 2: a client that registered request_object_signing_alg
    // ES256 signs with it; an object signed PS256 by its (PS256) key is refused.
    let registered_es256 = FlowTpp::register_full(
        &h,
        "tpp-ro-3",
        Some("fapi1-advanced"),
        REDIRECT,
        json!({"request_object_signing_alg": "ES256"}),
        Vec::new(),
    )
    .await;
    let its_consent = registered_es256.consent(&h).await;
    let other_alg = registered_es256.fapi1_object(&h, &its_consent, json!({}));
    let page = Browser::new(&h)
        .get(&format!("/authorize?client_id=tpp-ro-3&response_type=code%20id_token&scope=openid%20accounts&request={other_alg}"))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("request_object_signing_alg"),
        "{}",
        page.body
    );
    assert_eq!(h.store.purge_authorization(i64::MAX).await.unwrap(), 0);
    // The control: a valid object from the same helpers, with the same query, is taken.
    let valid = t.fapi1_object(&h, &consent_id, json!({}));
    Browser::new(&h)
        .start(&[
            ("client_id", "tpp-ro"),
            ("response_type", "code id_token"),
            ("scope", "openid accounts"),
            ("request", &valid),
        ])
        .await;
}
both_backends!(az_2_bad_request_objects_are_refused, az_2_bad_request_objects_are_refused_on_postgres => az_2_bad_request_objects_are_refused_case);

/// AZ-7 JARM (fapi1-advanced-final with response_mode=jwt, pushed): `code` alone comes back
/// as one signed `response` JWT in the query, verifiable with the server's JWKS.
async fn az_7_jarm_response_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-jarm", Some("fapi1-advanced")).await;
    let consent_id = t.consent(&h).await;
    let object = t.fapi1_object(&h, &consent_id,
        json!({"response_type": "code", "response_mode": "jwt", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}),
    );
    let pushed = t.push(&h, &[("request".into(), object)]).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let (user, password, accounts, _) = psu(&h, "jarm").await;
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[
            ("client_id", "tpp-jarm"),
            ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
        ])
        .await;
    b.login(&ia, &user, &password).await;
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    let params = response_params(&done.location());
    assert!(
        done.location()
            .starts_with(&format!("{REDIRECT}?response="))
    );
    assert_eq!(params.len(), 1, "only the response JWT: {params:?}");
    let jwt = &params["response"];
    // Verified as the TPP does: with the key set the server publishes.
    let jwks: Value = h.get_json("/jwks").await;
    let public = bulwark_jose::PublicKeySet::from_jwks(&jwks).unwrap();
    let compact = bulwark_jose::Compact::parse(jwt).unwrap();
    public.verify(&compact).unwrap();
    let claims = compact.claims().unwrap();
    assert_eq!(claims["iss"], "https://localhost:8443");
    assert_eq!(claims["aud"], "tpp-jarm");
    assert_eq!(claims["state"], "fapi1-state");
    let code = claims["code"].as_str().unwrap();
    assert_eq!(t.exchange(&h, code).await.0, 200);
}
both_backends!(az_7_jarm_response, az_7_jarm_response_on_postgres => az_7_jarm_response_case);

/// AZ-3: the profile is per client. A FAPI 2.0 client of a server whose default is FAPI 1.0
/// Advanced is held to FAPI 2.0: no request without PAR (an error page, never a redirect),
/// PKCE required and `code` only at PAR; its pushed `code` flow succeeds with `iss`.
async fn az_3_a_fapi2_client_on_a_fapi1_server_is_held_to_fapi2_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-fapi2-here", Some("fapi2")).await;
    let consent = t.consent(&h).await;
    let params = t.fapi2_params(&consent);
    let without = |name: &str| -> Vec<(String, String)> {
        params
            .iter()
            .filter(|(k, _)| !k.starts_with(name))
            .cloned()
            .collect()
    };
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut p = without(name);
        p.push((name.into(), value.into()));
        p
    };
    for (p, code) in [
        (without("code_challenge"), "invalid_request"),
        (
            with("response_type", "code id_token"),
            "unsupported_response_type",
        ),
    ] {
        let r = t.push(&h, &p).await;
        assert_eq!((r.0, r.2["error"].as_str()), (400, Some(code)), "{:?}", r.2);
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let unpushed = Browser::new(&h).get(&format!("/authorize?{query}")).await;
    assert_eq!(unpushed.status, 400, "{}", unpushed.body);
    assert!(unpushed.headers.get("location").is_none());
    assert_eq!(
        h.store.get_consent(&consent).await.unwrap().unwrap().status,
        "AwaitingAuthorisation"
    );
    let (code, _, _) = crate::support::journey::fapi2_code(&h, &t, "psu-fapi2-here").await;
    assert_eq!(t.exchange(&h, &code).await.0, 200);
}
both_backends!(
    az_3_a_fapi2_client_on_a_fapi1_server_is_held_to_fapi2,
    az_3_a_fapi2_client_on_a_fapi1_server_is_held_to_fapi2_on_postgres
        => az_3_a_fapi2_client_on_a_fapi1_server_is_held_to_fapi2_case,
    tweak = |c| c.tokens.profile = bulwark_core::Profile::Fapi1Advanced
);
