//! The authorization journey as the two real counterparts drive it: a TPP (`FlowTpp`: a
//! private_key_jwt client with a QWAC, registered for the code flow) pushing requests and
//! exchanging codes over mTLS, and a PSU's browser (`Browser`: cookies kept per path, no
//! automatic redirects) walking `/authorize`, the login page and the consent page by their
//! form contract (`username`, `password`, `csrf`, `account`, `decision`).

use std::sync::Arc;

use bulwark_authz::StoredPsuDirectory;
use bulwark_certs::PspRole;
use bulwark_core::SystemRng;
use bulwark_jose::{Alg, SigningKey};
use serde_json::{Map, Value, json};

use super::consents::{AISP, CBPII, PISP, as_tpp, cof_body, pay_body};
use super::{BEARER, Harness, ISSUER, PkjClient, Resp};

pub const REDIRECT: &str = "https://tpp.example/cb";
/// RFC 7636 Appendix B.
/// `s` percent-encoded for a query value (`request_uri` on `/authorize`).
pub fn urlenc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A TPP registered for the authorization code flow, with its application token.
pub struct FlowTpp {
    pub c: PkjClient,
    pub app_token: String,
    /// The registered redirect URI.
    pub redirect: String,
}

impl FlowTpp {
    /// Registers `id` (profile `profile`, or the server default) with a QWAC for AIS and PIS.
    pub async fn register(h: &Harness, id: &str, profile: Option<&str>) -> Self {
        Self::register_with(h, id, profile, REDIRECT).await
    }

    /// As `register`, with another redirect URI.
    pub async fn register_with(
        h: &Harness,
        id: &str,
        profile: Option<&str>,
        redirect: &str,
    ) -> Self {
        Self::register_full(h, id, profile, redirect, json!({}), Vec::new()).await
    }

    /// As `register`, with extra metadata members and extra public JWKs (e.g. encryption keys).
    pub async fn register_full(
        h: &Harness,
        id: &str,
        profile: Option<&str>,
        redirect: &str,
        extra: Value,
        extra_keys: Vec<Value>,
    ) -> Self {
        Self::register_keys(h, id, profile, redirect, extra, extra_keys, None).await
    }

    /// As [`FlowTpp::register_full`] with the default redirect URI, its keys published at
    /// `url` (the document `served`, e.g. from `jwks_server`) and registered as `jwks_uri`.
    pub async fn register_jwks_uri(
        h: &Harness,
        id: &str,
        extra: Value,
        extra_keys: Vec<Value>,
        served: &std::sync::Mutex<Value>,
        url: &str,
    ) -> Self {
        Self::register_keys(
            h,
            id,
            None,
            REDIRECT,
            extra,
            extra_keys,
            Some((served, url)),
        )
        .await
    }

    async fn register_keys(
        h: &Harness,
        id: &str,
        profile: Option<&str>,
        redirect: &str,
        extra: Value,
        extra_keys: Vec<Value>,
        served: Option<(&std::sync::Mutex<Value>, &str)>,
    ) -> Self {
        let key = SigningKey::generate(Alg::Ps256).unwrap();
        let (seal, seal_jwk) = super::seal::Seal::new(
            h,
            id,
            "PSDGB-FCA-123456",
            &[
                PspRole::AccountInformation,
                PspRole::PaymentInitiation,
                PspRole::CardIssuing,
            ],
        );
        h.seals.lock().unwrap().insert(id.to_owned(), seal);
        let mut meta = json!({
            "client_name": format!("{id} Money App"),
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "response_types": ["code", "code id_token"],
            "redirect_uris": [redirect],
            "scope": "openid accounts payments fundsconfirmations",
            "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}
        });
        if let Some(p) = profile {
            meta["fapi_profile"] = json!(p);
        }
        if let (Value::Object(m), Value::Object(more)) = (&mut meta, extra) {
            m.extend(more);
        }
        if let Some(keys) = meta["jwks"]["keys"].as_array_mut() {
            keys.push(seal_jwk);
            keys.extend(extra_keys);
        }
        if let (Some((doc, url)), Value::Object(m)) = (served, &mut meta) {
            *doc.lock().unwrap() = m.remove("jwks").unwrap();
            m.insert("jwks_uri".into(), json!(url));
        }
        h.register(id, meta).await;
        let identity = h.pki.qwac(
            id,
            Some("PSDGB-FCA-123456"),
            None,
            &[
                PspRole::AccountInformation,
                PspRole::PaymentInitiation,
                PspRole::CardIssuing,
            ],
        );
        let c = PkjClient {
            id: id.into(),
            key,
            identity,
        };
        let resp = c.token(h, &c.assertion(h)).await;
        assert_eq!(resp.0, 200, "{:?}", resp.2);
        let app_token = resp.2["access_token"].as_str().unwrap().to_string();
        Self {
            c,
            app_token,
            redirect: redirect.to_string(),
        }
    }

    /// Creates an account-access consent; returns its id.
    pub async fn consent(&self, h: &Harness) -> String {
        self.consent_with(h, &super::consents::aac_body()).await
    }

    /// Creates an account-access consent from `body`; returns its id.
    pub async fn consent_with(&self, h: &Harness, body: &Value) -> String {
        let a = as_tpp(h, &self.c, &self.app_token)
            .post(AISP, body, &[])
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        a.body["Data"]["ConsentId"].as_str().unwrap().to_string()
    }

    /// Creates a domestic-payment consent for `amount` GBP; returns its id.
    pub async fn payment_consent(&self, h: &Harness, amount: &str) -> String {
        self.payment_consent_with(h, &pay_body(amount)).await
    }

    /// Creates a domestic-payment consent for `amount` GBP paid from `debtor` (SchemeName,
    /// Identification): a payment order complete with its account; returns its id.
    pub async fn payment_consent_from(
        &self,
        h: &Harness,
        amount: &str,
        debtor: (&str, &str),
    ) -> String {
        let mut body = pay_body(amount);
        body["Data"]["Initiation"]["DebtorAccount"] =
            json!({"SchemeName": debtor.0, "Identification": debtor.1, "Name": "Alex Customer"});
        self.payment_consent_with(h, &body).await
    }

    /// Creates a funds-confirmation consent whose DebtorAccount is `account` (OB CBPII: the
    /// consent names the PSU's account); returns its id.
    pub async fn funds_consent_for(
        &self,
        h: &Harness,
        account: &bulwark_store::PsuAccountRecord,
    ) -> String {
        let mut body = cof_body();
        body["Data"]["DebtorAccount"] = json!({"SchemeName": account.scheme,
            "Identification": account.identification, "Name": account.name});
        let created = as_tpp(h, &self.c, &self.app_token)
            .post(CBPII, &body, &[])
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        created.body["Data"]["ConsentId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a domestic-payment consent from `body` (a fresh idempotency key); returns its id.
    pub async fn payment_consent_with(&self, h: &Harness, body: &Value) -> String {
        let key = bulwark_core::random::token(9);
        let a = as_tpp(h, &self.c, &self.app_token)
            .post(PISP, body, &[("x-idempotency-key", &key)])
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        a.body["Data"]["ConsentId"].as_str().unwrap().to_string()
    }

    /// The OB claims request naming `consent_id`, with SCA essential.
    pub fn claims(consent_id: &str) -> Value {
        json!({"id_token": {
            "openbanking_intent_id": {"value": consent_id, "essential": true},
            "acr": {"essential": true, "values": ["urn:openbanking:psd2:sca"]}
        }, "userinfo": {"openbanking_intent_id": {"value": consent_id, "essential": true}}})
    }

    /// [`Self::fapi2_params`] asking for `scope` (e.g. `openid payments`) instead.
    pub fn fapi2_params_with_scope(&self, consent_id: &str, scope: &str) -> Vec<(String, String)> {
        let mut params = self.fapi2_params(consent_id);
        for p in params.iter_mut() {
            if p.0 == "scope" {
                p.1 = scope.into();
            }
        }
        params
    }

    /// FAPI 2.0 plain PAR parameters for `consent_id`.
    pub fn fapi2_params(&self, consent_id: &str) -> Vec<(String, String)> {
        vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), self.c.id.clone()),
            ("redirect_uri".into(), self.redirect.clone()),
            ("scope".into(), "openid accounts".into()),
            ("state".into(), "af0ifjsldkj".into()),
            ("nonce".into(), "n-0S6_WzA2Mj".into()),
            ("code_challenge".into(), CHALLENGE.into()),
            ("code_challenge_method".into(), "S256".into()),
            ("claims".into(), Self::claims(consent_id).to_string()),
        ]
    }

    /// A request object over `claims`, signed with the client's key, valid now.
    pub fn request_object(&self, h: &Harness, claims: Map<String, Value>) -> String {
        self.request_object_typed(h, claims, "oauth-authz-req+jwt")
    }

    /// [`Self::request_object`] with the JOSE header's `typ` chosen by the test.
    pub fn request_object_typed(
        &self,
        h: &Harness,
        mut claims: Map<String, Value>,
        typ: &str,
    ) -> String {
        let now = h.clock_now();
        for (k, v) in [
            ("iss", json!(self.c.id)),
            ("aud", json!(ISSUER)),
            ("iat", json!(now)),
            ("nbf", json!(now)),
            ("exp", json!(now + 300)),
            ("jti", json!(bulwark_core::random::token(9))),
        ] {
            claims.entry(k).or_insert(v);
        }
        self.c
            .key
            .sign_compact(typ, &serde_json::to_vec(&claims).unwrap())
            .unwrap()
    }

    /// A FAPI 1.0 Advanced request object (hybrid `code id_token` unless `extra` says otherwise)
    /// for `consent_id`, with `extra` members added or replaced.
    pub fn fapi1_object(&self, h: &Harness, consent_id: &str, extra: Value) -> String {
        let mut claims: Map<String, Value> = json!({
            "client_id": self.c.id,
            "response_type": "code id_token",
            "redirect_uri": REDIRECT,
            "scope": "openid accounts",
            "state": "fapi1-state",
            "nonce": "fapi1-nonce",
            "claims": Self::claims(consent_id),
        })
        .as_object()
        .unwrap()
        .clone();
        if let Value::Object(more) = extra {
            claims.extend(more);
        }
        self.request_object(h, claims)
    }

    /// Pushes `params` (201 expected) and starts the authorization in a new PSU browser;
    /// the browser and the interaction's path.
    pub async fn start_in_browser(
        &self,
        h: &Harness,
        params: &[(String, String)],
    ) -> (Browser, String) {
        let mut browser = Browser::new(h);
        let ia = self.open_in(h, &mut browser, params).await;
        (browser, ia)
    }

    /// Pushes `params` (201 expected) and starts the authorization in `browser` (with its
    /// cookies: a remembered login among them); the interaction's path.
    pub async fn open_in(
        &self,
        h: &Harness,
        browser: &mut Browser,
        params: &[(String, String)],
    ) -> String {
        let pushed = self.push(h, params).await;
        assert_eq!(pushed.0, 201, "{:?}", pushed.2);
        browser
            .start(&[
                ("client_id", self.c.id.as_str()),
                ("request_uri", pushed.2["request_uri"].as_str().unwrap()),
            ])
            .await
    }

    /// `POST /par` with `params` plus a fresh client assertion, over mTLS.
    pub async fn push(&self, h: &Harness, params: &[(String, String)]) -> Resp {
        self.push_asserted(h, params, &self.c.assertion(h)).await
    }

    /// `POST /par` with `params` and this client assertion, over mTLS.
    pub async fn push_asserted(
        &self,
        h: &Harness,
        params: &[(String, String)],
        assertion: &str,
    ) -> Resp {
        let mut form: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push(("client_assertion_type", BEARER));
        form.push(("client_assertion", assertion));
        h.post(Some(&self.c.identity), "/par", &form).await
    }

    /// `POST /token` with `params` plus a fresh client assertion, over mTLS.
    pub async fn token(&self, h: &Harness, params: &[(&str, &str)]) -> Resp {
        let assertion = self.c.assertion(h);
        let mut form = params.to_vec();
        form.push(("client_assertion_type", BEARER));
        form.push(("client_assertion", &assertion));
        h.post(Some(&self.c.identity), "/token", &form).await
    }

    /// Exchanges a code with the RFC 7636 verifier.
    pub async fn exchange(&self, h: &Harness, code: &str) -> Resp {
        self.token(
            h,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }
}

/// A PSU in the demo directory with two accounts; returns (username, password, account ids,
/// subject).
pub async fn psu(h: &Harness, username: &str) -> (String, String, Vec<String>, String) {
    let rng = SystemRng;
    let dir = StoredPsuDirectory::new(Arc::new(h.store.clone()), &rng).unwrap();
    let password = format!("pw-{}", bulwark_core::random::token(9));
    let record = dir
        .add(username, "Alex Customer", &password, &rng, h.clock_now())
        .await
        .unwrap();
    dir.seed_accounts(&record.subject, &rng).await.unwrap();
    let accounts = bulwark_store::PsuStore::psu_accounts(&h.store, &record.subject)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    (username.into(), password, accounts, record.subject)
}

/// One authorization of `consent_id` by `user` choosing `account` (or denying when `None`);
/// the final redirect's parameters.
pub async fn authorise_once(
    h: &Harness,
    t: &FlowTpp,
    consent_id: &str,
    user: &str,
    password: &str,
    account: Option<&str>,
) -> (u16, std::collections::HashMap<String, String>) {
    let pushed = t.push(h, &t.fapi2_params(consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let uri = pushed.2["request_uri"].as_str().unwrap();
    let mut b = Browser::new(h);
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", uri)])
        .await;
    let logged = b.login(&ia, user, password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let done = match account {
        Some(a) => b.decide(&ia, "authorise", &[a]).await,
        None => b.decide(&ia, "deny", &[]).await,
    };
    let params = if done.status == 303 {
        response_params(&done.location())
    } else {
        Default::default()
    };
    (done.status, params)
}

/// A browser answer: status, headers and the body as text.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// True when the answer deletes the interaction's cookie (`__Host-bulwark_ia_{id}`): the
    /// interaction is over.
    pub fn ends_interaction(&self) -> bool {
        self.headers.get_all("set-cookie").iter().any(|c| {
            let c = c.to_str().unwrap_or("");
            c.starts_with("__Host-bulwark_ia_") && c.contains("=; Path=/; Max-Age=0")
        })
    }

    /// The `Location` header.
    pub fn location(&self) -> String {
        self.headers["location"].to_str().unwrap().to_string()
    }

    /// The value of the hidden input `name` in the page.
    pub fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    /// Every `value` of the inputs named `account`.
    pub fn accounts(&self) -> Vec<String> {
        let marker = "name=\"account\" value=\"";
        self.body
            .match_indices(marker)
            .map(|(i, _)| {
                let start = i + marker.len();
                let end = self.body[start..].find('"').unwrap() + start;
                self.body[start..end].to_string()
            })
            .collect()
    }
}

/// A PSU's browser: no client certificate, cookies kept by name and path, redirects not
/// followed (the test looks at each). A clone is the same browser at that moment (a form sent
/// again before the first answer came).
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String, String)>,
}

impl Browser {
    pub fn new(h: &Harness) -> Self {
        Self::at(h, &h.url(""))
    }

    /// A browser talking to another listener of the harness (e.g. the staff console's).
    pub fn at(h: &Harness, base: &str) -> Self {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(super::http::client_tls_config(&h.dev_ca, None))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            client,
            base: base.to_string(),
            cookies: Vec::new(),
        }
    }

    /// A browser on another machine: its connections come from `address` (any 127.0.0.0/8
    /// address is this host's loopback), so the server sees another client address.
    pub fn from_address(h: &Harness, address: std::net::IpAddr) -> Self {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(super::http::client_tls_config(&h.dev_ca, None))
            .redirect(reqwest::redirect::Policy::none())
            .local_address(address)
            .build()
            .unwrap();
        Self {
            client,
            base: h.url(""),
            cookies: Vec::new(),
        }
    }

    /// The same browser state (cookies) on its own connections: requests of the two run
    /// truly at once (a clone shares the connection pool, so its second request waits for a
    /// new connection).
    pub fn separate(&self, h: &Harness) -> Self {
        let mut other = Self::at(h, &self.base);
        other.cookies = self.cookies.clone();
        other
    }

    /// Gives the browser a cookie as if a server had set it (a session made in the test).
    pub fn set_cookie(&mut self, name: &str, value: &str, path: &str) {
        self.cookies.retain(|(n, _, p)| !(n == name && p == path));
        self.cookies.push((name.into(), value.into(), path.into()));
    }

    fn cookie_header(&self, path: &str) -> String {
        self.cookies
            .iter()
            .filter(|(_, _, p)| path.starts_with(p.as_str()))
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let path = attrs
                .split(';')
                .find_map(|a| a.trim().strip_prefix("Path="))
                .unwrap_or("/")
                .to_string();
            self.cookies.retain(|(n, _, p)| !(n == name && *p == path));
            if !value.is_empty() && !attrs.contains("Max-Age=0") {
                self.cookies.push((name.into(), value.into(), path));
            }
        }
    }

    fn path_of(&self, url: &str) -> String {
        url.strip_prefix(&self.base).unwrap_or(url).to_string()
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.keep_cookies(&headers);
        let body = resp.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET a path (or our own absolute URL).
    pub async fn get(&mut self, path_or_url: &str) -> Page {
        let path = self.path_of(path_or_url);
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header(&path))
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// POST a form to a path.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// From `GET /authorize?...` to the interaction page: returns the interaction path.
    pub async fn start(&mut self, query: &[(&str, &str)]) -> String {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let page = self.get(&format!("/authorize?{q}")).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location();
        assert!(location.starts_with("/authorize/i/"), "{location}");
        location
    }

    /// Logs in on the interaction's login page.
    pub async fn login(&mut self, interaction: &str, username: &str, password: &str) -> Page {
        let page = self.get(interaction).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.input("csrf");
        self.post(
            &format!("{interaction}/login"),
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Sends the consent form with `decision` and `accounts`.
    pub async fn decide(&mut self, interaction: &str, decision: &str, accounts: &[&str]) -> Page {
        let page = self.get(interaction).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.input("csrf");
        let mut form = vec![("csrf", csrf.as_str()), ("decision", decision)];
        for a in accounts {
            form.push(("account", a));
        }
        self.post(&format!("{interaction}/decision"), &form).await
    }
}

/// The query (or fragment) parameters of a redirect to the client.
pub fn response_params(location: &str) -> std::collections::HashMap<String, String> {
    let rest = location
        .split_once('#')
        .map(|(_, f)| f)
        .or_else(|| location.split_once('?').map(|(_, q)| q))
        .unwrap_or("");
    form_urlencoded::parse(rest.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The whole FAPI 2.0 journey up to the code: consent, PAR, login, authorise the first
/// account. Returns (code, consent id, PSU subject).
pub async fn fapi2_code(h: &Harness, t: &FlowTpp, username: &str) -> (String, String, String) {
    let consent_id = t.consent(h).await;
    let pushed = t.push(h, &t.fapi2_params(&consent_id)).await;
    assert_eq!(pushed.0, 201, "{:?}", pushed.2);
    let request_uri = pushed.2["request_uri"].as_str().unwrap().to_string();
    let (user, password, accounts, subject) = psu(h, username).await;
    let redirect = t.redirect.clone();
    let mut b = Browser::new(h);
    let ia = b
        .start(&[("client_id", &t.c.id), ("request_uri", &request_uri)])
        .await;
    let logged = b.login(&ia, &user, &password).await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let done = b.decide(&ia, "authorise", &[&accounts[0]]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let params = response_params(&done.location());
    assert!(done.location().starts_with(&redirect));
    (params["code"].clone(), consent_id, subject)
}
