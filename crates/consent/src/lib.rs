//! UK Open Banking Read/Write API v3.1 consents for Bulwark (REQUIREMENTS.md CO-1..CO-4, CO-6,
//! CERT-6/7): the account-access, domestic-payment and funds-confirmation consent resources
//! (request parsing, checks, OB response bodies), their lifecycle with an append-only audit
//! trail, resource-request validation, the staff search, `x-jws-signature` verification, and
//! the plain-language summary the PSU's consent page shows (AZ-6, [`describe()`]).
//!
//! Knows no HTTP framework (DESIGN.md): operations take the parsed pieces of a request (body
//! bytes, the caller's client id, TPP identity and scope, header values, `now`) and return
//! typed results or a [`ConsentError`], which [`ConsentError::to_ob`] turns into the OB error
//! body and HTTP status in one place.
//!
//! A handler, in outline (the server owns HTTP, the clock and the certificate checks):
//!
//! ```text
//! let caller = Caller::new(token.client_id, validated_cert.tpp, &token.scope);
//! jws_verifier.verify(&SignedRequest { header, body, client_keys, expected_iss, required }, now).await?;
//! let created = consents.create(&caller, ConsentKind::AccountAccess, body, idempotency_key, now).await?;
//! respond(201, created.consent.to_ob_json(&self_link, now));
//! // on Err(e): let ob = e.to_ob().with_id(interaction_id); respond(ob.status, ob.to_json())
//! ```

pub mod account_access;
pub mod consent;
mod describe;
pub mod domestic_payment;
pub mod error;
pub mod fapi_headers;
pub mod funds;
pub mod funds_confirmation;
pub mod jws;
pub mod lifecycle;
pub mod local_instrument;
pub mod model;
pub mod negotiation;
mod payment_schema;
pub mod payment_terms;
pub mod permissions;
pub mod response_signing;
pub mod resubmission;
pub mod service;
pub mod submitted_payment;
pub mod wire;

pub use account_access::AccountAccessDetails;
pub use bulwark_store::{ConsentCursor, ConsentOrder};
pub use consent::{AuditEntry, Consent, ConsentDetails};
pub use describe::{
    ConsentSummary, DataCluster, Fact, PaymentLines, PermissionLine, account_identification,
    describe,
};
pub use domestic_payment::DomesticPaymentDetails;
pub use error::{
    ConsentError, MAX_ERROR_TEXT, ObError, ObErrorCode, ObErrorDetail, ob_text, status_text,
};
pub use funds::{FundsCheck, FundsConfirmation, NoFundsCheck};
pub use funds_confirmation::FundsConfirmationDetails;
pub use jws::{DetachedJwsVerifier, SignedRequest, SigningVersion, VerifiedSignature, header_kid};
pub use lifecycle::{ConsentContext, ConsentSearch, Decision, decision_transition};
pub use local_instrument::{LocalInstruments, OB_LOCAL_INSTRUMENTS};
pub use model::{Actor, ActorKind, Caller, ConsentKind, ConsentStatus};
pub use payment_terms::{Charge, NoPaymentTerms, PaymentTerms, PaymentTermsProvider};
pub use permissions::{Permission, ResourceApi, parse_permissions};
pub use response_signing::ResponseSigner;
pub use service::{ConsentService, Created, check_idempotency_key};
pub use wire::{Account, format_datetime};
