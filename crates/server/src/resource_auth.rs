//! Authorising a call to a protected API of this server (the OB consent APIs): an RFC 6750
//! bearer access token that this server issued, not revoked, of the expected kind, bound to the
//! certificate presented on this connection (RFC 8705 3), and that certificate a valid QWAC
//! whose PSD2 roles the API layer then checks (CERT-7).

use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use bulwark_certs::{Purpose, TppIdentity};
use bulwark_token::access_token::{AccessTokenClaims, TokenKind};

use crate::listener::ConnectionInfo;
use crate::state::AppState;

/// Who is calling, once every transport and token check passed.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    /// The verified token claims.
    pub claims: AccessTokenClaims,
    /// The PSD2 identity from the caller's QWAC.
    pub tpp: TppIdentity,
}

/// Why an API call is refused before any API logic runs.
#[derive(Debug, thiserror::Error)]
pub enum ApiAuthError {
    /// No, malformed, foreign, expired or revoked token, or a token bound to another
    /// certificate: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// A valid token that may not call this API (wrong kind or scope, certificate not a
    /// valid QWAC): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The server could not decide (database down).
    #[error("internal: {0}")]
    Internal(String),
}

/// Checks the bearer token and the certificate of a request.
pub async fn authorize(
    state: &AppState,
    info: &ConnectionInfo,
    headers: &HeaderMap,
    kind: TokenKind,
) -> Result<ApiCaller, ApiAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiAuthError::InvalidToken(
            "a bearer access token is required",
        ))?;
    let claims = state
        .tokens
        .verify_access_token(token)
        .map_err(|_| ApiAuthError::InvalidToken("the access token is invalid or expired"))?;
    if state
        .tokens
        .is_revoked(&claims.jti)
        .await
        .map_err(|e| ApiAuthError::Internal(e.to_string()))?
    {
        return Err(ApiAuthError::InvalidToken("the access token was revoked"));
    }
    // A suspended or deleted client can do nothing, whatever tokens it still holds.
    if !state
        .tokens
        .client_is_active(&claims.client_id)
        .await
        .map_err(|e| ApiAuthError::Internal(e.to_string()))?
    {
        return Err(ApiAuthError::InvalidToken(
            "the client is suspended or no longer registered",
        ));
    }
    let (chain, forwarded) = crate::client_cert::presented_chain(state, info, headers)
        .map_err(|_| ApiAuthError::InvalidToken("the client certificate header was refused"))?;
    let Some(leaf) = chain.first() else {
        return Err(ApiAuthError::InvalidToken(
            "a client certificate is required (mTLS)",
        ));
    };
    if bulwark_certs::x5t_s256(leaf) != claims.cnf.x5t_s256 {
        return Err(ApiAuthError::InvalidToken(
            "the access token is bound to another certificate",
        ));
    }
    if claims.token_kind != kind {
        return Err(ApiAuthError::Forbidden(match kind {
            TokenKind::Application => {
                "this API needs a client_credentials (application) token".into()
            }
            TokenKind::User => "this API needs a token authorised by the customer".into(),
        }));
    }
    let now = UNIX_EPOCH + Duration::from_secs(u64::try_from(state.clock.unix()).unwrap_or(0));
    let validated = if forwarded {
        state
            .validator
            .validate_forwarded(&state.config.mtls, &chain, Purpose::Qwac, now)
            .await
    } else {
        state.validator.validate(&chain, Purpose::Qwac, now).await
    }
    .map_err(|e| {
        ApiAuthError::Forbidden(format!(
            "the client certificate is not an acceptable QWAC ({})",
            e.reason()
        ))
    })?;
    if let Some(expected) = expected_organisation(state, &claims.client_id).await? {
        bulwark_certs::organisation_matches(validated.tpp.as_ref(), &validated.subject, &expected)
            .map_err(|e| {
                ApiAuthError::Forbidden(format!(
                    "the client certificate belongs to another organisation than the client ({e})"
                ))
            })?;
    }
    let tpp = validated.tpp.ok_or_else(|| {
        ApiAuthError::Forbidden("the client certificate carries no PSD2 roles".into())
    })?;
    Ok(ApiCaller { claims, tpp })
}

/// CERT-8: the organisation a client's certificates must belong to: the one its software
/// statement named (dynamically registered clients), or the `organization_identifier` metadata
/// of a statically registered client. None when neither is known.
async fn expected_organisation(
    state: &AppState,
    client_id: &str,
) -> Result<Option<bulwark_certs::ExpectedOrganisation>, ApiAuthError> {
    use bulwark_store::RegistrationStore;
    let internal = |e: &dyn std::fmt::Display| ApiAuthError::Internal(e.to_string());
    if let Some(registration) = state
        .store
        .get_registration(client_id)
        .await
        .map_err(|e| internal(&e))?
    {
        let org: bulwark_dcr::Organisation =
            serde_json::from_str(&registration.organisation).map_err(|e| internal(&e))?;
        return Ok(Some(org.expected()));
    }
    let client = state
        .tokens
        .registry()
        .get(client_id)
        .await
        .map_err(|e| internal(&e))?;
    Ok(client.and_then(|rc| {
        rc.client
            .metadata
            .extra
            .get("organization_identifier")
            .and_then(serde_json::Value::as_str)
            .map(|oi| bulwark_certs::ExpectedOrganisation::OrganizationIdentifier(oi.to_string()))
    }))
}
