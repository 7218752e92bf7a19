//! Errors of the consent crate, two levels (DESIGN.md, STYLE.md "what to absorb" 2):
//! [`ConsentError`] says precisely what went wrong; [`ConsentError::to_ob`] maps it, in one
//! exhaustive match, to the UK Open Banking v3.1 error response (Read/Write API
//! specification, "Error Response Structure": `OBErrorResponse1` with `OBError1` entries and the
//! `OBErrorResponseError1Code` codes) and its HTTP status.

use bulwark_store::StoreError;
use serde::Serialize;

use crate::model::ConsentStatus;

/// An `OBErrorResponseError1Code` value. Only standard codes exist here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObErrorCode {
    /// A field has an invalid value.
    FieldInvalid,
    /// A date-time field is invalid or in the past.
    FieldInvalidDate,
    /// A required field is missing.
    FieldMissing,
    /// A field that is not allowed was sent.
    FieldUnexpected,
    /// An HTTP header has an invalid value.
    HeaderInvalid,
    /// A required HTTP header is missing.
    HeaderMissing,
    /// The request does not match what the consent allows.
    ResourceConsentMismatch,
    /// The consent's status does not allow the operation.
    ResourceInvalidConsentStatus,
    /// A payment consent requested after the bank's cut-off time (OB "CutOffDateTime
    /// Behaviour").
    RulesAfterCutOffDateTime,
    /// The resource does not exist or is not visible to the caller.
    ResourceNotFound,
    /// The `x-jws-signature` does not verify.
    SignatureInvalid,
    /// A JOSE header claim of the `x-jws-signature` is invalid.
    SignatureInvalidClaim,
    /// The `x-jws-signature` is not a detached JWS.
    SignatureMalformed,
    /// A required JOSE header claim of the `x-jws-signature` is missing.
    SignatureMissingClaim,
    /// The `x-jws-signature` is required and absent.
    SignatureMissing,
    /// An `x-jws-signature` was sent where the endpoint is not signed (when refused by
    /// configuration).
    SignatureUnexpected,
    /// An account scheme name is not supported.
    UnsupportedScheme,
    /// A payment's LocalInstrument is not supported by the bank.
    UnsupportedLocalInstrument,
    /// An unexpected server-side error.
    UnexpectedError,
}

impl ObErrorCode {
    /// The code as it appears in `ErrorCode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldInvalid => "UK.OBIE.Field.Invalid",
            Self::FieldInvalidDate => "UK.OBIE.Field.InvalidDate",
            Self::FieldMissing => "UK.OBIE.Field.Missing",
            Self::FieldUnexpected => "UK.OBIE.Field.Unexpected",
            Self::HeaderInvalid => "UK.OBIE.Header.Invalid",
            Self::HeaderMissing => "UK.OBIE.Header.Missing",
            Self::ResourceConsentMismatch => "UK.OBIE.Resource.ConsentMismatch",
            Self::ResourceInvalidConsentStatus => "UK.OBIE.Resource.InvalidConsentStatus",
            Self::RulesAfterCutOffDateTime => "UK.OBIE.Rules.AfterCutOffDateTime",
            Self::ResourceNotFound => "UK.OBIE.Resource.NotFound",
            Self::SignatureInvalid => "UK.OBIE.Signature.Invalid",
            Self::SignatureInvalidClaim => "UK.OBIE.Signature.InvalidClaim",
            Self::SignatureMalformed => "UK.OBIE.Signature.Malformed",
            Self::SignatureMissingClaim => "UK.OBIE.Signature.MissingClaim",
            Self::SignatureMissing => "UK.OBIE.Signature.Missing",
            Self::SignatureUnexpected => "UK.OBIE.Signature.Unexpected",
            Self::UnsupportedScheme => "UK.OBIE.Unsupported.Scheme",
            Self::UnsupportedLocalInstrument => "UK.OBIE.Unsupported.LocalInstrument",
            Self::UnexpectedError => "UK.OBIE.UnexpectedError",
        }
    }
}

impl Serialize for ObErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One `OBError1` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObErrorDetail {
    /// The OB error code.
    pub error_code: ObErrorCode,
    /// A safe, human-readable description.
    pub message: String,
    /// The JSON path of the field, or the header name, in error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The `Code` of an [`ObError`] for an HTTP status (`400 BadRequest`): one table for every
/// OB error the server and the gateway send; a status not listed reads
/// `500 InternalServerError`.
pub fn status_text(status: u16) -> &'static str {
    match status {
        400 => "400 BadRequest",
        401 => "401 Unauthorized",
        403 => "403 Forbidden",
        404 => "404 NotFound",
        405 => "405 MethodNotAllowed",
        406 => "406 NotAcceptable",
        413 => "413 PayloadTooLarge",
        415 => "415 UnsupportedMediaType",
        502 => "502 BadGateway",
        503 => "503 ServiceUnavailable",
        _ => "500 InternalServerError",
    }
}

/// An OB error response (`OBErrorResponse1`) with the HTTP status to send it with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObError {
    /// The HTTP status (400, 403, 404, 500).
    #[serde(skip)]
    pub status: u16,
    /// High-level textual code, e.g. `400 BadRequest`.
    pub code: String,
    /// Unique reference of this error instance; the server may set it to the
    /// `x-fapi-interaction-id` so logs and the TPP's report meet.
    pub id: String,
    /// Brief description.
    pub message: String,
    /// The errors (at least one).
    pub errors: Vec<ObErrorDetail>,
}

/// OB's `maxLength` of an error's `Message` and `Path` (`OBErrorResponse1`, `OBError1`).
pub const MAX_ERROR_TEXT: usize = 500;

/// `text` cut to [`MAX_ERROR_TEXT`] characters: messages and paths can quote what the TPP
/// sent (an unknown permission, a member name), which has no length of its own.
pub fn ob_text(text: &str) -> String {
    text.chars().take(MAX_ERROR_TEXT).collect()
}

impl ObError {
    fn new(status: u16, code: ObErrorCode, message: String, path: Option<String>) -> Self {
        let message = ob_text(&message);
        Self {
            status,
            code: status_text(status).to_owned(),
            id: bulwark_core::random::uuid_v4(),
            message: message.clone(),
            errors: vec![ObErrorDetail {
                error_code: code,
                message,
                path: path.as_deref().map(ob_text),
            }],
        }
    }

    /// Sets `Id`, e.g. to the request's `x-fapi-interaction-id` (CO-1), so the TPP's report
    /// and the server's log name the same request. OB's `OBErrorResponse1.Id` is at most 40
    /// characters: a longer id is cut there.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into().chars().take(40).collect();
        self
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The first (main) error code.
    pub fn error_code(&self) -> Option<ObErrorCode> {
        self.errors.first().map(|e| e.error_code)
    }
}

/// Why a consent operation failed, precisely. Map with [`ConsentError::to_ob`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// The body is not JSON or has the wrong shape at `path`.
    #[error("invalid request body at {path}: {detail}")]
    InvalidBody {
        /// JSON path of the problem.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A required field is missing.
    #[error("missing field {path}")]
    MissingField {
        /// JSON path of the field.
        path: String,
    },
    /// A field the API does not define was sent.
    #[error("unexpected field {path}")]
    UnexpectedField {
        /// JSON path of the field.
        path: String,
    },
    /// A field has an invalid value.
    #[error("invalid field {path}: {detail}")]
    InvalidField {
        /// JSON path of the field.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A date-time is unparseable, in the past, or out of order.
    #[error("invalid date {path}: {detail}")]
    InvalidDate {
        /// JSON path of the field.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// An account SchemeName this server does not support.
    #[error("unsupported scheme {scheme:?} at {path}")]
    UnsupportedScheme {
        /// JSON path of the field.
        path: String,
        /// The scheme sent.
        scheme: String,
    },
    /// A payment's LocalInstrument the bank does not support.
    #[error("unsupported LocalInstrument {code:?} at {path}")]
    UnsupportedLocalInstrument {
        /// JSON path of the field.
        path: String,
        /// The code sent.
        code: String,
    },
    /// A required header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header has an invalid value.
    #[error("invalid header {name}: {detail}")]
    InvalidHeader {
        /// The header name.
        name: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The x-idempotency-key was used before by this client with a different body.
    #[error("x-idempotency-key reused with a different body")]
    IdempotencyKeyReused,
    /// CERT-7: the caller's certificate lacks the PSD2 role the API needs.
    #[error("PSD2 role check failed: {0}")]
    RoleMissing(#[from] bulwark_certs::RoleError),
    /// The caller presented no eIDAS / PSD2 identity at all.
    #[error("no TPP identity (eIDAS certificate) presented")]
    NoTppIdentity,
    /// The access token lacks the scope the API needs.
    #[error("access token lacks scope {0}")]
    ScopeMissing(&'static str),
    /// No such consent (or none of the API's kind): OB v3.1.10 answers 400
    /// `UK.OBIE.Resource.NotFound`.
    #[error("consent not found")]
    NotFound,
    /// The consent belongs to another client: OB v3.1.10 answers 403.
    #[error("the consent belongs to another client")]
    OtherClient,
    /// A payment consent past the bank's cut-off time can no longer be authorised.
    #[error("the payment's cut-off time has passed")]
    CutOffPassed,
    /// The PSU's access token was issued for another consent than the one in the path.
    #[error("the access token was issued for another consent")]
    OtherConsent,
    /// A re-authentication by another customer than the one who authorised the consent.
    #[error("the consent was authorised by another customer")]
    OtherPsu,
    /// The request body is not `application/json` (415).
    #[error("the body must be application/json, not {0}")]
    UnsupportedMediaType(String),
    /// The `Accept` header admits nothing the API answers with (406).
    #[error("the API answers application/json only; Accept is {0}")]
    NotAcceptable(String),
    /// The lifecycle does not allow this change (CO-2).
    #[error("consent status {from} does not allow {to}")]
    IllegalTransition {
        /// The current status.
        from: ConsentStatus,
        /// The status asked for.
        to: ConsentStatus,
    },
    /// The operation needs another status (e.g. DELETE of a revoked consent).
    #[error("consent status {0} does not allow this operation")]
    InvalidStatus(ConsentStatus),
    /// The consent's ExpirationDateTime passed before it was authorised.
    #[error("consent expired before it was authorised")]
    ExpiredBeforeAuthorisation,
    /// CO-4: the consent is not (or no longer) Authorised.
    #[error("consent is {0}, not Authorised")]
    NotAuthorised(ConsentStatus),
    /// CO-4: the account is not among those the PSU selected.
    #[error("account not selected in the consent")]
    AccountNotSelected,
    /// CO-4: the consent's permissions do not cover the API.
    #[error("consent permissions do not cover {0}")]
    PermissionMissing(&'static str),
    /// CO-4: the consent is of another kind than the API needs.
    #[error("consent kind does not match the API")]
    WrongKind,
    /// CO-4: a funds-confirmation request names another consent than its token's
    /// (OB Confirmation of Funds: "This Id must match the intent identifier").
    #[error("the request does not match its consent at {path}")]
    RequestMismatch {
        /// The differing member.
        path: String,
    },
    /// CO-3: a payment submission differs from its consent.
    #[error("payment does not match its consent at {path}")]
    PaymentMismatch {
        /// The first differing member.
        path: String,
    },
    /// CO-6: `x-jws-signature` required and absent.
    #[error("x-jws-signature missing")]
    SignatureMissing,
    /// CO-6: not a detached compact JWS.
    #[error("x-jws-signature malformed: {0}")]
    SignatureMalformed(String),
    /// CO-6: a required JOSE header claim is absent.
    #[error("x-jws-signature header lacks {0}")]
    SignatureMissingClaim(&'static str),
    /// CO-6: a JOSE header claim has a wrong value.
    #[error("x-jws-signature claim {claim} invalid: {detail}")]
    SignatureInvalidClaim {
        /// The claim (a header member the profile does not define is named as sent).
        claim: std::borrow::Cow<'static, str>,
        /// What is wrong.
        detail: String,
    },
    /// CO-6: no usable QSealC-backed key, or the signature does not verify.
    #[error("x-jws-signature invalid: {0}")]
    SignatureInvalid(String),
    /// OB v3.1.10: a signature sent to an endpoint that is not signed, where the bank refuses
    /// them (`[consents] unexpected_signature = "refuse"`).
    #[error("x-jws-signature is not expected on this endpoint")]
    SignatureUnexpected,
    /// The store failed; detail is logged, never sent.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored consent could not be read back (corruption or a newer schema).
    #[error("corrupt consent: {0}")]
    Corrupt(String),
}

impl ConsentError {
    /// The OB error response for this error: one exhaustive match, no wildcard.
    pub fn to_ob(&self) -> ObError {
        use ObErrorCode as C;
        let msg = self.to_string();
        let field = |code, path: &str| ObError::new(400, code, msg.clone(), Some(path.into()));
        match self {
            Self::InvalidBody { path, .. } | Self::InvalidField { path, .. } => {
                field(C::FieldInvalid, path)
            }
            Self::MissingField { path } => field(C::FieldMissing, path),
            Self::UnexpectedField { path } => field(C::FieldUnexpected, path),
            Self::InvalidDate { path, .. } => field(C::FieldInvalidDate, path),
            Self::UnsupportedScheme { path, .. } => field(C::UnsupportedScheme, path),
            Self::UnsupportedLocalInstrument { path, .. } => {
                field(C::UnsupportedLocalInstrument, path)
            }
            Self::MissingHeader(name) => field(C::HeaderMissing, name),
            Self::InvalidHeader { name, .. } => field(C::HeaderInvalid, name),
            Self::IdempotencyKeyReused => field(C::HeaderInvalid, "x-idempotency-key"),
            // No OB code names a role or scope failure; the token (Authorization header,
            // bound to the certificate) does not permit the API.
            Self::RoleMissing(_) | Self::NoTppIdentity | Self::ScopeMissing(_) => ObError::new(
                403,
                C::HeaderInvalid,
                msg.clone(),
                Some("Authorization".into()),
            ),
            Self::NotFound => ObError::new(400, C::ResourceNotFound, msg.clone(), None),
            Self::OtherClient => ObError::new(403, C::ResourceConsentMismatch, msg.clone(), None),
            Self::OtherPsu | Self::OtherConsent => {
                ObError::new(403, C::ResourceConsentMismatch, msg.clone(), None)
            }
            Self::CutOffPassed => ObError::new(400, C::RulesAfterCutOffDateTime, msg.clone(), None),
            Self::UnsupportedMediaType(_) => ObError::new(
                415,
                C::HeaderInvalid,
                msg.clone(),
                Some("Content-Type".into()),
            ),
            Self::NotAcceptable(_) => {
                ObError::new(406, C::HeaderInvalid, msg.clone(), Some("Accept".into()))
            }
            Self::IllegalTransition { .. }
            | Self::InvalidStatus(_)
            | Self::ExpiredBeforeAuthorisation => {
                ObError::new(400, C::ResourceInvalidConsentStatus, msg.clone(), None)
            }
            Self::NotAuthorised(_) => {
                ObError::new(403, C::ResourceInvalidConsentStatus, msg.clone(), None)
            }
            Self::AccountNotSelected | Self::PermissionMissing(_) | Self::WrongKind => {
                ObError::new(403, C::ResourceConsentMismatch, msg.clone(), None)
            }
            Self::PaymentMismatch { path } | Self::RequestMismatch { path } => {
                field(C::ResourceConsentMismatch, path)
            }
            Self::SignatureMissing => field(C::SignatureMissing, "x-jws-signature"),
            Self::SignatureMalformed(_) => field(C::SignatureMalformed, "x-jws-signature"),
            // OB v3.1.10: a claim error names the claim in Path.
            Self::SignatureMissingClaim(claim) => field(C::SignatureMissingClaim, claim),
            Self::SignatureInvalidClaim { claim, .. } => field(C::SignatureInvalidClaim, claim),
            Self::SignatureInvalid(_) => field(C::SignatureInvalid, "x-jws-signature"),
            Self::SignatureUnexpected => field(C::SignatureUnexpected, "x-jws-signature"),
            // The database is away (restart, failover): the TPP retries, nothing is wrong.
            Self::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %self, "consent operation deferred: database unavailable");
                ObError::new(
                    503,
                    C::UnexpectedError,
                    "the service is briefly unavailable; retry shortly".into(),
                    None,
                )
            }
            Self::Store(_) | Self::Corrupt(_) => {
                tracing::error!(error = %self, "consent operation failed");
                ObError::new(
                    500,
                    C::UnexpectedError,
                    "the server could not complete the request".into(),
                    None,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ob_status_text_names_each_status_and_defaults_to_500() {
        for (status, text) in [
            (400, "400 BadRequest"),
            (401, "401 Unauthorized"),
            (403, "403 Forbidden"),
            (404, "404 NotFound"),
            (406, "406 NotAcceptable"),
            (415, "415 UnsupportedMediaType"),
            (500, "500 InternalServerError"),
            (502, "502 BadGateway"),
            (503, "503 ServiceUnavailable"),
            (418, "500 InternalServerError"),
        ] {
            assert_eq!(status_text(status), text);
        }
    }

    #[test]
    fn op_2_a_database_outage_is_503_and_a_fault_500() {
        let away =
            ConsentError::Store(StoreError::Unavailable("connection refused".into())).to_ob();
        assert_eq!(away.status, 503);
        assert_eq!(away.code, "503 ServiceUnavailable");
        assert!(!away.message.contains("connection"));
        let fault = ConsentError::Store(StoreError::Corrupt("row".into())).to_ob();
        assert_eq!(fault.status, 500);
    }

    #[test]
    fn co_1_messages_and_paths_are_at_most_500_characters() {
        let long = "R".repeat(600);
        let e = ConsentError::UnexpectedField {
            path: format!("Data.{long}"),
        }
        .to_ob();
        assert!(e.message.chars().count() <= MAX_ERROR_TEXT);
        assert!(e.errors[0].message.chars().count() <= MAX_ERROR_TEXT);
        let path = e.errors[0].path.as_deref().unwrap_or_default();
        assert_eq!(path.chars().count(), MAX_ERROR_TEXT);
        assert!(path.starts_with("Data.RRR"));
    }

    #[test]
    fn co_1_ob_error_body_has_the_ob_shape() {
        let e = ConsentError::MissingField {
            path: "Data.Permissions".into(),
        }
        .to_ob()
        .with_id("fapi-123");
        assert_eq!(e.status, 400);
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "Code": "400 BadRequest",
                "Id": "fapi-123",
                "Message": "missing field Data.Permissions",
                "Errors": [{
                    "ErrorCode": "UK.OBIE.Field.Missing",
                    "Message": "missing field Data.Permissions",
                    "Path": "Data.Permissions"
                }]
            })
        );
        let e = ConsentError::NotFound.to_ob();
        assert_eq!((e.status, e.code.as_str()), (400, "400 BadRequest"));
        // ob_error_id_length: at most 40 characters.
        let long = ConsentError::NotFound.to_ob().with_id("x".repeat(64));
        assert_eq!(long.to_json()["Id"].as_str().map(str::len), Some(40));
        let e = ConsentError::OtherClient.to_ob();
        assert_eq!((e.status, e.code.as_str()), (403, "403 Forbidden"));
        assert!(e.to_json()["Errors"][0].get("Path").is_none());
        let e = ConsentError::ScopeMissing("accounts").to_ob();
        assert_eq!((e.status, e.code.as_str()), (403, "403 Forbidden"));
    }

    #[test]
    fn store_failures_never_leak_detail() {
        let e = ConsentError::Corrupt("consent aac-1 body: secret detail".into()).to_ob();
        assert_eq!(e.status, 500);
        assert_eq!(e.error_code(), Some(ObErrorCode::UnexpectedError));
        assert!(!e.to_json().to_string().contains("secret"));
    }
}
