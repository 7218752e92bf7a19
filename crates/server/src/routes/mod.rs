//! The route table: every endpoint once, with its path and the discovery metadata member that
//! advertises it. The router and the discovery document are both built from this table, so a
//! path is never repeated by hand (DS-1).

mod authorize;
mod consents;
mod dcr;
mod discovery;
mod health;
mod jwks;
mod metrics;
mod oauth;
mod staff;
mod userinfo;

use axum::Router;
use axum::routing::{MethodRouter, get, post};

use bulwark_consent::ConsentKind;

pub use discovery::Capabilities;

use crate::state::AppState;

/// Every endpoint the server exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// OIDC Discovery 4: the provider metadata.
    Discovery,
    /// DS-2: the public signing keys.
    Jwks,
    /// OP-4: the process is up.
    Healthz,
    /// OP-4: the database is reachable.
    Readyz,
    /// OP-4: Prometheus metrics.
    Metrics,
    /// TK-1: the token endpoint.
    Token,
    /// TK-6: token introspection (RFC 7662).
    Introspect,
    /// TK-7: token revocation (RFC 7009).
    Revoke,
    /// CO-1: POST a consent of a kind.
    Consents(ConsentKind),
    /// CO-1: GET / DELETE one consent of a kind.
    Consent(ConsentKind),
    /// DCR-1: dynamic client registration (RFC 7591).
    Register,
    /// DCR-4: the client configuration endpoint (RFC 7592).
    RegisterClient,
    /// AZ-1: pushed authorization requests (RFC 9126).
    Par,
    /// AZ-3: the authorization endpoint.
    Authorize,
    /// AZ-6: the interaction page (login, then consent).
    Interaction,
    /// AZ-6: the login form's target.
    InteractionLogin,
    /// AZ-6: the consent form's target.
    InteractionDecision,
    /// OB v3.1.10 PIS: funds confirmation of an authorised payment consent (PSU token).
    PaymentFundsConfirmation,
    /// TK-5: OIDC userinfo.
    Userinfo,
    /// The pages' stylesheet.
    Stylesheet,
    /// The bank's logo.
    Logo,
    /// The OpenAPI 3.1 document of the JSON APIs.
    OpenApi,
    /// CO-5: the staff console's entry.
    StaffHome,
    /// CO-5: staff login.
    StaffLogin,
    /// CO-5: staff logout.
    StaffLogout,
    /// CO-5: consent search.
    StaffConsents,
    /// CO-5: one consent.
    StaffConsent,
    /// CO-5: revoke a consent.
    StaffConsentRevoke,
    /// CO-5: the clients.
    StaffClients,
    /// CO-5: one client.
    StaffClient,
    /// CO-5: suspend or activate a client.
    StaffClientStatus,
    /// OP-6: the audit trail.
    StaffAudit,
    /// CO-5: the staff members (list, add).
    StaffMembers,
    /// CO-5: change a member's role.
    StaffMemberRole,
    /// CO-5: remove a member.
    StaffMemberRemove,
}

impl Endpoint {
    /// The table itself.
    pub const ALL: [Endpoint; 39] = [
        Self::Discovery,
        Self::Jwks,
        Self::Healthz,
        Self::Readyz,
        Self::Metrics,
        Self::Token,
        Self::Introspect,
        Self::Revoke,
        Self::Consents(ConsentKind::AccountAccess),
        Self::Consent(ConsentKind::AccountAccess),
        Self::Consents(ConsentKind::DomesticPayment),
        Self::Consent(ConsentKind::DomesticPayment),
        Self::Consents(ConsentKind::FundsConfirmation),
        Self::Consent(ConsentKind::FundsConfirmation),
        Self::PaymentFundsConfirmation,
        Self::Register,
        Self::RegisterClient,
        Self::Par,
        Self::Authorize,
        Self::Interaction,
        Self::InteractionLogin,
        Self::InteractionDecision,
        Self::Userinfo,
        Self::Stylesheet,
        Self::Logo,
        Self::OpenApi,
        Self::StaffHome,
        Self::StaffLogin,
        Self::StaffLogout,
        Self::StaffConsents,
        Self::StaffConsent,
        Self::StaffConsentRevoke,
        Self::StaffClients,
        Self::StaffClient,
        Self::StaffClientStatus,
        Self::StaffAudit,
        Self::StaffMembers,
        Self::StaffMemberRole,
        Self::StaffMemberRemove,
    ];

    /// The path the endpoint is served at.
    pub fn path(self) -> &'static str {
        match self {
            Self::Discovery => "/.well-known/openid-configuration",
            Self::Jwks => "/jwks",
            Self::Healthz => "/healthz",
            Self::Readyz => "/readyz",
            Self::Metrics => "/metrics",
            Self::Token => "/token",
            Self::Introspect => "/introspect",
            Self::Revoke => "/revoke",
            Self::Consents(ConsentKind::AccountAccess) => {
                "/open-banking/v3.1/aisp/account-access-consents"
            }
            Self::Consent(ConsentKind::AccountAccess) => {
                "/open-banking/v3.1/aisp/account-access-consents/{consent_id}"
            }
            Self::Consents(ConsentKind::DomesticPayment) => {
                "/open-banking/v3.1/pisp/domestic-payment-consents"
            }
            Self::Consent(ConsentKind::DomesticPayment) => {
                "/open-banking/v3.1/pisp/domestic-payment-consents/{consent_id}"
            }
            Self::Consents(ConsentKind::FundsConfirmation) => {
                "/open-banking/v3.1/cbpii/funds-confirmation-consents"
            }
            Self::Consent(ConsentKind::FundsConfirmation) => {
                "/open-banking/v3.1/cbpii/funds-confirmation-consents/{consent_id}"
            }
            Self::PaymentFundsConfirmation => {
                "/open-banking/v3.1/pisp/domestic-payment-consents/{consent_id}/funds-confirmation"
            }
            Self::Register => "/register",
            Self::RegisterClient => "/register/{client_id}",
            Self::Par => "/par",
            Self::Authorize => "/authorize",
            Self::Interaction => "/authorize/i/{id}",
            Self::InteractionLogin => "/authorize/i/{id}/login",
            Self::InteractionDecision => "/authorize/i/{id}/decision",
            Self::Userinfo => "/userinfo",
            Self::Stylesheet => "/static/bulwark.css",
            Self::Logo => "/static/logo.svg",
            Self::OpenApi => "/openapi.json",
            Self::StaffHome => "/staff",
            Self::StaffLogin => "/staff/login",
            Self::StaffLogout => "/staff/logout",
            Self::StaffConsents => "/staff/consents",
            Self::StaffConsent => "/staff/consents/{consent_id}",
            Self::StaffConsentRevoke => "/staff/consents/{consent_id}/revoke",
            Self::StaffClients => "/staff/clients",
            Self::StaffClient => "/staff/clients/{client_id}",
            Self::StaffClientStatus => "/staff/clients/{client_id}/status",
            Self::StaffAudit => "/staff/audit",
            Self::StaffMembers => "/staff/members",
            Self::StaffMemberRole => "/staff/members/{username}/role",
            Self::StaffMemberRemove => "/staff/members/{username}/remove",
        }
    }

    /// The discovery metadata member that carries the endpoint's URL, if it is advertised.
    pub fn discovery_member(self) -> Option<&'static str> {
        match self {
            Self::Jwks => Some("jwks_uri"),
            Self::Token => Some("token_endpoint"),
            Self::Introspect => Some("introspection_endpoint"),
            Self::Revoke => Some("revocation_endpoint"),
            Self::Register => Some("registration_endpoint"),
            Self::Par => Some("pushed_authorization_request_endpoint"),
            Self::Authorize => Some("authorization_endpoint"),
            Self::Userinfo => Some("userinfo_endpoint"),
            Self::Interaction
            | Self::InteractionLogin
            | Self::InteractionDecision
            | Self::Stylesheet
            | Self::Logo
            | Self::OpenApi
            | Self::StaffHome
            | Self::StaffLogin
            | Self::StaffLogout
            | Self::StaffConsents
            | Self::StaffConsent
            | Self::StaffConsentRevoke
            | Self::StaffClients
            | Self::StaffClient
            | Self::StaffClientStatus
            | Self::StaffAudit
            | Self::StaffMembers
            | Self::StaffMemberRole
            | Self::StaffMemberRemove
            | Self::Discovery
            | Self::Healthz
            | Self::Readyz
            | Self::Metrics
            | Self::Consents(_)
            | Self::Consent(_)
            | Self::PaymentFundsConfirmation
            | Self::RegisterClient => None,
        }
    }

    /// Operations endpoints (health, readiness, metrics): served on the admin listener when
    /// `[http] admin_listen` is set, so they need not face the internet.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Healthz | Self::Readyz | Self::Metrics)
    }

    /// The staff console's pages: served on the staff listener when `[staff] listen` is set
    /// (a bank can keep the console off the internet), else on the main listener.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            Self::StaffHome
                | Self::StaffLogin
                | Self::StaffLogout
                | Self::StaffConsents
                | Self::StaffConsent
                | Self::StaffConsentRevoke
                | Self::StaffClients
                | Self::StaffClient
                | Self::StaffClientStatus
                | Self::StaffAudit
                | Self::StaffMembers
                | Self::StaffMemberRole
                | Self::StaffMemberRemove
        )
    }

    /// Whether the endpoint is a client-authenticated (mTLS) endpoint listed in
    /// `mtls_endpoint_aliases` (RFC 8705 section 5).
    pub fn is_mtls(self) -> bool {
        matches!(
            self,
            Self::Token
                | Self::Introspect
                | Self::Revoke
                | Self::Register
                | Self::Par
                | Self::Userinfo
        )
    }

    fn handler(self) -> MethodRouter<AppState> {
        match self {
            Self::Discovery => get(discovery::openid_configuration),
            Self::Jwks => get(jwks::jwks),
            Self::Healthz => get(health::healthz),
            Self::Readyz => get(health::readyz),
            Self::Metrics => get(metrics::render),
            Self::Token => post(oauth::token),
            Self::Introspect => post(oauth::introspect),
            Self::Revoke => post(oauth::revoke),
            Self::Consents(kind) => consents::bind::collection(kind),
            Self::Consent(kind) => consents::bind::item(kind),
            Self::PaymentFundsConfirmation => consents::bind::funds_confirmation(),
            Self::Register => post(dcr::register),
            Self::RegisterClient => get(dcr::read).put(dcr::update).delete(dcr::delete),
            Self::Par => post(authorize::par),
            Self::Authorize => get(authorize::authorize).post(authorize::authorize_form),
            Self::Interaction => get(authorize::interaction),
            Self::InteractionLogin => post(authorize::login),
            Self::InteractionDecision => post(authorize::decision),
            Self::Userinfo => get(userinfo::userinfo).post(userinfo::userinfo),
            Self::Stylesheet => get(authorize::stylesheet),
            Self::Logo => get(authorize::logo),
            Self::OpenApi => get(discovery::openapi),
            Self::StaffHome => get(staff::home),
            Self::StaffLogin => get(staff::login_form).post(staff::login),
            Self::StaffLogout => post(staff::logout),
            Self::StaffConsents => get(staff::consents),
            Self::StaffConsent => get(staff::consent),
            Self::StaffConsentRevoke => post(staff::revoke),
            Self::StaffClients => get(staff::clients),
            Self::StaffClient => get(staff::client),
            Self::StaffClientStatus => post(staff::client_status),
            Self::StaffAudit => get(staff::audit),
            Self::StaffMembers => get(staff::members).post(staff::add_member),
            Self::StaffMemberRole => post(staff::member_role),
            Self::StaffMemberRemove => post(staff::remove_member),
        }
    }
}

/// The router of the endpoints `serve` selects, with the layers every served request passes:
/// the deadline, repeated-header refusal, `x-fapi-interaction-id` on every bank-API answer,
/// metrics and the audit span.
fn served(
    state: AppState,
    deadline: std::time::Duration,
    serve: impl Fn(Endpoint) -> bool,
) -> Router {
    Endpoint::ALL
        .iter()
        .filter(|ep| serve(**ep))
        .fold(Router::new(), |router, ep| {
            router.route(ep.path(), ep.handler())
        })
        .layer(axum::middleware::from_fn_with_state(
            bulwark_web::deadline::RequestDeadline(deadline),
            bulwark_web::deadline::limit,
        ))
        .layer(axum::middleware::from_fn(
            bulwark_web::singleton::refuse_repeated,
        ))
        .layer(axum::middleware::from_fn(
            bulwark_web::interaction::echo_on_bank_apis,
        ))
        .layer(axum::middleware::from_fn(bulwark_web::metrics::track))
        .layer(axum::middleware::from_fn_with_state(
            state.audit_app,
            audit_scope,
        ))
        .with_state(state)
}

/// Builds the application router from the table; every request runs within `deadline`. With
/// `separate_admin`, the operations endpoints are left out (they get [`admin_router`]); with
/// `separate_staff`, the staff console (it gets [`staff_router`]).
pub fn router(
    state: AppState,
    deadline: std::time::Duration,
    separate_admin: bool,
    separate_staff: bool,
) -> Router {
    served(state, deadline, |ep| {
        let elsewhere = (separate_admin && ep.is_admin()) || (separate_staff && ep.is_staff());
        !elsewhere
    })
}

/// Runs the request in this application's audit span, so its security events land in this
/// application's audit trail (`audit_log`).
async fn audit_scope(
    axum::extract::State(app_id): axum::extract::State<u64>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    next.run(req)
        .instrument(tracing::info_span!(
            target: "bulwark::app",
            "bulwark_app",
            app_id
        ))
        .await
}

/// The operations endpoints alone, for the admin listener.
pub fn admin_router(state: AppState) -> Router {
    Endpoint::ALL
        .iter()
        .filter(|ep| ep.is_admin())
        .fold(Router::new(), |router, ep| {
            router.route(ep.path(), ep.handler())
        })
        .with_state(state)
}

/// The staff console alone (with the stylesheet and logo), for the staff listener.
pub fn staff_router(state: AppState, deadline: std::time::Duration) -> Router {
    served(state, deadline, |ep| {
        ep.is_staff() || matches!(ep, Endpoint::Stylesheet | Endpoint::Logo)
    })
}
