//! The gateway's decision about one request on a route: who is calling (`ResourceGuard`: token,
//! revocation, client, certificate binding, token kind, QWAC, organisation, roles), then the
//! route's scope and PSD2 role, then for PSU routes the consent (status, permissions, the
//! path's account, a payment submission's match). The result is either the facts to hand the
//! upstream, or a typed refusal with its HTTP status and reason code.

use std::sync::Arc;

use bulwark_certs::{Api, MtlsSettings};
use bulwark_consent::{
    ConsentError, ConsentKind, ConsentService, ConsentStatus, ObErrorCode, ResourceApi,
};
use bulwark_resource::{Refusal, RefusalStatus, ResourceGuard, ResourceRequest};
use bulwark_token::TokenKind;
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::route::Route;

/// What the upstream is told about an admitted request (never what the caller said).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The client the token was issued to.
    pub client_id: String,
    /// The consent the token is bound to (PSU routes).
    pub consent_id: Option<String>,
    /// The PSU who authorised it, as the bank knows them.
    pub psu: Option<String>,
    /// The accounts the PSU selected.
    pub accounts: Vec<String>,
    /// The permission codes the consent grants (account access): the bank answers with what
    /// they allow (OB: Basic or Detail fields, credits and/or debits, a masked PAN without
    /// `ReadPAN`).
    pub permissions: Vec<&'static str>,
    /// The consent's transaction window (account access), RFC 3339: the bank returns no
    /// transaction booked outside it.
    pub transaction_from: Option<String>,
    /// See [`Self::transaction_from`].
    pub transaction_to: Option<String>,
    /// RFC 8705 thumbprint of the client certificate.
    pub cert_thumbprint: String,
    /// On a payment-submission route, when the consent was consumed for this request (so
    /// exactly that consumption can be undone if the bank never receives it).
    pub consumed_at: Option<time::OffsetDateTime>,
}

/// The RFC 6750 3 `WWW-Authenticate` challenge a refusal carries, so a TPP can tell a missing
/// token from a bad one from one lacking scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No challenge (the refusal is not about the token).
    None,
    /// `Bearer` with no error code: the request carried no bearer token (RFC 6750 3.1).
    Missing,
    /// `error="invalid_token"`: a token was sent and cannot be used here.
    InvalidToken,
    /// `error="insufficient_scope"`, with the scope the route needs (403).
    InsufficientScope(String),
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRefusal {
    /// HTTP status: 401 (no token or an unusable one: invalid, expired, revoked, client
    /// inactive, other `aud`, no certificate, another certificate than the token's, a refused
    /// certificate header), 403 (token kind, QWAC, organisation, role, scope, consent,
    /// account), 400 (a payment submission that does not match its consent), 500, 503 (the
    /// database, the JWK Set or the introspection endpoint is away).
    pub status: u16,
    /// The OB error code.
    pub code: ObErrorCode,
    /// What the TPP is told.
    pub message: String,
    /// A stable reason code (logs and metrics).
    pub reason: &'static str,
    /// The `WWW-Authenticate` challenge to send.
    pub challenge: Challenge,
    /// Already logged where it was decided (the resource guard logs its own refusals on
    /// `bulwark::security` with their reason), so the gateway does not log it twice.
    pub logged: bool,
}

impl GatewayRefusal {
    /// A refusal the gateway decided itself (logged when answered; no challenge).
    pub fn new(
        status: u16,
        code: ObErrorCode,
        message: impl Into<String>,
        reason: &'static str,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason,
            challenge: Challenge::None,
            logged: false,
        }
    }

    /// With this challenge.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    /// The gateway's answer to a refusal the resource guard decided (and logged).
    pub(crate) fn of_guard(r: &Refusal) -> Self {
        let status = match r.status() {
            RefusalStatus::InvalidToken => 401,
            RefusalStatus::Forbidden => 403,
            RefusalStatus::Unavailable => 503,
            RefusalStatus::Internal => 500,
        };
        let code = match r.status() {
            RefusalStatus::Unavailable | RefusalStatus::Internal => ObErrorCode::UnexpectedError,
            RefusalStatus::InvalidToken | RefusalStatus::Forbidden => ObErrorCode::HeaderInvalid,
        };
        // RFC 6750 3.1: no error code when the request carried no token at all.
        let challenge = match (r.status(), r) {
            (RefusalStatus::InvalidToken, Refusal::NoToken) => Challenge::Missing,
            (RefusalStatus::InvalidToken, _) => Challenge::InvalidToken,
            _ => Challenge::None,
        };
        Self {
            // `ResourceGuard::admit` has logged it (`Refusal::log`).
            logged: true,
            ..Self::new(status, code, r.description(), r.reason()).with_challenge(challenge)
        }
    }

    fn of_consent(e: &ConsentError) -> Self {
        let ob = e.to_ob();
        let code = ob
            .errors
            .first()
            .map_or(ObErrorCode::ResourceConsentMismatch, |d| d.error_code);
        let reason = match e {
            ConsentError::NotAuthorised(_) | ConsentError::InvalidStatus(_) => "consent_status",
            ConsentError::NotFound | ConsentError::OtherClient => "consent_unknown",
            // The database is away: the TPP retries (503 with Retry-After).
            ConsentError::Store(store) if store.is_unavailable() => "unavailable",
            ConsentError::Store(_) | ConsentError::Corrupt(_) => "internal",
            _ => "consent_mismatch",
        };
        // A consent that is unknown or does not allow the request is forbidden. A request that
        // is malformed or does not match its consent gets the status the server's own APIs
        // give it (OB: 400 for UK.OBIE.Field.*, Header.*, Resource.ConsentMismatch; 403 for a
        // permission, account or role the consent or certificate lacks), and so does a payment
        // submitted against a consent that is not Authorised (400
        // UK.OBIE.Resource.InvalidConsentStatus).
        let status = match (reason, ob.status) {
            ("unavailable", _) => 503,
            ("internal", _) => 500,
            ("consent_mismatch", status) => status,
            (_, 400) if code == ObErrorCode::ResourceInvalidConsentStatus => 400,
            _ => 403,
        };
        Self::new(status, code, ob.message, reason)
    }
}

/// A window bound as the bank reads it: RFC 3339 in UTC. A bound that cannot be written
/// refuses the request rather than leaving the window open on that side.
fn rfc3339(at: Option<OffsetDateTime>) -> Result<Option<String>, GatewayRefusal> {
    at.map(|at| {
        at.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                GatewayRefusal::new(
                    500,
                    ObErrorCode::UnexpectedError,
                    format!("the consent's transaction window cannot be passed on: {e}"),
                    "internal",
                )
            })
    })
    .transpose()
}

/// RFC 6749 3.3: a token's scope is a space-delimited list; it grants `wanted` only when one
/// of its tokens is `wanted` exactly (never a part or an extension of one).
fn grants(scope: &str, wanted: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| s == wanted)
}

/// Which API's PSD2 role a resource API needs.
fn api_of(kind: ConsentKind) -> Api {
    match kind {
        ConsentKind::AccountAccess => Api::AccountAccess,
        ConsentKind::DomesticPayment => Api::Payments,
        ConsentKind::FundsConfirmation => Api::FundsConfirmation,
    }
}

/// The request facts the policy reads.
pub struct Request<'a> {
    /// `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The presented chain.
    pub chain: &'a [CertificateDer<'static>],
    /// Set when a trusted proxy forwarded the chain.
    pub forwarded_by: Option<&'a MtlsSettings>,
    /// The path parameters of the route.
    pub params: &'a [(String, String)],
    /// The body (payment submissions are compared with their consent).
    pub body: &'a [u8],
    /// `x-idempotency-key` (payment submissions: the same submission sent again within 24
    /// hours is forwarded again, OB idempotency).
    pub idempotency_key: Option<&'a str>,
}

/// The gateway's decisions.
pub struct Policy {
    guard: Arc<ResourceGuard>,
    consents: Arc<ConsentService>,
}

impl Policy {
    /// Over the guard and the consent service.
    pub fn new(guard: Arc<ResourceGuard>, consents: Arc<ConsentService>) -> Self {
        Self { guard, consents }
    }

    /// Admits `req` on `route` at `now`, or refuses it.
    pub async fn decide(
        &self,
        route: &Route,
        req: &Request<'_>,
        now: OffsetDateTime,
    ) -> Result<Admitted, GatewayRefusal> {
        let caller = self
            .guard
            .admit(&ResourceRequest {
                authorization: req.authorization,
                chain: req.chain,
                forwarded_by: req.forwarded_by,
                kind: route.kind,
            })
            .await
            .map_err(|r| GatewayRefusal::of_guard(&r))?;
        let claims = &caller.claims;
        if !grants(&claims.scope, &route.scope) {
            return Err(GatewayRefusal::new(
                403,
                ObErrorCode::HeaderInvalid,
                format!("the access token lacks scope {}", route.scope),
                "scope",
            )
            .with_challenge(Challenge::InsufficientScope(route.scope.clone())));
        }
        caller
            .roles
            .require(api_of(route.api.consent_kind()))
            .map_err(|e| {
                GatewayRefusal::new(403, ObErrorCode::HeaderInvalid, e.to_string(), "role")
            })?;
        let cert_thumbprint = claims.cnf.x5t_s256.clone();
        // A payment read: the payment must be one this client submitted (recorded when the
        // bank accepted it through the gateway). Another client's, or one unknown here, does
        // not exist for the caller: OB's answer for a resource id that does not exist (400
        // UK.OBIE.Resource.NotFound), the same for both so that ids reveal nothing.
        if let Some(payment_id) = route.payment(req.params) {
            let owned = self
                .consents
                .is_payment_of(payment_id, &claims.client_id)
                .await
                .map_err(|e| GatewayRefusal::of_consent(&e))?;
            if !owned {
                return Err(GatewayRefusal::new(
                    400,
                    ObErrorCode::ResourceNotFound,
                    "no such payment for this client",
                    "payment_not_owned",
                ));
            }
        }
        if route.kind == TokenKind::Application {
            return Ok(Admitted {
                client_id: claims.client_id.clone(),
                consent_id: None,
                psu: None,
                accounts: Vec::new(),
                permissions: Vec::new(),
                transaction_from: None,
                transaction_to: None,
                cert_thumbprint,
                consumed_at: None,
            });
        }
        let consent_id = claims
            .consent_id
            .as_deref()
            .or(claims.openbanking_intent_id.as_deref())
            .ok_or_else(|| {
                GatewayRefusal::new(
                    403,
                    ObErrorCode::ResourceConsentMismatch,
                    "the access token names no consent",
                    "no_consent",
                )
            })?;
        let context = if route.payment_submission {
            // The submission must match its consent, and a consent pays once: it is consumed
            // (Authorised -> Consumed, a conditional update) before the payment goes upstream,
            // so a replayed or concurrent second submission is refused.
            // OB idempotency: the submission that consumed it, sent again with the same
            // `x-idempotency-key` and body within 24 hours (its answer was lost), is forwarded
            // again without consuming anything; the bank answers it with the payment it made.
            // A key sent but malformed is refused before anything is consumed (the bank
            // would refuse it after, leaving the consent spent); no key at all is a
            // submission that cannot be sent again.
            let key = match req.idempotency_key {
                None => None,
                Some(k) => Some(
                    bulwark_consent::check_idempotency_key(Some(k)).map_err(|e| {
                        GatewayRefusal::new(
                            400,
                            ObErrorCode::HeaderInvalid,
                            e.to_string(),
                            "idempotency_key",
                        )
                    })?,
                ),
            };
            match self
                .consents
                .validate_payment_submission(consent_id, &claims.client_id, req.body, now)
                .await
            {
                Ok(ctx) => {
                    let consumed = self
                        .consents
                        .consume(consent_id, &claims.client_id, now)
                        .await;
                    if let (Ok(c), Some(key)) = (&consumed, key)
                        && route.idempotent_upstream
                    {
                        self.remember_submission(
                            consent_id,
                            &claims.client_id,
                            key,
                            req.body,
                            c.status_updated_at,
                        )
                        .await;
                    }
                    consumed.map(|c| (ctx, Some(c.status_updated_at)))
                }
                Err(ConsentError::InvalidStatus(ConsentStatus::Consumed))
                    if key.is_some() && route.idempotent_upstream =>
                {
                    self.resubmission(consent_id, &claims.client_id, key, req.body, now)
                        .await
                        .map(|ctx| (ctx, None))
                }
                Err(e) => Err(e),
            }
        } else if route.api == ResourceApi::FundsConfirmation && route.method == "POST" {
            // The request's Data.ConsentId must be the token's consent.
            self.consents
                .validate_funds_confirmation(consent_id, &claims.client_id, req.body, now)
                .await
                .map(|ctx| (ctx, None))
        } else {
            self.consents
                .validate_for_resource(
                    consent_id,
                    &claims.client_id,
                    route.api,
                    route.account(req.params),
                    now,
                )
                .await
                .map(|ctx| (ctx, None))
        }
        .map_err(|e| GatewayRefusal::of_consent(&e))?;
        let (context, consumed_at) = context;
        Ok(Admitted {
            client_id: claims.client_id.clone(),
            consent_id: Some(context.consent_id),
            psu: context.psu_id,
            accounts: context.selected_accounts,
            permissions: context.permissions.iter().map(|p| p.as_str()).collect(),
            transaction_from: rfc3339(context.transaction_from)?,
            transaction_to: rfc3339(context.transaction_to)?,
            cert_thumbprint,
            consumed_at,
        })
    }

    /// Remembers the submission that consumed its consent, so the same one sent again is
    /// recognised. A failure is logged: that submission sent again is then refused as a second
    /// payment, which is safe.
    async fn remember_submission(
        &self,
        consent_id: &str,
        client_id: &str,
        key: &str,
        body: &[u8],
        consumed_at: OffsetDateTime,
    ) {
        if let Err(e) = self
            .consents
            .remember_submission(consent_id, client_id, key, body, consumed_at)
            .await
        {
            tracing::error!(consent_id, client_id, error = %e, "a payment submission's idempotency key could not be remembered: the same submission sent again will be refused");
        }
    }

    /// The same submission sent again: the consent's context when it is the one that consumed
    /// it, else the refusal a consumed consent gets.
    async fn resubmission(
        &self,
        consent_id: &str,
        client_id: &str,
        key: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<bulwark_consent::ConsentContext, ConsentError> {
        let refused = || ConsentError::InvalidStatus(ConsentStatus::Consumed);
        let Some(key) = key else {
            return Err(refused());
        };
        match self
            .consents
            .resubmission(consent_id, client_id, key, body, now)
            .await?
        {
            Some(ctx) => {
                tracing::info!(target: "bulwark::security", consent_id, client_id, "a payment submission sent again with its idempotency key is forwarded again (OB idempotency)");
                Ok(ctx)
            }
            None => Err(refused()),
        }
    }

    /// A payment submission the bank accepted (2xx): the payment id its answer gives
    /// (`Data.DomesticPaymentId`) is recorded for the client and consent, so reads of it are
    /// forwarded for that client only. An answer without one is logged and recorded nothing
    /// (reads of that payment will be refused). True when the consent now has more than one
    /// payment (the bank may have paid twice; logged).
    pub async fn record_accepted_payment(
        &self,
        admitted: &Admitted,
        body: &[u8],
        now: OffsetDateTime,
    ) -> bool {
        let Some(consent_id) = &admitted.consent_id else {
            return false;
        };
        let id = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["Data"]["DomesticPaymentId"].as_str().map(str::to_owned));
        let Some(id) =
            id.filter(|i| bulwark_consent::submitted_payment::is_recordable_payment_id(i))
        else {
            tracing::error!(client_id = %admitted.client_id, consent_id = %consent_id, "the bank accepted a payment but its answer names no usable Data.DomesticPaymentId: reads of it will be refused until an operator records it (bulwark payments record)");
            return false;
        };
        match self
            .consents
            .record_payment(&id, &admitted.client_id, consent_id, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(target: "bulwark::security", payment_id = %id, client_id = %admitted.client_id, consent_id = %consent_id, "the bank gave a payment id already recorded for another client or consent");
                return false;
            }
            Err(e) => {
                tracing::error!(payment_id = %id, client_id = %admitted.client_id, consent_id = %consent_id, error = %e, "a payment the bank accepted could not be recorded: reads of it will be refused until an operator records it (bulwark payments record)");
                return false;
            }
        }
        // One consent pays once. Read after recording, so of two answers racing (a submission
        // resent while the first was still at the bank) the later sees both: a bank answering
        // with another payment than the one recorded under the consent (its idempotency
        // failed) may have paid twice. The payment stays recorded (it is the TPP's), and the
        // bank's operators are told.
        match self.consents.payments_of(consent_id).await {
            Ok(payments) if payments.len() > 1 => {
                tracing::error!(target: "bulwark::security", payment_id = %id, payments = %payments.join(","), client_id = %admitted.client_id, consent_id = %consent_id, "the bank made more than one payment under one consent: it may have paid twice (check the bank's idempotency)");
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::error!(payment_id = %id, consent_id = %consent_id, error = %e, "the payments recorded under a consent could not be read");
                false
            }
        }
    }

    /// The payment submission `admitted` consumed its consent for never reached the bank:
    /// that consumption is undone so the TPP can submit again (a timeout or any answer from
    /// the bank keeps it: the bank may have acted). True when undone.
    pub async fn restore_undelivered(
        &self,
        admitted: &Admitted,
        now: time::OffsetDateTime,
    ) -> bool {
        let (Some(consent_id), Some(consumed_at)) = (&admitted.consent_id, admitted.consumed_at)
        else {
            return false;
        };
        // A submission sent with an idempotency key keeps its consumption: the same submission
        // may have been sent again and forwarded meanwhile (and paid). The TPP sends it again
        // with its key, which is forwarded as the same payment.
        match self
            .consents
            .has_remembered_submission(consent_id, consumed_at)
            .await
        {
            Ok(false) => {}
            Ok(true) => return false,
            Err(e) => {
                tracing::error!(target: "bulwark::security", consent_id = %consent_id, error = %e, "an undelivered payment's consent is kept Consumed: its idempotency record could not be read");
                return false;
            }
        }
        match self
            .consents
            .restore_undelivered(consent_id, &admitted.client_id, consumed_at, now)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(target: "bulwark::security", consent_id = %consent_id, error = %e, "an undelivered payment's consent could not be made Authorised again");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// GW-1: a route's scope is granted by that whole scope token only.
    #[test]
    fn gw_1_a_scope_is_granted_by_its_whole_token_only() {
        assert!(grants("openid accounts payments", "accounts"));
        assert!(grants("accounts", "accounts"));
        for (scope, wanted) in [
            ("accounts", "account"),
            ("accounts-read payments", "accounts"),
            ("openid fundsconfirmations", "funds"),
            ("", "accounts"),
        ] {
            assert!(!grants(scope, wanted), "{scope:?} granted {wanted:?}");
        }
    }

    #[test]
    fn gw_1_a_malformed_request_is_400_and_a_consent_that_forbids_it_403() {
        let status = |e: ConsentError| GatewayRefusal::of_consent(&e).status;
        let path = || "Data.ConsentId".to_string();
        // The request: as the server's own APIs answer it.
        assert_eq!(status(ConsentError::MissingField { path: path() }), 400);
        assert_eq!(status(ConsentError::UnexpectedField { path: path() }), 400);
        let detail = String::new;
        assert_eq!(
            status(ConsentError::InvalidField {
                path: path(),
                detail: detail()
            }),
            400
        );
        assert_eq!(
            status(ConsentError::InvalidBody {
                path: path(),
                detail: detail()
            }),
            400
        );
        assert_eq!(
            status(ConsentError::InvalidDate {
                path: path(),
                detail: detail()
            }),
            400
        );
        assert_eq!(status(ConsentError::PaymentMismatch { path: path() }), 400);
        // The consent: unknown, not authorised, or not covering the request.
        assert_eq!(status(ConsentError::NotFound), 403);
        assert_eq!(status(ConsentError::OtherClient), 403);
        assert_eq!(status(ConsentError::AccountNotSelected), 403);
        assert_eq!(status(ConsentError::WrongKind), 403);
    }

    #[test]
    fn op_2_a_database_outage_is_503_with_no_detail_and_a_fault_500() {
        let away = GatewayRefusal::of_consent(&ConsentError::Store(
            bulwark_store::StoreError::Unavailable("connection refused".into()),
        ));
        assert_eq!((away.status, away.reason), (503, "unavailable"));
        assert!(!away.message.contains("connection"), "{}", away.message);
        let fault = GatewayRefusal::of_consent(&ConsentError::Store(
            bulwark_store::StoreError::Corrupt("row".into()),
        ));
        assert_eq!((fault.status, fault.reason), (500, "internal"));
        let guard = GatewayRefusal::of_guard(&Refusal::Unavailable("database down".into()));
        assert_eq!(guard.status, 503);
        assert!(matches!(guard.code, ObErrorCode::UnexpectedError));
        assert_eq!(guard.challenge, Challenge::None);
    }

    #[test]
    fn gw_1_rfc_6750_no_token_has_no_error_code_and_a_bad_one_invalid_token() {
        let none = GatewayRefusal::of_guard(&Refusal::NoToken);
        assert_eq!((none.status, &none.challenge), (401, &Challenge::Missing));
        for bad in [
            Refusal::Token(bulwark_token::InvalidToken::Expired),
            Refusal::Revoked,
            Refusal::OtherCertificate,
            Refusal::NoCertificate,
            Refusal::WrongAudience,
        ] {
            let r = GatewayRefusal::of_guard(&bad);
            assert_eq!(
                (r.status, &r.challenge),
                (401, &Challenge::InvalidToken),
                "{bad}"
            );
            assert!(r.logged, "the guard logs its own refusals");
        }
        let kind = GatewayRefusal::of_guard(&Refusal::WrongKind(TokenKind::User));
        assert_eq!((kind.status, &kind.challenge), (403, &Challenge::None));
    }
}
