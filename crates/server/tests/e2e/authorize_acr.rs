//! AZ-5 / OIDC Core 5.5.1.1: the essential `acr` a TPP asks for (the OB security profile asks
//! for `urn:openbanking:psd2:sca`) is what the PSU's login must reach. A remembered login below
//! it is not reused: the PSU logs in again. A login below it is refused with `access_denied`
//! (the demo directory's logins always reach SCA; a bank's directory plugged in here does
//! not).

use std::sync::Arc;

use async_trait::async_trait;
use bulwark_authz::{Account, AccountDirectory, AuthzError, Psu, PsuDirectory};
use bulwark_store::{AuthorizationStore, PsuSession};
use serde_json::json;

use crate::support::journey::{Browser, FlowTpp, Page, psu, response_params};
use crate::support::{Harness, both_backends};

const CA: &str = "urn:openbanking:psd2:ca";

/// A remembered login of `subject` that reached `acr`; returns its cookie value.
async fn remembered_login(h: &Harness, subject: &str, acr: &str) -> String {
    let secret = bulwark_core::random::token(32);
    h.store
        .insert_psu_session(&PsuSession {
            session_hash: bulwark_token::secret_hash(&secret),
            subject: subject.into(),
            display_name: "Alex Customer".into(),
            auth_time: h.clock_now(),
            acr: acr.into(),
            expires_at: h.clock_now() + 3600,
        })
        .await
        .unwrap();
    secret
}

/// Pushes `params`, follows `/authorize` with the session cookie, returns the first page.
async fn first_page(h: &Harness, t: &FlowTpp, params: &[(String, String)], session: &str) -> Page {
    let pushed = t.push(h, params).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let mut b = Browser::new(h);
    b.set_cookie("__Host-bulwark_session", session, "/");
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &uri)])
        .await;
    let page = b.get(&ia).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

async fn az_5_a_remembered_login_below_the_essential_acr_is_not_reused_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-acr", None).await;
    let (_, _, _, subject) = psu(&h, "alex").await;
    let session = remembered_login(&h, &subject, CA).await;

    // The OB claims request makes SCA essential: the login page, not the consent page.
    let consent = t.consent(&h).await;
    let page = first_page(&h, &t, &t.fapi2_params(&consent), &session).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    assert!(!page.body.contains("value=\"authorise\""), "{}", page.body);

    // The same remembered login answers a request without an essential acr: the consent page.
    let consent = t.consent(&h).await;
    let mut params = t.fapi2_params(&consent);
    for (k, v) in params.iter_mut() {
        if k == "claims" {
            *v = json!({"id_token": {"openbanking_intent_id": {"value": consent, "essential": true}}})
                .to_string();
        }
    }
    let page = first_page(&h, &t, &params, &session).await;
    assert!(page.body.contains("value=\"authorise\""), "{}", page.body);
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
}

both_backends!(
    az_5_a_remembered_login_below_the_essential_acr_is_not_reused,
    az_5_a_remembered_login_below_the_essential_acr_is_not_reused_on_postgres
        => az_5_a_remembered_login_below_the_essential_acr_is_not_reused_case
);

/// A bank's directory whose password logins reach only `urn:openbanking:psd2:ca` (no second
/// factor): one customer, `casey` / `correct horse`, with one account.
struct PasswordOnlyBank;

const CASEY: &str = "psu-casey";

#[async_trait]
impl PsuDirectory for PasswordOnlyBank {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Psu>, AuthzError> {
        Ok(
            (username == "casey" && password == "correct horse").then(|| Psu {
                subject: CASEY.into(),
                display_name: "Casey Customer".into(),
                acr: CA.into(),
            }),
        )
    }

    async fn find(&self, subject: &str) -> Result<Option<Psu>, AuthzError> {
        Ok((subject == CASEY).then(|| Psu {
            subject: CASEY.into(),
            display_name: "Casey Customer".into(),
            acr: CA.into(),
        }))
    }
}

#[async_trait]
impl AccountDirectory for PasswordOnlyBank {
    async fn accounts(&self, _subject: &str) -> Result<Vec<Account>, AuthzError> {
        Ok(vec![Account {
            id: "casey-1".into(),
            name: "Current account".into(),
            scheme: "UK.OBIE.SortCodeAccountNumber".into(),
            identification: "40414212345678".into(),
            currency: "GBP".into(),
        }])
    }
}

/// FAPI conformance `fapi1-advanced-final-test-essential-acr-sca-claim` /
/// `fapi2-security-profile-final-test-essential-acr-sca-claim`: a login that cannot reach the
/// essential SCA is refused to the client with `access_denied` (the only error the modules
/// accept), `state` and `iss` with it; nothing is remembered, no code is issued and the
/// consent still awaits authorisation.
#[tokio::test]
async fn az_5_a_login_below_the_essential_acr_is_access_denied() {
    let bank = Arc::new(PasswordOnlyBank);
    let h = Harness::start_with_bank(
        bulwark_server::BankSystems {
            directories: Some(bulwark_server::Directories {
                psus: bank.clone(),
                accounts: bank,
            }),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let t = FlowTpp::register(&h, "tpp-acr", None).await;
    let consent = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &uri)])
        .await;
    let refused = b.login(&ia, "casey", "correct horse").await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    let location = refused.location();
    assert!(location.starts_with(&t.redirect), "{location}");
    let params = response_params(&location);
    assert_eq!(params["error"], "access_denied", "{location}");
    assert_eq!(params["state"], "af0ifjsldkj");
    assert_eq!(params["iss"], crate::support::ISSUER);
    assert!(!params.contains_key("code"), "{location}");
    assert!(
        !refused.headers.get_all("set-cookie").iter().any(|c| c
            .to_str()
            .unwrap_or("")
            .starts_with("__Host-bulwark_session=")
            && !c.to_str().unwrap_or("").contains("Max-Age=0")),
        "no login is remembered"
    );
    assert!(refused.ends_interaction(), "the interaction is over");
    // RFC 9126 4: the request is spent with its answer; its request_uri opens nothing.
    let reopened = crate::support::journey::Browser::new(&h)
        .get(&format!(
            "/authorize?client_id={}&request_uri={}",
            t.c.id,
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(reopened.status, 400, "{}", reopened.body);
    let stored = bulwark_store::ConsentStore::get_consent(&h.store, &consent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.as_str(), "AwaitingAuthorisation");

    // The same directory's login passes a request that does not make SCA essential.
    let consent = t.consent(&h).await;
    let mut params = t.fapi2_params(&consent);
    for (k, v) in params.iter_mut() {
        if k == "claims" {
            *v = json!({"id_token": {"openbanking_intent_id": {"value": consent, "essential": true}}})
                .to_string();
        }
    }
    let pushed = t.push(&h, &params).await;
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &uri)])
        .await;
    let logged = b.login(&ia, "casey", "correct horse").await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let done = b.decide(&ia, "authorise", &["casey-1"]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(response_params(&done.location()).contains_key("code"));
}

/// The journey on `h` for an existing PSU up to the tokens; returns the ID token's `sub`.
async fn pairwise_sub_on(h: &Harness, t: &FlowTpp, user: &str, password: &str) -> String {
    let consent = t.consent(h).await;
    let pushed = t.push(h, &t.fapi2_params(&consent)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let mut b = Browser::new(h);
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &uri)])
        .await;
    assert_eq!(b.login(&ia, user, password).await.status, 303);
    let page = b.get(&ia).await;
    let account = page.accounts()[0].clone();
    let done = b.decide(&ia, "authorise", &[&account]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = response_params(&done.location())["code"].clone();
    let tokens = t.exchange(h, &code).await;
    assert_eq!(tokens.0, 200, "{:?}", tokens.2);
    let (_, id) = crate::support::jwt_parts(tokens.2["id_token"].as_str().unwrap());
    id["sub"].as_str().unwrap().to_string()
}

/// AZ-8: nodes sharing a database give one PSU the same pairwise `sub` (the salt is shared
/// through the database, not generated into each node's data directory), and a node started
/// later, with an empty data directory, keeps it.
#[tokio::test]
async fn az_8_every_node_gives_a_psu_the_same_pairwise_subject() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let pki = Arc::new(crate::support::TestPki::new("PG QTSP"));
    let node = |pki: Arc<crate::support::TestPki>| {
        Harness::start_shared(
            Arc::new(tempfile::tempdir().unwrap()),
            pki,
            Some(db.url.clone()),
            |_| {},
        )
    };
    let a = node(pki.clone()).await;
    let b = node(pki.clone()).await;
    let t = FlowTpp::register(&a, "tpp-nodes", None).await;
    let (user, password, _, subject) = psu(&a, "alex").await;
    let on_a = pairwise_sub_on(&a, &t, &user, &password).await;
    let on_b = pairwise_sub_on(&b, &t, &user, &password).await;
    assert_ne!(on_a, subject, "a pairwise subject, not the PSU's own");
    assert_eq!(on_a, on_b, "the same sub on every node");
    drop(a);
    let c = node(pki).await;
    assert_eq!(pairwise_sub_on(&c, &t, &user, &password).await, on_a);
}

/// AZ-8 upgrade: a `pairwise.salt` an earlier version generated into the data directory is
/// adopted as the shared salt, so an existing installation's PSUs keep their `sub`.
#[tokio::test]
async fn az_8_a_salt_file_from_an_earlier_version_is_adopted() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    std::fs::write(
        dir.path().join("pairwise.salt"),
        "salt-from-an-earlier-version\n",
    )
    .unwrap();
    let h = Harness::start_shared(
        dir,
        Arc::new(crate::support::TestPki::new("Test QTSP Root")),
        None,
        |_| {},
    )
    .await;
    let stored = bulwark_store::KeyStore::shared_secret(&h.store, "pairwise_salt", "other", 0)
        .await
        .unwrap();
    assert_eq!(stored, "salt-from-an-earlier-version");
}
