//! DCR-1..DCR-5 (RFC 7591, RFC 7592, OB DCR v3.3) end to end: a directory key and its JWKS file
//! made in the test, SSAs and TPP-signed registration requests, the software's keys served over
//! https by a real listener, QWACs with qcStatements from the test QTSP, over real mTLS. The
//! conformance-suite DCR modules are named `dcr_*`; the negative cases live in `dcr_errors.rs`,
//! the configuration variants in `dcr_config.rs`, the `Dcr` harness in `support/dcr.rs`.

use bulwark_certs::PspRole;
use bulwark_store::{
    CLIENT_DELETED, ClientStore, ConsentStore, ConsentTransition, FapiCustomer, RegistrationStore,
};
use reqwest::Method;
use serde_json::json;

use crate::support::consents::{AISP, aac_body, as_tpp};
use crate::support::{
    Dcr, ISSUER, PkjClient, Resp, SOFTWARE_ID, assert_oauth_error, introspect, jwt_parts, now,
};

async fn happy_flow(d: &Dcr) {
    let ssa = d.ssa();
    let resp = d
        .register(Some(&d.qwac), &d.sign_request(&d.request_claims(&ssa)))
        .await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
    let body = &resp.2;
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(
        body["registration_client_uri"],
        format!("{ISSUER}/register/{client_id}")
    );
    assert!(body["registration_access_token"].as_str().unwrap().len() >= 43);
    assert_eq!(body["client_id_issued_at"], d.h.clock_now());
    assert_eq!(body["software_id"], SOFTWARE_ID);
    assert_eq!(body["jwks_uri"], d.software_jwks_endpoint.as_str());
    assert_eq!(body["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(body["scope"], "openid accounts payments");
    assert_eq!(body["client_name"], "TPP App");
    assert_eq!(
        body["software_statement"],
        ssa.as_str(),
        "RFC 7591 3.2.1: the SSA is returned unmodified"
    );

    // Stored: active, and the registration access token only as a hash.
    let stored = d.h.store.get_client(client_id).await.unwrap().unwrap();
    assert_eq!(stored.status, bulwark_core::ClientStatus::Active);
    let reg =
        d.h.store
            .get_registration(client_id)
            .await
            .unwrap()
            .unwrap();
    assert_ne!(
        reg.token_hash,
        body["registration_access_token"].as_str().unwrap()
    );

    // Immediately usable: client_credentials, bound to the QWAC.
    let c = d.as_client(client_id);
    let token = c.token(&d.h, &c.assertion(&d.h)).await;
    assert_eq!(token.0, 200, "{:?}", token.2);
    let (_, claims) = jwt_parts(token.2["access_token"].as_str().unwrap());
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        bulwark_certs::x5t_s256(&d.qwac.chain[0])
    );
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["scope"], "accounts payments");

    // As the suite's dcr-happy-flow goes on: a whole authorization-code flow with the new
    // client, then its registration read twice (the same answer) and deleted.
    let t = crate::support::journey::FlowTpp {
        c: d.as_client(client_id),
        app_token: token.2["access_token"].as_str().unwrap().to_string(),
        redirect: "https://tpp.example/cb".into(),
    };
    let (code, _, _) = crate::support::journey::fapi2_code(&d.h, &t, "dcr-psu").await;
    let tokens = t.exchange(&d.h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    assert!(tokens.2["id_token"].is_string());
    let rat = body["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    for _ in 0..2 {
        let read = d
            .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
            .await;
        assert_eq!(read.0, 200, "{:?}", read.2);
        assert!(
            read.1["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb"]));
        assert_eq!(
            read.2["registration_client_uri"],
            body["registration_client_uri"]
        );
        assert_eq!(read.2["registration_access_token"], rat);
    }
    let del = d
        .send(Method::DELETE, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(del.0, 204, "{:?}", del.2);
}

#[tokio::test]
async fn dcr_happy_flow() {
    let d = Dcr::start().await;
    happy_flow(&d).await;
}

#[tokio::test]
async fn dcr_happy_flow_on_postgresql() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let d = Dcr::start_with(Some(db.url.clone()), |_| {}).await;
    happy_flow(&d).await;
}

#[tokio::test]
async fn dcr_3_directory_issued_certificate_matches_org_id_in_ou() {
    let d = Dcr::start().await;
    let cert = d.h.pki.qwac(
        "tpp.example",
        None,
        Some("0015800001041RHAAY"),
        &[PspRole::AccountInformation, PspRole::PaymentInitiation],
    );
    let mut ssa = d.ssa_claims();
    ssa.remove("organisation_competent_authority_claims");
    let body = d.sign_request(&d.request_claims(&d.sign_ssa(&ssa)));
    let resp = d.register(Some(&cert), &body).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
}

#[tokio::test]
async fn dcr_update_client_config() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");

    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 200, "{:?}", read.2);
    assert_eq!(read.1["cache-control"], "no-store");
    assert_eq!(read.2["client_id"], client_id);
    assert_eq!(read.2["registration_access_token"], rat);
    assert_eq!(read.2["scope"], "openid accounts payments");

    // PUT: a full signed re-registration; client_id and token stay.
    let body = d.request_with(|c| {
        c.insert("scope".into(), json!("openid accounts"));
        c.insert("redirect_uris".into(), json!(["https://tpp.example/cb2"]));
        c.insert("client_id".into(), json!(client_id));
    });
    let put = d
        .send(Method::PUT, &path, Some(&d.qwac), Some(rat), Some(&body))
        .await;
    assert_eq!(put.0, 200, "{:?}", put.2);
    assert_eq!(put.2["client_id"], client_id);
    assert_eq!(put.2["scope"], "openid accounts");
    assert_eq!(put.2["client_id_issued_at"], reg["client_id_issued_at"]);
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));
    // The change is in force at the token endpoint at once.
    let c = d.as_client(client_id);
    let token = c.token(&d.h, &c.assertion(&d.h)).await;
    assert_eq!(token.2["scope"], "accounts", "{:?}", token.2);

    // An update breaking a rule changes nothing.
    let bad = d.request_with(|c| {
        c.insert("redirect_uris".into(), json!(["https://evil.example/cb"]));
    });
    let resp = d
        .send(Method::PUT, &path, Some(&d.qwac), Some(rat), Some(&bad))
        .await;
    assert_oauth_error(&resp, 400, "invalid_redirect_uri");
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));
    // Another software's statement may not take the client over.
    let mut ssa = d.ssa_claims();
    ssa.insert("software_id".into(), json!("sw-other"));
    let mut claims = d.request_claims(&d.sign_ssa(&ssa));
    claims.insert("iss".into(), json!("sw-other"));
    let resp = d
        .send(
            Method::PUT,
            &path,
            Some(&d.qwac),
            Some(rat),
            Some(&d.sign_request(&claims)),
        )
        .await;
    assert_oauth_error(&resp, 400, "invalid_client_metadata");
    // RFC 7592 2.2: the request's client_id must be there, and the one in the URL.
    let before = d.h.store.get_client(client_id).await.unwrap().unwrap();
    let other = d.request_with(|c| {
        c.insert("client_id".into(), json!("another-client"));
        c.insert("redirect_uris".into(), json!(["https://tpp.example/cb"]));
    });
    let without = d.request_with(|c| {
        c.insert("redirect_uris".into(), json!(["https://tpp.example/cb"]));
    });
    for body in [other, without] {
        let resp = d
            .send(Method::PUT, &path, Some(&d.qwac), Some(rat), Some(&body))
            .await;
        assert_oauth_error(&resp, 400, "invalid_client_metadata");
    }
    let after = d.h.store.get_client(client_id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap(),
        "nothing changed"
    );
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));

    // The module's refused updates (FAPI1AdvancedFinalBrazilDCRUpdateClientConfig): no or an
    // untrusted certificate, a wrong token, no software statement, a statement whose
    // signature is broken; the registration is left as it was.
    let update = d.request_with(|c| {
        c.insert("redirect_uris".into(), json!(["https://tpp.example/cb3"]));
    });
    let untrusted = crate::support::Identity::self_made("tpp.example");
    for (id, token) in [
        (None, rat),
        (Some(&untrusted), rat),
        (Some(&d.qwac), "wrong"),
    ] {
        let resp = d
            .send(Method::PUT, &path, id, Some(token), Some(&update))
            .await;
        assert_eq!(resp.0, 401, "{:?}", resp.2);
        assert_eq!(resp.2["error"], "invalid_token");
    }
    let no_ssa = d.request_with(|c| {
        c.remove("software_statement");
    });
    let broken_ssa = {
        let ssa = d.ssa();
        let (head, sig) = ssa.rsplit_once('.').unwrap();
        let mut sig = sig.to_string().into_bytes();
        sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
        let broken = format!("{head}.{}", String::from_utf8(sig).unwrap());
        d.sign_request(&d.request_claims(&broken))
    };
    for body in [no_ssa, broken_ssa] {
        let resp = d
            .send(Method::PUT, &path, Some(&d.qwac), Some(rat), Some(&body))
            .await;
        assert_oauth_error(&resp, 400, "invalid_software_statement");
    }
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));
}

#[tokio::test]
async fn dcr_client_delete_op_6_ends_its_consents_and_tokens_with_one_audit_row() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    let c = d.as_client(client_id);
    let access_token = c.token(&d.h, &c.assertion(&d.h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rs = PkjClient::register(&d.h, "resource-server", "").await;
    let mut meta =
        d.h.store
            .get_client("resource-server")
            .await
            .unwrap()
            .unwrap()
            .metadata;
    meta.resource_server = true;
    d.h.store
        .update_client_metadata("resource-server", &meta, now())
        .await
        .unwrap();
    assert_eq!(introspect(&d.h, &rs, &access_token).await["active"], true);
    // Two consents of the client: one awaiting authorisation, one its PSU authorised.
    let tpp = as_tpp(&d.h, &c, &access_token);
    let mut consent_ids = Vec::new();
    for _ in 0..2 {
        let created = tpp.post(AISP, &aac_body(), &[]).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        consent_ids.push(
            created.body["Data"]["ConsentId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let authorised = ConsentTransition {
        consent_id: consent_ids[1].clone(),
        from_status: "AwaitingAuthorisation".into(),
        to_status: "Authorised".into(),
        at: now(),
        psu_id: Some("psu-1".into()),
        selected_accounts: Some(vec!["acc-1".into()]),
        actor_kind: "PSU".into(),
        actor_id: "psu-1".into(),
        reason: None,
        customer: FapiCustomer::default(),
        grant_generation: None,
    };
    assert!(d.h.store.transition_consent(&authorised).await.unwrap());

    let del = d
        .send(Method::DELETE, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(del.0, 204, "{:?}", del.2);
    // RFC 7592 2.3: its consents ended with it, audited as its own act.
    for (id, status) in consent_ids.iter().zip(["Rejected", "Revoked"]) {
        let consent = d.h.store.get_consent(id).await.unwrap().unwrap();
        assert_eq!(consent.status, status);
        let last = d.h.store.consent_history(id).await.unwrap().pop().unwrap();
        assert_eq!(
            (
                last.actor_kind.as_str(),
                last.actor_id.as_str(),
                last.reason.as_deref()
            ),
            ("TPP", client_id, Some(CLIENT_DELETED))
        );
    }
    assert!(d.h.store.get_client(client_id).await.unwrap().is_none());
    assert!(
        d.h.store
            .get_registration(client_id)
            .await
            .unwrap()
            .is_none()
    );

    // The registration access token, the client and its tokens are gone.
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 401);
    assert_eq!(read.2["error"], "invalid_token");
    let again = d
        .send(Method::DELETE, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(again.0, 401);
    // OP-6: the deletion's row is in the trail once, written by its transaction (the log
    // line's copy is not appended again). The trail's writer keeps order, so once the two
    // refusals logged after the deletion (the GET and the second DELETE) are there, a second
    // copy would be too.
    crate::support::staff::audit_rows(
        &d.h,
        |e| e.action == "registration request refused" && e.actor_id == client_id,
        2,
    )
    .await;
    let deleted = crate::support::staff::audit_rows(
        &d.h,
        |e| e.action == bulwark_dcr::service::CLIENT_DELETED_ACTION,
        1,
    )
    .await;
    assert_eq!(
        deleted
            .iter()
            .map(|e| (
                e.actor_kind.as_str(),
                e.actor_id.as_str(),
                e.subject.as_deref(),
                e.reason.as_deref()
            ))
            .collect::<Vec<_>>(),
        [("TPP", client_id, Some(client_id), Some(CLIENT_DELETED))]
    );
    assert_oauth_error(
        &c.token(&d.h, &c.assertion(&d.h)).await,
        401,
        "invalid_client",
    );
    assert_eq!(
        introspect(&d.h, &rs, &access_token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn dcr_invalid_registration_access_token() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    let expect_401 = |resp: Resp| {
        assert_eq!(resp.0, 401, "{:?}", resp.2);
        assert_eq!(resp.2["error"], "invalid_token");
        assert_eq!(resp.1["cache-control"], "no-store");
        assert!(
            resp.1["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{:?}",
            resp.1
        );
    };
    for method in [Method::GET, Method::DELETE] {
        expect_401(
            d.send(method.clone(), &path, Some(&d.qwac), Some("wrong"), None)
                .await,
        );
        expect_401(
            d.send(method.clone(), &path, Some(&d.qwac), None, None)
                .await,
        );
        // The right token for another client id.
        expect_401(
            d.send(
                method.clone(),
                "/register/someone-else",
                Some(&d.qwac),
                Some(rat),
                None,
            )
            .await,
        );
        // The right token without the organisation's certificate, or with another one's.
        expect_401(d.send(method.clone(), &path, None, Some(rat), None).await);
        let other = d.h.pki.qwac(
            "other.example",
            Some("PSDGB-FCA-999999"),
            None,
            &[PspRole::AccountInformation],
        );
        expect_401(
            d.send(method.clone(), &path, Some(&other), Some(rat), None)
                .await,
        );
    }
    let before = d.h.store.get_client(client_id).await.unwrap().unwrap();
    expect_401(
        d.send(
            Method::PUT,
            &path,
            Some(&d.qwac),
            Some("wrong"),
            Some(&d.request_with(|c| {
                c.insert("redirect_uris".into(), json!(["https://tpp.example/cb2"]));
                c.insert("client_id".into(), json!(client_id));
            })),
        )
        .await,
    );
    // Nothing was deleted or changed: the refused update named other redirect URIs.
    assert_eq!(d.client_count().await, 1);
    let after = d.h.store.get_client(client_id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 200);
    assert_eq!(read.2["redirect_uris"], reg["redirect_uris"]);
}

/// hardening_uk_directory_ssa: the competent-authority forms real directories write, each
/// against a QWAC with organizationIdentifier `PSDGB-FCA-123456`: the UK Open Banking
/// directory's `FCAGBR` + `registration_id`, the nCAId `GB-FCA`, a bare `FCA` with
/// `authorisations[].member_state`, the whole identifier as `registration_id`. A bare NCA with
/// no country is refused (nothing registered), as is another country's authority.
#[tokio::test]
async fn hardening_uk_directory_ssa_authority_forms() {
    let d = Dcr::start().await;
    let accepted = [
        json!({"authority_id": "FCAGBR", "registration_id": "123456", "status": "Active",
               "authorisations": [{"member_state": "GB", "roles": ["AISP", "PISP"]}]}),
        json!({"authority_id": "GB-FCA", "registration_id": "123456", "status": "Active"}),
        json!({"authority_id": "FCA", "registration_id": "123456", "status": "Active",
               "authorisations": [{"member_state": "GB", "roles": ["AISP", "PISP", "CBPII"]}]}),
        json!({"authority_id": "FCAGBR", "registration_id": "PSDGB-FCA-123456", "status": "Active"}),
    ];
    for (i, oca) in accepted.into_iter().enumerate() {
        let mut ssa = d.ssa_claims();
        ssa.insert("software_id".into(), json!(format!("sw-form-{i}")));
        ssa.insert(
            "organisation_competent_authority_claims".into(),
            oca.clone(),
        );
        let mut request = d.request_claims(&d.sign_ssa(&ssa));
        request.insert("iss".into(), json!(format!("sw-form-{i}")));
        let resp = d.register(Some(&d.qwac), &d.sign_request(&request)).await;
        assert_eq!(resp.0, 201, "{oca}: {:?}", resp.2);
    }
    let before = d.h.store.list_clients().await.unwrap().len();
    for oca in [
        json!({"authority_id": "FCA", "registration_id": "123456", "status": "Active"}),
        json!({"authority_id": "CBIIRL", "registration_id": "123456", "status": "Active"}),
    ] {
        let mut ssa = d.ssa_claims();
        ssa.insert(
            "organisation_competent_authority_claims".into(),
            oca.clone(),
        );
        let resp = d
            .register(
                Some(&d.qwac),
                &d.sign_request(&d.request_claims(&d.sign_ssa(&ssa))),
            )
            .await;
        assert_eq!(resp.0, 400, "{oca}: {:?}", resp.2);
        assert_eq!(resp.2["error"], "unapproved_software_statement", "{oca}");
    }
    assert_eq!(d.h.store.list_clients().await.unwrap().len(), before);
}

/// hardening_suspended_client_management: RFC 7592 management by a suspended client is
/// refused (401 invalid_token) and changes nothing; re-activated, it works again.
#[tokio::test]
async fn hardening_suspended_client_cannot_manage_its_registration() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    d.h.store
        .set_client_status(client_id, bulwark_core::ClientStatus::Suspended, now())
        .await
        .unwrap();
    // RFC 7592 2.1-2.3: a valid token of a client that may not manage its registration is
    // 403; nothing is read, changed or deleted.
    let before = d.h.store.get_client(client_id).await.unwrap().unwrap();
    let update = d.request_with(|c| {
        c.insert("redirect_uris".into(), json!(["https://tpp.example/cb2"]));
        c.insert("client_id".into(), json!(client_id));
    });
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(update.as_str())),
        (Method::DELETE, None),
    ] {
        let resp = d
            .send(method.clone(), &path, Some(&d.qwac), Some(rat), body)
            .await;
        assert_oauth_error(&resp, 403, "access_denied");
        assert!(resp.2.get("client_id").is_none(), "{method}: {:?}", resp.2);
    }
    let after = d.h.store.get_client(client_id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap(),
        "nothing changed"
    );
    d.h.store
        .set_client_status(client_id, bulwark_core::ClientStatus::Active, now())
        .await
        .unwrap();
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(rat), None)
        .await;
    assert_eq!(read.0, 200, "{:?}", read.2);
}

/// dcr_4 (suspension holds): while the bank has a client suspended, its software cannot
/// register again, with a fresh request, the same SSA and the same QWAC: 400
/// `unapproved_software_statement`, no client written, and the request's jti unspent (the
/// same request registers once the bank reinstates the client).
#[tokio::test]
async fn dcr_4_no_new_registration_while_a_client_of_the_software_is_suspended() {
    let d = Dcr::start().await;
    let reg = d.registered().await;
    let client_id = reg["client_id"].as_str().unwrap();
    d.h.store
        .set_client_status(client_id, bulwark_core::ClientStatus::Suspended, now())
        .await
        .unwrap();
    let before = d.client_count().await;
    let again = d.request();
    let refused = d.register(Some(&d.qwac), &again).await;
    assert_oauth_error(&refused, 400, "unapproved_software_statement");
    assert!(
        refused.2["error_description"]
            .as_str()
            .unwrap()
            .contains("suspended"),
        "{:?}",
        refused.2
    );
    assert_eq!(d.client_count().await, before);
    d.h.store
        .set_client_status(client_id, bulwark_core::ClientStatus::Active, now())
        .await
        .unwrap();
    let registered = d.register(Some(&d.qwac), &again).await;
    assert_eq!(registered.0, 201, "{:?}", registered.2);
    assert_ne!(registered.2["client_id"], client_id);
}

/// `POST /register` with `content-type` `ct` and `body` over the QWAC.
async fn register_as(d: &Dcr, ct: &str, body: String) -> Resp {
    let resp = crate::support::http_client(&d.h.dev_ca, Some(&d.qwac))
        .post(d.h.url("/register"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or_default())
}

/// OB DCR 3.3 as the OB DCR conformance tool drives it: the registration request as
/// `application/jose` (besides `application/jwt`), a `client_id` in it ignored (the server
/// assigns one), and GET, PUT and DELETE authenticated with a client credentials access
/// token of the client, bound to its certificate ("TPPs must authenticate themselves with a
/// client credentials grant"). A token of another client, or over another certificate, or
/// no token at all, is 401; the registration access token keeps working.
#[tokio::test]
async fn dcr_4_ob_management_with_a_client_credentials_token() {
    let d = Dcr::start().await;
    let reg = register_as(
        &d,
        "application/jose",
        d.request_with(|c| {
            c.insert("client_id".into(), json!("chosen-by-the-tpp"));
        }),
    )
    .await;
    assert_eq!(reg.0, 201, "{:?}", reg.2);
    let client_id = reg.2["client_id"].as_str().unwrap().to_string();
    assert_ne!(client_id, "chosen-by-the-tpp");
    let rat = reg.2["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/register/{client_id}");
    let c = d.as_client(&client_id);
    let token = c.token(&d.h, &c.assertion(&d.h)).await;
    assert_eq!(token.0, 200, "{:?}", token.2);
    let token = token.2["access_token"].as_str().unwrap().to_string();

    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(&token), None)
        .await;
    assert_eq!(read.0, 200, "{:?}", read.2);
    assert_eq!(read.2["client_id"], client_id.as_str());
    assert!(
        read.2.get("registration_access_token").is_none(),
        "only its hash is kept"
    );
    let put = d
        .send(
            Method::PUT,
            &path,
            Some(&d.qwac),
            Some(&token),
            Some(&d.request_with(|c| {
                c.insert("redirect_uris".into(), json!(["https://tpp.example/cb2"]));
                c.insert("client_id".into(), json!(client_id));
            })),
        )
        .await;
    assert_eq!(put.0, 200, "{:?}", put.2);
    assert_eq!(put.2["redirect_uris"], json!(["https://tpp.example/cb2"]));

    // Refused: the token over another certificate, an unsigned JWT-looking bearer, none.
    let (stranger, _) = d.h.pki.client("Stranger Ltd", "stranger", None);
    for (id, bearer) in [
        (&stranger, Some(token.as_str())),
        (&d.qwac, Some("e30.e30.e30")),
        (&d.qwac, None),
    ] {
        let refused = d.send(Method::GET, &path, Some(id), bearer, None).await;
        assert_eq!(refused.0, 401, "{:?}", refused.2);
        assert_eq!(refused.2["error"], "invalid_token");
    }
    // The registration access token still works.
    let read = d
        .send(Method::GET, &path, Some(&d.qwac), Some(&rat), None)
        .await;
    assert_eq!(read.0, 200, "{:?}", read.2);
    assert_eq!(read.2["registration_access_token"], rat.as_str());
    assert_eq!(read.2["redirect_uris"], json!(["https://tpp.example/cb2"]));

    let del = d
        .send(Method::DELETE, &path, Some(&d.qwac), Some(&token), None)
        .await;
    assert_eq!(del.0, 204, "{:?}", del.2);
    assert!(d.h.store.get_client(&client_id).await.unwrap().is_none());
    let gone = d
        .send(Method::GET, &path, Some(&d.qwac), Some(&token), None)
        .await;
    assert_eq!(gone.0, 401, "{:?}", gone.2);
}

/// OB DCR 3.3 management: a client credentials token manages only the client it was issued
/// to, even over the same organisation's certificate.
#[tokio::test]
async fn dcr_4_a_client_credentials_token_manages_only_its_own_client() {
    let d = Dcr::start().await;
    let a = d.registered().await;
    let b = d.registered().await;
    let a_id = a["client_id"].as_str().unwrap();
    let b_id = b["client_id"].as_str().unwrap();
    assert_ne!(a_id, b_id);
    let c = d.as_client(a_id);
    let token = c.token(&d.h, &c.assertion(&d.h)).await;
    assert_eq!(token.0, 200, "{:?}", token.2);
    let token = token.2["access_token"].as_str().unwrap().to_string();
    let path = format!("/register/{b_id}");
    for method in [Method::GET, Method::DELETE] {
        let refused = d
            .send(method.clone(), &path, Some(&d.qwac), Some(&token), None)
            .await;
        assert_eq!(refused.0, 401, "{method}: {:?}", refused.2);
        assert_eq!(refused.2["error"], "invalid_token");
    }
    let before = d.h.store.get_client(b_id).await.unwrap().unwrap();
    let put = d
        .send(
            Method::PUT,
            &path,
            Some(&d.qwac),
            Some(&token),
            Some(&d.request_with(|c| {
                c.insert("redirect_uris".into(), json!(["https://tpp.example/cb2"]));
                c.insert("client_id".into(), json!(b_id));
            })),
        )
        .await;
    assert_eq!(put.0, 401, "{:?}", put.2);
    assert_eq!(put.2["error"], "invalid_token");
    // B untouched: the refused update named other redirect URIs.
    let after = d.h.store.get_client(b_id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap(),
        "B untouched"
    );
}
