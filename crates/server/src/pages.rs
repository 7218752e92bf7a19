//! The PSU pages (AZ-6) rendered from the askama templates in `templates/`: one context
//! struct per page, and the one function that turns a rendered page into a response with the
//! page security headers from `bulwark_web::pages`. The staff console will add its structs
//! here and reuse the rest.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_consent::ConsentSummary;

/// The bank's branding, from `[pages]`.
#[derive(Clone, Debug)]
pub struct Branding {
    /// Shown in every page's header and title.
    pub bank_name: String,
    /// The logo's bytes and content type (`/static/logo.svg`).
    pub logo: (Vec<u8>, &'static str),
}

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// The TPP asking.
    pub client_name: String,
    /// Form action.
    pub action: String,
    /// CSRF token.
    pub csrf: String,
    /// Prefilled username.
    pub username: String,
    /// Error message.
    pub error: Option<String>,
    /// The payment being authorised, for a payment consent.
    pub payment: Option<bulwark_consent::PaymentLines>,
    /// The payment's facts (account paid from, the bank's expected date and charges).
    pub facts: Vec<bulwark_consent::Fact>,
    /// A complete payment order: logging in authorises it.
    pub pays_on_login: bool,
    /// Where Cancel posts (the decision endpoint, `decision=deny`).
    pub cancel_action: String,
}

/// One account the PSU may choose on the consent page.
#[derive(Clone, Debug)]
pub struct AccountChoice {
    /// Account id (the checkbox value).
    pub id: String,
    /// Nickname.
    pub name: String,
    /// Sort code and number, or IBAN.
    pub identification: String,
    /// Currency.
    pub currency: String,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// The TPP asking.
    pub client_name: String,
    /// The PSU's name.
    pub psu_name: String,
    /// Form action.
    pub action: String,
    /// CSRF token.
    pub csrf: String,
    /// Error message.
    pub error: Option<String>,
    /// The consent in words.
    pub summary: ConsentSummary,
    /// Accounts to choose from.
    pub accounts: Vec<AccountChoice>,
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Bank name.
    pub bank_name: String,
    /// Page title.
    pub title: String,
    /// What went wrong, in words for the PSU.
    pub message: String,
    /// A reference to quote to support.
    pub reference: Option<String>,
}

/// Renders a page with its status and the page headers; `form_action` lists the extra origins
/// the page's forms may lead to.
pub fn render(page: &impl Template, status: StatusCode, form_action: &[&str]) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            bulwark_web::pages::page_headers(headers, form_action);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            let mut response =
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
            bulwark_web::pages::page_headers(response.headers_mut(), &[]);
            response
        }
    }
}

/// The error page for a failed authorization step.
pub fn error_page(branding: &Branding, e: &bulwark_authz::AuthzError, reference: &str) -> Response {
    let title = match e {
        bulwark_authz::AuthzError::Internal(detail) => {
            tracing::error!(reference, error = %detail, "authorization step failed");
            "Something went wrong"
        }
        bulwark_authz::AuthzError::Unavailable(detail) => {
            tracing::warn!(reference, error = %detail, "authorization step deferred: database unavailable");
            "Please try again in a moment"
        }
        other => {
            tracing::info!(reference, error = %other, "authorization step refused");
            "Something went wrong"
        }
    };
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = render(
        &ErrorPage {
            bank_name: branding.bank_name.clone(),
            title: title.into(),
            message: e.message(),
            reference: Some(reference.to_string()),
        },
        status,
        &[],
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(bulwark_web::ob_error::RETRY_AFTER_SECS),
        );
    }
    response
}

/// The stylesheet, compiled in.
pub const STYLESHEET: &str = include_str!("../../../templates/static/bulwark.css");

/// The default logo, compiled in; `[pages] logo` replaces it.
pub const DEFAULT_LOGO: &[u8] = include_bytes!("../../../templates/static/logo.svg");
