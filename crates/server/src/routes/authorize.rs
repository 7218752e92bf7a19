//! AZ-1 `POST /par` and the PSU-facing authorization pages: `GET` and `POST /authorize`, the
//! interaction page (login, then consent), and the two forms. Each handler reads the request
//! into the `par` / `authz` services' inputs and renders what they return: a page, a
//! redirect, or the error page. No decision is made here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_authz::{Begin, Decided, LoginOutcome, View};
use bulwark_core::Form;
use bulwark_web::pages::{SameSite, cookie, origin_of, set_cookie};
use bulwark_web::{ConnectionInfo, OAuthErrorResponse, OAuthForm, PresentedChain, no_store};

use super::Endpoint;
use crate::pages::{AccountChoice, ConsentPage, LoginPage, render};
use crate::state::AuthzState;

/// The cookie binding an interaction to the browser that started it, one per interaction (so a
/// browser can run several at once) and `__Host-` (no sibling subdomain can plant one and so
/// fix the secret of an interaction the PSU then logs in to; RFC 6265bis 4.1.3.2).
fn interaction_cookie(id: &str) -> String {
    format!("__Host-bulwark_ia_{id}")
}
/// The PSU's remembered login, for the whole host so no sibling subdomain can plant one.
const SESSION_COOKIE: &str = "__Host-bulwark_session";

/// `POST /par` (RFC 9126): 201 with `request_uri` and `expires_in`, or the OAuth error.
pub async fn par(State(s): State<AuthzState>, chain: PresentedChain, form: OAuthForm) -> Response {
    let cert = match chain.for_oauth() {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let url = format!("{}{}", s.issuer, Endpoint::Par.path());
    let input = super::oauth::input(&form, &cert, &url);
    match s.par.push(&input).await {
        Ok(pushed) => {
            let mut response = (StatusCode::CREATED, Json(pushed)).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => {
            match &e {
                bulwark_par::ParError::Internal(detail) => {
                    tracing::error!(error = %detail, "PAR failure");
                }
                bulwark_par::ParError::Unavailable(detail) => {
                    tracing::warn!(error = %detail, "PAR deferred: database unavailable");
                }
                bulwark_par::ParError::ClientAuth(detail) => {
                    tracing::warn!(target: "bulwark::security", reason = %detail, "invalid_client answered at PAR");
                }
                _ => {}
            }
            OAuthErrorResponse {
                error: e.to_oauth(),
                challenge_scheme: form.authorization_scheme.clone(),
            }
            .into_response()
        }
    }
}

fn reference(s: &AuthzState) -> String {
    s.rng.token(6)
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    no_store(response.headers_mut());
    response
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn interaction_path(id: &str) -> String {
    format!("/authorize/i/{id}")
}

/// `GET /authorize`: the browser arrives from the TPP with the request in the query.
pub async fn authorize(
    State(s): State<AuthzState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = match Form::parse(query.unwrap_or_default().as_bytes()) {
        Ok(q) => q,
        Err(e) => {
            return crate::pages::error_page(
                &s.branding,
                &bulwark_authz::AuthzError::BadRequest(e.to_string()),
                &reference(&s),
            );
        }
    };
    begin(&s, &headers, &query).await
}

/// `POST /authorize`: the same request as the `GET`, its parameters form-serialised in the
/// body (OIDC Core 3.1.2.1: the authorization endpoint MUST support both). The body alone
/// carries them, read as the token endpoint reads its forms: `application/x-www-form-urlencoded`
/// and no repeated parameter; anything else is the error page, as a malformed query is.
pub async fn authorize_form(
    State(s): State<AuthzState>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthErrorResponse>,
) -> Response {
    match form {
        Ok(form) => begin(&s, &headers, &form.form).await,
        Err(refused) => crate::pages::error_page(
            &s.branding,
            &bulwark_authz::AuthzError::BadRequest(
                refused
                    .error
                    .description
                    .unwrap_or_else(|| "the authorization request is malformed".into()),
            ),
            &reference(&s),
        ),
    }
}

/// The authorization request's parameters, however they came: the interaction starts, or the
/// browser goes straight back to the client.
async fn begin(s: &AuthzState, headers: &HeaderMap, query: &Form) -> Response {
    match s.authz.begin(query, cookie(headers, SESSION_COOKIE)).await {
        Ok(Begin::Interaction {
            id,
            browser_secret,
            lifetime,
        }) => {
            let path = interaction_path(&id);
            with_cookie(
                see_other(&path),
                &set_cookie(
                    &interaction_cookie(&id),
                    &browser_secret,
                    "/",
                    lifetime,
                    SameSite::Lax,
                ),
            )
        }
        Ok(Begin::Redirect(url)) => see_other(&url),
        Err(e) => crate::pages::error_page(&s.branding, &e, &reference(s)),
    }
}

/// The login page's content beside the form: who asks, and for a payment, the payment.
struct LoginContext {
    client_name: String,
    csrf: String,
    payment: Option<Box<bulwark_consent::PaymentLines>>,
    facts: Vec<bulwark_consent::Fact>,
    pays_on_login: bool,
    /// The client's redirect URI: Cancel goes back there.
    redirect_uri: String,
}

fn login_page(
    s: &AuthzState,
    id: &str,
    login: LoginContext,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    render(
        &LoginPage {
            bank_name: s.branding.bank_name.clone(),
            title: if error.is_some() {
                "Error: Log in".into()
            } else {
                "Log in".into()
            },
            client_name: login.client_name,
            action: format!("{}/login", interaction_path(id)),
            csrf: login.csrf,
            username: username.to_string(),
            error,
            payment: login.payment.map(|p| *p),
            facts: login.facts,
            pays_on_login: login.pays_on_login,
            cancel_action: format!("{}/decision", interaction_path(id)),
        },
        status,
        // Cancel redirects to the client: its origin must be a form-action.
        &origin_of(&login.redirect_uri)
            .into_iter()
            .collect::<Vec<_>>(),
    )
}

/// Back to the client at `url` (a success or error response): the interaction is over, and
/// its cookie goes.
fn back_to_client(id: &str, url: &str) -> Response {
    with_cookie(
        see_other(url),
        &set_cookie(&interaction_cookie(id), "", "/", 0, SameSite::Lax),
    )
}

fn view_page(
    s: &AuthzState,
    id: &str,
    view: View,
    error: Option<String>,
    username: &str,
    status: StatusCode,
) -> Response {
    match view {
        View::Login {
            client_name,
            csrf,
            payment,
            facts,
            pays_on_login,
            redirect_uri,
        } => login_page(
            s,
            id,
            LoginContext {
                client_name,
                csrf,
                payment,
                facts,
                pays_on_login,
                redirect_uri,
            },
            username,
            error,
            status,
        ),
        View::Consent {
            client_name,
            psu_name,
            csrf,
            summary,
            accounts,
            redirect_uri,
        } => {
            let page = ConsentPage {
                bank_name: s.branding.bank_name.clone(),
                title: match &error {
                    Some(_) => format!("Error: {}", summary.heading),
                    None => summary.heading.clone(),
                },
                client_name,
                psu_name,
                action: format!("{}/decision", interaction_path(id)),
                csrf,
                error,
                summary: *summary,
                accounts: accounts
                    .into_iter()
                    .map(|a| AccountChoice {
                        id: a.id,
                        name: a.name,
                        identification: bulwark_consent::account_identification(
                            &a.scheme,
                            &a.identification,
                        ),
                        currency: a.currency,
                    })
                    .collect(),
            };
            // The decision redirects to the client: its origin must be a form-action.
            let origin: Vec<&str> = origin_of(&redirect_uri).into_iter().collect();
            render(&page, status, &origin)
        }
        // The consent can no longer be authorised.
        View::Refused(url) => back_to_client(id, &url),
    }
}

/// `GET /authorize/i/{id}`: the login page, or the consent page once logged in.
pub async fn interaction(
    State(s): State<AuthzState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match s
        .authz
        .view(&id, cookie(&headers, &interaction_cookie(&id)))
        .await
    {
        Ok(view) => view_page(&s, &id, view, None, "", StatusCode::OK),
        Err(e) => crate::pages::error_page(&s.branding, &e, &reference(&s)),
    }
}

/// `POST /authorize/i/{id}/login`.
pub async fn login(
    State(s): State<AuthzState>,
    State(mtls): State<bulwark_web::MtlsConfig>,
    Path(id): Path<String>,
    connection: Option<axum::Extension<ConnectionInfo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let interaction = interaction_cookie(&id);
    let browser = cookie(&headers, &interaction);
    let form = match Form::parse(&body) {
        Ok(f) => f,
        Err(_) => {
            return crate::pages::error_page(
                &s.branding,
                &bulwark_authz::AuthzError::Forbidden,
                &reference(&s),
            );
        }
    };
    let username = form.get("username").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    // AZ-6: per-address throttling counts the customer, not the load balancer in front.
    let address = connection
        .map(|c| bulwark_web::client_address(&mtls.0, c.peer.ip(), &headers).to_string())
        .unwrap_or_else(|| "-".into());
    let outcome = s
        .authz
        .login(&id, browser, form.get("csrf"), username, password, &address)
        .await;
    match outcome {
        Ok(LoginOutcome::LoggedIn {
            session_secret,
            lifetime,
            decided,
        }) => {
            let response = match decided {
                // The login completed the authorisation.
                Some(url) => back_to_client(&id, &url),
                None => see_other(&interaction_path(&id)),
            };
            match session_secret {
                Some(secret) => with_cookie(
                    response,
                    &set_cookie(SESSION_COOKIE, &secret, "/", lifetime, SameSite::Lax),
                ),
                None => response,
            }
        }
        Ok(LoginOutcome::Refused(url) | LoginOutcome::Replayed(url)) => back_to_client(&id, &url),
        Ok(LoginOutcome::Failed(message)) => match s.authz.view(&id, browser).await {
            Ok(view) => view_page(
                &s,
                &id,
                view,
                Some(message),
                username,
                StatusCode::UNAUTHORIZED,
            ),
            Err(e) => crate::pages::error_page(&s.branding, &e, &reference(&s)),
        },
        Err(e) => crate::pages::error_page(&s.branding, &e, &reference(&s)),
    }
}

/// The decision form: `decision` once, `account` any number of times, `csrf` once.
fn decision_form(body: &[u8]) -> Option<(Option<String>, Option<String>, Vec<String>)> {
    let mut csrf = None;
    let mut decision = None;
    let mut accounts = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "account" => accounts.push(v.into_owned()),
            "csrf" if csrf.is_none() => csrf = Some(v.into_owned()),
            "decision" if decision.is_none() => decision = Some(v.into_owned()),
            "csrf" | "decision" => return None,
            _ => {}
        }
    }
    Some((csrf, decision, accounts))
}

/// `POST /authorize/i/{id}/decision`.
pub async fn decision(
    State(s): State<AuthzState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let interaction = interaction_cookie(&id);
    let browser = cookie(&headers, &interaction);
    let Some((csrf, decision, accounts)) = decision_form(&body) else {
        return crate::pages::error_page(
            &s.branding,
            &bulwark_authz::AuthzError::Forbidden,
            &reference(&s),
        );
    };
    let result = s
        .authz
        .decide(
            &id,
            browser,
            csrf.as_deref(),
            decision.as_deref().unwrap_or(""),
            &accounts,
        )
        .await;
    match result {
        Ok(Decided::Redirect(url)) => back_to_client(&id, &url),
        Ok(Decided::Retry(message)) => match s.authz.view(&id, browser).await {
            Ok(view) => view_page(&s, &id, view, Some(message), "", StatusCode::BAD_REQUEST),
            Err(e) => crate::pages::error_page(&s.branding, &e, &reference(&s)),
        },
        Err(e) => crate::pages::error_page(&s.branding, &e, &reference(&s)),
    }
}

/// `GET /static/bulwark.css`.
pub async fn stylesheet() -> Response {
    static_asset(
        crate::pages::STYLESHEET.as_bytes().to_vec(),
        "text/css; charset=utf-8",
    )
}

/// `GET /static/logo.svg` (the configured logo, whatever its format).
pub async fn logo(State(s): State<AuthzState>) -> Response {
    static_asset(s.branding.logo.0.clone(), s.branding.logo.1)
}

fn static_asset(bytes: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'"),
    );
    response
}
