//! Handler state, one sub-state per area (axum `FromRef`): a handler sees the services of its
//! area and nothing else; no handler sees the store.

use std::sync::Arc;

use axum::extract::FromRef;
use bulwark_core::Clock;
use bulwark_jose::KeySet;
use bulwark_store::SqlStore;
use bulwark_web::MtlsConfig;

/// Everything the router holds. axum clones the state for every request, so it is one `Arc`;
/// a handler's `State<Sub>` then clones only its own area (a few `Arc`s).
#[derive(Clone)]
pub struct AppState(Arc<Areas>);

impl AppState {
    /// Wraps the areas.
    pub fn new(areas: Areas) -> Self {
        Self(Arc::new(areas))
    }
}

impl std::ops::Deref for AppState {
    type Target = Areas;

    fn deref(&self) -> &Areas {
        &self.0
    }
}

/// The per-area states.
pub struct Areas {
    /// Discovery, JWKS, health.
    pub meta: MetaState,
    /// `/token`, `/introspect`, `/revoke`.
    pub oauth: OAuthState,
    /// `/register`.
    pub registration: RegistrationState,
    /// The OB consent APIs.
    pub consents: ConsentState,
    /// How client certificates reach us (CERT-1 / CERT-2).
    pub mtls: MtlsConfig,
    /// PAR, `/authorize` and the PSU pages.
    pub authz: AuthzState,
    /// The staff console.
    pub staff: StaffState,
    /// This application's id in the audit trail's routing (`audit_log`).
    pub audit_app: u64,
}

/// The staff console (CO-5).
#[derive(Clone)]
pub struct StaffState {
    /// The console's rules.
    pub service: Arc<bulwark_staff::StaffService>,
    /// The bank's name and logo on the pages.
    pub branding: Arc<crate::pages::Branding>,
    /// The clock sessions and actions read.
    pub clock: Arc<dyn Clock>,
    /// Tokens for the login form and support references.
    pub rng: Arc<dyn bulwark_core::Rng>,
}

/// PAR, `/authorize` and the PSU pages.
#[derive(Clone)]
pub struct AuthzState {
    /// Our issuer identifier (endpoint URLs).
    pub issuer: Arc<str>,
    /// Pushed requests.
    pub par: Arc<bulwark_par::ParService>,
    /// The authorization interaction.
    pub authz: Arc<bulwark_authz::AuthzService>,
    /// The bank's name and logo on the pages.
    pub branding: Arc<crate::pages::Branding>,
    /// Support references on error pages.
    pub rng: Arc<dyn bulwark_core::Rng>,
}

/// The issuer and published keys, and whether the database answers.
#[derive(Clone)]
pub struct MetaState {
    /// Our issuer identifier.
    pub issuer: Arc<str>,
    /// The signing keys (published at `/jwks`).
    pub keys: KeySet,
    /// Further public keys published at `/jwks` (the response-signing key with its `x5c`).
    pub published: Arc<[serde_json::Map<String, serde_json::Value>]>,
    /// Readiness (OP-4).
    pub readiness: Readiness,
    /// What discovery advertises beyond the route table.
    pub capabilities: Arc<crate::routes::Capabilities>,
}

/// Answers whether this node should be sent requests: not once it is shutting down, and only
/// while the database is reachable.
#[derive(Clone)]
pub struct Readiness {
    store: SqlStore,
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    /// Over the store.
    pub fn new(store: SqlStore) -> Self {
        Self {
            store,
            draining: Arc::default(),
        }
    }

    /// The node is shutting down: from now on it is not ready, so a load balancer checking
    /// `/readyz` (on the admin listener, which answers during the drain) sends it nothing new.
    pub fn begin_shutdown(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether [`Readiness::begin_shutdown`] was called.
    pub fn shutting_down(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `Ok` when the database answers within a second: a probe that hangs while the
    /// database is away would tell the load balancer nothing.
    pub async fn check(&self) -> Result<(), bulwark_store::StoreError> {
        match tokio::time::timeout(std::time::Duration::from_secs(1), self.store.ping()).await {
            Ok(answer) => answer,
            Err(_) => Err(bulwark_store::StoreError::Unavailable(
                "no answer within 1 s".into(),
            )),
        }
    }
}

/// The client-authenticated OAuth endpoints.
#[derive(Clone)]
pub struct OAuthState {
    /// Our issuer identifier (endpoint URLs for assertion audiences).
    pub issuer: Arc<str>,
    /// The token service.
    pub tokens: Arc<bulwark_token::TokenService>,
}

/// Dynamic client registration.
#[derive(Clone)]
pub struct RegistrationState {
    /// The registration service.
    pub dcr: Arc<bulwark_dcr::DcrService>,
    /// Admits a client credentials access token for OB DCR 3.3 management calls.
    pub guard: Arc<bulwark_resource::ResourceGuard>,
}

/// The OB consent APIs.
#[derive(Clone)]
pub struct ConsentState {
    /// The public base URL of the bank's APIs (`Links.Self`): `consents.api_base`, else the
    /// issuer.
    pub api_base: Arc<str>,
    /// The consent service.
    pub service: bulwark_consent::ConsentService,
    /// Resource-request enforcement (token, certificate, QWAC, signature policy).
    pub guard: Arc<bulwark_resource::ResourceGuard>,
    /// The clock consent decisions read.
    pub clock: Arc<dyn Clock>,
    /// The bank's signer for answers of signed endpoints, when configured.
    pub response_signer: Option<Arc<bulwark_consent::ResponseSigner>>,
}

macro_rules! sub_state {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

sub_state!(
    meta: MetaState,
    oauth: OAuthState,
    registration: RegistrationState,
    consents: ConsentState,
    mtls: MtlsConfig,
    authz: AuthzState,
    staff: StaffState,
);
