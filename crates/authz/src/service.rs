//! The authorization interaction: begin at `/authorize`, show a page, log the PSU in,
//! record the decision. Each step re-reads the interaction from the database (nodes are
//! stateless), checks that the browser is the one that started it (a cookie whose hash the
//! interaction holds) and, for forms, the CSRF token the page carried.

use std::sync::Arc;

use bulwark_consent::{
    ConsentError, ConsentKind, ConsentService, ConsentStatus, ConsentSummary, Decision, Fact,
    PaymentLines, decision_transition,
};
use bulwark_core::{Clock, Form, OAuthError, OAuthErrorCode, Rng};
use bulwark_jose::{Alg, KeySet};
use bulwark_par::{AuthorizationRequest, ParService, ResponseType};
use bulwark_store::{AuthorizationStore, CodeRecord, Interaction, PsuSession, ThrottleStore};
use bulwark_token::{
    CodeGrant, IdTokenClaims, SubjectType, half_hash, secret_hash, sector_of, sign_id_token,
};

use crate::response::{ResponseSigner, error_redirect, success_redirect};
use crate::{
    Account, AccountDirectory, AuthzError, AuthzSettings, LoginThrottle, Psu, PsuDirectory,
};

/// The parts an [`AuthzService`] is built from.
pub struct AuthzParts {
    /// Our issuer.
    pub issuer: String,
    /// Settings.
    pub settings: AuthzSettings,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Randomness (interaction ids, cookies, CSRF tokens, codes).
    pub rng: Arc<dyn Rng>,
    /// Request resolution (PAR, request objects).
    pub par: Arc<ParService>,
    /// Consents (AZ-5).
    pub consents: ConsentService,
    /// Interactions, codes, sessions.
    pub store: Arc<dyn AuthorizationStore>,
    /// The failed-login counters every node shares (AZ-6).
    pub throttle: Arc<dyn ThrottleStore>,
    /// PSU authentication.
    pub psus: Arc<dyn PsuDirectory>,
    /// PSU accounts.
    pub accounts: Arc<dyn AccountDirectory>,
    /// Signing keys (ID tokens, JARM).
    pub keys: KeySet,
    /// Default signing algorithm.
    pub default_alg: Alg,
    /// Pairwise salt (AZ-8), used when `subject_type` is `pairwise`.
    pub pairwise_salt: Vec<u8>,
}

/// Runs authorizations.
pub struct AuthzService {
    issuer: String,
    settings: AuthzSettings,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    par: Arc<ParService>,
    consents: ConsentService,
    store: Arc<dyn AuthorizationStore>,
    psus: Arc<dyn PsuDirectory>,
    accounts: Arc<dyn AccountDirectory>,
    keys: KeySet,
    default_alg: Alg,
    subject: SubjectType,
    throttle: LoginThrottle,
}

impl std::fmt::Debug for AuthzService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzService")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// What `/authorize` leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// Continue on the interaction's pages; the browser gets `browser_secret` as a cookie.
    Interaction {
        /// The interaction id (in the page URLs).
        id: String,
        /// The cookie value binding the interaction to this browser.
        browser_secret: String,
        /// Seconds the interaction lives.
        lifetime: i64,
    },
    /// Back to the client with an error (its redirect URI validated).
    Redirect(String),
}

/// The page an interaction shows now.
#[derive(Debug)]
pub enum View {
    /// The login form.
    Login {
        /// The TPP's name.
        client_name: String,
        /// CSRF token for the form.
        csrf: String,
        /// The payment, for a payment consent: shown while the PSU authenticates (OB CEG:
        /// amount, currency and payee on a screen of the authentication journey).
        payment: Option<Box<PaymentLines>>,
        /// The payment's facts (the account it is paid from, the bank's expected date and
        /// charges), for a payment consent.
        facts: Vec<Fact>,
        /// A payment order complete with its account: logging in authorises it, with no
        /// further step (so everything the consent page would show is on the login page).
        pays_on_login: bool,
        /// Where Cancel sends the customer (its origin goes into the page's `form-action`).
        redirect_uri: String,
    },
    /// The consent page.
    Consent {
        /// The TPP's name.
        client_name: String,
        /// The PSU's name.
        psu_name: String,
        /// CSRF token for the form.
        csrf: String,
        /// The consent in words.
        summary: Box<ConsentSummary>,
        /// The PSU's accounts to pick from (when the consent needs a choice).
        accounts: Vec<Account>,
        /// Where the browser goes after the decision (its origin belongs in `form-action`).
        redirect_uri: String,
    },
    /// Back to the client with an error: the consent can no longer be authorised (withdrawn,
    /// expired, or its payment's cut-off passed while the PSU was on our pages).
    Refused(String),
}

/// What a login attempt leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Logged in; the browser gets the session cookie (if sessions are remembered).
    LoggedIn {
        /// Session cookie value.
        session_secret: Option<String>,
        /// Its lifetime, seconds.
        lifetime: i64,
        /// Where the browser goes when the login itself completed the authorisation (a payment
        /// order complete with its account, OB CEG): back to the client. `None`: on to the
        /// consent page.
        decided: Option<String>,
    },
    /// Not logged in; the login page is shown again with this message.
    Failed(String),
    /// Logged in, but below the essential `acr` the client asked for, or not the End-User its
    /// `sub` claim names: back to the client with this error redirect.
    Refused(String),
    /// The form was sent again after the login had already finished the interaction (a double
    /// click on "Log in and pay"): back to the client with the redirect it finished with.
    Replayed(String),
}

/// What a decision leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Decided {
    /// Back to the client (success or `access_denied`).
    Redirect(String),
    /// The consent page again with this message (e.g. no account selected).
    Retry(String),
}

/// What the TPP reads when its payment consent's cut-off passed before the PSU authorised it
/// (OB "CutOffDateTime Behaviour": the consent is Rejected).
const CUT_OFF_PASSED: &str = "the payment's cut-off time has passed; the consent is rejected";

/// The generic failed-login message: never says whether the user exists (AZ-6).
const WRONG_CREDENTIALS: &str = "The username or password is not right. Please try again.";

/// What a throttled login is told: how long to wait.
fn too_many_attempts(wait: i64) -> String {
    format!("Too many attempts. Please wait {wait} seconds and try again.")
}

impl AuthzService {
    /// Builds the service.
    pub fn new(parts: AuthzParts) -> Result<Self, String> {
        parts.settings.check()?;
        let subject = if parts.settings.subject_type == "public" {
            SubjectType::Public
        } else {
            SubjectType::Pairwise {
                salt: parts.pairwise_salt,
            }
        };
        Ok(Self {
            throttle: LoginThrottle::new(
                parts.settings.login_failures_before_delay,
                parts.throttle,
            ),
            issuer: parts.issuer,
            settings: parts.settings,
            clock: parts.clock,
            rng: parts.rng,
            par: parts.par,
            consents: parts.consents,
            store: parts.store,
            psus: parts.psus,
            accounts: parts.accounts,
            keys: parts.keys,
            default_alg: parts.default_alg,
            subject,
        })
    }

    /// `subject_types_supported`.
    pub fn subject_type(&self) -> &'static str {
        self.subject.as_str()
    }

    /// `GET /authorize`: resolve the request, check its consent (AZ-5), start the interaction.
    /// `session_secret` is the PSU's session cookie, if the browser has one.
    pub async fn begin(
        &self,
        query: &Form,
        session_secret: Option<&str>,
    ) -> Result<Begin, AuthzError> {
        let resolved = self.par.resolve(query).await?;
        let req = resolved.request;
        let request_uri = resolved.request_uri;
        let now = self.clock.unix();
        // From here on the redirect URI is validated: errors go to the client.
        let consent = match self
            .consents
            .for_authorisation(&req.intent_id, &req.client_id, time_of(now)?)
            .await
        {
            Ok(c) => c,
            // The database is away: the PSU tries again; the client is told nothing yet.
            Err(ConsentError::Store(e)) if e.is_unavailable() => {
                return Err(AuthzError::Unavailable(e.to_string()));
            }
            // OB "CutOffDateTime Behaviour": the consent is now Rejected; the PSU cannot
            // authorise it.
            Err(ConsentError::CutOffPassed) => {
                return self
                    .redirect_error(
                        &req,
                        request_uri.as_deref(),
                        OAuthErrorCode::AccessDenied,
                        CUT_OFF_PASSED,
                        now,
                    )
                    .await;
            }
            Err(e) => {
                tracing::warn!(target: "bulwark::security", client_id = %req.client_id, consent_id = %req.intent_id, error = %e, "authorization for an unusable consent");
                let description = match e {
                    ConsentError::NotFound => {
                        "the openbanking_intent_id names no consent of this client"
                    }
                    _ => "the consent is not awaiting authorisation",
                };
                return self
                    .redirect_error(
                        &req,
                        request_uri.as_deref(),
                        OAuthErrorCode::InvalidRequest,
                        description,
                        now,
                    )
                    .await;
            }
        };
        if !req.scope.iter().any(|s| s == consent.kind().scope()) {
            return self
                .redirect_error(
                    &req,
                    request_uri.as_deref(),
                    OAuthErrorCode::InvalidScope,
                    &format!(
                        "a {} consent needs the {} scope",
                        consent.kind().as_str(),
                        consent.kind().scope()
                    ),
                    now,
                )
                .await;
        }
        // A remembered login serves account access only. A payment needs strong customer
        // authentication dynamically linked to its amount and payee (PSD2 RTS art. 5; OB CEG:
        // "ASPSPs must apply SCA including dynamic linking"), and a funds-confirmation consent
        // the PSU's explicit consent (PSR 68(5)(b)): the PSU logs in for each.
        let session = if consent.kind() == ConsentKind::AccountAccess {
            self.usable_session(&req, session_secret, now).await?
        } else {
            None
        };
        if req.prompt.as_deref() == Some("none") {
            let code = if session.is_some() {
                OAuthErrorCode::ConsentRequired
            } else {
                OAuthErrorCode::LoginRequired
            };
            return self
                .redirect_error(
                    &req,
                    request_uri.as_deref(),
                    code,
                    "the customer must take part in this authorisation",
                    now,
                )
                .await;
        }
        let id = self.rng.token(18);
        let browser_secret = self.rng.token(24);
        let lifetime = self.settings.interaction_lifetime_secs;
        let text = serde_json::to_string(&req).map_err(|e| AuthzError::Internal(e.to_string()))?;
        self.store
            .insert_interaction(&Interaction {
                id: id.clone(),
                browser_hash: secret_hash(&browser_secret),
                csrf: self.rng.token(24),
                client_id: req.client_id.clone(),
                consent_id: req.intent_id.clone(),
                request: text,
                request_uri,
                psu_id: session.as_ref().map(|s| s.subject.clone()),
                psu_name: session.as_ref().map(|s| s.display_name.clone()),
                auth_time: session.as_ref().map(|s| s.auth_time),
                acr: session.as_ref().map(|s| s.acr.clone()),
                expires_at: now.saturating_add(lifetime),
                outcome: None,
            })
            .await?;
        Ok(Begin::Interaction {
            id,
            browser_secret,
            lifetime,
        })
    }

    /// A remembered login that this request may use: not when `prompt=login`, nor older than
    /// `max_age` (OIDC Core 3.1.2.1).
    async fn usable_session(
        &self,
        req: &AuthorizationRequest,
        secret: Option<&str>,
        now: i64,
    ) -> Result<Option<PsuSession>, AuthzError> {
        let Some(secret) = secret else {
            return Ok(None);
        };
        let prompt_login = req
            .prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|w| w == "login"));
        if prompt_login {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .get_psu_session(&secret_hash(secret), now)
            .await?
        else {
            return Ok(None);
        };
        if let Some(max_age) = req.max_age
            && session.auth_time.saturating_add(max_age) < now
        {
            return Ok(None);
        }
        // OIDC Core 5.5.1.1: a login below the essential acr asked for is not reused; the PSU
        // logs in again (and may reach it).
        if !req.acr.met_by(Some(&session.acr)) {
            return Ok(None);
        }
        // OIDC Core 3.1.2.2: a request naming its End-User by `sub` is not answered from
        // another PSU's session; the PSU logs in (and `prompt=none` is `login_required`).
        if !self.is_requested_user(req, &session.subject).await? {
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// The subject the client knows the PSU `subject` by, as its ID token carries it: pairwise
    /// per sector (AZ-8) unless the server is configured public.
    fn client_subject(
        &self,
        meta: &bulwark_core::ClientMetadata,
        req: &AuthorizationRequest,
        subject: &str,
    ) -> String {
        self.subject
            .subject(&sector_of(meta, &req.redirect_uri), subject)
    }

    /// The client the request is for, as registered now (gone since the push: the
    /// interaction is over).
    async fn request_client(
        &self,
        req: &AuthorizationRequest,
    ) -> Result<Arc<bulwark_clients::RegisteredClient>, AuthzError> {
        self.par
            .client(&req.client_id)
            .await
            .map_err(AuthzError::from)?
            .ok_or(AuthzError::Expired)
    }

    /// OIDC Core 3.1.2.2 / 5.5.1: true unless the request names its End-User by a `sub` value
    /// and the PSU `subject` is someone else as the client knows them ("MUST NOT reply with
    /// an ID Token or Access Token for a different user").
    async fn is_requested_user(
        &self,
        req: &AuthorizationRequest,
        subject: &str,
    ) -> Result<bool, AuthzError> {
        let Some(wanted) = &req.sub else {
            return Ok(true);
        };
        let client = self.request_client(req).await?;
        Ok(*wanted == self.client_subject(&client.client.metadata, req, subject))
    }

    /// The key signing for `alg` now (a copy: a key rotation may replace the ring meanwhile).
    fn signer_key(&self, alg: Option<&str>) -> Result<bulwark_jose::SigningKey, AuthzError> {
        let alg = alg.and_then(Alg::parse).unwrap_or(self.default_alg);
        self.keys
            .current()
            .signing_key(alg)
            .cloned()
            .map_err(|e| AuthzError::Internal(e.to_string()))
    }

    /// An error answer to a request that started no interaction. RFC 6749 4.1.2.1 / RFC 9126
    /// 4: once the client has its answer the request is spent, as `end_without_decision`
    /// spends one answered from our pages: its `request_uri` goes with this answer, and a
    /// request another visit answered first is over.
    async fn redirect_error(
        &self,
        req: &AuthorizationRequest,
        request_uri: Option<&str>,
        code: OAuthErrorCode,
        description: &str,
        now: i64,
    ) -> Result<Begin, AuthzError> {
        let url = self.error_url(req, code, description, now).await?;
        if let Some(uri) = request_uri
            && !self.store.spend_pushed_request(uri).await?
        {
            return Err(AuthzError::Expired);
        }
        Ok(Begin::Redirect(url))
    }

    /// The redirect telling the client its payment consent's cut-off passed (`access_denied`).
    async fn cut_off_url(
        &self,
        req: &AuthorizationRequest,
        now: i64,
    ) -> Result<String, AuthzError> {
        self.error_url(req, OAuthErrorCode::AccessDenied, CUT_OFF_PASSED, now)
            .await
    }

    /// Where the PSU goes when the consent can no longer be authorised while they are on our
    /// pages (its cut-off passed, it expired, the TPP withdrew it): back to the client with
    /// `access_denied` (OB CEG: the PSU returns to the TPP, who learns why), not stranded on an
    /// error page. A database that could not answer is an error page to retry from.
    async fn consent_gone(
        &self,
        req: &AuthorizationRequest,
        e: ConsentError,
        now: i64,
    ) -> Result<String, AuthzError> {
        match e {
            ConsentError::CutOffPassed => self.cut_off_url(req, now).await,
            ConsentError::Store(_) | ConsentError::Corrupt(_) => Err(AuthzError::of_consent(e)),
            // Already decided (a second click, another tab): the code went to the client with
            // the first answer; this page is simply over, and the client is told nothing.
            ConsentError::IllegalTransition {
                from: ConsentStatus::Authorised | ConsentStatus::Consumed,
                ..
            } => Err(AuthzError::Expired),
            other => {
                tracing::warn!(target: "bulwark::security", client_id = %req.client_id, consent_id = %req.intent_id, error = %other, "the consent can no longer be authorised");
                self.error_url(
                    req,
                    OAuthErrorCode::AccessDenied,
                    "the consent can no longer be authorised",
                    now,
                )
                .await
            }
        }
    }

    /// The consent can no longer be authorised while the PSU is on our pages: the client's
    /// answer (`consent_gone`) ends the interaction and spends its `request_uri`, as every
    /// other answer a PSU's step gives the client does (`end_without_decision`).
    async fn end_consent_gone(
        &self,
        req: &AuthorizationRequest,
        form: (&str, &str, Option<&str>),
        e: ConsentError,
        now: i64,
    ) -> Result<String, AuthzError> {
        let url = self.consent_gone(req, e, now).await?;
        self.end_without_decision(form, url, now).await
    }

    /// A login that cannot answer the request positively: the client's `access_denied`
    /// (`description` says why) ends the interaction and spends its `request_uri`; nothing is
    /// remembered and the consent stays as it was.
    async fn end_access_denied(
        &self,
        req: &AuthorizationRequest,
        form: (&str, &str, Option<&str>),
        description: &str,
        now: i64,
    ) -> Result<String, AuthzError> {
        let url = self
            .error_url(req, OAuthErrorCode::AccessDenied, description, now)
            .await?;
        self.end_without_decision(form, url, now).await
    }

    /// An error response at the validated redirect URI; a JARM one is signed with the
    /// algorithm the client registered (JARM 2.2), as a success response is.
    async fn error_url(
        &self,
        req: &AuthorizationRequest,
        code: OAuthErrorCode,
        description: &str,
        now: i64,
    ) -> Result<String, AuthzError> {
        let client = match req.response_mode.is_jwt() {
            true => self
                .par
                .client(&req.client_id)
                .await
                .map_err(AuthzError::from)?,
            false => None,
        };
        let key = self.signer_key(client.as_deref().and_then(jarm_alg))?;
        let signer = ResponseSigner {
            issuer: &self.issuer,
            key: &key,
            now,
            lifetime: self.settings.response_lifetime_secs,
        };
        error_redirect(req, &OAuthError::new(code, description), &signer)
            .map_err(AuthzError::Internal)
    }

    /// Loads an interaction for this browser.
    async fn interaction(
        &self,
        id: &str,
        browser_secret: Option<&str>,
        now: i64,
    ) -> Result<(Interaction, AuthorizationRequest), AuthzError> {
        match self.found(id, browser_secret, now).await? {
            Found::Running(interaction, req) => Ok((interaction, *req)),
            Found::Finished(_) => Err(AuthzError::Expired),
        }
    }

    /// The interaction as this browser may see it, running or finished.
    async fn found(
        &self,
        id: &str,
        browser_secret: Option<&str>,
        now: i64,
    ) -> Result<Found, AuthzError> {
        let interaction = self
            .store
            .get_interaction(id, now)
            .await?
            .ok_or(AuthzError::Expired)?;
        let own = browser_secret
            .is_some_and(|secret| constant_eq(&secret_hash(secret), &interaction.browser_hash));
        if interaction.outcome.is_some() {
            // Finished: over for everyone (Back after the answer: the cookie went with it), but
            // its own browser may be given the same answer again.
            return if own {
                Ok(Found::Finished(interaction))
            } else {
                Err(AuthzError::Expired)
            };
        }
        if !own {
            if browser_secret.is_some() {
                tracing::warn!(target: "bulwark::security", interaction = %id, "interaction continued from another browser");
            }
            return Err(AuthzError::Forbidden);
        }
        let req = serde_json::from_str(&interaction.request)
            .map_err(|e| AuthzError::Internal(e.to_string()))?;
        Ok(Found::Running(interaction, Box::new(req)))
    }

    /// A form of the interaction's page, as sent: the running interaction (its CSRF token
    /// checked), or, once it has finished, the answer it finished with.
    async fn form_sent(
        &self,
        id: &str,
        browser_secret: Option<&str>,
        csrf: Option<&str>,
        now: i64,
    ) -> Result<Sent, AuthzError> {
        match self.found(id, browser_secret, now).await? {
            Found::Running(interaction, req) => {
                Self::check_csrf(&interaction, csrf)?;
                Ok(Sent::Running(Box::new(interaction), req))
            }
            Found::Finished(done) => Self::replay(&done, browser_secret, csrf).map(Sent::Answered),
        }
    }

    /// A form of this page sent again once the interaction has finished (a double click: the
    /// browser dropped the first answer and waits for this one): the redirect it finished
    /// with, opened with the browser's own secret. Only for this browser and this page's CSRF
    /// token; anything else finds the interaction over.
    fn replay(
        interaction: &Interaction,
        browser_secret: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<String, AuthzError> {
        Self::check_csrf(interaction, csrf)?;
        let (Some(secret), Some(sealed)) = (browser_secret, &interaction.outcome) else {
            return Err(AuthzError::Expired);
        };
        let url = bulwark_core::seal::open(secret, &outcome_context(&interaction.id), sealed)
            .ok_or(AuthzError::Expired)?;
        tracing::info!(target: "bulwark::security", interaction = %interaction.id, "a finished interaction's form was sent again: the same redirect");
        Ok(url)
    }

    /// RFC 6749 4.1.2.1 / RFC 9126 4: once the client has its answer (an error here), the
    /// request is spent; the interaction ends with it and its `request_uri` goes, so no later
    /// visit can answer the same request again. The consent is left as it was.
    /// Returns the answer to give: `url`, or the one another request finished it with first.
    async fn end_without_decision(
        &self,
        (id, browser_secret, csrf): (&str, &str, Option<&str>),
        url: String,
        now: i64,
    ) -> Result<String, AuthzError> {
        let outcome = self.seal_outcome(id, browser_secret, &url)?;
        if self
            .store
            .finish_interaction(id, None, None, &outcome)
            .await?
        {
            return Ok(url);
        }
        self.winner((id, browser_secret, csrf), now)
            .await?
            .ok_or(AuthzError::Expired)
    }

    /// For a request that lost a race to another of the same form (a double click whose two
    /// requests ran at once): the answer the winner finished the interaction with, for this
    /// browser; `None` when the interaction has not finished.
    async fn winner(
        &self,
        (id, browser_secret, csrf): (&str, &str, Option<&str>),
        now: i64,
    ) -> Result<Option<String>, AuthzError> {
        match self.found(id, Some(browser_secret), now).await {
            Ok(Found::Finished(done)) => Self::replay(&done, Some(browser_secret), csrf).map(Some),
            _ => Ok(None),
        }
    }

    /// Seals the redirect an interaction finishes with to the browser finishing it.
    fn seal_outcome(
        &self,
        id: &str,
        browser_secret: &str,
        url: &str,
    ) -> Result<String, AuthzError> {
        bulwark_core::seal::seal(browser_secret, &outcome_context(id), url, self.rng.as_ref())
            .ok_or_else(|| {
                AuthzError::Internal("the interaction's outcome could not be sealed".into())
            })
    }

    fn check_csrf(interaction: &Interaction, csrf: Option<&str>) -> Result<(), AuthzError> {
        match csrf {
            Some(token) if constant_eq(token, &interaction.csrf) => Ok(()),
            _ => {
                tracing::warn!(target: "bulwark::security", interaction = %interaction.id, "form without the page's CSRF token");
                Err(AuthzError::Forbidden)
            }
        }
    }

    /// The TPP as the pages name it (OB CEG: its trading name, and its agent if it has one).
    async fn client_name(&self, client_id: &str) -> String {
        match self.par.client(client_id).await.ok().flatten() {
            Some(rc) => rc.client.metadata.display_name(client_id),
            None => client_id.to_string(),
        }
    }

    /// The page the interaction shows now: login until the PSU has logged in, then consent.
    pub async fn view(&self, id: &str, browser_secret: Option<&str>) -> Result<View, AuthzError> {
        let now = self.clock.unix();
        let (interaction, req) = self.interaction(id, browser_secret, now).await?;
        let client_name = self.client_name(&req.client_id).await;
        let consent = match self
            .consents
            .for_authorisation(
                &interaction.consent_id,
                &interaction.client_id,
                time_of(now)?,
            )
            .await
        {
            Ok(consent) => consent,
            // The browser's own page: its secret found the interaction, its CSRF token is the
            // page's (a race lost to its own form gets that form's answer).
            Err(e) => {
                let url = self
                    .end_consent_gone(
                        &req,
                        (
                            id,
                            browser_secret.unwrap_or_default(),
                            Some(&interaction.csrf),
                        ),
                        e,
                        now,
                    )
                    .await?;
                return Ok(View::Refused(url));
            }
        };
        let summary = bulwark_consent::describe(&consent);
        let Some(subject) = &interaction.psu_id else {
            let pays_on_login = pays_on_login(&summary);
            let facts = if summary.payment.is_some() {
                summary.facts
            } else {
                Vec::new()
            };
            return Ok(View::Login {
                client_name,
                csrf: interaction.csrf,
                payment: summary.payment.map(Box::new),
                facts,
                pays_on_login,
                redirect_uri: req.redirect_uri,
            });
        };
        let psu_name = match &interaction.psu_name {
            Some(name) => name.clone(),
            None => {
                self.psus
                    .find(subject)
                    .await?
                    .ok_or(AuthzError::Expired)?
                    .display_name
            }
        };
        let accounts = if summary.needs_accounts {
            self.eligible_accounts(subject, &consent).await?
        } else {
            Vec::new()
        };
        Ok(View::Consent {
            client_name,
            psu_name,
            csrf: interaction.csrf,
            summary: Box::new(summary),
            accounts,
            redirect_uri: req.redirect_uri,
        })
    }

    /// The PSU's accounts the consent may use: all of them for account access; for a payment
    /// the PSU chooses the account of, those in the payment's currency (OB CEG: only accounts
    /// the payment can be made from are offered).
    async fn eligible_accounts(
        &self,
        subject: &str,
        consent: &bulwark_consent::Consent,
    ) -> Result<Vec<Account>, AuthzError> {
        let owned = self.accounts.accounts(subject).await?;
        let currency = match &consent.details {
            bulwark_consent::ConsentDetails::DomesticPayment(d) => d.initiation["InstructedAmount"]
                ["Currency"]
                .as_str()
                .map(str::to_owned),
            _ => None,
        };
        Ok(match currency {
            Some(currency) => owned
                .into_iter()
                .filter(|a| a.currency.eq_ignore_ascii_case(&currency))
                .collect(),
            None => owned,
        })
    }

    /// The login form was sent. Failures are throttled per user and per address (AZ-6).
    pub async fn login(
        &self,
        id: &str,
        browser_secret: Option<&str>,
        csrf: Option<&str>,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<LoginOutcome, AuthzError> {
        let now = self.clock.unix();
        let (interaction, req) = match self.form_sent(id, browser_secret, csrf, now).await? {
            Sent::Running(interaction, req) => (*interaction, *req),
            Sent::Answered(url) => return Ok(LoginOutcome::Replayed(url)),
        };
        let addr_key = format!("addr:{}", crate::address_key(address));
        // No one has such a name (or password): a failed attempt from this address, checked
        // and counted on the address only, so a waiting address is told to wait here too.
        if !crate::plausible_login(username, password) {
            if let Err(wait) = self.throttle.begin(&[&addr_key], now).await? {
                return Ok(LoginOutcome::Failed(too_many_attempts(wait)));
            }
            return Ok(LoginOutcome::Failed(WRONG_CREDENTIALS.into()));
        }
        let user_key = format!("user:{username}");
        // The attempt counts as a failure until it succeeds (checked and counted at once), so
        // parallel guesses cannot all pass before the first failure is recorded.
        if let Err(wait) = self.throttle.begin(&[&user_key, &addr_key], now).await? {
            tracing::warn!(target: "bulwark::security", username, address, wait, "PSU login throttled");
            return Ok(LoginOutcome::Failed(too_many_attempts(wait)));
        }
        let Some(psu) = self.psus.authenticate(username, password).await? else {
            tracing::warn!(target: "bulwark::security", username, address, "PSU login failed");
            return Ok(LoginOutcome::Failed(WRONG_CREDENTIALS.into()));
        };
        self.throttle.succeeded(&user_key, &addr_key).await?;
        // OIDC Core 5.5.1.1: a login that does not reach the essential acr is a failed
        // authentication; the client learns it as `access_denied` (what the OB security profile
        // and the FAPI conformance suite's essential-acr modules accept), nothing is remembered
        // and the consent stays as it was.
        if !req.acr.met_by(Some(&psu.acr)) {
            tracing::warn!(target: "bulwark::security", interaction = %id, client_id = %req.client_id, acr = %psu.acr, "PSU login below the essential acr");
            let url = self
                .end_access_denied(
                    &req,
                    (id, browser_secret.unwrap_or_default(), csrf),
                    "the login did not reach the authentication level the request requires (unmet_authentication_requirements)",
                    now,
                )
                .await?;
            return Ok(LoginOutcome::Refused(url));
        }
        // OIDC Core 3.1.2.2: the request named its End-User by `sub` and someone else logged
        // in: no positive answer; the client learns `access_denied`, nothing is remembered and
        // the consent stays as it was.
        if !self.is_requested_user(&req, &psu.subject).await? {
            tracing::warn!(target: "bulwark::security", interaction = %id, client_id = %req.client_id, "the PSU who logged in is not the End-User the request names (sub)");
            let url = self
                .end_access_denied(
                    &req,
                    (id, browser_secret.unwrap_or_default(), csrf),
                    "the customer who authenticated is not the End-User the request names (sub)",
                    now,
                )
                .await?;
            return Ok(LoginOutcome::Refused(url));
        }
        if !self
            .store
            .set_interaction_login(id, &psu.subject, &psu.display_name, now, &psu.acr)
            .await?
        {
            return Err(AuthzError::Expired);
        }
        let lifetime = self.settings.session_lifetime_secs;
        let session_secret = if lifetime > 0 {
            let secret = self.rng.token(32);
            self.store
                .insert_psu_session(&PsuSession {
                    session_hash: secret_hash(&secret),
                    subject: psu.subject.clone(),
                    display_name: psu.display_name.clone(),
                    auth_time: now,
                    acr: psu.acr.clone(),
                    expires_at: now.saturating_add(lifetime),
                })
                .await?;
            Some(secret)
        } else {
            None
        };
        // OB CEG (PIS, account selection at the PISP): a payment order complete with the
        // account to pay from needs no further step once the PSU has authenticated on a page
        // showing it; the login authorises it (or, for an account that is not theirs, rejects
        // it), and the PSU goes straight back to the PISP.
        let complete_order = req.scope.iter().any(|s| s == "payments")
            && self
                .consents
                .for_authorisation(
                    &interaction.consent_id,
                    &interaction.client_id,
                    time_of(now)?,
                )
                .await
                .is_ok_and(|c| pays_on_login(&bulwark_consent::describe(&c)));
        let decided = if complete_order {
            match self
                .decide(id, browser_secret, csrf, "authorise", &[])
                .await
            {
                Ok(Decided::Redirect(url)) => Some(url),
                Ok(Decided::Retry(_)) => None,
                // The login stands: the consent page says what went wrong.
                Err(e) => {
                    tracing::warn!(interaction = %id, error = %e, "a payment could not be authorised at login");
                    None
                }
            }
        } else {
            None
        };
        Ok(LoginOutcome::LoggedIn {
            session_secret,
            lifetime,
            decided,
        })
    }

    /// The consent form was sent: Authorise (with accounts) or Deny. The consent moves and the
    /// code is stored in one transaction (AZ-5, CO-2).
    pub async fn decide(
        &self,
        id: &str,
        browser_secret: Option<&str>,
        csrf: Option<&str>,
        decision: &str,
        accounts: &[String],
    ) -> Result<Decided, AuthzError> {
        let now = self.clock.unix();
        let (interaction, req) = match self.form_sent(id, browser_secret, csrf, now).await? {
            Sent::Running(interaction, req) => (*interaction, *req),
            Sent::Answered(url) => return Ok(Decided::Redirect(url)),
        };
        // A running interaction was found with this browser's secret.
        let browser_secret = browser_secret.unwrap_or_default();
        let (Some(subject), Some(auth_time)) = (&interaction.psu_id, interaction.auth_time) else {
            // OB CEG: the customer may cancel on the login page and go back to the TPP. Nobody
            // is authenticated, so the consent is left as it is; the TPP learns
            // `access_denied`.
            if decision == "deny" {
                tracing::info!(target: "bulwark::security", interaction = %id, client_id = %req.client_id, "the customer cancelled before logging in");
                let url = self
                    .error_url(
                        &req,
                        OAuthErrorCode::AccessDenied,
                        "the customer cancelled",
                        now,
                    )
                    .await?;
                let url = self
                    .end_without_decision((id, browser_secret, csrf), url, now)
                    .await?;
                return Ok(Decided::Redirect(url));
            }
            return Err(AuthzError::Forbidden);
        };
        // Login and session reuse already hold to this; no code is issued if they did not.
        if !req.acr.met_by(interaction.acr.as_deref()) {
            tracing::warn!(target: "bulwark::security", interaction = %id, client_id = %req.client_id, "decision on a login below the essential acr");
            return Err(AuthzError::Forbidden);
        }
        let consent = self
            .consents
            .for_authorisation(
                &interaction.consent_id,
                &interaction.client_id,
                time_of(now)?,
            )
            .await;
        let consent = match consent {
            Ok(consent) => consent,
            Err(e) => {
                // The same form, sent twice at once, may have decided it a moment ago.
                if let Some(url) = self.winner((id, browser_secret, csrf), now).await? {
                    return Ok(Decided::Redirect(url));
                }
                let url = self
                    .end_consent_gone(&req, (id, browser_secret, csrf), e, now)
                    .await?;
                return Ok(Decided::Redirect(url));
            }
        };
        // Why a Reject is one: the PSU's Deny, or an account the consent names that the PSU
        // does not hold.
        let mut refusal = ("the customer denied the request", None);
        let decision = match decision {
            "authorise" => {
                let summary = bulwark_consent::describe(&consent);
                if let Some(named) = &summary.named_account {
                    // OB PISP/CBPII: a DebtorAccount the TPP named must be one of the PSU's;
                    // if it is not, the consent is Rejected after the PSU authenticates.
                    if !accounts.is_empty() {
                        return Err(AuthzError::Forbidden);
                    }
                    // The account must be the PSU's, and able to make the payment (currency).
                    let owned = self.eligible_accounts(subject, &consent).await?;
                    match owned.iter().find(|o| holds(o, named)) {
                        Some(account) => Decision::Authorise {
                            accounts: vec![account.id.clone()],
                        },
                        None => {
                            tracing::warn!(target: "bulwark::security", interaction = %id, client_id = %req.client_id, consent_id = %consent.id, "the account the consent names is not the PSU's");
                            refusal = (
                                "the account the consent names is not one of the customer's, or cannot make this payment",
                                Some("the account the consent names is not the PSU's"),
                            );
                            Decision::Reject
                        }
                    }
                } else if summary.needs_accounts {
                    let owned = self.eligible_accounts(subject, &consent).await?;
                    if accounts.is_empty() {
                        return Ok(Decided::Retry("Please choose at least one account.".into()));
                    }
                    if summary.payment.is_some() && accounts.len() != 1 {
                        return Ok(Decided::Retry(
                            "Please choose one account to pay from.".into(),
                        ));
                    }
                    if let Some(bad) = accounts.iter().find(|a| !owned.iter().any(|o| &o.id == *a))
                    {
                        tracing::warn!(target: "bulwark::security", interaction = %id, account = %bad, "decision names an account the PSU does not hold");
                        return Err(AuthzError::Forbidden);
                    }
                    Decision::Authorise {
                        accounts: accounts.to_vec(),
                    }
                } else {
                    if !accounts.is_empty() {
                        return Err(AuthzError::Forbidden);
                    }
                    Decision::Authorise {
                        accounts: Vec::new(),
                    }
                }
            }
            "deny" => Decision::Reject,
            _ => return Err(AuthzError::BadRequest("unknown decision".into())),
        };
        let mut transition = decision_transition(&consent, subject, &decision, time_of(now)?)
            .map_err(|e| AuthzError::BadRequest(e.to_string()))?;
        if let Some(reason) = refusal.1 {
            transition.reason = Some(reason.into());
        }
        match decision {
            Decision::Reject => {
                // The response first: one that cannot be made changes nothing.
                let url = self
                    .error_url(&req, OAuthErrorCode::AccessDenied, refusal.0, now)
                    .await?;
                let outcome = self.seal_outcome(id, browser_secret, &url)?;
                if !self
                    .store
                    .finish_interaction(id, Some(&transition), None, &outcome)
                    .await?
                {
                    return self
                        .winner((id, browser_secret, csrf), now)
                        .await?
                        .map(Decided::Redirect)
                        .ok_or(AuthzError::Expired);
                }
                tracing::info!(target: "bulwark::security", psu = %subject, client_id = %req.client_id, consent_id = %consent.id, "consent rejected by the PSU");
                Ok(Decided::Redirect(url))
            }
            Decision::Authorise { .. } => {
                let acr = interaction.acr.clone();
                let issued = self
                    .issue_code(
                        &req,
                        (id, browser_secret),
                        &transition,
                        subject,
                        auth_time,
                        acr,
                        now,
                    )
                    .await;
                let url = match issued {
                    // Another request of the same form finished it first.
                    Err(AuthzError::Expired) => self
                        .winner((id, browser_secret, csrf), now)
                        .await?
                        .ok_or(AuthzError::Expired)?,
                    other => other?,
                };
                Ok(Decided::Redirect(url))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_code(
        &self,
        req: &AuthorizationRequest,
        (interaction_id, browser_secret): (&str, &str),
        transition: &bulwark_store::ConsentTransition,
        subject: &str,
        auth_time: i64,
        acr: Option<String>,
        now: i64,
    ) -> Result<String, AuthzError> {
        let client = self.request_client(req).await?;
        let meta = &client.client.metadata;
        // TK-5: a hybrid ID token encrypted to a key the client publishes at its jwks_uri.
        let enc_keys = if req.response_type == ResponseType::CodeIdToken {
            self.par.id_token_encryption_keys(&client).await?
        } else {
            None
        };
        let sub = self.client_subject(meta, req, subject);
        // Login and session reuse already hold to this (OIDC Core 3.1.2.2); no code is issued
        // for another End-User if they did not.
        if req.sub.as_ref().is_some_and(|wanted| *wanted != sub) {
            tracing::warn!(target: "bulwark::security", client_id = %req.client_id, "decision by a PSU other than the End-User the request names (sub)");
            return Err(AuthzError::Forbidden);
        }
        let code = self.rng.token(32);
        let grant = CodeGrant {
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            scope: req.scope_string(),
            sub: sub.clone(),
            nonce: req.nonce.clone(),
            auth_time,
            acr: acr.clone(),
            consent_id: req.intent_id.clone(),
        };
        let record = CodeRecord {
            code_hash: secret_hash(&code),
            client_id: req.client_id.clone(),
            consent_id: req.intent_id.clone(),
            grant_data: serde_json::to_string(&grant)
                .map_err(|e| AuthzError::Internal(e.to_string()))?,
            expires_at: now.saturating_add(self.settings.code_lifetime_secs),
            used_at: None,
            issued_jti: None,
            issued_exp: None,
            refresh_hash: None,
            // Assigned by the store with the decision.
            grant_generation: 0,
        };
        // The whole response (ID token signed and encrypted, JARM signed) is made before the
        // consent, the code and the request change in one commit: a response that cannot be
        // made leaves the consent awaiting authorisation and no code behind.
        // FAPI 1.0 Adv 5.2.2.2: the hybrid flow's ID token is a detached signature over the
        // code (c_hash) and state (s_hash).
        let id_token = if req.response_type == ResponseType::CodeIdToken {
            let key = self.signer_key(meta.id_token_signed_response_alg.as_deref())?;
            let claims = IdTokenClaims {
                iss: self.issuer.clone(),
                sub,
                aud: req.client_id.clone(),
                exp: now.saturating_add(self.settings.response_lifetime_secs),
                iat: now,
                auth_time,
                nonce: req.nonce.clone(),
                acr,
                c_hash: Some(half_hash(&code)),
                s_hash: req.state.as_deref().map(half_hash),
                at_hash: None,
                openbanking_intent_id: req.intent_id.clone(),
            };
            let signed = sign_id_token(&key, &claims).map_err(AuthzError::Internal)?;
            Some(
                bulwark_token::id_token::for_client(meta, signed, enc_keys.as_ref())
                    .map_err(AuthzError::Internal)?,
            )
        } else {
            None
        };
        let key = self.signer_key(jarm_alg(&client))?;
        let signer = ResponseSigner {
            issuer: &self.issuer,
            key: &key,
            now,
            lifetime: self.settings.response_lifetime_secs,
        };
        let url = success_redirect(req, &code, id_token.as_deref(), &signer)
            .map_err(AuthzError::Internal)?;
        let outcome = self.seal_outcome(interaction_id, browser_secret, &url)?;
        if !self
            .store
            .finish_interaction(interaction_id, Some(transition), Some(&record), &outcome)
            .await?
        {
            return Err(AuthzError::Expired);
        }
        tracing::info!(target: "bulwark::security", psu = %subject, client_id = %req.client_id, consent_id = %transition.consent_id, to = %transition.to_status, "consent authorised by the PSU");
        Ok(url)
    }

    /// Logs a PSU out of the remembered session.
    pub async fn logout(&self, session_secret: &str) -> Result<(), AuthzError> {
        self.store
            .delete_psu_session(&secret_hash(session_secret))
            .await?;
        Ok(())
    }

    /// The PSU for a session, if the session is alive (the pages' "logged in as").
    pub async fn session_psu(&self, session_secret: &str) -> Result<Option<Psu>, AuthzError> {
        let now = self.clock.unix();
        match self
            .store
            .get_psu_session(&secret_hash(session_secret), now)
            .await?
        {
            Some(s) => self.psus.find(&s.subject).await,
            None => Ok(None),
        }
    }
}

fn time_of(now: i64) -> Result<time::OffsetDateTime, AuthzError> {
    time::OffsetDateTime::from_unix_timestamp(now).map_err(|e| AuthzError::Internal(e.to_string()))
}

/// Compares secrets without an early exit on the first difference.
/// Compares two secrets (CSRF tokens) in time independent of where they differ.
pub fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The algorithm the client registered for JARM responses (`authorization_signed_response_alg`),
/// if any.
fn jarm_alg(client: &bulwark_clients::RegisteredClient) -> Option<&str> {
    client
        .client
        .metadata
        .extra
        .get("authorization_signed_response_alg")
        .and_then(serde_json::Value::as_str)
}

/// OB CEG (PIS): a payment order complete with the account to pay from is authorised by the
/// PSU's authentication on a page showing it, with no further step.
fn pays_on_login(summary: &ConsentSummary) -> bool {
    summary.payment.is_some() && !summary.needs_accounts && summary.named_account.is_some()
}

/// True when the PSU's `account` is the one an OB consent names: the same scheme (`IBAN` and
/// `UK.OBIE.IBAN` alike) and identification (spaces and letter case aside, as IBANs are
/// written both ways).
fn holds(account: &crate::psu::Account, named: &bulwark_consent::Account) -> bool {
    let scheme = |s: &str| s.strip_prefix("UK.OBIE.").unwrap_or(s).to_ascii_uppercase();
    let ident = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase()
    };
    scheme(&account.scheme) == scheme(&named.scheme_name)
        && ident(&account.identification) == ident(&named.identification)
}

/// An interaction as found for a browser.
enum Found {
    /// Still running, with its validated request.
    Running(Interaction, Box<AuthorizationRequest>),
    /// Finished: only its sealed outcome is left.
    Finished(Interaction),
}

/// A form of an interaction's page, as sent.
enum Sent {
    /// The interaction runs: the form goes on (its CSRF token checked).
    Running(Box<Interaction>, Box<AuthorizationRequest>),
    /// The interaction has finished: the same answer again.
    Answered(String),
}

/// What a finished interaction's outcome is sealed to besides the browser's secret.
fn outcome_context(interaction_id: &str) -> String {
    format!("bulwark interaction outcome {interaction_id}")
}
