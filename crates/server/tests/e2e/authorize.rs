//! AZ-1..AZ-8, TK-2, TK-3, TK-5: the authorization journey end to end, as a TPP and a PSU's
//! browser drive it (the browser here speaks HTTP; `tests/browser` drives the same pages in
//! Chromium). Module names of the OIDF FAPI conformance suite are given where a test covers one.
//! The code exchange is in `token_code.rs`, FAPI 1.0 Advanced flows in `authorize_fapi1.rs`.

use bulwark_core::ClientStatus;
use bulwark_store::{AuthorizationStore, ClientStore, ConsentStore};
use serde_json::{Map, Value, json};

use crate::support::consents::{AISP, as_tpp};
use crate::support::journey::{
    Browser, FlowTpp, REDIRECT, authorise_once, fapi2_code, psu, response_params, urlenc,
};
use crate::support::{Harness, assert_oauth_error, both_backends, introspect, jwt_parts, now};
/// fapi2-security-profile-final-test-plan "fapi2-security-profile-final-happy-flow": PAR,
/// login, consent, code, token, refresh, introspection, userinfo; the consent moves to
/// Authorised with the selected account in the same step; revoking it kills the refresh token
/// and the access token at once.
async fn az_fapi2_happy_flow_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-flow", None).await;
    let (code, consent_id, subject) = fapi2_code(&h, &t, "alex").await;
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.selected_accounts.len(), 1);
    assert_eq!(stored.psu_id.as_deref(), Some(subject.as_str()));

    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert_eq!(tokens.1["cache-control"], "no-store");
    let access = tokens.2["access_token"].as_str().unwrap();
    let (_, at) = jwt_parts(access);
    assert_eq!(at["token_kind"], "user");
    assert_eq!(at["consent_id"], consent_id.as_str());
    assert_eq!(at["openbanking_intent_id"], consent_id.as_str());
    assert_eq!(at["scope"], "openid accounts");
    assert_ne!(
        at["sub"],
        subject.as_str(),
        "AZ-8: the TPP sees a pairwise subject"
    );
    assert_eq!(
        at["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&t.c.identity.chain[0]).as_str()
    );
    let (idh, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    assert_eq!(idh["alg"], "PS256");
    assert_eq!(id["sub"], at["sub"]);
    assert_eq!(id["aud"], "tpp-flow");
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["acr"], "urn:openbanking:psd2:sca");
    assert_eq!(id["openbanking_intent_id"], consent_id.as_str());
    assert_eq!(id["at_hash"], bulwark_token::half_hash(access).as_str());
    assert!(id["auth_time"].is_i64());

    let info = introspect(&h, &t.c, access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["consent_id"], consent_id.as_str());

    // userinfo with the bound certificate.
    let ui = userinfo(&h, &t, reqwest::Method::GET, access).await;
    assert_eq!(ui.status, 200, "{:?}", ui.body);
    assert_eq!(ui.body["sub"], at["sub"]);
    assert_eq!(ui.body["openbanking_intent_id"], consent_id.as_str());
    // OIDC Core 5.3.1: the UserInfo endpoint answers POST as it answers GET.
    let posted = userinfo(&h, &t, reqwest::Method::POST, access).await;
    assert_eq!((posted.status, &posted.body), (200, &ui.body));

    // TK-3: refresh, bound to the presented certificate, no rotation by default.
    let refresh_token = tokens.2["refresh_token"].as_str().unwrap();
    let refreshed = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    assert!(refreshed.2.get("refresh_token").is_none());
    let (_, at2) = jwt_parts(refreshed.2["access_token"].as_str().unwrap());
    assert_eq!(at2["consent_id"], consent_id.as_str());
    assert_ne!(at2["jti"], at["jti"]);
    // A wider scope than granted is refused.
    let wider = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("scope", "openid accounts payments"),
            ],
        )
        .await;
    assert_oauth_error(&wider, 400, "invalid_scope");
    // OIDC Core 5.3 / RFC 6750 3.1: userinfo is for tokens of an openid request; a narrower
    // refresh without openid, or an application token, is 403 insufficient_scope.
    let narrow = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("scope", "accounts"),
            ],
        )
        .await;
    assert_eq!(narrow.0, 200, "{:?}", narrow.2);
    for token in [
        narrow.2["access_token"].as_str().unwrap(),
        t.app_token.as_str(),
    ] {
        let ui = userinfo(&h, &t, reqwest::Method::GET, token).await;
        assert_eq!(ui.status, 403, "{:?}", ui.body);
        assert_eq!(ui.body["error"], "insufficient_scope");
    }

    // CO-2 / TK-3: the TPP revokes the consent: refresh dies, the access token goes inactive.
    let del = as_tpp(&h, &t.c, &t.app_token)
        .delete(&format!("{AISP}/{consent_id}"))
        .await;
    assert_eq!(del.status, 204, "{:?}", del.body);
    let dead = t
        .token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await;
    assert_oauth_error(&dead, 400, "invalid_grant");
    let info = introspect(&h, &t.c, access).await;
    assert_eq!(info["active"], false);
    // OIDC Core 5.3.3: nor does userinfo answer for it (RFC 6750 3.1 `invalid_token`).
    let ui = userinfo(&h, &t, reqwest::Method::GET, access).await;
    assert_eq!(ui.status, 401, "{:?}", ui.body);
    assert!(ui.body.get("sub").is_none());
    assert!(
        ui.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}
both_backends!(az_fapi2_happy_flow, az_fapi2_happy_flow_on_postgres => az_fapi2_happy_flow_case);

/// `/userinfo` by `method` with `token`, over `t`'s certificate.
async fn userinfo(
    h: &Harness,
    t: &FlowTpp,
    method: reqwest::Method,
    token: &str,
) -> crate::support::consents::Answer {
    crate::support::consents::call(
        h,
        Some(&t.c.identity),
        method,
        "/userinfo",
        Some(token),
        None,
        &[],
    )
    .await
}

/// AZ-1 (fapi2 "par-ensure-reused-request-uri-prior-to-auth-completion-succeeds",
/// "par-attempt-reuse-request_uri"): a request_uri may be opened again until the authorization
/// completes (a reload, a second tab); once it has, it is gone: an error page, never a redirect.
async fn az_1_request_uri_is_single_use_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-once", None).await;
    let consent_id = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    assert_eq!(pushed.2["expires_in"], 60);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let (user, password, accounts, _) = psu(&h, "reloader").await;
    let mut first = Browser::new(&h);
    let ia1 = first
        .start(&[("client_id", "tpp-once"), ("request_uri", uri)])
        .await;
    let mut second = Browser::new(&h);
    let ia2 = second
        .start(&[("client_id", "tpp-once"), ("request_uri", uri)])
        .await;
    assert_ne!(ia1, ia2);
    second.login(&ia2, &user, &password).await;
    assert_eq!(
        second
            .decide(&ia2, "authorise", &[&accounts[0]])
            .await
            .status,
        303
    );
    // The first tab cannot complete the same request again.
    first.login(&ia1, &user, &password).await;
    let late = first
        .post(&format!("{ia1}/decision"), &[("csrf", "x")])
        .await;
    assert_eq!(late.status, 403);
    let again = first
        .get(&format!(
            "/authorize?client_id=tpp-once&request_uri={}",
            urlenc(uri)
        ))
        .await;
    assert_eq!(again.status, 400);
    assert!(again.headers.get("location").is_none());
    assert!(again.body.contains("Something went wrong"));
    assert!(
        again.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(
        again.headers["strict-transport-security"], "max-age=31536000",
        "pages carry HSTS"
    );
}
both_backends!(az_1_request_uri_is_single_use, az_1_request_uri_is_single_use_on_postgres => az_1_request_uri_is_single_use_case);

/// AZ-1 (RFC 9126 4, RFC 9101 5): `/authorize` takes a `request_uri` or a `request`, never
/// both; and a client suspended since it pushed its request cannot start the authorization
/// with it. Each is an error page (never a redirect), and neither uses the `request_uri`: once
/// the client is active again it opens.
async fn az_1_authorize_refuses_two_request_forms_and_a_suspended_client_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-paused", None).await;
    let consent_id = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let object = t.fapi1_object(&h, &consent_id, json!({}));
    let mut b = Browser::new(&h);
    let both = b
        .get(&format!(
            "/authorize?client_id=tpp-paused&request_uri={}&request={object}",
            urlenc(uri)
        ))
        .await;
    assert_eq!(both.status, 400, "{}", both.body);
    assert!(both.headers.get("location").is_none());
    // FAPI 2.0 SP 5.3.1.2-2: a FAPI 2.0 client's request is pushed; a signed request object
    // by value, valid in every other way, is refused.
    let mut claims: Map<String, Value> = t
        .fapi2_params(&consent_id)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    claims.insert("claims".into(), FlowTpp::claims(&consent_id));
    let by_value = t.request_object(&h, claims);
    let page = b
        .get(&format!(
            "/authorize?client_id=tpp-paused&response_type=code&request={by_value}"
        ))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.headers.get("location").is_none());

    h.store
        .set_client_status("tpp-paused", ClientStatus::Suspended, now())
        .await
        .unwrap();
    let suspended = b
        .get(&format!(
            "/authorize?client_id=tpp-paused&request_uri={}",
            urlenc(uri)
        ))
        .await;
    assert_eq!(suspended.status, 400, "{}", suspended.body);
    assert!(suspended.headers.get("location").is_none());
    assert!(
        pushed_request_kept(&h, uri).await,
        "the refusals leave the pushed request as it was"
    );

    h.store
        .set_client_status("tpp-paused", ClientStatus::Active, now())
        .await
        .unwrap();
    Browser::new(&h)
        .start(&[("client_id", "tpp-paused"), ("request_uri", uri)])
        .await;
}
both_backends!(
    az_1_authorize_refuses_two_request_forms_and_a_suspended_client,
    az_1_authorize_refuses_two_request_forms_and_a_suspended_client_on_postgres => az_1_authorize_refuses_two_request_forms_and_a_suspended_client_case
);

/// AZ-1 / OIDC Core 3.1.2.1: the authorization endpoint supports POST, its parameters
/// form-serialised, and answers it as it answers the same GET: the same 303 to the
/// interaction page with its cookie and `no-store`, the same journey after. A body of another
/// content type, or with a repeated parameter, is the error page (never a redirect) and uses
/// nothing: the pushed request is still there.
#[tokio::test]
async fn az_1_authorize_accepts_post() {
    let h = Harness::start(|_| {}).await;
    let t = FlowTpp::register(&h, "tpp-post", None).await;
    let (user, password, accounts, _) = psu(&h, "poster").await;
    let consent_id = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let mut b = Browser::new(&h);

    let as_json = crate::support::http_client(&h.dev_ca, None)
        .post(h.url("/authorize"))
        .header("content-type", "application/json")
        .body(json!({"client_id": "tpp-post", "request_uri": uri}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(as_json.status().as_u16(), 400);
    assert!(as_json.headers().get("location").is_none());
    assert_eq!(as_json.headers()["cache-control"], "no-store");
    assert!(
        as_json.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(
        as_json
            .text()
            .await
            .unwrap()
            .contains("application/x-www-form-urlencoded")
    );
    let repeated = b
        .post(
            "/authorize",
            &[
                ("client_id", "tpp-post"),
                ("request_uri", uri),
                ("request_uri", uri),
            ],
        )
        .await;
    assert_eq!(repeated.status, 400, "{}", repeated.body);
    assert!(repeated.headers.get("location").is_none());
    assert!(
        pushed_request_kept(&h, uri).await,
        "the refusals leave the pushed request as it was"
    );

    let got = Browser::new(&h)
        .get(&format!(
            "/authorize?client_id=tpp-post&request_uri={}",
            urlenc(uri)
        ))
        .await;
    let posted = b
        .post(
            "/authorize",
            &[("client_id", "tpp-post"), ("request_uri", uri)],
        )
        .await;
    for page in [&got, &posted] {
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(page.location().starts_with("/authorize/i/"));
        assert_eq!(page.headers["cache-control"], "no-store");
        let cookie = page.headers["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("__Host-bulwark_ia_"), "{cookie}");
    }
    let ia = posted.location();
    assert_eq!(b.login(&ia, &user, &password).await.status, 303);
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let params = response_params(&done.location());
    assert_eq!(t.exchange(&h, &params["code"]).await.0, 200);
}

/// AZ-1: PAR refuses before storing: an unauthenticated client, a `request_uri` parameter,
/// PKCE plain (fapi2 "par-plain-pkce"), no PKCE ("par-without-pkce"), an unregistered
/// redirect_uri ("par-invalid-redirect-uri"), another response type ("par-code-id-token"),
/// a request of another client_id. The assertion of a refused push is spent all the same
/// (OIDC Core 9: used once): sent again, even with a valid request, it is invalid_client.
async fn az_1_par_refusals_store_nothing_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-par", None).await;
    let consent_id = t.consent(&h).await;
    let base = t.fapi2_params(&consent_id);
    let with = |k: &str, v: &str| {
        let mut p: Vec<(String, String)> = base.iter().filter(|(n, _)| n != k).cloned().collect();
        if !v.is_empty() {
            p.push((k.into(), v.into()));
        }
        p
    };
    let spent = t.c.assertion(&h);
    assert_oauth_error(
        &t.push_asserted(&h, &with("code_challenge_method", "plain"), &spent)
            .await,
        400,
        "invalid_request",
    );
    for (params, code) in [
        (with("code_challenge_method", "plain"), "invalid_request"),
        (with("code_challenge", ""), "invalid_request"),
        (
            with("redirect_uri", "https://attacker.example/cb"),
            "invalid_request",
        ),
        (
            with("response_type", "code id_token"),
            "unsupported_response_type",
        ),
        (
            with("request_uri", "urn:ietf:params:oauth:request_uri:x"),
            "invalid_request",
        ),
        (with("claims", ""), "invalid_request"),
        (with("scope", "openid"), "invalid_scope"),
    ] {
        assert_oauth_error(&t.push(&h, &params).await, 400, code);
    }
    // A client_id other than the authenticated client's is a client authentication failure.
    assert_oauth_error(
        &t.push(&h, &with("client_id", "tpp-other")).await,
        401,
        "invalid_client",
    );
    let form: Vec<(&str, &str)> = base.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let anonymous = h.post(Some(&t.c.identity), "/par", &form).await;
    assert_oauth_error(&anonymous, 401, "invalid_client");
    assert_eq!(
        h.store.purge_authorization(i64::MAX).await.unwrap(),
        0,
        "nothing was stored"
    );
    assert_oauth_error(
        &t.push_asserted(&h, &base, &spent).await,
        401,
        "invalid_client",
    );
}
both_backends!(az_1_par_refusals_store_nothing, az_1_par_refusals_store_nothing_on_postgres => az_1_par_refusals_store_nothing_case);

/// AZ-6 (AZ-7 `access_denied`): Deny sends the browser back with access_denied and `iss`, and
/// the consent is Rejected with a PSU audit row.
async fn az_6_deny_rejects_the_consent_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-deny", None).await;
    let consent_id = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let (user, password, _, _) = psu(&h, "denier").await;
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[("client_id", "tpp-deny"), ("request_uri", uri)])
        .await;
    b.login(&ia, &user, &password).await;
    let done = b.decide(&ia, "deny", &[]).await;
    assert_eq!(done.status, 303);
    let params = response_params(&done.location());
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "af0ifjsldkj");
    assert_eq!(params["iss"], "https://localhost:8443");
    assert!(!params.contains_key("code"));
    assert_eq!(
        h.store
            .get_consent(&consent_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "Rejected"
    );
    let history = h.store.consent_history(&consent_id).await.unwrap();
    assert_eq!(history.last().unwrap().actor_kind, "PSU");
}
both_backends!(az_6_deny_rejects_the_consent, az_6_deny_rejects_the_consent_on_postgres => az_6_deny_rejects_the_consent_case);

/// AZ-6: a wrong password says so without telling whether the user exists; a form without
/// the page's CSRF token, or from another browser (with no interaction cookie, or one whose
/// secret is not the interaction's), is refused and changes nothing; an account the PSU does
/// not hold is refused.
async fn az_6_login_and_forms_are_guarded_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-guard", None).await;
    let consent_id = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let (user, password, accounts, _) = psu(&h, "guarded").await;
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[("client_id", "tpp-guard"), ("request_uri", uri)])
        .await;
    let wrong = b.login(&ia, &user, "not-the-password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("The username or password is not right"));
    let unknown = b.login(&ia, "nobody-here", "whatever1").await;
    assert_eq!(unknown.status, 401);
    assert!(
        unknown
            .body
            .contains("The username or password is not right")
    );

    // Login without the CSRF token.
    let forged = b
        .post(
            &format!("{ia}/login"),
            &[("username", &user), ("password", &password)],
        )
        .await;
    assert_eq!(forged.status, 403);
    // Another browser cannot continue this interaction even with the token.
    let page = b.get(&ia).await;
    let csrf = page.input("csrf");
    let mut other = Browser::new(&h);
    let stolen = other
        .post(
            &format!("{ia}/login"),
            &[
                ("csrf", &csrf),
                ("username", &user),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(stolen.status, 403);
    // Nor with a cookie of the interaction's name whose secret is not the one it set.
    let id = ia.rsplit('/').next().unwrap();
    other.set_cookie(&format!("__Host-bulwark_ia_{id}"), "not-the-secret", "/");
    let forged_cookie = other
        .post(
            &format!("{ia}/login"),
            &[
                ("csrf", &csrf),
                ("username", &user),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(forged_cookie.status, 403);

    assert_eq!(b.login(&ia, &user, &password).await.status, 303);
    let page = b.get(&ia).await;
    assert_eq!(page.accounts(), accounts);
    let csrf = page.input("csrf");
    let no_csrf = b
        .post(
            &format!("{ia}/decision"),
            &[("decision", "authorise"), ("account", &accounts[0])],
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    let foreign = b
        .post(
            &format!("{ia}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "authorise"),
                ("account", "someone-elses"),
            ],
        )
        .await;
    assert_eq!(foreign.status, 403);
    let none = b
        .post(
            &format!("{ia}/decision"),
            &[("csrf", &csrf), ("decision", "authorise")],
        )
        .await;
    assert_eq!(none.status, 400);
    assert!(none.body.contains("choose at least one account"));
    // A form repeating its csrf or its decision (parameter pollution: which one counts?)
    // decides nothing.
    for repeated in [
        [
            ("csrf", csrf.as_str()),
            ("csrf", "another"),
            ("decision", "authorise"),
        ],
        [
            ("csrf", csrf.as_str()),
            ("decision", "deny"),
            ("decision", "authorise"),
        ],
    ] {
        let mut form = repeated.to_vec();
        form.push(("account", accounts[1].as_str()));
        let r = b.post(&format!("{ia}/decision"), &form).await;
        assert_eq!(r.status, 403, "{form:?}: {}", r.body);
    }
    assert_eq!(
        h.store
            .get_consent(&consent_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "AwaitingAuthorisation"
    );
    // The right form completes and deletes the interaction's cookie; the same form sent
    // afterwards without it finds the interaction over (a double click, which still carries
    // the cookie, gets the first answer again: authorize_resend.rs).
    let done = b
        .post(
            &format!("{ia}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "authorise"),
                ("account", &accounts[1]),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    let replay = b
        .post(
            &format!("{ia}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "authorise"),
                ("account", &accounts[1]),
            ],
        )
        .await;
    assert_eq!(replay.status, 400);
    assert!(replay.headers.get("location").is_none());
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.selected_accounts, vec![accounts[1].clone()]);
}
both_backends!(az_6_login_and_forms_are_guarded, az_6_login_and_forms_are_guarded_on_postgres => az_6_login_and_forms_are_guarded_case);

/// AZ-5: a consent of another client, or one already decided, sends the error to the
/// (validated) redirect URI; AZ-7: an unknown client or an unregistered redirect never
/// redirects.
async fn az_5_consent_binding_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-bind", None).await;
    let other = FlowTpp::register(&h, "tpp-bind-2", None).await;
    let theirs = other.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&theirs)).await;
    assert_eq!(pushed.0, 201);
    let mut b = Browser::new(&h);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let page = b
        .get(&format!(
            "/authorize?client_id=tpp-bind&request_uri={}",
            urlenc(uri)
        ))
        .await;
    assert_eq!(page.status, 303);
    let params = response_params(&page.location());
    assert!(page.location().starts_with(REDIRECT));
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(
        h.store.get_consent(&theirs).await.unwrap().unwrap().status,
        "AwaitingAuthorisation"
    );

    let unknown = b
        .get(
            "/authorize?client_id=nobody&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax",
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.headers.get("location").is_none());
    // FAPI 2.0 without PAR: error page, no redirect even to a registered URI.
    let plain = b
        .get(&format!(
            "/authorize?client_id=tpp-bind&response_type=code&redirect_uri={}",
            urlenc(REDIRECT)
        ))
        .await;
    assert_eq!(plain.status, 400);
    assert!(plain.headers.get("location").is_none());
}
both_backends!(az_5_consent_binding, az_5_consent_binding_on_postgres => az_5_consent_binding_case);

/// AZ-6: a remembered PSU session skips the login page for the next account-access
/// authorization (never for a payment: SCA linked to it), unless the request says
/// `prompt=login` or a `max_age` the login is older than; `prompt=none` comes back with
/// consent_required.
async fn az_6_session_is_remembered_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-sso", None).await;
    let (user, password, accounts, _) = psu(&h, "sso").await;
    let mut b = Browser::new(&h);
    for round in 0..2 {
        let consent_id = t.consent(&h).await;
        let ia = t.open_in(&h, &mut b, &t.fapi2_params(&consent_id)).await;
        let page = b.get(&ia).await;
        if round == 0 {
            assert!(page.body.contains("name=\"password\""));
            b.login(&ia, &user, &password).await;
        } else {
            assert!(
                page.body.contains("value=\"authorise\""),
                "logged in already"
            );
        }
        assert_eq!(
            b.decide(&ia, "authorise", &[&accounts[0]]).await.status,
            303
        );
    }
    // OIDC Core 3.1.2.1: `prompt=login` asks for a fresh login, and so does a `max_age` the
    // remembered login is older than; a `max_age` it is within lets it serve.
    h.clock.advance(120);
    for (extra, fresh_login) in [
        (("prompt", "login"), true),
        (("max_age", "60"), true),
        (("max_age", "3600"), false),
    ] {
        let consent_id = t.consent(&h).await;
        let mut params = t.fapi2_params(&consent_id);
        params.push((extra.0.into(), extra.1.into()));
        let ia = t.open_in(&h, &mut b, &params).await;
        let page = b.get(&ia).await;
        assert_eq!(
            page.body.contains("name=\"password\""),
            fresh_login,
            "{extra:?}: {}",
            page.body
        );
    }
    // A payment needs its own authentication, linked to it: the remembered login is not used.
    let payment = t.payment_consent(&h, "10.50").await;
    let params = t.fapi2_params_with_scope(&payment, "openid payments");
    let ia = t.open_in(&h, &mut b, &params).await;
    let page = b.get(&ia).await;
    assert!(
        page.body.contains("name=\"password\""),
        "a payment is authenticated anew: {}",
        page.body
    );
    // OB CEG: the amount, currency and payee are on the authentication screen, and the PSU is
    // told the TPP does not see the login details.
    for shown in ["£10.50", "ACME Inc", "will not see your login details"] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    let consent_id = t.consent(&h).await;
    let mut params = t.fapi2_params(&consent_id);
    params.push(("prompt".into(), "none".into()));
    let pushed = t.push(&h, &params).await;
    let page = b
        .get(&format!(
            "/authorize?client_id=tpp-sso&request_uri={}",
            urlenc(pushed.2["request_uri"].as_str().unwrap())
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        response_params(&page.location())["error"],
        "consent_required"
    );
}
both_backends!(az_6_session_is_remembered, az_6_session_is_remembered_on_postgres => az_6_session_is_remembered_case);

/// AZ-5, AZ-6 for a payment: a domestic-payment consent needs the `payments` scope, and the PSU
/// picks the account to pay from; an `accounts` request for it is refused to the client.
async fn az_5_payment_consent_journey_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-pisp", None).await;
    let consent_id = t.payment_consent(&h, "10.50").await;
    let (user, password, accounts, _) = psu(&h, "payer").await;
    // Wrong scope for the consent's kind.
    let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
    let mut b = Browser::new(&h);
    let page = b
        .get(&format!(
            "/authorize?client_id=tpp-pisp&request_uri={}",
            urlenc(pushed.2["request_uri"].as_str().unwrap())
        ))
        .await;
    assert_eq!(response_params(&page.location())["error"], "invalid_scope");
    let params = t.fapi2_params_with_scope(&consent_id, "openid payments");
    let pushed = t.push(&h, &params).await;
    let ia = b
        .start(&[
            ("client_id", "tpp-pisp"),
            ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
        ])
        .await;
    b.login(&ia, &user, &password).await;
    let page = b.get(&ia).await;
    assert!(page.body.contains("£10.50"), "{}", page.body);
    assert!(page.body.contains("type=\"radio\""));
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    let code = response_params(&done.location())["code"].clone();
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert_eq!(
        jwt_parts(tokens.2["access_token"].as_str().unwrap()).1["scope"],
        "openid payments"
    );
    assert_eq!(
        h.store
            .get_consent(&consent_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "Authorised"
    );
}
both_backends!(az_5_payment_consent_journey, az_5_payment_consent_journey_on_postgres => az_5_payment_consent_journey_case);

/// ob_reauthentication (OB fidelity 5): an Authorised account-access consent is authorised
/// again by its PSU with the same ConsentId: the new code gives new tokens, the selected
/// accounts are replaced, the consent stays Authorised; declining a re-authentication leaves
/// it as it was; another customer cannot re-authorise it.
async fn ob_reauthentication_keeps_the_consent_id_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-reauth", None).await;
    let consent_id = t.consent(&h).await;
    let (user, password, accounts, subject) = psu(&h, "reauth-alex").await;
    let (status, first) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[0])).await;
    assert_eq!(status, 303);
    let first_tokens = t.exchange(&h, &first["code"]).await;
    assert_eq!(first_tokens.0, 200, "{:?}", first_tokens.2);

    // Re-authentication: the same consent, another account.
    let (status, again) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[1])).await;
    assert_eq!(status, 303);
    assert!(again.contains_key("code"), "{again:?}");
    let tokens = t.exchange(&h, &again["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let (_, at) = jwt_parts(tokens.2["access_token"].as_str().unwrap());
    assert_eq!(at["consent_id"], consent_id.as_str());
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.selected_accounts, vec![accounts[1].clone()]);
    assert_eq!(stored.psu_id.as_deref(), Some(subject.as_str()));
    let history = h.store.consent_history(&consent_id).await.unwrap();
    assert_eq!(
        history.last().unwrap().reason.as_deref(),
        Some("re-authorised by the PSU")
    );

    // Declined: access_denied to the TPP, the consent unchanged.
    let (status, declined) = authorise_once(&h, &t, &consent_id, &user, &password, None).await;
    assert_eq!(status, 303);
    assert_eq!(declined["error"], "access_denied");
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "Authorised");
    assert_eq!(stored.selected_accounts, vec![accounts[1].clone()]);

    // Another customer cannot take the consent over.
    let (other, other_pw, other_accounts, _) = psu(&h, "reauth-mallory").await;
    let (status, _) = authorise_once(
        &h,
        &t,
        &consent_id,
        &other,
        &other_pw,
        Some(&other_accounts[0]),
    )
    .await;
    assert_eq!(status, 400, "another PSU's re-authentication is refused");
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.psu_id.as_deref(), Some(subject.as_str()));
    assert_eq!(stored.selected_accounts, vec![accounts[1].clone()]);
}
both_backends!(ob_reauthentication_keeps_the_consent_id, ob_reauthentication_keeps_the_consent_id_on_postgres => ob_reauthentication_keeps_the_consent_id_case);

/// AZ-6 / OB CEG: a consent withdrawn by its TPP while the PSU is on our pages sends the PSU
/// back to the TPP with `access_denied` (state and `iss` included), on the page and on the
/// decision, instead of stranding them on an error page; nothing is authorised. That answer
/// ends the interaction and spends its `request_uri` (RFC 9126 4), as every answer a PSU's
/// step gives the client does: neither the page nor `/authorize` answers the client again.
async fn az_6_a_consent_withdrawn_meanwhile_goes_back_to_the_tpp_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-withdrawn", None).await;
    let (user, password, accounts, _) = psu(&h, "withdrawn").await;
    for on_decision in [false, true] {
        let consent_id = t.consent(&h).await;
        let pushed = t.push(&h, &t.fapi2_params(&consent_id)).await;
        assert_eq!(pushed.0, 201, "{:?}", pushed.2);
        let uri = pushed.2["request_uri"].as_str().unwrap();
        let mut b = Browser::new(&h);
        let ia = b
            .start(&[("client_id", "tpp-withdrawn"), ("request_uri", uri)])
            .await;
        let logged = b.login(&ia, &user, &password).await;
        assert_eq!(logged.status, 303, "{}", logged.body);
        let csrf = b.get(&ia).await.input("csrf");
        let deleted = as_tpp(&h, &t.c, &t.app_token)
            .delete(&format!("{AISP}/{consent_id}"))
            .await;
        assert_eq!(deleted.status, 204);
        let page = if on_decision {
            b.post(
                &format!("{ia}/decision"),
                &[
                    ("csrf", csrf.as_str()),
                    ("decision", "authorise"),
                    ("account", accounts[0].as_str()),
                ],
            )
            .await
        } else {
            b.get(&ia).await
        };
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location();
        assert!(location.starts_with(REDIRECT), "{location}");
        let params = response_params(&location);
        assert_eq!(params["error"], "access_denied");
        assert_eq!(params["iss"], crate::support::ISSUER);
        assert!(params.contains_key("state"));
        assert!(page.ends_interaction(), "{on_decision}");
        let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
        assert_eq!(stored.status, "Rejected");
        assert!(
            !pushed_request_kept(&h, uri).await,
            "{on_decision}: the request_uri is spent with the answer"
        );
        let again = b.get(&ia).await;
        assert_eq!(again.status, 400, "{on_decision}: {}", again.body);
        assert!(again.headers.get("location").is_none());
        let reopened = Browser::new(&h)
            .get(&format!(
                "/authorize?client_id=tpp-withdrawn&request_uri={}",
                urlenc(uri)
            ))
            .await;
        assert_eq!(reopened.status, 400, "{on_decision}: {}", reopened.body);
        assert!(reopened.headers.get("location").is_none());
    }
}
both_backends!(
    az_6_a_consent_withdrawn_meanwhile_goes_back_to_the_tpp,
    az_6_a_consent_withdrawn_meanwhile_goes_back_to_the_tpp_on_postgres
        => az_6_a_consent_withdrawn_meanwhile_goes_back_to_the_tpp_case
);

/// OIDC Core 3.1.2.2 / 5.5.1: a `sub` value requested in `claims` names the only End-User who
/// may answer. Another PSU's login gets no code: `access_denied`, the interaction over, the
/// request_uri spent, nothing remembered, the consent still AwaitingAuthorisation. Another
/// PSU's remembered session is not used for it (`prompt=none`: `login_required`; otherwise the
/// login page). The PSU's own subject, as the client's ID token gives it, is answered; a `sub`
/// asked for without a value changes nothing.
async fn az_5_a_requested_sub_names_the_only_psu_who_may_answer_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-sub", None).await;
    let (user, password, accounts, _) = psu(&h, "sub-psu").await;
    let with_sub = |consent_id: &str, sub: Value| -> Vec<(String, String)> {
        let mut claims = FlowTpp::claims(consent_id);
        claims["id_token"]["sub"] = sub;
        let mut params = t.fapi2_params(consent_id);
        for p in params.iter_mut().filter(|p| p.0 == "claims") {
            p.1 = claims.to_string();
        }
        params
    };
    let push = async |params: &[(String, String)]| -> String {
        let pushed = t.push(&h, params).await;
        assert_eq!(pushed.0, 201, "{:?}", pushed.2);
        pushed.2["request_uri"].as_str().unwrap().to_string()
    };

    // A first journey asks for `sub` without a value: the PSU's subject, from the ID token.
    let mut b = Browser::new(&h);
    let first = t.consent(&h).await;
    let ia = t
        .open_in(&h, &mut b, &with_sub(&first, json!({"essential": true})))
        .await;
    assert_eq!(b.login(&ia, &user, &password).await.status, 303);
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let tokens = t
        .exchange(&h, &response_params(&done.location())["code"])
        .await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let (_, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    let sub = id["sub"].as_str().unwrap().to_string();

    // Someone else is named: the PSU logs in, and the client is told access_denied.
    let consent_id = t.consent(&h).await;
    let uri = push(&with_sub(&consent_id, json!({"value": "someone-else"}))).await;
    let mut fresh = Browser::new(&h);
    let ia = fresh
        .start(&[("client_id", "tpp-sub"), ("request_uri", &uri)])
        .await;
    let refused = fresh.login(&ia, &user, &password).await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    assert!(
        refused.location().starts_with(REDIRECT),
        "{}",
        refused.location()
    );
    let params = response_params(&refused.location());
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["iss"], crate::support::ISSUER);
    assert!(!params.contains_key("code"));
    assert!(refused.ends_interaction());
    assert!(
        !refused
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-bulwark_session=")),
        "no session is remembered"
    );
    assert!(
        !pushed_request_kept(&h, &uri).await,
        "the request_uri is spent"
    );
    assert_eq!(fresh.get(&ia).await.status, 400, "the interaction is over");
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");

    // The PSU's remembered session (browser `b`) does not answer for someone else.
    let mut silent = with_sub(&consent_id, json!({"value": "someone-else"}));
    silent.push(("prompt".into(), "none".into()));
    let uri = push(&silent).await;
    let page = b
        .get(&format!(
            "/authorize?client_id=tpp-sub&request_uri={}",
            urlenc(&uri)
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(response_params(&page.location())["error"], "login_required");
    let ia = t
        .open_in(
            &h,
            &mut b,
            &with_sub(&consent_id, json!({"value": "someone-else"})),
        )
        .await;
    let page = b.get(&ia).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);

    // The PSU's own subject: the remembered session serves it, and a code is issued.
    let ia = t
        .open_in(
            &h,
            &mut b,
            &with_sub(&consent_id, json!({"value": sub, "essential": true})),
        )
        .await;
    let page = b.get(&ia).await;
    assert!(page.body.contains("value=\"authorise\""), "{}", page.body);
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let tokens = t
        .exchange(&h, &response_params(&done.location())["code"])
        .await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let (_, id) = jwt_parts(tokens.2["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], sub.as_str());
}
both_backends!(
    az_5_a_requested_sub_names_the_only_psu_who_may_answer,
    az_5_a_requested_sub_names_the_only_psu_who_may_answer_on_postgres
        => az_5_a_requested_sub_names_the_only_psu_who_may_answer_case
);

/// OB CEG: the pages name the TPP by its trading name and, when an agent acts for it (the
/// SSA's `software_on_behalf_of_org`, per OB's guidance), the agent too.
#[tokio::test]
async fn az_6_the_pages_name_the_tpp_and_whom_it_acts_for() {
    let h = Harness::start(|_| {}).await;
    let t = FlowTpp::register_full(
        &h,
        "tpp-agent",
        None,
        REDIRECT,
        serde_json::json!({"software_on_behalf_of_org": "Acme Retail Ltd"}),
        Vec::new(),
    )
    .await;
    let consent_id = t.consent(&h).await;
    let (mut b, ia) = t.start_in_browser(&h, &t.fapi2_params(&consent_id)).await;
    let page = b.get(&ia).await;
    assert!(
        page.body
            .contains("tpp-agent Money App (agent: Acme Retail Ltd)"),
        "{}",
        page.body
    );
}

/// AZ-6 / OB CEG: Cancel on the login page (the decision form's `deny` before anyone logged
/// in) sends the customer back to the TPP with `access_denied`, state and `iss`, and leaves
/// the consent as it was (nobody is authenticated); it needs the page's CSRF token; the login
/// page's `form-action` allows the TPP's origin, where Cancel's redirect goes.
async fn az_6_cancel_before_logging_in_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-cancel", None).await;
    let consent_id = t.consent(&h).await;
    let (mut b, ia) = t.start_in_browser(&h, &t.fapi2_params(&consent_id)).await;
    let page = b.get(&ia).await;
    assert!(page.body.contains("value=\"deny\""), "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://tpp.example"),
        "{csp}"
    );
    let forged = b
        .post(&format!("{ia}/decision"), &[("decision", "deny")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    // Authorise is no cancel: without a login it is refused.
    let authorise = b
        .post(
            &format!("{ia}/decision"),
            &[
                ("csrf", page.input("csrf").as_str()),
                ("decision", "authorise"),
            ],
        )
        .await;
    assert_eq!(authorise.status, 403, "{}", authorise.body);
    let cancelled = b
        .post(
            &format!("{ia}/decision"),
            &[("csrf", page.input("csrf").as_str()), ("decision", "deny")],
        )
        .await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    let params = response_params(&cancelled.location());
    assert!(cancelled.location().starts_with(REDIRECT));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["iss"], crate::support::ISSUER);
    let stored = h.store.get_consent(&consent_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "AwaitingAuthorisation");
}
both_backends!(
    az_6_cancel_before_logging_in,
    az_6_cancel_before_logging_in_on_postgres => az_6_cancel_before_logging_in_case
);

/// Whether the pushed request `uri` is still stored (usable), as a refusal leaves it and an
/// answer spends it.
async fn pushed_request_kept(h: &Harness, uri: &str) -> bool {
    h.store
        .get_pushed_request(uri, h.clock_now())
        .await
        .unwrap()
        .is_some()
}
