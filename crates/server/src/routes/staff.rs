//! The staff console (CO-5) under `/staff`: login, consent search and detail with
//! revocation, clients with suspension, the audit trail. Each handler reads the request into a
//! `bulwark_staff` call and renders the answer; no decision is made here. The session cookie
//! is `__Host-bulwark_staff` (`Secure; HttpOnly; SameSite=Strict`, `Path=/`); the login form is protected by a
//! double-submitted token (cookie and field), every other form by the session's CSRF token.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_consent::{ConsentKind, ConsentOrder, ConsentSearch, ConsentStatus};
use bulwark_core::{ClientStatus, Form};
use bulwark_staff::{Revocation, StaffError, StaffSession};
use bulwark_store::AuditQuery;
use bulwark_web::ConnectionInfo;
use bulwark_web::no_store;
use bulwark_web::pages::{SameSite, cookie, set_cookie};
use time::OffsetDateTime;

use crate::pages::render;
use crate::staff_pages::*;
use crate::state::StaffState;

/// The session cookie, for the whole host so no sibling subdomain can plant one.
const SESSION_COOKIE: &str = "__Host-bulwark_staff";
/// The login form's double-submit cookie, `__Host-` so no sibling subdomain can plant a
/// matching pair and log a staff member in to another account (login CSRF).
const LOGIN_COOKIE: &str = "__Host-bulwark_staff_login";

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

fn when(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(when_dt)
        .unwrap_or_else(|_| "-".into())
}

fn when_dt(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_else(|_| "-".into())
}

fn now(s: &StaffState) -> OffsetDateTime {
    s.clock.now()
}

fn nav(session: &StaffSession, current: &'static str) -> Option<Nav> {
    Some(Nav {
        username: session.username.clone(),
        role: session.role.as_str().into(),
        csrf: session.csrf.clone(),
        current,
    })
}

/// The session of the request, or the answer to give instead (to the login page).
async fn session(s: &StaffState, headers: &HeaderMap) -> Result<StaffSession, Response> {
    let token = cookie(headers, SESSION_COOKIE).unwrap_or_default();
    match s.service.session(token, now(s).unix_timestamp()).await {
        Ok(session) => Ok(session),
        Err(StaffError::Unauthenticated) => Err(see_other("/staff/login")),
        Err(e) => Err(error(s, None, &e)),
    }
}

/// The staff session of a request, as an extractor: without a live one the handler is not
/// run and the answer is the way to the login page.
pub struct Staff(pub StaffSession);

impl<S> axum::extract::FromRequestParts<S> for Staff
where
    S: Send + Sync,
    StaffState: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let s = <StaffState as axum::extract::FromRef<S>>::from_ref(state);
        session(&s, &parts.headers).await.map(Staff)
    }
}

/// The console's error page, with the console's navigation (`nav`) when the session is known,
/// so that staff can go on from it.
fn error(s: &StaffState, nav: Option<Nav>, e: &StaffError) -> Response {
    let reference = s.rng.token(6);
    if let StaffError::Internal(detail) = e {
        tracing::error!(reference, error = %detail, "staff console failure");
    }
    let message = match e {
        StaffError::Internal(_) => "Something went wrong. Quote the reference to support.".into(),
        other => other.to_string(),
    };
    render(
        &StaffErrorPage {
            bank_name: s.branding.bank_name.clone(),
            title: "Error: Staff console".into(),
            nav,
            message,
            reference,
        },
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        &[],
    )
}

/// A page's title, prefixed "Error:" when the page reports one (WCAG 3.3.1: a screen reader
/// announces the title first), as the customer pages do.
fn titled(title: &str, has_error: bool) -> String {
    if has_error {
        format!("Error: {title}")
    } else {
        title.to_string()
    }
}

fn parse_form(body: &[u8]) -> Form {
    Form::parse(body).unwrap_or_else(|_| Form::from_pairs([]))
}

fn parse_query(query: Option<&str>) -> Form {
    parse_form(query.unwrap_or_default().as_bytes())
}

/// `GET /staff`.
pub async fn home() -> Response {
    see_other("/staff/consents")
}

fn login_page(
    s: &StaffState,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let csrf = s.rng.token(24);
    let page = StaffLoginPage {
        bank_name: s.branding.bank_name.clone(),
        title: titled("Staff login", error.is_some()),
        nav: None,
        csrf: csrf.clone(),
        username: username.into(),
        error,
    };
    with_cookie(
        render(&page, status, &[]),
        &set_cookie(LOGIN_COOKIE, &csrf, "/", 900, SameSite::Strict),
    )
}

/// `GET /staff/login`.
pub async fn login_form(State(s): State<StaffState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && s.service
            .session(token, now(&s).unix_timestamp())
            .await
            .is_ok()
    {
        return see_other("/staff/consents");
    }
    login_page(&s, "", None, StatusCode::OK)
}

/// `POST /staff/login`.
pub async fn login(
    State(s): State<StaffState>,
    State(mtls): State<bulwark_web::MtlsConfig>,
    connection: Option<axum::Extension<ConnectionInfo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let username = form.get("username").unwrap_or("");
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let csrf_ok = !expected.is_empty()
        && form
            .get("csrf")
            .is_some_and(|c| bulwark_authz::constant_eq(c, expected));
    if !csrf_ok {
        tracing::warn!(target: "bulwark::security", reason = "csrf", "staff login form refused");
        return login_page(
            &s,
            username,
            Some("The form has expired; please log in again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    // Per-address throttling counts the member's address, not the load balancer in front.
    let address = connection
        .map(|c| bulwark_web::client_address(&mtls.0, c.peer.ip(), &headers).to_string())
        .unwrap_or_else(|| "-".into());
    let password = form.get("password").unwrap_or("");
    match s
        .service
        .login(username, password, &address, now(&s).unix_timestamp())
        .await
    {
        Ok(session) => {
            let lifetime = s.service.settings().session_lifetime_secs;
            let response = with_cookie(
                see_other("/staff/consents"),
                &set_cookie(
                    SESSION_COOKIE,
                    &session.token,
                    "/",
                    lifetime,
                    SameSite::Strict,
                ),
            );
            with_cookie(
                response,
                &set_cookie(LOGIN_COOKIE, "", "/", 0, SameSite::Strict),
            )
        }
        Err(e @ (StaffError::BadCredentials | StaffError::Throttled(_))) => login_page(
            &s,
            username,
            Some(e.to_string()),
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED),
        ),
        Err(e) => error(&s, None, &e),
    }
}

/// `POST /staff/logout`.
pub async fn logout(State(s): State<StaffState>, Staff(session): Staff, body: Bytes) -> Response {
    let form = parse_form(&body);
    match s
        .service
        .logout(&session, form.get("csrf"), now(&s).unix_timestamp())
        .await
    {
        Ok(()) => with_cookie(
            see_other("/staff/login"),
            &set_cookie(SESSION_COOKIE, "", "/", 0, SameSite::Strict),
        ),
        Err(e) => error(&s, nav(&session, ""), &e),
    }
}

fn kind_words(kind: ConsentKind) -> &'static str {
    match kind {
        ConsentKind::AccountAccess => "Account access",
        ConsentKind::DomesticPayment => "Domestic payment",
        ConsentKind::FundsConfirmation => "Funds confirmation",
    }
}

/// A date field (`YYYY-MM-DD`) as the start of that day, UTC; the day after with `end`.
fn date(value: Option<&str>, end: bool) -> Result<Option<OffsetDateTime>, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(v, &f).map_err(|_| format!("{v:?} is not a date (YYYY-MM-DD)"))?;
    let day = if end {
        day.next_day().unwrap_or(day)
    } else {
        day
    };
    Ok(Some(day.midnight().assume_utc()))
}

fn text(form: &Form, name: &str) -> String {
    form.get(name).unwrap_or_default().trim().to_owned()
}

fn nonempty(form: &Form, name: &str) -> Option<String> {
    Some(text(form, name)).filter(|v| !v.is_empty())
}

const STATUS_OPTIONS: [(&str, &str); 7] = [
    ("", "Any"),
    ("AwaitingAuthorisation", "Awaiting authorisation"),
    ("Authorised", "Authorised"),
    ("Rejected", "Rejected"),
    ("Revoked", "Revoked"),
    ("Expired", "Expired"),
    ("Consumed", "Consumed"),
];

const KIND_OPTIONS: [(&str, &str); 4] = [
    ("", "Any"),
    ("account-access", "Account access"),
    ("domestic-payment", "Domestic payment"),
    ("funds-confirmation", "Funds confirmation"),
];

/// Reads the search form into a search; the first unreadable filter is the error.
fn search_of(form: &Form) -> Result<ConsentSearch, String> {
    let status = match nonempty(form, "status") {
        Some(v) => Some(ConsentStatus::parse(&v).ok_or_else(|| format!("unknown status {v:?}"))?),
        None => None,
    };
    let kind = match nonempty(form, "kind") {
        Some(v) => Some(ConsentKind::parse(&v).ok_or_else(|| format!("unknown kind {v:?}"))?),
        None => None,
    };
    let order = match form.get("sort") {
        Some("updated") => ConsentOrder::Updated,
        _ => ConsentOrder::Created,
    };
    let after = match (nonempty(form, "after_at"), nonempty(form, "after_id")) {
        (Some(at), Some(id)) => Some(bulwark_consent::ConsentCursor {
            at: at.parse().map_err(|_| "bad page cursor".to_string())?,
            id,
        }),
        _ => None,
    };
    Ok(ConsentSearch {
        consent_id: nonempty(form, "consent_id"),
        status,
        kind,
        client_id: nonempty(form, "client_id"),
        psu_id: nonempty(form, "psu_id"),
        created_from: date(form.get("created_from"), false)?,
        created_to: date(form.get("created_to"), true)?,
        updated_from: date(form.get("updated_from"), false)?,
        updated_to: date(form.get("updated_to"), true)?,
        order,
        after,
        limit: 50,
        now: None,
    })
}

fn row(c: &bulwark_consent::Consent, now: OffsetDateTime) -> ConsentRow {
    ConsentRow {
        id: c.id.clone(),
        kind: kind_words(c.kind()).into(),
        status: c.status_at(now).to_string(),
        client_id: c.client_id.clone(),
        psu: c.psu_id.clone().unwrap_or_else(|| "-".into()),
        created: when_dt(c.created_at),
        updated: when_dt(c.status_updated_at),
    }
}

fn encode(pairs: &[(&str, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// `GET /staff/consents`.
pub async fn consents(
    State(s): State<StaffState>,
    Staff(session): Staff,
    RawQuery(query): RawQuery,
) -> Response {
    let form = parse_query(query.as_deref());
    let filters = ConsentFilters {
        consent_id: text(&form, "consent_id"),
        status: text(&form, "status"),
        status_options: STATUS_OPTIONS.to_vec(),
        kind: text(&form, "kind"),
        kind_options: KIND_OPTIONS.to_vec(),
        client_id: text(&form, "client_id"),
        psu_id: text(&form, "psu_id"),
        created_from: text(&form, "created_from"),
        created_to: text(&form, "created_to"),
        updated_from: text(&form, "updated_from"),
        updated_to: text(&form, "updated_to"),
        sort: if form.get("sort") == Some("updated") {
            "updated".into()
        } else {
            "created".into()
        },
    };
    let t = now(&s);
    let (rows, total, next, error_text, status) = match search_of(&form) {
        Ok(search) => match s.service.consents(&session, &search, t).await {
            Ok(page) => {
                let next = page.next.map(|cursor| {
                    encode(&[
                        ("consent_id", filters.consent_id.clone()),
                        ("status", filters.status.clone()),
                        ("kind", filters.kind.clone()),
                        ("client_id", filters.client_id.clone()),
                        ("psu_id", filters.psu_id.clone()),
                        ("created_from", filters.created_from.clone()),
                        ("created_to", filters.created_to.clone()),
                        ("updated_from", filters.updated_from.clone()),
                        ("updated_to", filters.updated_to.clone()),
                        ("sort", filters.sort.clone()),
                        ("after_at", cursor.at.to_string()),
                        ("after_id", cursor.id),
                    ])
                });
                let rows = page.consents.iter().map(|c| row(c, t)).collect();
                let total = if page.more {
                    format!("{}+", page.total)
                } else {
                    page.total.to_string()
                };
                (rows, total, next, None, StatusCode::OK)
            }
            Err(e) => return error(&s, nav(&session, "consents"), &e),
        },
        Err(why) => (
            Vec::new(),
            "0".into(),
            None,
            Some(why),
            StatusCode::BAD_REQUEST,
        ),
    };
    render(
        &StaffConsentsPage {
            bank_name: s.branding.bank_name.clone(),
            title: titled("Consents", error_text.is_some()),
            nav: nav(&session, "consents"),
            filters,
            error: error_text,
            rows,
            one: total == "1",
            total,
            next,
        },
        status,
        &[],
    )
}

async fn consent_page(
    s: &StaffState,
    session: &StaffSession,
    consent_id: &str,
    error_text: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let t = now(s);
    let detail = match s.service.consent(session, consent_id, t).await {
        Ok(d) => d,
        Err(e) => return error(s, nav(session, "consents"), &e),
    };
    let c = &detail.consent;
    let tokens = match (detail.refresh.issued, detail.refresh.last_issued) {
        (0, _) => "No refresh tokens issued.".to_string(),
        (n, last) => format!(
            "{n} refresh token{} issued, {} usable; last issued {}.",
            if n == 1 { "" } else { "s" },
            detail.refresh.active,
            last.map(when).unwrap_or_else(|| "-".into())
        ),
    };
    let view = ConsentView {
        id: c.id.clone(),
        kind: kind_words(c.kind()).into(),
        status: detail.status.to_string(),
        client_id: c.client_id.clone(),
        client_name: detail
            .client
            .as_ref()
            .and_then(|cl| cl.metadata.client_name.clone())
            .unwrap_or_else(|| c.client_id.clone()),
        psu: c.psu_id.clone().unwrap_or_else(|| "-".into()),
        created: when_dt(c.created_at),
        updated: when_dt(c.status_updated_at),
        summary: detail.summary.clone(),
        accounts: c.selected_accounts.clone(),
        tokens,
        history: detail
            .history
            .iter()
            .map(|h| HistoryRow {
                at: when_dt(h.at),
                actor: format!("{} {}", h.actor.kind.as_str(), h.actor.id),
                from: h.from.map_or_else(|| "-".into(), |f| f.to_string()),
                to: h.to.to_string(),
                reason: h.reason.clone().unwrap_or_default(),
            })
            .collect(),
        revocable: detail.revocable,
        access_revoked: detail.access_revoked.as_ref().map(|e| {
            format!(
                "revoked by {} on {}; the customer has not re-authenticated since",
                e.actor.id,
                when_dt(e.at)
            )
        }),
        ends_access_only: detail.ends_access_only,
        csrf: session.csrf.clone(),
    };
    render(
        &StaffConsentPage {
            bank_name: s.branding.bank_name.clone(),
            title: titled(&format!("Consent {}", c.id), error_text.is_some()),
            nav: nav(session, "consents"),
            c: view,
            error: error_text,
            notice,
        },
        status,
        &[],
    )
}

/// `GET /staff/consents/{consent_id}`.
pub async fn consent(
    State(s): State<StaffState>,
    Path(consent_id): Path<String>,
    Staff(session): Staff,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match parse_query(query.as_deref()).get("done") {
        Some("revoked") => Some("The consent was revoked.".to_string()),
        Some("withdrawn") => Some("The consent was withdrawn before it was authorised.".into()),
        Some("access-ended") => Some(
            "Access was revoked: every token issued under this consent stopped working. The \
             consent stays Authorised, as Open Banking requires, so the TPP may ask the customer \
             to re-authenticate it."
                .into(),
        ),
        _ => None,
    };
    consent_page(&s, &session, &consent_id, None, notice, StatusCode::OK).await
}

/// `POST /staff/consents/{consent_id}/revoke`.
pub async fn revoke(
    State(s): State<StaffState>,
    Path(consent_id): Path<String>,
    Staff(session): Staff,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    match s
        .service
        .revoke_consent(
            &session,
            form.get("csrf"),
            &consent_id,
            form.get("reason"),
            now(&s),
        )
        .await
    {
        Ok(done) => {
            let done = match done {
                Revocation::Withdrawn => "withdrawn",
                Revocation::AccessEnded => "access-ended",
                Revocation::Revoked => "revoked",
            };
            see_other(&format!("/staff/consents/{consent_id}?done={done}"))
        }
        Err(
            e @ (StaffError::BadRequest(_)
            | StaffError::Conflict(_)
            | StaffError::Forbidden(_)
            | StaffError::SignInAgain
            | StaffError::Csrf),
        ) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            consent_page(&s, &session, &consent_id, Some(e.to_string()), None, status).await
        }
        Err(e) => error(&s, nav(&session, "consents"), &e),
    }
}

fn client_row(c: &bulwark_core::Client) -> ClientRow {
    let m = &c.metadata;
    ClientRow {
        id: c.client_id.clone(),
        name: m.client_name.clone().unwrap_or_else(|| "-".into()),
        organisation: organisation(c),
        software: m.software_id.clone().unwrap_or_else(|| "-".into()),
        roles: roles(c),
        auth: m.token_endpoint_auth_method.as_str().into(),
        status: status_words(c.status).into(),
        registered: when(c.client_id_issued_at),
    }
}

fn organisation(c: &bulwark_core::Client) -> String {
    let m = &c.metadata;
    let oi = m
        .extra
        .get("organization_identifier")
        .and_then(serde_json::Value::as_str);
    match (m.org_id.as_deref(), oi) {
        (Some(org), Some(oi)) => format!("{org} ({oi})"),
        (Some(org), None) => org.into(),
        (None, Some(oi)) => oi.into(),
        (None, None) => "-".into(),
    }
}

fn roles(c: &bulwark_core::Client) -> String {
    if c.metadata.software_roles.is_empty() {
        "-".into()
    } else {
        c.metadata.software_roles.join(", ")
    }
}

fn status_words(status: ClientStatus) -> &'static str {
    match status {
        ClientStatus::Active => "Active",
        ClientStatus::Suspended => "Suspended",
    }
}

/// `GET /staff/clients`.
pub async fn clients(State(s): State<StaffState>, Staff(session): Staff) -> Response {
    match s.service.clients(&session).await {
        Ok(list) => render(
            &StaffClientsPage {
                bank_name: s.branding.bank_name.clone(),
                title: "Clients".into(),
                nav: nav(&session, "clients"),
                rows: list.iter().map(client_row).collect(),
            },
            StatusCode::OK,
            &[],
        ),
        Err(e) => error(&s, nav(&session, "clients"), &e),
    }
}

fn event_row(e: &bulwark_store::AuditEvent) -> EventRow {
    EventRow {
        at: when(e.at),
        actor: format!("{} {}", e.actor_kind, e.actor_id),
        action: e.action.clone(),
        subject: e.subject.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        request: e.request_id.clone().unwrap_or_default(),
    }
}

async fn client_page(
    s: &StaffState,
    session: &StaffSession,
    client_id: &str,
    error_text: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let t = now(s);
    let detail = match s.service.client(session, client_id, t).await {
        Ok(d) => d,
        Err(e) => return error(s, nav(session, "clients"), &e),
    };
    let c = &detail.client;
    let row = client_row(c);
    let certificate: Option<serde_json::Value> = detail
        .registration
        .as_ref()
        .and_then(|r| r.certificate.as_deref())
        .and_then(|json| serde_json::from_str(json).ok());
    let view = ClientView {
        id: row.id,
        name: row.name,
        status: row.status,
        active: c.status == ClientStatus::Active,
        organisation: row.organisation,
        software: row.software,
        roles: row.roles,
        auth: row.auth,
        subject: certificate
            .as_ref()
            .and_then(|v| v["subject"].as_str().map(str::to_owned))
            .or_else(|| c.metadata.tls_client_auth_subject_dn.clone())
            .unwrap_or_else(|| "-".into()),
        cert_roles: certificate
            .as_ref()
            .map(|v| {
                let roles: Vec<&str> = v["roles"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
                    .unwrap_or_default();
                let profile = v["profile"].as_str().unwrap_or("eidas");
                match (roles.is_empty(), profile) {
                    (true, "ob-directory") => {
                        "none (ob-directory certificate: roles from the registration)".into()
                    }
                    (true, _) => "none".into(),
                    (false, _) => format!("{} ({profile})", roles.join(", ")),
                }
            })
            .unwrap_or_else(|| "-".into()),
        registered: row.registered,
        registration: if detail.registration.is_some() {
            "dynamic registration".into()
        } else {
            "registered by the bank".into()
        },
        consents: detail
            .consents
            .consents
            .iter()
            .map(|c| self::row(c, t))
            .collect(),
        consent_total: if detail.consents.more {
            format!("{}+", detail.consents.total)
        } else {
            detail.consents.total.to_string()
        },
        events: detail.events.iter().map(event_row).collect(),
        can_act: session.role.can_act(),
        csrf: session.csrf.clone(),
    };
    render(
        &StaffClientPage {
            bank_name: s.branding.bank_name.clone(),
            title: titled(&format!("Client {client_id}"), error_text.is_some()),
            nav: nav(session, "clients"),
            c: view,
            error: error_text,
            notice,
        },
        status,
        &[],
    )
}

/// `GET /staff/clients/{client_id}`.
pub async fn client(
    State(s): State<StaffState>,
    Path(client_id): Path<String>,
    Staff(session): Staff,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match parse_query(query.as_deref()).get("done") {
        Some("suspended") => Some("The client was suspended.".to_string()),
        Some("activated") => Some("The client was activated.".to_string()),
        _ => None,
    };
    client_page(&s, &session, &client_id, None, notice, StatusCode::OK).await
}

/// `POST /staff/clients/{client_id}/status`.
pub async fn client_status(
    State(s): State<StaffState>,
    Path(client_id): Path<String>,
    Staff(session): Staff,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let active = form.get("active") == Some("true");
    match s
        .service
        .set_client_status(
            &session,
            form.get("csrf"),
            &client_id,
            active,
            form.get("reason"),
            now(&s),
        )
        .await
    {
        Ok(()) => see_other(&format!(
            "/staff/clients/{client_id}?done={}",
            if active { "activated" } else { "suspended" }
        )),
        Err(
            e @ (StaffError::BadRequest(_)
            | StaffError::Forbidden(_)
            | StaffError::SignInAgain
            | StaffError::Csrf),
        ) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            client_page(&s, &session, &client_id, Some(e.to_string()), None, status).await
        }
        Err(e) => error(&s, nav(&session, "clients"), &e),
    }
}

/// `GET /staff/audit`.
pub async fn audit(
    State(s): State<StaffState>,
    Staff(session): Staff,
    RawQuery(query): RawQuery,
) -> Response {
    let form = parse_query(query.as_deref());
    let filters = AuditFilters {
        action: text(&form, "action"),
        actor: text(&form, "actor"),
        subject: text(&form, "subject"),
        since: text(&form, "since"),
    };
    let since = date(form.get("since"), false)
        .ok()
        .flatten()
        .map(OffsetDateTime::unix_timestamp);
    let query = AuditQuery {
        since,
        actor_id: nonempty(&form, "actor"),
        action: nonempty(&form, "action"),
        subject: nonempty(&form, "subject"),
        before_seq: form.get("before").and_then(|b| b.parse().ok()),
        limit: 100,
        ..AuditQuery::default()
    };
    let events = match s.service.audit(&session, &query).await {
        Ok(events) => events,
        Err(e) => return error(&s, nav(&session, "audit"), &e),
    };
    let next = (events.len() == 100)
        .then(|| events.last())
        .flatten()
        .map(|last| {
            encode(&[
                ("action", filters.action.clone()),
                ("actor", filters.actor.clone()),
                ("subject", filters.subject.clone()),
                ("since", filters.since.clone()),
                ("before", last.seq.to_string()),
            ])
        });
    render(
        &StaffAuditPage {
            bank_name: s.branding.bank_name.clone(),
            title: "Audit trail".into(),
            nav: nav(&session, "audit"),
            filters,
            rows: events.iter().map(event_row).collect(),
            next,
        },
        StatusCode::OK,
        &[],
    )
}

async fn members_page(
    s: &StaffState,
    session: &StaffSession,
    error_text: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let members = match s.service.members(session).await {
        Ok(m) => m,
        Err(e) => return error(s, nav(session, "members"), &e),
    };
    render(
        &StaffMembersPage {
            bank_name: s.branding.bank_name.clone(),
            title: titled("Staff", error_text.is_some()),
            nav: nav(session, "members"),
            rows: members
                .iter()
                .map(|m| MemberRow {
                    username: m.username.clone(),
                    role: m.role.clone(),
                    since: when(m.created_at),
                    is_self: m.username == session.username,
                })
                .collect(),
            can_act: session.role.can_act(),
            csrf: session.csrf.clone(),
            error: error_text,
            notice,
        },
        status,
        &[],
    )
}

/// `GET /staff/members`.
pub async fn members(
    State(s): State<StaffState>,
    Staff(session): Staff,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match parse_query(query.as_deref()).get("done") {
        Some("added") => Some("The staff member was added.".to_string()),
        Some("role") => Some("The role was changed.".to_string()),
        Some("removed") => Some("The staff member was removed.".to_string()),
        _ => None,
    };
    members_page(&s, &session, None, notice, StatusCode::OK).await
}

fn role_of(form: &Form) -> Result<bulwark_staff::StaffRole, StaffError> {
    form.get("role")
        .and_then(bulwark_staff::StaffRole::parse)
        .ok_or_else(|| StaffError::BadRequest("choose viewer or admin".into()))
}

async fn member_answer(
    s: &StaffState,
    session: &StaffSession,
    result: Result<(), StaffError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => see_other(&format!("/staff/members?done={done}")),
        Err(
            e @ (StaffError::BadRequest(_)
            | StaffError::Forbidden(_)
            | StaffError::SignInAgain
            | StaffError::Csrf
            | StaffError::NotFound),
        ) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            members_page(s, session, Some(e.to_string()), None, status).await
        }
        Err(e) => error(s, nav(session, "members"), &e),
    }
}

/// `POST /staff/members`: add a member.
pub async fn add_member(
    State(s): State<StaffState>,
    Staff(session): Staff,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let result = match role_of(&form) {
        Ok(role) => {
            s.service
                .add_member(
                    &session,
                    form.get("csrf"),
                    form.get("username").unwrap_or("").trim(),
                    form.get("password").unwrap_or(""),
                    role,
                    now(&s).unix_timestamp(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    member_answer(&s, &session, result, "added").await
}

/// `POST /staff/members/{username}/role`.
pub async fn member_role(
    State(s): State<StaffState>,
    Path(username): Path<String>,
    Staff(session): Staff,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let result = match role_of(&form) {
        Ok(role) => {
            s.service
                .set_member_role(
                    &session,
                    form.get("csrf"),
                    &username,
                    role,
                    now(&s).unix_timestamp(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    member_answer(&s, &session, result, "role").await
}

/// `POST /staff/members/{username}/remove`.
pub async fn remove_member(
    State(s): State<StaffState>,
    Path(username): Path<String>,
    Staff(session): Staff,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let result = s
        .service
        .remove_member(
            &session,
            form.get("csrf"),
            &username,
            now(&s).unix_timestamp(),
        )
        .await;
    member_answer(&s, &session, result, "removed").await
}
