//! CO-6: the `x-jws-signature` policy of a bank-API request. A signature that is sent is always
//! verified; one is required when the server requires it for everyone or the client's metadata
//! says `require_jws_signature`. The signer must be the client (`{org_id}/{software_id}` for a
//! directory-registered TPP, else the client id) with one of the client's keys whose `x5c` is
//! a valid QSealC.

use bulwark_clients::ClientError;
use bulwark_consent::{ConsentError, DetachedJwsVerifier, SignedRequest};
use serde_json::Value;

use crate::{ApiCaller, ResourceGuard};

/// The server-wide signature rule and the verifier that applies it.
#[derive(Clone, Debug)]
pub struct SignaturePolicy {
    /// Require a signature from every client.
    pub required_for_all: bool,
    /// The verifier (QSealC validation, OB header claims).
    pub verifier: DetachedJwsVerifier,
}

/// Why a request's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Missing, malformed or invalid, answered as an OB error.
    #[error(transparent)]
    Refused(#[from] ConsentError),
    /// The server could not decide.
    #[error("internal: {0}")]
    Internal(String),
}

impl ResourceGuard {
    /// Applies the signature policy to an admitted caller's request body.
    pub async fn check_signature(
        &self,
        caller: &ApiCaller,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let client = self
            .directory
            .get(&caller.claims.client_id)
            .await
            .map_err(|e| SignatureError::Internal(e.to_string()))?
            .ok_or(ConsentError::NotFound)?;
        let meta = &client.client.metadata;
        let required = self.signatures.required_for_all
            || meta
                .extra
                .get("require_jws_signature")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        if header.is_none() && !required {
            return Ok(());
        }
        let kid = header.and_then(bulwark_consent::header_kid);
        let keys = match self.directory.keys(&client, kid.as_deref()).await {
            Ok(keys) => keys,
            Err(ClientError::Auth(reason)) => {
                return Err(ConsentError::SignatureInvalid(format!(
                    "the client's keys are unavailable: {reason}"
                ))
                .into());
            }
            Err(ClientError::Internal(detail)) => return Err(SignatureError::Internal(detail)),
        };
        let expected_iss = match (&meta.org_id, &meta.software_id) {
            (Some(org), Some(software)) => format!("{org}/{software}"),
            _ => client.client.client_id.clone(),
        };
        let verified = self
            .signatures
            .verifier
            .verify(
                &SignedRequest {
                    header,
                    body,
                    client_keys: &keys,
                    expected_iss: &expected_iss,
                    required,
                },
                self.clock.now(),
            )
            .await?;
        // CERT-8 for seals: the sealing certificate belongs to the client's organisation.
        if let Some(signature) = verified
            && let Some(expected) = self
                .directory
                .expected_organisation(&caller.claims.client_id)
                .await
                .map_err(|e| SignatureError::Internal(e.to_string()))?
            && let Err(e) = bulwark_certs::organisation_matches(
                signature.seal.tpp.as_ref(),
                &signature.seal.subject,
                &expected,
            )
        {
            tracing::warn!(target: "bulwark::security", client_id = %caller.claims.client_id, reason = e.reason(), "x-jws-signature sealed by another organisation");
            return Err(ConsentError::SignatureInvalid(
                "the sealing certificate belongs to another organisation than the client".into(),
            )
            .into());
        }
        Ok(())
    }
}
