//! CO-6: the `x-jws-signature` policy of a bank-API request, per endpoint as OB Read/Write
//! v3.1.10 sets it. On a signed endpoint (payment consents) a signature is required and
//! verified. On an endpoint that is not signed, a signature is ignored, or refused with
//! `UK.OBIE.Signature.Unexpected` when the bank says so, unless the bank (`require_jws_signature`)
//! or the client's metadata (`require_jws_signature`) asks for signatures there too; then it is
//! required and verified. The signer must be the client (`{org_id}/{software_id}` for a
//! directory-registered TPP, else the client id) with one of the client's keys whose `x5c` is
//! a valid QSealC.

use bulwark_clients::ClientError;
use bulwark_consent::{ConsentError, DetachedJwsVerifier, SignedRequest};
use serde_json::Value;

use crate::{ApiCaller, ResourceGuard};

/// What to do with a signature sent to an endpoint that is not signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnexpectedSignature {
    /// Ignore it (not verified, not stored).
    #[default]
    Ignore,
    /// Refuse the request with `UK.OBIE.Signature.Unexpected`.
    Refuse,
}

/// The server-wide signature rule and the verifier that applies it.
#[derive(Clone, Debug)]
pub struct SignaturePolicy {
    /// Require (and verify) signatures on the endpoints OB leaves unsigned too.
    pub required_for_all: bool,
    /// A signature sent to an endpoint that is not signed.
    pub unexpected: UnexpectedSignature,
    /// The verifier (QSealC validation, OB header claims).
    pub verifier: DetachedJwsVerifier,
}

/// Why a request's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Missing, malformed or invalid, answered as an OB error.
    #[error(transparent)]
    Refused(#[from] ConsentError),
    /// The client's keys could not be read now (database unavailable): 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The server could not decide.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<ClientError> for SignatureError {
    /// A directory lookup that failed: an outage is retryable (503), anything else a fault.
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unavailable(detail) => Self::Unavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ResourceGuard {
    /// Applies the signature policy to an admitted caller's request body.
    pub async fn check_signature(
        &self,
        caller: &ApiCaller,
        endpoint_signed: bool,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let client = self
            .directory
            .get(&caller.claims.client_id)
            .await
            .map_err(SignatureError::from)?
            .ok_or(ConsentError::NotFound)?;
        let meta = &client.client.metadata;
        let required = endpoint_signed
            || self.signatures.required_for_all
            || meta
                .extra
                .get("require_jws_signature")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        if !required {
            return match (header, self.signatures.unexpected) {
                (None, _) | (Some(_), UnexpectedSignature::Ignore) => Ok(()),
                (Some(_), UnexpectedSignature::Refuse) => {
                    Err(ConsentError::SignatureUnexpected.into())
                }
            };
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
            Err(ClientError::Unavailable(detail)) => {
                return Err(SignatureError::Unavailable(detail));
            }
            Err(ClientError::Internal(detail)) => {
                return Err(SignatureError::Internal(detail));
            }
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
        if let Some(signature) = verified {
            let expected = self
                .directory
                .expected_organisation(&caller.claims.client_id, signature.seal.profile)
                .await
                .map_err(SignatureError::from)?;
            let refused = match expected {
                Some(expected) => bulwark_certs::organisation_matches(
                    signature.seal.tpp.as_ref(),
                    &signature.seal.subject,
                    &expected,
                )
                .err()
                .map(|e| e.reason()),
                // A directory seal must name the client's organisation and software.
                None if signature.seal.profile == bulwark_certs::CertProfile::ObDirectory => {
                    Some("no_directory_registration")
                }
                None => None,
            };
            if let Some(reason) = refused {
                tracing::warn!(target: "bulwark::security", client_id = %caller.claims.client_id, reason, "x-jws-signature sealed by another organisation");
                return Err(ConsentError::SignatureInvalid(
                    "the sealing certificate belongs to another organisation than the client"
                        .into(),
                )
                .into());
            }
        }
        Ok(())
    }
}
