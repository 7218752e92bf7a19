//! The client directory: registered clients with their JWK Set already parsed into verifiers,
//! cached per node for `client_cache_secs` so the hot path reads no database (DESIGN.md
//! hot-path budget). Suspension reaches every node within that time. Every service that needs
//! a client (token, DCR, resource checks, PAR) asks here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_certs::{CertProfile, ExpectedOrganisation, GrantedRoles};
use bulwark_core::{Client, ClientStatus};
use bulwark_jose::{JwksFetcher, PublicKeySet};
use bulwark_store::{ClientStore, RegistrationStore};

use crate::ClientError;

const MAX_CACHED: usize = 10_000;

/// A client with its by-value keys parsed.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The stored client.
    pub client: Client,
    /// Verifiers for the `jwks` registered by value, if any.
    pub jwks: Option<PublicKeySet>,
    /// Its dynamic registration's organisation (JSON) and software id, when it registered
    /// itself: cached with the client, so the organisation check reads no database.
    pub registration: Option<(String, String)>,
}

/// Looks clients up, with a short-lived node-local cache.
pub struct ClientDirectory {
    store: Arc<dyn ClientStore>,
    registrations: Arc<dyn RegistrationStore>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Arc<RegisteredClient>)>>,
    fetcher: Arc<JwksFetcher>,
}

impl std::fmt::Debug for ClientDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDirectory")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ClientDirectory {
    /// A directory over the client and registration stores.
    pub fn new(
        store: Arc<dyn ClientStore>,
        registrations: Arc<dyn RegistrationStore>,
        ttl: Duration,
        fetcher: Arc<JwksFetcher>,
    ) -> Self {
        Self {
            store,
            registrations,
            ttl,
            cache: Mutex::new(HashMap::new()),
            fetcher,
        }
    }

    /// The client, or None if unknown.
    pub async fn get(&self, client_id: &str) -> Result<Option<Arc<RegisteredClient>>, ClientError> {
        if !self.ttl.is_zero()
            && let Ok(cache) = self.cache.lock()
            && let Some((at, rc)) = cache.get(client_id)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(rc.clone()));
        }
        let Some(client) = self.store.get_client(client_id).await? else {
            return Ok(None);
        };
        let jwks = match &client.metadata.jwks {
            Some(v) => Some(PublicKeySet::from_jwks(v).map_err(|e| {
                ClientError::Internal(format!(
                    "client {client_id} has an invalid stored jwks: {e}"
                ))
            })?),
            None => None,
        };
        let registration = self
            .registrations
            .get_registration(client_id)
            .await?
            .map(|r| (r.organisation, r.software_id));
        let rc = Arc::new(RegisteredClient {
            client,
            jwks,
            registration,
        });
        if !self.ttl.is_zero()
            && let Ok(mut cache) = self.cache.lock()
        {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(client_id.to_string(), (Instant::now(), rc.clone()));
        }
        Ok(Some(rc))
    }

    /// Forgets a cached client (after a change made through this node).
    pub fn invalidate(&self, client_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(client_id);
        }
    }

    /// The client's public keys: by value, or fetched from `jwks_uri` (refetched once for an
    /// unknown `kid`).
    pub async fn keys(
        &self,
        rc: &RegisteredClient,
        kid: Option<&str>,
    ) -> Result<PublicKeySet, ClientError> {
        if let Some(keys) = &rc.jwks {
            return Ok(keys.clone());
        }
        let Some(uri) = &rc.client.metadata.jwks_uri else {
            return Err(ClientError::Auth(
                "the client has registered no keys".into(),
            ));
        };
        self.fetcher.get(uri, kid).await.map_err(|e| {
            tracing::warn!(target: "bulwark::security", client_id = %rc.client.client_id, error = %e, "client jwks_uri unusable");
            ClientError::Auth("the client's jwks_uri could not be fetched".into())
        })
    }

    /// The client's keys, fetched again from its `jwks_uri` when the cached set has none that
    /// `found` accepts (a rotated self-signed certificate, a new key the client signs with):
    /// at most once per the fetcher's refetch interval, as for an unknown `kid`.
    pub async fn keys_where(
        &self,
        rc: &RegisteredClient,
        found: impl Fn(&PublicKeySet) -> bool,
    ) -> Result<PublicKeySet, ClientError> {
        let keys = self.keys(rc, None).await?;
        if found(&keys) || rc.jwks.is_some() {
            return Ok(keys);
        }
        // A kid no set holds makes the fetcher treat the cached set as missing the key.
        self.keys(rc, Some(REFETCH)).await
    }

    /// TK-5: the client's `jwks_uri` keys when its ID tokens are encrypted to a key registered
    /// by reference (None when it registered no encryption, or its keys by value). Fetched
    /// before anything is decided, so a key that cannot be had changes nothing: the URI away
    /// is `Unavailable`; a set without a usable encryption key for the algorithm is returned,
    /// for the caller to refuse the request as the client's fault (`invalid_request`).
    pub async fn id_token_encryption_keys(
        &self,
        rc: &RegisteredClient,
    ) -> Result<Option<PublicKeySet>, ClientError> {
        let meta = &rc.client.metadata;
        if meta.id_token_encryption_alg().is_none() {
            return Ok(None);
        }
        if meta.jwks.is_some() || meta.jwks_uri.is_none() {
            return Ok(None);
        }
        let keys = self.keys(rc, None).await.map_err(|e| {
            ClientError::Unavailable(format!("the client's ID token encryption key: {e}"))
        })?;
        Ok(Some(keys))
    }

    /// True while the client exists and is active: a token of a deleted or suspended client
    /// is not honoured.
    pub async fn is_active(&self, client_id: &str) -> Result<bool, ClientError> {
        Ok(self
            .get(client_id)
            .await?
            .is_some_and(|rc| rc.client.status == ClientStatus::Active))
    }

    /// CERT-8: the organisation the client's certificates must belong to, when one is known,
    /// in the form certificates of `profile` carry it.
    pub async fn expected_organisation(
        &self,
        client_id: &str,
        profile: CertProfile,
    ) -> Result<Option<ExpectedOrganisation>, ClientError> {
        let Some(rc) = self.get(client_id).await? else {
            return Ok(None);
        };
        crate::organisation::expected_of(
            rc.registration
                .as_ref()
                .map(|(organisation, software_id)| (organisation.as_str(), software_id.as_str())),
            Some(&rc.client),
            profile,
        )
    }

    /// CERT-7 for `ob-directory` certificates, which carry no roles: the PSD2 roles the client
    /// registered with (its software statement's `software_roles`); none for an unknown client.
    pub async fn registered_roles(&self, client_id: &str) -> Result<GrantedRoles, ClientError> {
        Ok(GrantedRoles::registered(
            &self
                .get(client_id)
                .await?
                .map(|rc| rc.client.metadata.software_roles.clone())
                .unwrap_or_default(),
        ))
    }
}

/// The `kid` asked for to refetch a client's key set (never a real key's: it holds a NUL).
const REFETCH: &str = "\u{0}refetch";
