//! The registration service: RFC 7591 section 3 `POST /register` and RFC 7592 section 2
//! read / update / delete of `/register/{client_id}`, in the order DCR-1..DCR-5 need. Every
//! check runs before anything is written; the request `jti` is claimed last, just before the
//! client is stored, so a refused request leaves nothing behind.

use std::sync::Arc;

use bulwark_certs::{CertValidator, MtlsSettings, Purpose, ValidatedCert};
use bulwark_clients::ClientDirectory;
use bulwark_core::{Client, ClientMetadata, ClientStatus, Clock, OutboundHttp, Profile, Rng};
use bulwark_jose::{Alg, JwksFetcher, PublicKeySet, VerifyError};
use bulwark_store::{
    AuditEvent, ClientStore, JtiClaim, Registration, RegistrationStore, RegistrationWrite,
};
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::input::{ManagementInput, RegistrationInput, RegistrationResponse};
use crate::request::{UnverifiedRequest, check_claims};
use crate::ssa::{Organisation, SoftwareStatement, UnverifiedSsa};
use crate::{DcrError, DcrSettings, metadata, secret, transport};

/// Largest sector identifier document read.
const MAX_SECTOR_DOCUMENT: usize = 64 * 1024;

/// Everything the service is built from.
pub struct DcrParts {
    /// The `[dcr]` settings.
    pub settings: DcrSettings,
    /// Our issuer identifier (the request's `aud`).
    pub issuer: String,
    /// The URL of `POST /register`; client URIs are `<this>/<client_id>`.
    pub registration_endpoint: String,
    /// The clock every decision reads.
    pub clock: Arc<dyn Clock>,
    /// Randomness (client ids, registration access tokens).
    pub rng: Arc<dyn Rng>,
    /// Stored clients.
    pub clients: Arc<dyn ClientStore>,
    /// Registrations (the SSA's organisation, the registration access token hash).
    pub registrations: Arc<dyn RegistrationStore>,
    /// Transport certificate validation (QWAC, revocation).
    pub validator: CertValidator,
    /// The client directory, invalidated on every change.
    pub directory: Arc<ClientDirectory>,
    /// The shared `jwks_uri` fetcher (directory JWKS, software JWKS).
    pub fetcher: Arc<JwksFetcher>,
    /// Outbound https (sector identifier documents).
    pub http: OutboundHttp,
    /// Tolerance on `iat` / `exp`, seconds.
    pub clock_skew_secs: i64,
    /// The bank's default FAPI profile (`tokens.profile`), which new clients are held to.
    pub profile: Profile,
}

/// Where a directory's keys come from.
enum DirectoryKeys {
    Static(PublicKeySet),
    Remote(String),
}

struct Directory {
    name: String,
    issuer: String,
    keys: DirectoryKeys,
}

/// A request that passed every check and may be stored.
struct Accepted {
    ssa: SoftwareStatement,
    /// The transport certificate, summarised for the registration record.
    certificate: String,
    metadata: ClientMetadata,
    jti: String,
    exp: i64,
    client_id: Option<String>,
}

/// Dynamic client registration.
pub struct DcrService {
    settings: DcrSettings,
    algs: Vec<Alg>,
    issuer: String,
    registration_endpoint: String,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    clients: Arc<dyn ClientStore>,
    registrations: Arc<dyn RegistrationStore>,
    validator: CertValidator,
    directory: Arc<ClientDirectory>,
    fetcher: Arc<JwksFetcher>,
    http: OutboundHttp,
    directories: Vec<Directory>,
    skew: i64,
    profile: Profile,
}

impl std::fmt::Debug for DcrService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DcrService")
            .field("directories", &self.directories.len())
            .finish_non_exhaustive()
    }
}

impl DcrService {
    /// Checks the settings, reads the directories' JWK Set files and builds the HTTP clients.
    pub fn new(parts: DcrParts) -> Result<Self, String> {
        let algs = parts.settings.check()?;
        let mut directories = Vec::new();
        for d in &parts.settings.directories {
            let keys = match (&d.jwks_file, &d.jwks_uri) {
                (Some(_), _) => DirectoryKeys::Static(crate::settings::directory_keys(d)?),
                (None, Some(uri)) => DirectoryKeys::Remote(uri.clone()),
                (None, None) => return Err(format!("dcr directory {:?}: no keys", d.name)),
            };
            directories.push(Directory {
                name: d.name.clone(),
                issuer: d.issuer.clone(),
                keys,
            });
        }
        Ok(Self {
            settings: parts.settings,
            algs,
            issuer: parts.issuer,
            registration_endpoint: parts.registration_endpoint,
            clock: parts.clock,
            rng: parts.rng,
            clients: parts.clients,
            registrations: parts.registrations,
            validator: parts.validator,
            directory: parts.directory,
            fetcher: parts.fetcher,
            http: parts.http,
            directories,
            skew: parts.clock_skew_secs,
            profile: parts.profile,
        })
    }

    /// `POST /register` (RFC 7591 section 3.1): registers the client, answers 201's body.
    pub async fn register(
        &self,
        input: &RegistrationInput<'_>,
    ) -> Result<RegistrationResponse, DcrError> {
        let result = self.register_inner(input).await;
        log_refusal("register", None, &result);
        result
    }

    async fn register_inner(
        &self,
        input: &RegistrationInput<'_>,
    ) -> Result<RegistrationResponse, DcrError> {
        let now = self.clock.unix();
        let accepted = self.accept(input, now).await?;
        // OB DCR 3.3 data dictionary: a client_id in a registration request "may" be ignored;
        // the server assigns one (RFC 7591 3.2.1), so a TPP's own value is never taken.
        if let Some(asked) = &accepted.client_id {
            tracing::debug!(asked = %asked, "registration request named a client_id; the server assigns one");
        }
        let claim = self.jti_claim(&accepted);
        let client = Client {
            client_id: self.rng.uuid_v4(),
            metadata: accepted.metadata,
            status: ClientStatus::Active,
            client_id_issued_at: now,
            updated_at: now,
        };
        let token = secret::new_token(self.rng.as_ref());
        let registration = Registration {
            client_id: client.client_id.clone(),
            token_hash: secret::hash(&token),
            software_id: accepted.ssa.software_id.clone(),
            organisation: organisation_json(&accepted.ssa.organisation)?,
            certificate: Some(accepted.certificate.clone()),
            created_at: now,
            updated_at: now,
        };
        match self
            .registrations
            .insert_registered_client(&client, &registration, Some(&claim))
            .await?
        {
            RegistrationWrite::Written => {}
            RegistrationWrite::Replayed => return Err(DcrError::Replay),
            RegistrationWrite::SoftwareSuspended => return Err(DcrError::SoftwareSuspended),
            RegistrationWrite::Missing => {
                return Err(DcrError::Internal("registration not written".into()));
            }
        }
        self.directory.invalidate(&client.client_id);
        tracing::info!(target: "bulwark::security", client_id = %client.client_id, software_id = %registration.software_id, org_id = %accepted.ssa.org_id, directory = %accepted.ssa.iss, "client registered (DCR)");
        Ok(self.response(client, Some(token)))
    }

    /// `GET /register/{client_id}` (RFC 7592 section 2.1).
    pub async fn read(
        &self,
        input: &ManagementInput<'_>,
    ) -> Result<RegistrationResponse, DcrError> {
        let result = async {
            let token = self.authorize(input).await?;
            let client = self.stored_client(input.client_id).await?;
            Ok(self.response(client, token.map(str::to_string)))
        }
        .await;
        log_refusal("read", Some(input.client_id), &result);
        result
    }

    /// `PUT /register/{client_id}` (RFC 7592 section 2.2): a full re-registration under the same
    /// rules (signed request, SSA, QWAC), keeping the client_id and the access token.
    pub async fn update(
        &self,
        input: &ManagementInput<'_>,
        body: &RegistrationInput<'_>,
    ) -> Result<RegistrationResponse, DcrError> {
        let result = self.update_inner(input, body).await;
        log_refusal("update", Some(input.client_id), &result);
        result
    }

    async fn update_inner(
        &self,
        input: &ManagementInput<'_>,
        body: &RegistrationInput<'_>,
    ) -> Result<RegistrationResponse, DcrError> {
        let token = self.authorize(input).await?;
        let now = self.clock.unix();
        let accepted = self.accept(body, now).await?;
        let registration = self
            .registrations
            .get_registration(input.client_id)
            .await?
            .ok_or_else(|| DcrError::Internal("registration vanished".into()))?;
        if accepted.ssa.software_id != registration.software_id {
            return Err(DcrError::Metadata(format!(
                "this client was registered for software {:?}; the software statement is for {:?}",
                registration.software_id, accepted.ssa.software_id
            )));
        }
        // RFC 7592 2.2: the request includes the client_id, the one issued.
        match accepted.client_id.as_deref() {
            None => {
                return Err(DcrError::Metadata(
                    "client_id is required in an update (RFC 7592 2.2)".into(),
                ));
            }
            Some(id) if id != input.client_id => {
                return Err(DcrError::Metadata(
                    "client_id in the request differs from the one in the URL".into(),
                ));
            }
            Some(_) => {}
        }
        let claim = self.jti_claim(&accepted);
        let org = organisation_json(&accepted.ssa.organisation)?;
        match self
            .registrations
            .update_registered_client(
                input.client_id,
                &accepted.metadata,
                &org,
                Some(&accepted.certificate),
                now,
                Some(&claim),
            )
            .await?
        {
            RegistrationWrite::Written => {}
            RegistrationWrite::Replayed => return Err(DcrError::Replay),
            RegistrationWrite::Missing => {
                return Err(DcrError::Internal("registration vanished".into()));
            }
            // An update is of a client that is not suspended (checked before): never answered.
            RegistrationWrite::SoftwareSuspended => {
                return Err(DcrError::Internal(
                    "update refused as a new registration".into(),
                ));
            }
        }
        self.directory.invalidate(input.client_id);
        tracing::info!(target: "bulwark::security", client_id = %input.client_id, "client registration updated (DCR)");
        let client = self.stored_client(input.client_id).await?;
        Ok(self.response(client, token.map(str::to_string)))
    }

    /// `DELETE /register/{client_id}` (RFC 7592 section 2.3): the client, its registration and
    /// so its access token go; tokens it holds become inactive, and its consents and grants
    /// end with it in the same transaction ([`bulwark_store::ClientDeletion`]).
    pub async fn delete(&self, input: &ManagementInput<'_>) -> Result<(), DcrError> {
        let result = async {
            self.authorize(input).await?;
            let now = self.clock.unix();
            let Some(ended) = self
                .registrations
                .delete_registered_client(
                    input.client_id,
                    now,
                    &deletion_audit(input.client_id, now),
                )
                .await?
            else {
                return Err(DcrError::InvalidToken(
                    "the registration access token is not valid for this client".into(),
                ));
            };
            self.directory.invalidate(input.client_id);
            tracing::info!(
                target: "bulwark::security",
                client_id = %input.client_id,
                consents_rejected = ended.consents_rejected,
                consents_revoked = ended.consents_revoked,
                refresh_tokens_revoked = ended.refresh_tokens_revoked,
                // The deletion's transaction wrote its audit row (`deletion_audit`).
                in_trail = true,
                "{CLIENT_DELETED_ACTION}"
            );
            Ok(())
        }
        .await;
        log_refusal("delete", Some(input.client_id), &result);
        result
    }

    fn response(&self, client: Client, token: Option<String>) -> RegistrationResponse {
        RegistrationResponse {
            registration_client_uri: format!("{}/{}", self.registration_endpoint, client.client_id),
            client_id: client.client_id,
            client_id_issued_at: client.client_id_issued_at,
            registration_access_token: token,
            metadata: client.metadata,
        }
    }

    async fn stored_client(&self, client_id: &str) -> Result<Client, DcrError> {
        self.clients
            .get_client(client_id)
            .await?
            .ok_or_else(|| DcrError::Internal(format!("registered client {client_id} is missing")))
    }

    /// The registration request's single-use `jti`, claimed in the transaction that stores
    /// the registration (a refused or failed write leaves it unspent for a retry).
    fn jti_claim(&self, accepted: &Accepted) -> JtiClaim {
        JtiClaim {
            namespace: format!("dcr:{}", accepted.ssa.software_id),
            jti: accepted.jti.clone(),
            expires_at: accepted.exp.saturating_add(self.skew),
        }
    }

    /// RFC 7592 section 3 / RFC 6750: the bearer token hashes to the stored one, and the
    /// transport certificate belongs to the registered organisation (RFC 8705 section 3: a
    /// certificate-bound token used without the certificate is `invalid_token`).
    /// OB DCR 3.3: an application access token of this client, already admitted by the
    /// resource guard (signature, expiry, revocation, `cnf` of this certificate, QWAC and
    /// organisation), authenticates the call instead; then no registration access token is
    /// returned (`None`).
    async fn authorize<'a>(
        &self,
        input: &ManagementInput<'a>,
    ) -> Result<Option<&'a str>, DcrError> {
        let invalid = || {
            DcrError::InvalidToken(
                "the registration access token is not valid for this client".into(),
            )
        };
        let registration = self.registrations.get_registration(input.client_id).await?;
        let token = match (input.application_client, input.access_token) {
            (Some(owner), _) => {
                if owner != input.client_id {
                    return Err(DcrError::InvalidToken(
                        "the access token was issued to another client".into(),
                    ));
                }
                None
            }
            (None, Some(token)) => Some(token),
            (None, None) => {
                return Err(DcrError::InvalidToken(
                    "a registration access token or a client credentials access token is required (Authorization: Bearer)".into(),
                ));
            }
        };
        let registration = registration.ok_or_else(invalid)?;
        if let Some(token) = token
            && !secret::matches(token, &registration.token_hash)
        {
            return Err(invalid());
        }
        let org: Organisation = serde_json::from_str(&registration.organisation).map_err(|e| {
            DcrError::Internal(format!(
                "registration {}: organisation: {e}",
                input.client_id
            ))
        })?;
        let cert = self
            .certificate(input.chain, input.forwarded_by)
            .await
            .map_err(|e| DcrError::InvalidToken(format!("the registration access token must be used over mTLS with the organisation's certificate: {e}")))?;
        transport::check_organisation(&cert, &org, &registration.software_id)
            .map_err(|e| DcrError::InvalidToken(e.to_string()))?;
        // A suspended client can do nothing, management included (the bank suspended it).
        // RFC 7592 2.1-2.3: a caller with a valid credential for a client it may not manage
        // is 403, told only once it has proved it holds the client's token and certificate.
        let client = self.clients.get_client(input.client_id).await?;
        if client
            .as_ref()
            .is_none_or(|c| c.status != bulwark_core::ClientStatus::Active)
        {
            tracing::warn!(target: "bulwark::security", client_id = input.client_id, "registration management by a suspended client refused");
            return Err(DcrError::Forbidden("the client is suspended".into()));
        }
        Ok(token)
    }

    async fn certificate(
        &self,
        chain: &[CertificateDer<'static>],
        forwarded_by: Option<&MtlsSettings>,
    ) -> Result<ValidatedCert, DcrError> {
        if chain.is_empty() {
            return Err(DcrError::NoCertificate);
        }
        self.validator
            .validate_presented(chain, forwarded_by, Purpose::Qwac, self.clock.unix_time())
            .await
            .map_err(|e| DcrError::Certificate(e.reason()))
    }

    /// Every DCR-1..3 check of a signed registration request, without writing anything.
    async fn accept(&self, input: &RegistrationInput<'_>, now: i64) -> Result<Accepted, DcrError> {
        if !input.is_jwt {
            return Err(DcrError::ContentType);
        }
        if input.chain.is_empty() {
            return Err(DcrError::NoCertificate);
        }
        let body = std::str::from_utf8(input.body)
            .map_err(|_| DcrError::Request("the body is not UTF-8 text".into()))?;
        let request = UnverifiedRequest::parse(body)?;
        let ssa_jws = request
            .software_statement()?
            .ok_or(DcrError::NoSoftwareStatement)?;
        let ssa = self.verify_ssa(ssa_jws, now).await?;

        let cert = self.certificate(input.chain, input.forwarded_by).await?;
        transport::check_organisation(&cert, &ssa.organisation, &ssa.software_id)?;
        transport::check_roles(&cert, &ssa.software_roles)?;
        transport::check_authorisations(&ssa.organisation, &ssa.software_roles)?;

        let keys = self.software_keys(&ssa, &request).await?;
        keys.verify(&request.jws).map_err(|e| {
            DcrError::RequestSignature(match e {
                VerifyError::UnknownKey(_) => {
                    "no key of the software matches the request's kid".into()
                }
                VerifyError::BadSignature => {
                    "the signature does not verify with the software's keys".into()
                }
                other => other.to_string(),
            })
        })?;
        let audiences: Vec<&str> = std::iter::once(self.issuer.as_str())
            .chain(self.settings.audiences.iter().map(String::as_str))
            .collect();
        let claims = check_claims(
            &request.claims,
            &ssa.software_id,
            &audiences,
            now,
            self.skew,
        )?;
        let mut metadata = metadata::build(claims.metadata, &ssa, self.profile)?;
        // RFC 7591 3.2.1: the statement is returned unmodified with the metadata.
        metadata
            .extra
            .insert("software_statement".into(), ssa_jws.into());
        self.check_remote_metadata(&metadata, &ssa).await?;
        Ok(Accepted {
            certificate: transport::summary(&cert),
            ssa,
            metadata,
            jti: claims.jti,
            exp: claims.exp,
            client_id: claims.client_id,
        })
    }

    async fn verify_ssa(&self, jws: &str, now: i64) -> Result<SoftwareStatement, DcrError> {
        let ssa = UnverifiedSsa::parse(jws, &self.algs)?;
        let iss = ssa.iss()?;
        let directory = self
            .directories
            .iter()
            .find(|d| d.issuer == iss)
            .ok_or_else(|| {
                DcrError::UnapprovedDirectory(format!(
                    "the software directory {iss:?} is not trusted by this server"
                ))
            })?;
        let keys = match &directory.keys {
            DirectoryKeys::Static(set) => set.clone(),
            DirectoryKeys::Remote(uri) => self.fetcher.get(uri, ssa.kid()).await.map_err(|e| {
                tracing::warn!(directory = %directory.name, error = %e, "the software directory's keys could not be fetched");
                DcrError::DirectoryUnavailable
            })?,
        };
        ssa.verify(&keys, now, self.settings.max_ssa_age_secs, self.skew)
    }

    /// The keys the request must be signed with (DCR-1).
    async fn software_keys(
        &self,
        ssa: &SoftwareStatement,
        request: &UnverifiedRequest<'_>,
    ) -> Result<PublicKeySet, DcrError> {
        let by_value = |v: &Value, what: &str| {
            PublicKeySet::from_jwks(v)
                .map_err(|e| DcrError::RequestSignature(format!("{what}: {e}")))
        };
        if !self.settings.use_software_jwks_endpoint {
            let jwks = request.claims.get("jwks").ok_or_else(|| {
                DcrError::RequestSignature("the request carries no jwks to verify it with".into())
            })?;
            return by_value(jwks, "jwks");
        }
        match (&ssa.software_jwks_endpoint, &ssa.software_jwks) {
            (Some(uri), _) => self.fetcher.get(uri, request.jws.kid()).await.map_err(|e| {
                tracing::warn!(target: "bulwark::security", error = %e, "software_jwks_endpoint unusable");
                DcrError::RequestSignature(
                    "the software_jwks_endpoint could not be fetched or is not a JWK Set".into(),
                )
            }),
            (None, Some(jwks)) => by_value(jwks, "software_jwks"),
            (None, None) => Err(DcrError::SoftwareStatement(
                "the software_jwks_endpoint claim is required".into(),
            )),
        }
    }

    /// DCR-2 checks that need the network: a `jwks_uri` other than the software's endpoint
    /// must serve a usable JWK Set; a `sector_identifier_uri` must list every redirect URI.
    async fn check_remote_metadata(
        &self,
        meta: &ClientMetadata,
        ssa: &SoftwareStatement,
    ) -> Result<(), DcrError> {
        if self.settings.jwks_uri_must_be_ssa_endpoint
            && let Some(jwks) = &meta.jwks
        {
            keys_published_by_the_directory(jwks, ssa)?;
        }
        if let Some(uri) = &meta.jwks_uri
            && ssa.software_jwks_endpoint.as_ref() != Some(uri)
        {
            if self.settings.jwks_uri_must_be_ssa_endpoint {
                return Err(DcrError::Metadata(
                    "jwks_uri must be the software statement's software_jwks_endpoint".into(),
                ));
            }
            let keys = self
                .fetcher
                .get(uri, None)
                .await
                .map_err(|e| {
                    tracing::warn!(target: "bulwark::security", uri = %uri, error = %e, "registration jwks_uri unusable");
                    DcrError::Metadata(
                        "jwks_uri could not be fetched or is not a JWK Set (https, a public host)"
                            .into(),
                    )
                })?;
            if keys.keys().is_empty() {
                return Err(DcrError::Metadata(
                    "jwks_uri holds no PS256 (RSA) or ES256 (P-256) signing key".into(),
                ));
            }
        }
        // TK-5: ID tokens encrypted to a key at the jwks_uri: it must be there now.
        if let (Some(alg), None, Some(uri)) =
            (meta.id_token_encryption_alg(), &meta.jwks, &meta.jwks_uri)
        {
            let keys = self.fetcher.get(uri, None).await.map_err(|e| {
                tracing::warn!(target: "bulwark::security", uri = %uri, error = %e, "registration jwks_uri unusable");
                DcrError::Metadata(
                    "jwks_uri could not be fetched or is not a JWK Set (https, a public host)"
                        .into(),
                )
            })?;
            if keys.encryption_key(alg).is_none() {
                return Err(DcrError::Metadata(format!(
                    "ID token encryption with {alg} needs an encryption key (use \"enc\") at jwks_uri"
                )));
            }
        }
        if let Some(uri) = &meta.sector_identifier_uri {
            let doc = self.fetch_json(uri).await.map_err(|reason| {
                tracing::warn!(target: "bulwark::security", uri = %uri, %reason, "registration sector_identifier_uri unusable");
                DcrError::Metadata(
                    "sector_identifier_uri could not be fetched or is not a JSON array (https, a public host)"
                        .into(),
                )
            })?;
            metadata::check_sector_document(&doc, &meta.redirect_uris)?;
        }
        Ok(())
    }

    async fn fetch_json(&self, uri: &str) -> Result<Value, String> {
        let body = self
            .http
            .get(uri, MAX_SECTOR_DOCUMENT)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}

fn organisation_json(org: &Organisation) -> Result<String, DcrError> {
    serde_json::to_string(org).map_err(|e| DcrError::Internal(e.to_string()))
}

/// The audit-trail action of a deleted registration (its row and its log line): the log
/// message it had when the trail copied it from the log, kept so existing filters still find
/// it.
pub const CLIENT_DELETED_ACTION: &str = "client deleted (DCR)";

/// The audit-trail row of a TPP's deletion of its registration, appended by the deletion's
/// own transaction: a crash after the commit cannot lose it, nor one before it leave a row for
/// a deletion that did not happen.
fn deletion_audit(client_id: &str, now: i64) -> AuditEvent {
    AuditEvent {
        seq: 0,
        at: now,
        actor_kind: "TPP".into(),
        actor_id: client_id.into(),
        action: CLIENT_DELETED_ACTION.into(),
        subject: Some(client_id.into()),
        reason: Some(bulwark_store::CLIENT_DELETED.into()),
        request_id: None,
    }
}

fn log_refusal<T>(operation: &str, client_id: Option<&str>, result: &Result<T, DcrError>) {
    match result {
        Err(DcrError::Internal(detail)) => {
            tracing::error!(operation, client_id = client_id.unwrap_or("-"), error = %detail, "registration failed");
        }
        Err(e) => {
            tracing::warn!(target: "bulwark::security", operation, client_id = client_id.unwrap_or("-"), reason = e.reason(), error = %e, "registration request refused");
        }
        Ok(_) => {}
    }
}

/// `dcr.jwks_uri_must_be_ssa_endpoint` for keys sent by value: the client's keys are the ones
/// its directory publishes. With a `software_jwks_endpoint` they are taken from there (no
/// `jwks`); with `software_jwks` in the statement, each key sent must be one of those (by RFC
/// 7638 thumbprint).
fn keys_published_by_the_directory(
    jwks: &serde_json::Value,
    ssa: &SoftwareStatement,
) -> Result<(), DcrError> {
    let thumbprints = |set: &serde_json::Value| -> Vec<String> {
        set.get("keys")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_object)
            .filter_map(|k| bulwark_jose::thumbprint::jwk_thumbprint(k).ok())
            .collect()
    };
    match (&ssa.software_jwks_endpoint, &ssa.software_jwks) {
        (Some(_), _) => Err(DcrError::Metadata(
            "jwks by value is not accepted: the client's keys are the software statement's \
             software_jwks_endpoint (send no jwks, or jwks_uri set to it)"
                .into(),
        )),
        (None, Some(published)) => {
            let published = thumbprints(published);
            let sent = thumbprints(jwks);
            if sent.is_empty() || sent.iter().any(|t| !published.contains(t)) {
                return Err(DcrError::Metadata(
                    "jwks may only hold keys of the software statement's software_jwks".into(),
                ));
            }
            Ok(())
        }
        (None, None) => Ok(()),
    }
}
