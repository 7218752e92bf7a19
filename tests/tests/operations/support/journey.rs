//! The whole FAPI 2.0 journey through the load balancer, as a TPP and a PSU's browser make it:
//! an account-access consent (OB API, the TPP's QWAC), PAR, `/authorize` in a browser with its
//! own cookies (login once, then the consent page), the callback's code, and the code exchange.
//! Each step is a separate request, so nginx spreads one journey over both nodes.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::Digest;

use super::{Pki, TokenClient};

/// Where the TPP's redirect URI points (never called: the callback is read from `Location`).
pub const REDIRECT_URI: &str = "https://127.0.0.1/cb";
/// The PSU every journey logs in as.
pub const PSU: (&str, &str) = ("ops-psu", "ops-psu-password-1");
/// The PKCE verifier of every journey (the challenge is its S256).
const VERIFIER: &str = "ops-journey-pkce-verifier-0123456789-abcdefghijklmnop";

/// A journey that reached the callback: what the TPP holds to exchange.
#[derive(Clone, Debug)]
pub struct Authorized {
    /// The OB consent the journey authorised.
    pub consent_id: String,
    /// The pushed request's URI (single use).
    pub request_uri: String,
    /// The authorization code.
    pub code: String,
}

/// Why a journey stopped: the step and the answer.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// `consent`, `par`, `authorize` (a browser hop) or `callback`.
    pub step: &'static str,
    /// The HTTP status (0 below HTTP).
    pub status: u16,
    /// The answer's start.
    pub detail: String,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}: {}", self.step, self.status, self.detail)
    }
}

fn stopped(step: &'static str, status: u16, detail: impl Into<String>) -> Stopped {
    let mut detail = detail.into();
    let mut end = detail.len().min(300);
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    detail.truncate(end);
    Stopped {
        step,
        status,
        detail,
    }
}

/// A PSU's browser: no client certificate, no redirects followed, its own cookies.
pub struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    base: String,
}

impl Browser {
    /// A browser of the load balancer at `base`.
    pub fn new(pki: &Pki, base: &str) -> Self {
        Self {
            http: super::load::browser_http(pki),
            cookies: BTreeMap::new(),
            base: base.to_string(),
        }
    }

    fn keep_cookies(&mut self, resp: &reqwest::Response) {
        for value in resp.headers().get_all("set-cookie") {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, val)) = pair.split_once('=') {
                if val.is_empty() || value.to_ascii_lowercase().contains("max-age=0") {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), val.trim().to_string());
                }
            }
        }
    }

    async fn send(
        &mut self,
        path: &str,
        form: Option<&[(String, String)]>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let url = format!("{}{path}", self.base);
        let mut req = match form {
            Some(f) => self.http.post(url).form(f),
            None => self.http.get(url),
        };
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", header.join("; "));
        }
        let resp = req.header("accept", "text/html").send().await?;
        self.keep_cookies(&resp);
        Ok(resp)
    }

    /// Walks `/authorize` for `request_uri`: logs in when asked, authorises the first account,
    /// and returns the callback URL.
    pub async fn authorize(
        &mut self,
        client_id: &str,
        request_uri: &str,
    ) -> Result<String, Stopped> {
        let mut authorize = reqwest::Url::parse(&format!("{}/authorize", self.base))
            .map_err(|e| stopped("authorize", 0, e.to_string()))?;
        authorize
            .query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("request_uri", request_uri);
        let mut path = local(authorize.as_str(), &self.base)
            .ok_or_else(|| stopped("authorize", 0, authorize.to_string()))?;
        let mut form: Option<Vec<(String, String)>> = None;
        for _hop in 0..12 {
            let resp = self
                .send(&path, form.as_deref())
                .await
                .map_err(|e| stopped("authorize", 0, e.to_string()))?;
            let status = resp.status().as_u16();
            match status {
                302 | 303 => {
                    let location = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| stopped("authorize", status, "redirect without Location"))?
                        .to_string();
                    if location.starts_with(REDIRECT_URI) {
                        return Ok(location);
                    }
                    path = local(&location, &self.base)
                        .ok_or_else(|| stopped("authorize", status, location.clone()))?;
                    form = None;
                }
                200 => {
                    let html = resp.text().await.unwrap_or_default();
                    let page = Page::parse(&html);
                    let action = page
                        .action
                        .clone()
                        .ok_or_else(|| stopped("authorize", 200, html.clone()))?;
                    let csrf = page
                        .value("csrf")
                        .ok_or_else(|| stopped("authorize", 200, html.clone()))?
                        .to_string();
                    let mut fields = vec![("csrf".to_string(), csrf)];
                    if page.has("password") {
                        fields.push(("username".into(), PSU.0.into()));
                        fields.push(("password".into(), PSU.1.into()));
                    } else if html.contains("name=\"decision\"") {
                        if let Some(account) = page.value("account") {
                            fields.push(("account".into(), account.to_string()));
                        }
                        fields.push(("decision".into(), "authorise".into()));
                    } else {
                        return Err(stopped("authorize", 200, html));
                    }
                    path = local(&action, &self.base)
                        .ok_or_else(|| stopped("authorize", 200, action.clone()))?;
                    form = Some(fields);
                }
                _ => {
                    let body = resp.text().await.unwrap_or_default();
                    // An error page: its message (`role="alert"`), not the page's head.
                    let detail = alert_text(&body).unwrap_or(body);
                    return Err(stopped("authorize", status, detail));
                }
            }
        }
        Err(stopped("authorize", 0, "too many hops"))
    }
}

/// The message of an error page (the `role="alert"` element's text), if it has one.
fn alert_text(html: &str) -> Option<String> {
    let start = html.find("role=\"alert\">")? + "role=\"alert\">".len();
    let len = html[start..].find('<')?;
    Some(html[start..start + len].trim().to_string())
}

/// The path of `url` when it is on the load balancer (`base`) or already a path.
fn local(url: &str, base: &str) -> Option<String> {
    if url.starts_with('/') {
        return Some(url.to_string());
    }
    url.strip_prefix(base)
        .filter(|rest| rest.starts_with('/'))
        .map(str::to_string)
}

/// A query parameter of a (callback) URL, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A page's first form: its action and its inputs.
struct Page {
    action: Option<String>,
    inputs: Vec<(String, Option<String>)>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!(" {name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/")
            .replace("&#47;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'"),
    )
}

impl Page {
    fn parse(html: &str) -> Self {
        let action = html.find("<form").and_then(|i| {
            let end = html[i..].find('>').map_or(html.len(), |e| i + e);
            attr(&html[i..end], "action")
        });
        // The first form's inputs only.
        let html = html.find("<form").map_or("", |start| {
            let end = html[start..]
                .find("</form>")
                .map_or(html.len(), |e| start + e);
            &html[start..end]
        });
        let mut inputs = Vec::new();
        let mut from = 0;
        while let Some(i) = html[from..].find("<input") {
            let start = from + i;
            let end = html[start..].find('>').map_or(html.len(), |e| start + e);
            let tag = &html[start..end];
            if let Some(name) = attr(tag, "name") {
                inputs.push((name, attr(tag, "value")));
            }
            from = end;
        }
        Self { action, inputs }
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.inputs.iter().any(|(n, _)| n == name)
    }
}

impl TokenClient {
    /// A `client_credentials` token for the OB APIs (scope `accounts`).
    pub async fn accounts_token(&self) -> Result<String, Stopped> {
        let (status, body) = self
            .post(
                "/token",
                &[("grant_type", "client_credentials"), ("scope", "accounts")],
            )
            .await;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| stopped("token", status, body.to_string()))
    }

    /// Creates an account-access consent with an application token; its `ConsentId`.
    pub async fn create_consent(&self, token: &str) -> Result<String, Stopped> {
        let expiry = time_in(86_400);
        let body = json!({
            "Data": {
                "Permissions": ["ReadAccountsDetail", "ReadBalances"],
                "ExpirationDateTime": expiry,
            },
            "Risk": {}
        });
        let resp = self
            .http
            .post(format!(
                "{}/open-banking/v3.1/aisp/account-access-consents",
                self.base
            ))
            .bearer_auth(token)
            .header("x-fapi-interaction-id", uuid_like())
            .json(&body)
            .send()
            .await
            .map_err(|e| stopped("consent", 0, e.to_string()))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match body["Data"]["ConsentId"].as_str() {
            Some(id) if status == 201 => Ok(id.to_string()),
            _ => Err(stopped("consent", status, body.to_string())),
        }
    }

    /// Pushes the authorization request for `consent_id` (PAR, RFC 9126); its `request_uri`.
    pub async fn push(&self, consent_id: &str) -> Result<String, Stopped> {
        let claims = json!({"id_token": {"openbanking_intent_id":
            {"value": consent_id, "essential": true}}})
        .to_string();
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
        let state = bulwark_core::random::token(12);
        let nonce = bulwark_core::random::token(12);
        let (status, body) = self
            .post(
                "/par",
                &[
                    ("response_type", "code"),
                    ("client_id", &self.id),
                    ("redirect_uri", REDIRECT_URI),
                    ("scope", "openid accounts"),
                    ("state", &state),
                    ("nonce", &nonce),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("claims", &claims),
                ],
            )
            .await;
        match body["request_uri"].as_str() {
            Some(uri) if status == 201 => Ok(uri.to_string()),
            _ => Err(stopped("par", status, body.to_string())),
        }
    }

    /// Consent, PAR and the browser's walk up to the callback's code.
    pub async fn authorize(
        &self,
        browser: &mut Browser,
        app_token: &str,
    ) -> Result<Authorized, Stopped> {
        let consent_id = self.create_consent(app_token).await?;
        let request_uri = self.push(&consent_id).await?;
        let callback = browser.authorize(&self.id, &request_uri).await?;
        if let Some(error) = query_param(&callback, "error") {
            return Err(stopped("callback", 303, format!("{error}: {callback}")));
        }
        if query_param(&callback, "iss").as_deref() != Some(self.base.as_str()) {
            return Err(stopped("callback", 303, format!("no iss: {callback}")));
        }
        let code = query_param(&callback, "code")
            .ok_or_else(|| stopped("callback", 303, callback.clone()))?;
        Ok(Authorized {
            consent_id,
            request_uri,
            code,
        })
    }

    /// Exchanges a code (with a fresh assertion): (status, body).
    pub async fn exchange(&self, code: &str) -> (u16, Value) {
        self.post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }
}

fn time_in(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = time::OffsetDateTime::from_unix_timestamp(now + secs).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn uuid_like() -> String {
    bulwark_core::random::uuid_v4()
}

/// One journey of a [`JourneyLoad`].
#[derive(Clone, Debug)]
pub struct JourneyOutcome {
    /// When its first request was sent, since the load started.
    pub sent: std::time::Duration,
    /// The code and its request, when the journey reached the callback.
    pub authorized: Option<Authorized>,
    /// Where it stopped before the callback.
    pub stopped: Option<Stopped>,
    /// The code exchange's status and OAuth error.
    pub exchange: Option<(u16, Option<String>)>,
}

/// Whole journeys, `workers` at a time, each worker a TPP connection and a browser of its own,
/// until stopped.
pub struct JourneyLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<Vec<JourneyOutcome>>>,
}

impl JourneyLoad {
    /// Starts the workers.
    pub fn start(
        client: std::sync::Arc<TokenClient>,
        pki: &Pki,
        workers: usize,
        started: std::time::Instant,
    ) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handles = (0..workers)
            .map(|_| {
                let (client, stop) = (client.clone(), stop.clone());
                let mut browser = Browser::new(pki, &client.base);
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    let mut app_token: Option<String> = None;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let sent = started.elapsed();
                        let token = match &app_token {
                            Some(t) => t.clone(),
                            None => match client.accounts_token().await {
                                Ok(t) => {
                                    app_token = Some(t.clone());
                                    t
                                }
                                Err(s) => {
                                    outcomes.push(JourneyOutcome {
                                        sent,
                                        authorized: None,
                                        stopped: Some(s),
                                        exchange: None,
                                    });
                                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                                    continue;
                                }
                            },
                        };
                        let outcome = match client.authorize(&mut browser, &token).await {
                            Ok(a) => {
                                let (status, body) = client.exchange(&a.code).await;
                                JourneyOutcome {
                                    sent,
                                    authorized: Some(a),
                                    stopped: None,
                                    exchange: Some((
                                        status,
                                        body["error"].as_str().map(str::to_string),
                                    )),
                                }
                            }
                            Err(s) => JourneyOutcome {
                                sent,
                                authorized: None,
                                stopped: Some(s),
                                exchange: None,
                            },
                        };
                        if outcome.stopped.is_some() {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        outcomes.push(outcome);
                    }
                    outcomes
                })
            })
            .collect();
        Self { stop, handles }
    }

    /// Stops the workers and returns every journey.
    pub async fn stop(self) -> Vec<JourneyOutcome> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut all = Vec::new();
        for h in self.handles {
            all.extend(h.await.unwrap());
        }
        all
    }
}

/// What [`check_single_use`] found.
#[derive(Debug)]
pub struct SingleUse {
    /// Journeys whose code was exchanged for tokens (at once or on a retry).
    pub redeemed: usize,
    /// Exchanges that failed (503, a broken connection) and were retried.
    pub retried: usize,
}

/// After a fault: every code the TPP got was turned into tokens at most once. An exchange
/// that failed is retried now (200, or `invalid_grant` when the failed attempt had in fact
/// been committed); then every code and every `request_uri` is replayed and refused, and the
/// database holds at most one grant and one code per consent.
///
/// `retried_by_proxy`: whether a load balancer may have retried an exchange whose first
/// attempt committed, so that the TPP's one request met `invalid_grant` (a node killed after
/// its commit). Where no proxy retried, a first answer of `invalid_grant` means the server
/// spent a code it had not redeemed: a failure.
pub async fn check_single_use(
    c: &super::Cluster,
    outcomes: &[JourneyOutcome],
    retried_by_proxy: bool,
) -> SingleUse {
    let tpp = &c.client;
    let mut browser = c.browser();
    let (mut redeemed, mut retried) = (0, 0);
    let authorized = outcomes
        .iter()
        .filter(|o| o.authorized.is_some() && o.exchange.is_some())
        .count();
    assert!(
        authorized > 0,
        "no journey reached its code exchange, so nothing was checked: {outcomes:?}"
    );
    for o in outcomes {
        let Some(a) = &o.authorized else { continue };
        let Some((status, error)) = &o.exchange else {
            continue;
        };
        match (status, error.as_deref()) {
            (200, _) => redeemed += 1,
            (400, Some("invalid_grant")) => {
                assert!(
                    retried_by_proxy,
                    "the first exchange of {a:?} was refused as a spent code"
                );
                // The proxy's retry met the code its first attempt had redeemed: spent, not
                // expired or unknown. The code's tokens were issued once, so it counts.
                let (status, body) = tpp.exchange(&a.code).await;
                assert!(
                    status == 400
                        && body["error_description"]
                            .as_str()
                            .is_some_and(|d| d.contains("already used")),
                    "a code refused at its first exchange was not a spent one: {status} {body}"
                );
                redeemed += 1;
            }
            _ => {
                retried += 1;
                let (status, body) = tpp.exchange(&a.code).await;
                match status {
                    200 => redeemed += 1,
                    // The failed attempt had committed (its answer was lost with the
                    // connection): the code is spent, not expired.
                    400 => assert!(
                        body["error"] == "invalid_grant"
                            && body["error_description"]
                                .as_str()
                                .is_some_and(|d| d.contains("already used")),
                        "{body}"
                    ),
                    _ => panic!("retried exchange of {a:?}: {status} {body}"),
                }
            }
        }
        let (status, body) = tpp.exchange(&a.code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "a code replayed after the fault: {body}"
        );
        // A used request_uri is the error page (its redirect URI is not trusted), never a
        // redirect back to the TPP.
        match browser.authorize(&tpp.id, &a.request_uri).await {
            Ok(callback) => panic!("a request_uri used twice was redirected: {callback}"),
            Err(stopped) => assert!(
                stopped.status == 400 && stopped.detail.contains("already used"),
                "a request_uri used twice: {stopped}"
            ),
        }
    }
    let twice = c.consents_redeemed_twice();
    assert!(twice.is_empty(), "used twice: {twice:?}");
    SingleUse { redeemed, retried }
}

/// A journey whose code was exchanged once, for [`check_single_use`].
pub fn journey_done(authorized: Authorized) -> JourneyOutcome {
    JourneyOutcome {
        sent: std::time::Duration::ZERO,
        authorized: Some(authorized),
        stopped: None,
        exchange: Some((200, None)),
    }
}
