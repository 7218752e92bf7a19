//! TK-3 with rotation on (`tokens.rotate_refresh_tokens = true`; off by default, tested in
//! `authorize.rs`): each refresh answers a new refresh token; the one it used stays usable
//! until the new one is first used (FAPI 2.0 SP 5.3.2.1: a client that lost the response
//! retries), then retires and is refused; access tokens stay bound to the consent. A
//! reused code revokes the refresh tokens it was rotated into too. Revoking a refresh token
//! revokes the access tokens of its grant (RFC 7009 2.1).

use bulwark_certs::PspRole;
use serde_json::json;

use crate::support::journey::{FlowTpp, authorise_once, fapi2_code, psu};
use crate::support::{BEARER, Harness, assert_oauth_error, both_backends, introspect, jwt_parts};

fn rotation_on(c: &mut bulwark_server::config::Config) {
    c.tokens.rotate_refresh_tokens = true;
}

async fn refresh(h: &Harness, t: &FlowTpp, token: &str) -> crate::support::Resp {
    t.token(
        h,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// A refresh asking for `scope`.
async fn refresh_scoped(
    h: &Harness,
    t: &FlowTpp,
    token: &str,
    scope: &str,
) -> crate::support::Resp {
    t.token(
        h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("scope", scope),
        ],
    )
    .await
}

async fn tk_3_rotated_refresh_tokens_are_single_use_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-rotate", None).await;
    let (code, consent_id, _) = fapi2_code(&h, &t, "rotation").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let first = tokens.2["refresh_token"].as_str().unwrap().to_string();

    let once = refresh(&h, &t, &first).await;
    assert_eq!(once.0, 200, "{:?}", once.2);
    let second = once.2["refresh_token"]
        .as_str()
        .expect("rotation answers a new refresh token")
        .to_string();
    assert_ne!(second, first);
    assert_eq!(
        jwt_parts(once.2["access_token"].as_str().unwrap()).1["consent_id"],
        consent_id.as_str()
    );

    // FAPI 2.0 SP 5.3.2.1: the response with `second` was lost; the client retries with
    // `first`, which works, and the lost `second` (never used) retires instead.
    let retried = refresh(&h, &t, &first).await;
    assert_eq!(retried.0, 200, "{:?}", retried.2);
    let second_again = retried.2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_again, second);
    assert_oauth_error(&refresh(&h, &t, &second).await, 400, "invalid_grant");

    // The new one's first use retires the one before it; it rotates again in turn.
    let twice = refresh(&h, &t, &second_again).await;
    assert_eq!(twice.0, 200, "{:?}", twice.2);
    let third = twice.2["refresh_token"].as_str().unwrap();
    assert_ne!(third, second_again);
    assert_oauth_error(&refresh(&h, &t, &first).await, 400, "invalid_grant");
    // `second_again` is the one `third` replaces: usable until `third` is used.
    let fourth = refresh(&h, &t, third).await;
    assert_eq!(fourth.0, 200, "{:?}", fourth.2);
    assert_oauth_error(&refresh(&h, &t, &second_again).await, 400, "invalid_grant");
}

both_backends!(
    tk_3_rotated_refresh_tokens_are_single_use,
    tk_3_rotated_refresh_tokens_are_single_use_on_postgres
        => tk_3_rotated_refresh_tokens_are_single_use_case,
    tweak = rotation_on
);

/// TK-2 / RFC 6749 10.5 with rotation on: the code's second use revokes what grew from its
/// first, the refresh token it was rotated into included.
async fn tk_2_code_reuse_revokes_rotated_refresh_tokens_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-rotate-reuse", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "rotation-reuse").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let first = tokens.2["refresh_token"].as_str().unwrap().to_string();
    let once = refresh(&h, &t, &first).await;
    assert_eq!(once.0, 200, "{:?}", once.2);
    let second = once.2["refresh_token"].as_str().unwrap().to_string();

    assert_oauth_error(&t.exchange(&h, &code).await, 400, "invalid_grant");
    assert_oauth_error(&refresh(&h, &t, &second).await, 400, "invalid_grant");
}

both_backends!(
    tk_2_code_reuse_revokes_rotated_refresh_tokens,
    tk_2_code_reuse_revokes_rotated_refresh_tokens_on_postgres
        => tk_2_code_reuse_revokes_rotated_refresh_tokens_case,
    tweak = rotation_on
);

/// TK-7 / RFC 7009 2.1 ("the authorization server SHOULD also invalidate all access tokens
/// based on the same authorization grant"): revoking a refresh token makes the access tokens
/// of the code exchange and of every refresh inactive at once, though a refresh wrote no
/// `jti`; the refresh token is refused, and with rotation on, the one it was rotated into
/// too (the revoked token is then the retired one); the client's grant on another consent is
/// untouched.
async fn tk_7_revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant_case(h: Harness) {
    revoking_a_refresh_token(h, false).await;
}

/// As above with rotation on (`rotation`): the refresh hands out a successor, which dies with
/// the grant.
async fn tk_7_revoking_a_retired_refresh_token_revokes_its_grant_with_rotation_case(h: Harness) {
    revoking_a_refresh_token(h, true).await;
}

async fn revoking_a_refresh_token(h: Harness, rotation: bool) {
    let t = FlowTpp::register(&h, "tpp-rt-revoke", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "rt-revoke").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let refresh_token = tokens.2["refresh_token"].as_str().unwrap().to_string();
    let refreshed = refresh(&h, &t, &refresh_token).await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let (other_code, _, _) = fapi2_code(&h, &t, "rt-keep").await;
    let other = t.exchange(&h, &other_code).await;
    assert_eq!(other.0, 200, "{:?}", other.2);
    let revoked = [
        tokens.2["access_token"].as_str().unwrap(),
        refreshed.2["access_token"].as_str().unwrap(),
    ];
    let kept = other.2["access_token"].as_str().unwrap();
    for token in revoked.iter().chain([&kept]) {
        assert_eq!(introspect(&h, &t.c, token).await["active"], true);
    }

    let r = h
        .post(
            Some(&t.c.identity),
            "/revoke",
            &[
                ("token", refresh_token.as_str()),
                ("client_assertion_type", BEARER),
                ("client_assertion", &t.c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(r.0, 200, "{:?}", r.2);
    for token in revoked {
        assert_eq!(
            introspect(&h, &t.c, token).await,
            serde_json::json!({"active": false})
        );
    }
    assert_oauth_error(&refresh(&h, &t, &refresh_token).await, 400, "invalid_grant");
    if rotation {
        let rotated = refreshed.2["refresh_token"]
            .as_str()
            .expect("with rotation on, the refresh hands out a successor");
        assert_ne!(rotated, refresh_token);
        assert_oauth_error(&refresh(&h, &t, rotated).await, 400, "invalid_grant");
    }
    assert_eq!(introspect(&h, &t.c, kept).await["active"], true);
    let still = refresh(&h, &t, other.2["refresh_token"].as_str().unwrap()).await;
    assert_eq!(still.0, 200, "{:?}", still.2);
}

both_backends!(
    tk_7_revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant,
    tk_7_revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant_on_postgres
        => tk_7_revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant_case
);

both_backends!(
    tk_7_revoking_a_retired_refresh_token_revokes_its_grant_with_rotation,
    tk_7_revoking_a_retired_refresh_token_revokes_its_grant_with_rotation_on_postgres
        => tk_7_revoking_a_retired_refresh_token_revokes_its_grant_with_rotation_case,
    tweak = rotation_on
);

/// Authorises `consent_id` once per account of the PSU (a first authorisation, then
/// re-authentications of the same consent, all in the same second) and exchanges each code;
/// the codes and the token responses, oldest first.
async fn authorised_again(
    h: &Harness,
    t: &FlowTpp,
    user: &str,
) -> (Vec<String>, Vec<serde_json::Value>) {
    let consent_id = t.consent(h).await;
    let (user, password, accounts, _) = psu(h, user).await;
    let (mut codes, mut grants) = (Vec::new(), Vec::new());
    for account in &accounts {
        let (status, params) =
            authorise_once(h, t, &consent_id, &user, &password, Some(account)).await;
        assert_eq!(status, 303);
        let tokens = t.exchange(h, &params["code"]).await;
        assert_eq!(tokens.0, 200, "{:?}", tokens.2);
        codes.push(params["code"].clone());
        grants.push(tokens.2);
    }
    (codes, grants)
}

/// TK-7 / RFC 7009 2.1 with a re-authentication (CO-5): the grant a refresh token belongs to
/// is its code's grant generation. The TPP revoking the refresh token of a consent's first
/// authorisation, after its PSU authorised the consent again in the same second, revokes the
/// first grant's tokens and refresh token only: the second grant's access token stays active
/// and its refresh token keeps working, though every token was issued within the clock skew.
async fn tk_7_revoking_a_refresh_token_leaves_a_later_re_authentications_grant_case(h: Harness) {
    revoking_an_earlier_grant(h, false).await;
}

/// As above with rotation on: the later grant's refresh token, rotated before the revocation,
/// hands its generation to its successor, which keeps working.
async fn tk_7_a_rotated_refresh_token_keeps_its_grant_generation_case(h: Harness) {
    revoking_an_earlier_grant(h, true).await;
}

async fn revoking_an_earlier_grant(h: Harness, rotation: bool) {
    let t = FlowTpp::register(&h, "tpp-rt-generations", None).await;
    let (_, grants) = authorised_again(&h, &t, "rt-generations").await;
    let (first, second) = (&grants[0], &grants[1]);
    let mut later_refresh = second["refresh_token"].as_str().unwrap().to_string();
    if rotation {
        let rotated = refresh(&h, &t, &later_refresh).await;
        assert_eq!(rotated.0, 200, "{:?}", rotated.2);
        later_refresh = rotated.2["refresh_token"].as_str().unwrap().to_string();
    }
    let r = h
        .post(
            Some(&t.c.identity),
            "/revoke",
            &[
                ("token", first["refresh_token"].as_str().unwrap()),
                ("client_assertion_type", BEARER),
                ("client_assertion", &t.c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(r.0, 200, "{:?}", r.2);
    let first_access = first["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, first_access).await["active"], false);
    assert_oauth_error(
        &refresh(&h, &t, first["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    );
    let second_access = second["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, second_access).await["active"], true);
    let refreshed = refresh(&h, &t, &later_refresh).await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let refreshed_access = refreshed.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, refreshed_access).await["active"], true);
}

both_backends!(
    tk_7_revoking_a_refresh_token_leaves_a_later_re_authentications_grant,
    tk_7_revoking_a_refresh_token_leaves_a_later_re_authentications_grant_on_postgres
        => tk_7_revoking_a_refresh_token_leaves_a_later_re_authentications_grant_case
);

both_backends!(
    tk_7_a_rotated_refresh_token_keeps_its_grant_generation,
    tk_7_a_rotated_refresh_token_keeps_its_grant_generation_on_postgres
        => tk_7_a_rotated_refresh_token_keeps_its_grant_generation_case,
    tweak = rotation_on
);

/// TK-2 / RFC 6749 4.1.2 with a re-authentication (CO-5): a second use of a code revokes the
/// grant generation it opened and the consent's earlier ones. Reusing the first
/// authorisation's code leaves the re-authentication's tokens; reusing the re-authentication's
/// code then ends both.
async fn tk_2_a_reused_code_revokes_its_grant_and_earlier_ones_not_a_later_one_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-reuse-generations", None).await;
    let (codes, grants) = authorised_again(&h, &t, "reuse-generations").await;
    let access = |i: usize| grants[i]["access_token"].as_str().unwrap().to_string();
    let refresh_token = |i: usize| grants[i]["refresh_token"].as_str().unwrap().to_string();

    assert_oauth_error(&t.exchange(&h, &codes[0]).await, 400, "invalid_grant");
    assert_eq!(introspect(&h, &t.c, &access(0)).await["active"], false);
    assert_oauth_error(
        &refresh(&h, &t, &refresh_token(0)).await,
        400,
        "invalid_grant",
    );
    assert_eq!(introspect(&h, &t.c, &access(1)).await["active"], true);
    let later = refresh(&h, &t, &refresh_token(1)).await;
    assert_eq!(later.0, 200, "{:?}", later.2);

    assert_oauth_error(&t.exchange(&h, &codes[1]).await, 400, "invalid_grant");
    assert_eq!(introspect(&h, &t.c, &access(1)).await["active"], false);
    let refreshed = later.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, refreshed).await["active"], false);
    assert_oauth_error(
        &refresh(&h, &t, &refresh_token(1)).await,
        400,
        "invalid_grant",
    );
}

both_backends!(
    tk_2_a_reused_code_revokes_its_grant_and_earlier_ones_not_a_later_one,
    tk_2_a_reused_code_revokes_its_grant_and_earlier_ones_not_a_later_one_on_postgres
        => tk_2_a_reused_code_revokes_its_grant_and_earlier_ones_not_a_later_one_case
);

/// TK-7 / RFC 7009 2.1 (CO-5): revoking a refresh token ends its grant generation and the
/// consent's earlier ones whole: a code of an earlier authorisation not yet exchanged is
/// discarded with them (exchanged after, it would give a refresh token no revocation swept).
async fn tk_7_revoking_a_refresh_token_discards_the_earlier_unexchanged_codes_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-rt-codes", None).await;
    let consent_id = t.consent(&h).await;
    let (user, password, accounts, _) = psu(&h, "rt-codes").await;
    let mut codes = Vec::new();
    for account in &accounts {
        let (status, params) =
            authorise_once(&h, &t, &consent_id, &user, &password, Some(account)).await;
        assert_eq!(status, 303);
        codes.push(params["code"].clone());
    }
    let later = t.exchange(&h, &codes[1]).await;
    assert_eq!(later.0, 200, "{:?}", later.2);
    let r = h
        .post(
            Some(&t.c.identity),
            "/revoke",
            &[
                ("token", later.2["refresh_token"].as_str().unwrap()),
                ("client_assertion_type", BEARER),
                ("client_assertion", &t.c.assertion(&h)),
            ],
        )
        .await;
    assert_eq!(r.0, 200, "{:?}", r.2);
    assert_oauth_error(&t.exchange(&h, &codes[0]).await, 400, "invalid_grant");
    let access = later.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &t.c, access).await["active"], false);
}

both_backends!(
    tk_7_revoking_a_refresh_token_discards_the_earlier_unexchanged_codes,
    tk_7_revoking_a_refresh_token_discards_the_earlier_unexchanged_codes_on_postgres
        => tk_7_revoking_a_refresh_token_discards_the_earlier_unexchanged_codes_case
);

fn short_refresh_tokens(c: &mut bulwark_server::config::Config) {
    c.tokens.refresh_token_lifetime_secs = 120;
}

/// TK-3: a refresh token is good for `tokens.refresh_token_lifetime_secs` from its issue and
/// not a second more: `invalid_grant` at its expiry, and it issues nothing.
async fn tk_3_a_refresh_token_is_refused_from_its_expiry_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-rt-expiry", None).await;
    let (code, _, _) = fapi2_code(&h, &t, "rt-expiry").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let refresh_token = tokens.2["refresh_token"].as_str().unwrap().to_string();
    h.clock.advance(119);
    let last = refresh(&h, &t, &refresh_token).await;
    assert_eq!(last.0, 200, "a second before its expiry: {:?}", last.2);
    h.clock.advance(1);
    let expired = refresh(&h, &t, &refresh_token).await;
    assert_oauth_error(&expired, 400, "invalid_grant");
    assert!(expired.2.get("access_token").is_none(), "{:?}", expired.2);
}

both_backends!(
    tk_3_a_refresh_token_is_refused_from_its_expiry,
    tk_3_a_refresh_token_is_refused_from_its_expiry_on_postgres
        => tk_3_a_refresh_token_is_refused_from_its_expiry_case,
    tweak = short_refresh_tokens
);

/// TK-3 (RFC 6749 6): a refresh may narrow the scope, never empty it (blanks are
/// `invalid_scope`, the refresh token still good; `scope=` is no scope parameter, RFC 6749
/// 3.1); and a consent whose `ExpirationDateTime` passed refuses the refresh (`invalid_grant`)
/// and ends the refresh token in the database at once, though the consent's stored status is
/// still Authorised.
async fn tk_3_an_empty_scope_or_an_expired_consent_refuses_the_refresh_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-rt-consent", None).await;
    let mut body = crate::support::consents::aac_body();
    let expires = time::OffsetDateTime::from_unix_timestamp(h.clock_now() + 30).unwrap();
    body["Data"]["ExpirationDateTime"] = json!(bulwark_consent::format_datetime(expires));
    let consent_id = t.consent_with(&h, &body).await;
    let (user, password, accounts, _) = psu(&h, "rt-consent").await;
    let (status, params) =
        authorise_once(&h, &t, &consent_id, &user, &password, Some(&accounts[0])).await;
    assert_eq!(status, 303);
    let tokens = t.exchange(&h, &params["code"]).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let refresh_token = tokens.2["refresh_token"].as_str().unwrap();
    // RFC 6749 3.1: a parameter sent without a value is as if omitted: the whole scope.
    let omitted = refresh_scoped(&h, &t, refresh_token, "").await;
    assert_eq!(omitted.0, 200, "{:?}", omitted.2);
    assert_eq!(omitted.2["scope"], tokens.2["scope"]);
    for scope in [" ", "	 	"] {
        let empty = refresh_scoped(&h, &t, refresh_token, scope).await;
        assert_oauth_error(&empty, 400, "invalid_scope");
    }
    let narrowed = refresh_scoped(&h, &t, refresh_token, "accounts").await;
    assert_eq!(narrowed.0, 200, "{:?}", narrowed.2);
    assert_eq!(narrowed.2["scope"], "accounts");

    h.clock.advance(31);
    let late = refresh(&h, &t, refresh_token).await;
    assert_oauth_error(&late, 400, "invalid_grant");
    assert!(late.2.get("access_token").is_none(), "{:?}", late.2);
    let stored = bulwark_store::AuthorizationStore::get_refresh_token(
        &h.store,
        &bulwark_token::secret_hash(refresh_token),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(stored.revoked_at.is_some(), "the refresh token is ended");
}

both_backends!(
    tk_3_an_empty_scope_or_an_expired_consent_refuses_the_refresh,
    tk_3_an_empty_scope_or_an_expired_consent_refuses_the_refresh_on_postgres
        => tk_3_an_empty_scope_or_an_expired_consent_refuses_the_refresh_case
);

/// TK-7 / RFC 7009 2.1 ("the authorization server first validates the client credentials ...
/// and then verifies whether the token was issued to the client making the revocation
/// request"): another client presenting a TPP's refresh token at `/revoke` is refused
/// (`unauthorized_client`) and revokes nothing: the TPP's refresh token keeps working and
/// its access token stays active.
async fn tk_7_another_clients_refresh_token_is_not_revoked_case(h: Harness) {
    let owner = FlowTpp::register(&h, "tpp-rt-owner", None).await;
    let other = FlowTpp::register(&h, "tpp-rt-other", None).await;
    let (code, _, _) = fapi2_code(&h, &owner, "rt-owner").await;
    let tokens = owner.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let refresh_token = tokens.2["refresh_token"].as_str().unwrap();
    let r = h
        .post(
            Some(&other.c.identity),
            "/revoke",
            &[
                ("token", refresh_token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &other.c.assertion(&h)),
            ],
        )
        .await;
    assert_oauth_error(&r, 400, "unauthorized_client");
    let access = tokens.2["access_token"].as_str().unwrap();
    assert_eq!(introspect(&h, &owner.c, access).await["active"], true);
    let still = refresh(&h, &owner, refresh_token).await;
    assert_eq!(still.0, 200, "{:?}", still.2);
}

both_backends!(
    tk_7_another_clients_refresh_token_is_not_revoked,
    tk_7_another_clients_refresh_token_is_not_revoked_on_postgres
        => tk_7_another_clients_refresh_token_is_not_revoked_case
);

/// TK-3: the access token a refresh answers is bound to the certificate presented at the
/// refresh: a client that renewed its certificate (another QWAC of its organisation) refreshes
/// over the new one and gets a token that works with it, not with the old one.
async fn tk_3_a_refresh_over_a_renewed_certificate_binds_to_it_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-renewed", None).await;
    let (code, consent_id, _) = fapi2_code(&h, &t, "renewed").await;
    let tokens = t.exchange(&h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let renewed = h.pki.qwac(
        "tpp-renewed-2027",
        Some("PSDGB-FCA-123456"),
        None,
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let assertion = t.c.assertion(&h);
    let refreshed = h
        .post(
            Some(&renewed),
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.2["refresh_token"].as_str().unwrap()),
                ("client_assertion_type", BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{:?}", refreshed.2);
    let (_, at) = jwt_parts(refreshed.2["access_token"].as_str().unwrap());
    let new_thumbprint = bulwark_certs::x5t_s256(&renewed.chain[0]);
    assert_eq!(at["cnf"]["x5t#S256"], new_thumbprint.as_str());
    assert_ne!(
        new_thumbprint,
        bulwark_certs::x5t_s256(&t.c.identity.chain[0])
    );
    assert_eq!(at["consent_id"], consent_id.as_str());
}
both_backends!(
    tk_3_a_refresh_over_a_renewed_certificate_binds_to_it,
    tk_3_a_refresh_over_a_renewed_certificate_binds_to_it_on_postgres
        => tk_3_a_refresh_over_a_renewed_certificate_binds_to_it_case
);
