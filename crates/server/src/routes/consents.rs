//! CO-1 OB v3.1 consent APIs: account-access, domestic-payment and funds-confirmation consents.
//! Every call is admitted by the resource guard (application token bound to the presented
//! QWAC, CERT-7 role and scope checked by the consent crate), and gets `x-fapi-interaction-id`
//! echoed. All decisions live in `bulwark-resource` and `bulwark-consent`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_consent::{Caller, ConsentError, ConsentKind, ObErrorCode};
use bulwark_resource::{ApiCaller, Refusal, RefusalStatus, ResourceRequest, SignatureError};
use bulwark_token::TokenKind;
use bulwark_web::ob_error::{
    invalid_token, no_token, ob_error, ob_internal, ob_response, ob_unavailable,
};
use bulwark_web::{InteractionId, PresentedChain};

use super::Endpoint;
use crate::state::ConsentState;

fn consent_error(e: &ConsentError, id: &InteractionId) -> Response {
    ob_response(&e.to_ob(), id)
}

fn refused(refusal: &Refusal, id: &InteractionId) -> Response {
    if matches!(refusal, Refusal::NoToken) {
        return no_token(id);
    }
    match refusal.status() {
        RefusalStatus::InvalidToken => invalid_token(&refusal.description(), id),
        RefusalStatus::Forbidden => ob_error(
            StatusCode::FORBIDDEN,
            ObErrorCode::HeaderInvalid,
            &refusal.description(),
            Some("Authorization"),
            id,
        ),
        RefusalStatus::Unavailable => ob_unavailable(&refusal.to_string(), id),
        RefusalStatus::Internal => ob_internal(&refusal.to_string(), id),
    }
}

fn self_link(s: &ConsentState, kind: ConsentKind, consent_id: &str) -> String {
    format!(
        "{}{}/{consent_id}",
        s.api_base.trim_end_matches('/'),
        Endpoint::Consents(kind).path()
    )
}

/// OB v3.1.10 "signed request, signed response": on a signed endpoint every answer with a
/// body, errors included, carries the bank's `x-jws-signature` over its exact bytes.
async fn signed(
    s: &ConsentState,
    kind: ConsentKind,
    id: &InteractionId,
    resp: Response,
) -> Response {
    let Some(signer) = s.response_signer.as_ref().filter(|_| kind.signed()) else {
        return resp;
    };
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return ob_internal(&format!("reading the answer to sign: {e}"), id),
    };
    if !bytes.is_empty() {
        match signer.sign(&bytes, s.clock.now()) {
            Ok(sig) => match header::HeaderValue::from_str(&sig) {
                Ok(v) => {
                    parts.headers.insert("x-jws-signature", v);
                }
                Err(e) => return ob_internal(&format!("response signature header: {e}"), id),
            },
            Err(e) => return ob_internal(&format!("signing the answer: {e}"), id),
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// A request header as text (`"(not text)"` when it is not), for the consent crate's checks.
fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("(not text)"))
}

/// Refused (406) unless the caller accepts JSON.
fn accepts_json(headers: &HeaderMap) -> Result<(), ConsentError> {
    bulwark_consent::negotiation::check_accept(header_text(headers, header::ACCEPT))
}

/// Admits the caller through the resource guard with an application token and states it as
/// the consent crate's caller; see [`admitted_as`].
async fn admitted(
    s: &ConsentState,
    chain: PresentedChain,
    headers: &HeaderMap,
    id: &InteractionId,
) -> Result<(ApiCaller, Caller), Response> {
    admitted_as(s, chain, headers, id, TokenKind::Application).await
}

/// Admits the caller (a token of `kind`) through the resource guard and states it as the
/// consent crate's caller; a refusal is rendered (401 or 403) for the request with interaction
/// id `id`. The FAPI customer headers, when sent, must be well formed.
async fn admitted_as(
    s: &ConsentState,
    chain: PresentedChain,
    headers: &HeaderMap,
    id: &InteractionId,
    kind: TokenKind,
) -> Result<(ApiCaller, Caller), Response> {
    let (api, caller) = admit(s, chain, headers, kind)
        .await
        .map_err(|e| refused(&e, id))?;
    let text = |name: &str| header_text(headers, name);
    // Validated, and kept in the audit row of any change this request makes.
    let customer = bulwark_consent::fapi_headers::customer_headers(
        text("x-fapi-auth-date"),
        text("x-fapi-customer-ip-address"),
    )
    .map_err(|e| consent_error(&e, id))?;
    Ok((api, caller.with_customer(customer)))
}

async fn admit(
    s: &ConsentState,
    chain: PresentedChain,
    headers: &HeaderMap,
    kind: TokenKind,
) -> Result<(ApiCaller, Caller), Refusal> {
    let cert = chain.0.map_err(|e| {
        let refusal = Refusal::CertificateHeader(e.reason());
        refusal.log();
        refusal
    })?;
    let api = s
        .guard
        .admit(&ResourceRequest {
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
            chain: &cert.chain,
            forwarded_by: cert.forwarded_by(),
            kind,
        })
        .await?;
    let caller = Caller::with_roles(
        api.claims.client_id.clone(),
        Some(api.roles.clone()),
        &api.claims.scope,
    );
    Ok((api, caller))
}

/// `POST /{kind}-consents`.
pub async fn create(
    kind: ConsentKind,
    s: ConsentState,
    chain: PresentedChain,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = InteractionId::of(&headers);
    let (api, caller) = match admitted(&s, chain, &headers, &id).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    if let Err(e) = caller.authorize(kind) {
        return consent_error(&e, &id);
    }
    if let Err(e) = bulwark_consent::negotiation::check_content_type(header_text(
        &headers,
        header::CONTENT_TYPE,
    )) {
        return consent_error(&e, &id);
    }
    if let Err(e) = accepts_json(&headers) {
        return consent_error(&e, &id);
    }
    let signature = headers.get("x-jws-signature").and_then(|v| v.to_str().ok());
    match s
        .guard
        .check_signature(&api, kind.signed(), signature, &body)
        .await
    {
        Ok(()) => {}
        Err(SignatureError::Refused(e)) => return consent_error(&e, &id),
        Err(SignatureError::Unavailable(detail)) => return ob_unavailable(&detail, &id),
        Err(SignatureError::Internal(detail)) => return ob_internal(&detail, &id),
    }
    let key = headers
        .get("x-idempotency-key")
        .and_then(|v| v.to_str().ok());
    let now = s.clock.now();
    match s.service.create(&caller, kind, &body, key, now).await {
        Ok(created) => {
            let json = created
                .consent
                .to_ob_json(&self_link(&s, kind, &created.consent.id), now);
            answer(&id, (StatusCode::CREATED, Json(json)).into_response())
        }
        Err(e) => consent_error(&e, &id),
    }
}

/// `GET /{kind}-consents/{ConsentId}`.
pub async fn get(
    kind: ConsentKind,
    s: ConsentState,
    chain: PresentedChain,
    headers: HeaderMap,
    consent_id: String,
) -> Response {
    let id = InteractionId::of(&headers);
    let (_, caller) = match admitted(&s, chain, &headers, &id).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    if let Err(e) = accepts_json(&headers) {
        return consent_error(&e, &id);
    }
    let now = s.clock.now();
    match s.service.get(&caller, kind, &consent_id, now).await {
        Ok(consent) => {
            let json = consent.to_ob_json(&self_link(&s, kind, &consent.id), now);
            answer(&id, Json(json).into_response())
        }
        Err(e) => consent_error(&e, &id),
    }
}

/// `GET /domestic-payment-consents/{ConsentId}/funds-confirmation` (OB v3.1.10 PIS): with
/// the PSU's access token for this consent (authorization code grant), once Authorised.
pub async fn funds_confirmation(
    s: ConsentState,
    chain: PresentedChain,
    headers: HeaderMap,
    consent_id: String,
) -> Response {
    let id = InteractionId::of(&headers);
    let (api, caller) = match admitted_as(&s, chain, &headers, &id, TokenKind::User).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    if let Err(e) = accepts_json(&headers) {
        return consent_error(&e, &id);
    }
    let now = s.clock.now();
    match s
        .service
        .funds_confirmation(&caller, &consent_id, api.claims.consent_id.as_deref(), now)
        .await
    {
        Ok(answer_body) => {
            let link = format!(
                "{}{}",
                s.api_base.trim_end_matches('/'),
                Endpoint::PaymentFundsConfirmation
                    .path()
                    .replace("{consent_id}", &consent_id)
            );
            answer(&id, Json(answer_body.to_ob_json(&link)).into_response())
        }
        Err(e) => consent_error(&e, &id),
    }
}

/// `DELETE /{kind}-consents/{ConsentId}`.
pub async fn delete(
    kind: ConsentKind,
    s: ConsentState,
    chain: PresentedChain,
    headers: HeaderMap,
    consent_id: String,
) -> Response {
    let id = InteractionId::of(&headers);
    let (_, caller) = match admitted(&s, chain, &headers, &id).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    match s
        .service
        .delete(&caller, kind, &consent_id, s.clock.now())
        .await
    {
        Ok(()) => answer(&id, StatusCode::NO_CONTENT.into_response()),
        Err(e) => consent_error(&e, &id),
    }
}

/// A consent API answer: the interaction id, and `no-store` (a consent names accounts,
/// amounts and creditors; no cache on the way may keep it).
fn answer(id: &InteractionId, mut response: Response) -> Response {
    bulwark_web::no_store(response.headers_mut());
    id.stamp(response)
}

/// A body that could not be read (over the size limit: 413; cut off: 400) answered as an OB
/// error like any other, so a TPP's error handling reads it (and, on a signed endpoint, it is
/// signed).
fn unread_body(unread: &BytesRejection, id: &InteractionId) -> Response {
    let status = unread.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the request body is larger than {MAX_BODY_BYTES} bytes")
    } else {
        "the request body could not be read".to_string()
    };
    answer(
        id,
        ob_error(status, ObErrorCode::FieldInvalid, &message, None, id),
    )
}

/// The largest body the consent APIs read (axum's default limit).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Route helpers binding a consent kind to the generic handlers.
pub mod bind {
    use super::*;
    use axum::routing::{MethodRouter, delete as del, get as g, post};

    use crate::state::AppState;

    /// POST on a collection.
    pub fn collection(kind: ConsentKind) -> MethodRouter<AppState> {
        post(
            move |State(s): State<ConsentState>,
                  c: PresentedChain,
                  h: HeaderMap,
                  b: Result<Bytes, BytesRejection>| async move {
                let id = InteractionId::of(&h);
                let resp = match b {
                    Ok(b) => super::create(kind, s.clone(), c, h, b).await,
                    Err(unread) => super::unread_body(&unread, &id),
                };
                super::signed(&s, kind, &id, resp).await
            },
        )
    }

    /// GET funds confirmation of a payment consent (a signed endpoint: signed answers).
    pub fn funds_confirmation() -> MethodRouter<AppState> {
        g(
            move |State(s): State<ConsentState>,
                  c: PresentedChain,
                  h: HeaderMap,
                  Path(consent_id): Path<String>| async move {
                let id = InteractionId::of(&h);
                let resp = super::funds_confirmation(s.clone(), c, h, consent_id).await;
                super::signed(&s, ConsentKind::DomesticPayment, &id, resp).await
            },
        )
    }

    /// GET (and DELETE where the API has it) on one consent.
    pub fn item(kind: ConsentKind) -> MethodRouter<AppState> {
        let router = g(
            move |State(s): State<ConsentState>,
                  c: PresentedChain,
                  h: HeaderMap,
                  Path(consent_id): Path<String>| async move {
                let id = InteractionId::of(&h);
                let resp = super::get(kind, s.clone(), c, h, consent_id).await;
                super::signed(&s, kind, &id, resp).await
            },
        );
        match kind {
            ConsentKind::DomesticPayment => router,
            ConsentKind::AccountAccess | ConsentKind::FundsConfirmation => router.merge(del(
                move |State(s): State<ConsentState>,
                      c: PresentedChain,
                      h: HeaderMap,
                      Path(id): Path<String>| { super::delete(kind, s, c, h, id) },
            )),
        }
    }
}
