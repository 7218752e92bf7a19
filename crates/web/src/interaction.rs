//! `x-fapi-interaction-id` (FAPI 1.0 Baseline 6.2.1-11/12, OB Read/Write API): the TPP's id
//! when it sent a sane one, else a new UUID, echoed on every response of the bank APIs.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// The header's name.
pub const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// The interaction id of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionId(pub String);

impl InteractionId {
    /// The id of a request with these headers.
    pub fn of(headers: &axum::http::HeaderMap) -> Self {
        Self::sent_as(headers.get(&INTERACTION_ID))
    }

    /// The id of a request that sent this header value (or none).
    fn sent_as(value: Option<&HeaderValue>) -> Self {
        Self(
            value
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .map_or_else(bulwark_core::random::uuid_v4, str::to_string),
        )
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sets the header on a response.
    pub fn stamp(&self, mut response: Response) -> Response {
        if let Ok(value) = HeaderValue::from_str(&self.0) {
            response.headers_mut().insert(INTERACTION_ID, value);
        }
        response
    }
}

/// The bank APIs' path prefix: every answer under it carries `x-fapi-interaction-id`.
pub const BANK_API_PREFIX: &str = "/open-banking/";

/// Middleware: OB Read/Write "Response Headers": `x-fapi-interaction-id` "must be returned for
/// both successful and error responses". Handlers stamp their own answers; this stamps the
/// ones made before or around them (a method not allowed, a deadline, a repeated header)
/// under [`BANK_API_PREFIX`], with the TPP's id when it sent a sane one.
pub async fn echo_on_bank_apis(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !req.uri().path().starts_with(BANK_API_PREFIX) {
        return next.run(req).await;
    }
    // Only the value is kept: a new id is drawn only for an answer no handler stamped.
    let sent = req.headers().get(&INTERACTION_ID).cloned();
    let response = next.run(req).await;
    if response.headers().contains_key(&INTERACTION_ID) {
        response
    } else {
        InteractionId::sent_as(sent.as_ref()).stamp(response)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for InteractionId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sent(value: &str) -> InteractionId {
        InteractionId::sent_as(Some(&HeaderValue::from_str(value).unwrap()))
    }

    /// OB Read/Write: an answer no handler stamped (here a method the route does not take)
    /// carries the TPP's own interaction id under the bank APIs, and nothing elsewhere.
    #[tokio::test]
    async fn co_1_an_answer_made_around_a_bank_api_handler_echoes_the_tpps_id() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/open-banking/v3.1/aisp/accounts",
                axum::routing::get(|| async { "ok" }),
            )
            .route("/token", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(echo_on_bank_apis));
        let request = |path: &str| {
            axum::http::Request::delete(path)
                .header(&INTERACTION_ID, "93bac548-d2de-4546-b106-880a5018460d")
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let bank = app
            .clone()
            .oneshot(request("/open-banking/v3.1/aisp/accounts"))
            .await
            .unwrap();
        assert_eq!(bank.status(), axum::http::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            bank.headers()[&INTERACTION_ID],
            "93bac548-d2de-4546-b106-880a5018460d"
        );
        let oauth = app.oneshot(request("/token")).await.unwrap();
        assert!(oauth.headers().get(&INTERACTION_ID).is_none());
    }

    /// The TPP's id is echoed when it is one a log line and an OB error `Id` can carry (1 to
    /// 128 characters); an empty or longer one is replaced by a new UUID, as is a missing one.
    #[test]
    fn co_1_a_sane_interaction_id_is_echoed_and_any_other_replaced() {
        let longest = "a".repeat(128);
        assert_eq!(sent(&longest).as_str(), longest);
        assert_eq!(
            sent("93bac548-d2de-4546-b106-880a5018460d").as_str(),
            "93bac548-d2de-4546-b106-880a5018460d"
        );
        for replaced in [
            sent(""),
            sent(&"a".repeat(129)),
            InteractionId::sent_as(None),
        ] {
            assert_eq!(replaced.as_str().len(), 36, "{replaced:?}");
            assert_eq!(replaced.as_str().matches('-').count(), 4, "{replaced:?}");
        }
    }
}
