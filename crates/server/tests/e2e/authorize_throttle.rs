//! AZ-6 through the pages: repeated wrong passwords slow logins down (per user and per
//! address), a login during the wait is refused even with the right password, and the wait
//! ends. (Behind a load balancer the address is the customer's: `bulwark_web::client_address`.)

use crate::support::http::client_tls_config;
use crate::support::journey::{Browser, FlowTpp, psu, urlenc};
use crate::support::{Harness, both_backends};

const WRONG: &str = "The username or password is not right";
const SLOW_DOWN: &str = "Too many attempts";

async fn az_6_repeated_wrong_passwords_slow_logins_down_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-throttle", None).await;
    let (user, password, _, _) = psu(&h, "alex").await;
    let consent = t.consent(&h).await;
    let pushed = t.push(&h, &t.fapi2_params(&consent)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let mut b = Browser::new(&h);
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &uri)])
        .await;

    // The default lets five failures through, each told the same neutral message.
    for _ in 0..5 {
        let page = b.login(&ia, &user, "not-the-password").await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains(WRONG), "{}", page.body);
    }
    // Now even the right password waits, and the page says why.
    let page = b.login(&ia, &user, &password).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains(SLOW_DOWN), "{}", page.body);
    // An unknown user from the same address waits too (per address), with the same message.
    let page = b.login(&ia, "nobody", "whatever").await;
    assert!(page.body.contains(SLOW_DOWN), "{}", page.body);

    // A username no one can have (a NUL in it) is a failed login, not a server error: the
    // address waits for it as for any other.
    let page = b.login(&ia, "al\u{0}ex", "whatever").await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains(SLOW_DOWN), "{}", page.body);

    // The wait ends.
    h.clock.advance(3);
    let page = b.login(&ia, &user, &password).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

both_backends!(
    az_6_repeated_wrong_passwords_slow_logins_down,
    az_6_repeated_wrong_passwords_slow_logins_down_on_postgres
        => az_6_repeated_wrong_passwords_slow_logins_down_case
);

/// AZ-6: failures count per user whatever address they come from: a guesser spreading one
/// wrong password per address over five addresses slows the account down (the right password
/// from a sixth waits), while none of the addresses is slowed down for another customer.
async fn az_6_failures_from_many_addresses_slow_the_user_down_case(h: Harness) {
    let t = FlowTpp::register(&h, "tpp-spread", None).await;
    let (user, password, _, _) = psu(&h, "spread").await;
    let (bystander, bystander_password, _, _) = psu(&h, "bystander").await;
    for host in 2..=6 {
        let (mut b, ia) = login_page_from(&h, &t, [127, 0, 0, host]).await;
        let page = b.login(&ia, &user, "not-the-password").await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains(WRONG), "{}", page.body);
    }
    let (mut b, ia) = login_page_from(&h, &t, [127, 0, 0, 7]).await;
    let page = b.login(&ia, &user, &password).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains(SLOW_DOWN), "{}", page.body);
    let (mut b, ia) = login_page_from(&h, &t, [127, 0, 0, 2]).await;
    let page = b.login(&ia, &bystander, &bystander_password).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

both_backends!(
    az_6_failures_from_many_addresses_slow_the_user_down,
    az_6_failures_from_many_addresses_slow_the_user_down_on_postgres
        => az_6_failures_from_many_addresses_slow_the_user_down_case
);

/// AZ-6: an IPv6 customer counts by its /64, the prefix one host is given: a guesser rotating
/// through the addresses of its own prefix gets the free failures once, not once per address,
/// while the next /64 is another customer. The customers come through a load balancer (so the
/// test can give them any address) to a node over the same database as the one the TPP uses.
#[tokio::test]
async fn az_6_an_ipv6_customer_counts_by_its_64_prefix() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let pki = std::sync::Arc::new(crate::support::TestPki::new("Test QTSP Root"));
    let tpp_side = Harness::start_shared(dir.clone(), pki.clone(), None, |_| {}).await;
    let behind_lb = Harness::start_shared(dir, pki, None, |c| {
        c.mtls.mode = bulwark_certs::MtlsMode::Proxy;
        c.mtls.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    behind_lb
        .clock
        .advance(tpp_side.clock_now() - behind_lb.clock_now());
    let nodes = [&tpp_side, &behind_lb];
    let t = FlowTpp::register(&tpp_side, "tpp-prefix", None).await;
    let (user, password, _, _) = psu(&tpp_side, "prefix").await;
    for host in 1..=5 {
        let address = format!("2001:db8:1:2::{host}");
        let guess = format!("guess{host}");
        let page = login_forwarded_for(nodes, &t, &address, &guess, "nope").await;
        assert_eq!(page.0, 401, "{}", page.1);
        assert!(page.1.contains(WRONG), "{}", page.1);
    }
    let page = login_forwarded_for(nodes, &t, "2001:db8:1:2:ffff::9", &user, &password).await;
    assert_eq!(page.0, 401, "{}", page.1);
    assert!(page.1.contains(SLOW_DOWN), "{}", page.1);
    let page = login_forwarded_for(nodes, &t, "2001:db8:1:3::1", &user, &password).await;
    assert_eq!(page.0, 303, "{}", page.1);
}

/// A login on a new authorization of `t` (pushed to the first node), sent to the second by
/// the trusted proxy in front of it for a customer at `customer` (its `X-Forwarded-For`): the
/// status and the page.
async fn login_forwarded_for(
    [tpp_side, behind_lb]: [&Harness; 2],
    t: &FlowTpp,
    customer: &str,
    username: &str,
    password: &str,
) -> (u16, String) {
    let consent = t.consent(tpp_side).await;
    let pushed = t.push(tpp_side, &t.fapi2_params(&consent)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let mut b = Browser::new(behind_lb);
    let started = b
        .get(&format!(
            "/authorize?client_id={}&request_uri={}",
            urlenc(&t.c.id),
            urlenc(uri)
        ))
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let ia = started.location();
    let cookie = started
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .find(|c| c.starts_with("__Host-bulwark_ia_"))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let csrf = b.get(&ia).await.input("csrf");
    let proxy = reqwest::Client::builder()
        .tls_backend_preconfigured(client_tls_config(&behind_lb.dev_ca, None))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = proxy
        .post(behind_lb.url(&format!("{ia}/login")))
        .header("cookie", cookie)
        .header("x-forwarded-for", customer)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// AZ-6 on a cluster: the failures counted on one node throttle the same user on another
/// (the counters live in the shared database, not in a node's memory).
#[tokio::test]
async fn az_6_failures_on_one_node_slow_logins_down_on_another() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let pki = std::sync::Arc::new(crate::support::TestPki::new("PG QTSP"));
    let node = |pki| {
        Harness::start_shared(
            std::sync::Arc::new(tempfile::tempdir().unwrap()),
            pki,
            Some(db.url.clone()),
            |_| {},
        )
    };
    let a = node(pki.clone()).await;
    let b = node(pki).await;
    // Each node's fixed clock was read when it started: b's is ahead of a's by however long
    // a took to start. Set back to a's time, the wait a's failures set is the one b sees
    // (however slow the machine).
    b.clock.advance(a.clock_now() - b.clock_now());
    let t = FlowTpp::register(&a, "tpp-throttle-nodes", None).await;
    let (user, password, _, _) = psu(&a, "alex-nodes").await;
    let (mut on_a, ia) = login_page(&a, &t).await;
    for _ in 0..5 {
        let page = on_a.login(&ia, &user, "not-the-password").await;
        assert!(page.body.contains(WRONG), "{}", page.body);
    }
    let (mut on_b, ib) = login_page(&b, &t).await;
    let page = on_b.login(&ib, &user, &password).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains(SLOW_DOWN), "{}", page.body);
}

/// A browser at `address` on `h`'s login page for a new authorization of `t`.
async fn login_page_from(h: &Harness, t: &FlowTpp, address: [u8; 4]) -> (Browser, String) {
    let consent = t.consent(h).await;
    let mut b = Browser::from_address(h, std::net::IpAddr::from(address));
    let ia = t.open_in(h, &mut b, &t.fapi2_params(&consent)).await;
    (b, ia)
}

/// A browser on `h`'s login page for a new authorization of `t`.
async fn login_page(h: &Harness, t: &FlowTpp) -> (Browser, String) {
    let consent = t.consent(h).await;
    t.start_in_browser(h, &t.fapi2_params(&consent)).await
}
