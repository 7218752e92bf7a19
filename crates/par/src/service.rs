//! The PAR endpoint (RFC 9126) and the request resolution `/authorize` starts with.

use std::sync::Arc;

use bulwark_clients::{AuthInput, ClientAuthenticator, ClientDirectory, RegisteredClient};
use bulwark_core::{ClientStatus, Clock, Form, Profile, Rng};
use bulwark_store::{AuthorizationStore, PushedRequest};
use serde::Serialize;

use crate::checks::{self, Ctx};
use crate::{AuthorizationRequest, ParError, ParSettings, Params, verify_request_object};

/// RFC 9126 2.2: the URN prefix of the request_uri values we hand out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// RFC 9126 2.2 success response.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PushedResponse {
    /// The reference to pass to `/authorize`.
    pub request_uri: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// The parts a [`ParService`] is built from.
pub struct ParServiceParts {
    /// Our issuer identifier (request objects' `aud`).
    pub issuer: String,
    /// Settings.
    pub settings: ParSettings,
    /// The profile of clients that name none (AZ-3).
    pub default_profile: Profile,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Randomness (request_uri values).
    pub rng: Arc<dyn Rng>,
    /// Client lookup and keys.
    pub directory: Arc<ClientDirectory>,
    /// Client authentication at `/par`.
    pub authenticator: Arc<ClientAuthenticator>,
    /// Pushed requests.
    pub store: Arc<dyn AuthorizationStore>,
}

/// Pushes and resolves authorization requests.
pub struct ParService {
    issuer: String,
    settings: ParSettings,
    default_profile: Profile,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    directory: Arc<ClientDirectory>,
    authenticator: Arc<ClientAuthenticator>,
    store: Arc<dyn AuthorizationStore>,
}

impl std::fmt::Debug for ParService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParService")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A resolved request and the client it belongs to.
#[derive(Debug)]
pub struct Resolved {
    /// The validated request.
    pub request: AuthorizationRequest,
    /// The client.
    pub client: Arc<RegisteredClient>,
    /// The pushed request it came from (consumed when the authorization completes).
    pub request_uri: Option<String>,
}

impl ParService {
    /// Builds the service; refuses a pushed-request lifetime outside 1..600 s (AZ-1, FAPI 2.0
    /// SP 5.3.2.2: `expires_in` < 600).
    pub fn new(parts: ParServiceParts) -> Result<Self, String> {
        parts.settings.check()?;
        Ok(Self {
            issuer: parts.issuer,
            settings: parts.settings,
            default_profile: parts.default_profile,
            clock: parts.clock,
            rng: parts.rng,
            directory: parts.directory,
            authenticator: parts.authenticator,
            store: parts.store,
        })
    }

    /// A client by id (the pages show its name; authz reads its metadata).
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<RegisteredClient>>, ParError> {
        Ok(self.directory.get(client_id).await?)
    }

    /// The client's `jwks_uri` keys when its ID tokens are encrypted to a key registered by
    /// reference (authz encrypts the hybrid flow's ID token to them, TK-5).
    pub async fn id_token_encryption_keys(
        &self,
        client: &RegisteredClient,
    ) -> Result<Option<bulwark_jose::PublicKeySet>, ParError> {
        Ok(self.directory.id_token_encryption_keys(client).await?)
    }

    /// The settings in force (discovery).
    pub fn settings(&self) -> &ParSettings {
        &self.settings
    }

    /// The server's default profile.
    pub fn default_profile(&self) -> Profile {
        self.default_profile
    }

    /// `POST /par`: authenticate the client, validate the request (AZ-1, AZ-2), store it.
    /// The request is checked before anything is stored, so a refused push stores no request;
    /// its client assertion is spent all the same.
    pub async fn push(&self, input: &AuthInput<'_>) -> Result<PushedResponse, ParError> {
        let form = input.form;
        // RFC 9126 2.1: request_uri must not be sent to the PAR endpoint.
        if form.get("request_uri").is_some() {
            return Err(ParError::BadRequest(
                "request_uri is not allowed at the pushed authorization request endpoint".into(),
            ));
        }
        let now = self.clock.unix_time();
        // The assertion's jti is claimed with the pushed request (one write per push).
        let (client, pending) = self.authenticator.authenticate_deferred(input, now).await?;
        let request = match self.validate(&client.client, form, true).await {
            Ok(request) => request,
            Err(refused) => {
                // The assertion authenticated this push: it is spent although the request
                // is refused (OIDC Core 9: a client assertion is used once), so it cannot
                // probe the client's registration again.
                self.authenticator
                    .claim(&client, pending, input.endpoint_url)
                    .await?;
                return Err(refused);
            }
        };
        let rc = client.client;
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", self.rng.token(24));
        let lifetime = self.settings.request_uri_lifetime_secs;
        let text =
            serde_json::to_string(&request).map_err(|e| ParError::Internal(e.to_string()))?;
        let pushed = PushedRequest {
            request_uri: request_uri.clone(),
            client_id: rc.client.client_id.clone(),
            request: text,
            expires_at: now.secs().saturating_add(lifetime),
        };
        match pending {
            Some(p) => {
                let claim = bulwark_store::JtiClaim {
                    namespace: p.namespace,
                    jti: p.jti,
                    expires_at: p.expires_at,
                };
                if !self.store.push_with_claim(&pushed, &claim).await? {
                    tracing::warn!(target: "bulwark::security", client_id = %rc.client.client_id, "client_assertion jti replayed at PAR");
                    return Err(ParError::ClientAuth(
                        "client_assertion jti was already used (replay)".into(),
                    ));
                }
            }
            None => self.store.insert_pushed_request(&pushed).await?,
        }
        Ok(PushedResponse {
            request_uri,
            expires_in: lifetime,
        })
    }

    /// `GET /authorize`: the request a browser brings, by reference (a pushed request, usable
    /// until an authorization with it completes) or, where the profile allows, by value (a signed request object). Every error
    /// here is shown on an error page: the redirect URI is not yet trusted.
    pub async fn resolve(&self, query: &Form) -> Result<Resolved, ParError> {
        let client_id = query.require("client_id")?;
        let rc = self
            .directory
            .get(client_id)
            .await?
            .filter(|rc| rc.client.status == ClientStatus::Active)
            .ok_or_else(|| ParError::BadRequest("unknown client_id".into()))?;
        let profile = rc.client.metadata.profile(self.default_profile);
        if let Some(uri) = query.get("request_uri") {
            if query.get("request").is_some() {
                return Err(ParError::BadRequest(
                    "request and request_uri cannot both be sent".into(),
                ));
            }
            let request = self.pushed(uri, &rc).await?;
            return Ok(Resolved {
                request,
                client: rc,
                request_uri: Some(uri.to_string()),
            });
        }
        let require_par = match profile {
            Profile::Fapi2 => true,
            Profile::Fapi1Advanced => self.settings.require_par,
        };
        if require_par {
            return Err(ParError::BadRequest(
                "this client must push its authorization requests (PAR); request_uri is required"
                    .into(),
            ));
        }
        if query.get("request").is_none() {
            return Err(ParError::BadRequest(
                "FAPI 1.0 Advanced requires a signed request object".into(),
            ));
        }
        let request = self.validate(&rc, query, false).await?;
        // OIDC Core 6.1: the query's response_type (and client_id, checked above through the
        // object's iss) must agree with the request object.
        if let Some(rt) = query.get("response_type")
            && crate::ResponseType::parse(rt) != Some(request.response_type)
        {
            return Err(ParError::BadRequest(
                "response_type in the query does not match the request object".into(),
            ));
        }
        Ok(Resolved {
            request,
            client: rc,
            request_uri: None,
        })
    }

    /// RFC 9126 4 / FAPI: an unexpired request_uri of this client. It may be opened again
    /// (a reload) until the client has its answer: the authorization completing, or an error
    /// redirect from `/authorize`, deletes it.
    async fn pushed(
        &self,
        uri: &str,
        rc: &RegisteredClient,
    ) -> Result<AuthorizationRequest, ParError> {
        if !uri.starts_with(REQUEST_URI_PREFIX) {
            return Err(ParError::RequestUri(
                "not a request_uri this server issued".into(),
            ));
        }
        let now = self.clock.unix();
        let pushed = self
            .store
            .get_pushed_request(uri, now)
            .await?
            .ok_or_else(|| ParError::RequestUri("unknown, already used or expired".into()))?;
        // RFC 9126 4: bound to the client that pushed it.
        if pushed.client_id != rc.client.client_id {
            tracing::warn!(target: "bulwark::security", client_id = %rc.client.client_id, owner = %pushed.client_id, "request_uri of another client presented");
            return Err(ParError::RequestUri("issued to another client".into()));
        }
        serde_json::from_str(&pushed.request).map_err(|e| ParError::Internal(e.to_string()))
    }

    /// Parses the request (request object or plain parameters) and runs the check pipeline.
    async fn validate(
        &self,
        rc: &RegisteredClient,
        form: &Form,
        pushed: bool,
    ) -> Result<AuthorizationRequest, ParError> {
        let params = match form.get("request") {
            Some(jwt) => Params::from_object(
                verify_request_object(
                    jwt,
                    rc,
                    &self.directory,
                    &self.issuer,
                    self.settings.clock_skew_secs,
                    self.clock.unix_time(),
                )
                .await?,
            ),
            None => Params::from_form(form),
        };
        let ctx = Ctx {
            client: &rc.client,
            profile: rc.client.metadata.profile(self.default_profile),
            params: &params,
            pushed,
        };
        checks::run(&ctx)
    }
}
