//! Client authentication (CA-1..CA-4) as one reusable component for the token, PAR,
//! introspection and revocation endpoints. Exactly one method per request; anything ambiguous
//! or unsupported (client secrets, public clients) is `invalid_client`.
//!
//! - `private_key_jwt` (RFC 7523, OIDC Core 9, FAPI 1 Adv 5.2.2-14, FAPI 2 SP 5.3.2.1)
//! - `tls_client_auth` (RFC 8705 2.1) and `self_signed_tls_client_auth` (RFC 8705 2.2)

use std::sync::Arc;

use bulwark_certs::{
    CertProfile, CertValidator, Purpose, SanKind, ValidatedCert, dn_matches, organisation_matches,
};
use bulwark_core::{AuthMethod, ClientStatus, Form, Profile, UnixTime};
use bulwark_jose::{Compact, Presence, PublicKeySet, TimeWindow, VerifyError};
use bulwark_store::ReplayStore;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::ClientError;
use crate::directory::{ClientDirectory, RegisteredClient};

/// What client authentication is configured with (the `[tokens]` section carries it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// The server's FAPI profile: assertion audiences are judged by the client's registered
    /// `fapi_profile`, else by this one.
    pub profile: Profile,
    /// Longest accepted client assertion lifetime (`exp` - now, and `exp` - `iat`), seconds.
    pub assertion_max_lifetime_secs: i64,
    /// Tolerated clock difference for `nbf` / `iat` / `exp`, seconds.
    pub clock_skew_secs: i64,
}

/// RFC 7523 2.2 assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The certificate a request presented, as far as it was checked.
#[derive(Clone, Debug)]
pub struct PresentedCert {
    /// RFC 8705 thumbprint of the leaf (token binding).
    pub x5t_s256: String,
    /// The full validation result, when the chain was validated against the trust anchors
    /// (not for self-signed certificates).
    pub validated: Option<ValidatedCert>,
}

/// An authenticated client.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    /// The client.
    pub client: Arc<RegisteredClient>,
    /// How it authenticated.
    pub method: AuthMethod,
    /// The certificate of the connection, if one was presented (always validated).
    pub cert: Option<PresentedCert>,
}

/// A client assertion's `jti`, checked but not yet claimed: a caller with a write of its own
/// (the code exchange) claims it in the same transaction, so the request costs one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingJti {
    /// The replay namespace (per client).
    pub namespace: String,
    /// The assertion's `jti`.
    pub jti: String,
    /// Until when it must stay claimed, Unix seconds.
    pub expires_at: i64,
}

/// What client authentication needs to know about a request.
#[derive(Debug)]
pub struct AuthInput<'a> {
    /// The form body.
    pub form: &'a Form,
    /// The presented certificate chain, leaf first (empty if none).
    pub chain: &'a [CertificateDer<'static>],
    /// The URL of the endpoint called (FAPI 1 accepts it as assertion audience).
    pub endpoint_url: &'a str,
    /// Whether an `Authorization` header was sent (client secrets are refused).
    pub authorization_header: bool,
    /// Set when the chain came from a trusted TLS-terminating proxy (CERT-2): its settings say
    /// whether the issuer is validated again.
    pub forwarded_by: Option<&'a bulwark_certs::MtlsSettings>,
}

/// Authenticates clients.
pub struct ClientAuthenticator {
    issuer: String,
    settings: AuthSettings,
    directory: Arc<ClientDirectory>,
    replay: Arc<dyn ReplayStore>,
    validator: CertValidator,
    token_endpoint_url: Option<String>,
}

impl std::fmt::Debug for ClientAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuthenticator")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn fail(reason: impl Into<String>) -> ClientError {
    ClientError::Auth(reason.into())
}

impl ClientAuthenticator {
    /// A new authenticator.
    pub fn new(
        issuer: String,
        settings: AuthSettings,
        directory: Arc<ClientDirectory>,
        replay: Arc<dyn ReplayStore>,
        validator: CertValidator,
    ) -> Self {
        Self {
            issuer,
            settings,
            directory,
            replay,
            validator,
            token_endpoint_url: None,
        }
    }

    /// The token endpoint URL, accepted as an assertion audience at other endpoints (PAR)
    /// under FAPI 1.0 Advanced (RFC 9126 2).
    pub fn with_token_endpoint(mut self, url: String) -> Self {
        self.token_endpoint_url = Some(url);
        self
    }

    /// Authenticates the request's client at `now` (Unix seconds), claiming an assertion's
    /// `jti` last (a client authentication refused for another reason does not burn it).
    pub async fn authenticate(
        &self,
        input: &AuthInput<'_>,
        now: UnixTime,
    ) -> Result<AuthenticatedClient, ClientError> {
        let (client, pending) = self.authenticate_deferred(input, now).await?;
        self.claim(&client, pending, input.endpoint_url).await?;
        Ok(client)
    }

    /// Claims a deferred assertion `jti` on its own (one write), refusing a replay as
    /// `invalid_client`: for a caller that deferred the claim but must settle it before acting
    /// (the code exchange meeting a used code, which revokes only for a genuine request).
    pub async fn claim(
        &self,
        client: &AuthenticatedClient,
        pending: Option<PendingJti>,
        endpoint_url: &str,
    ) -> Result<(), ClientError> {
        if let Some(p) = pending
            && !self
                .replay
                .claim_jti(&p.namespace, &p.jti, p.expires_at)
                .await?
        {
            let reason = "client_assertion jti was already used (replay)";
            tracing::warn!(
                target: "bulwark::security",
                client_id = %client.client.client.client_id,
                endpoint = endpoint_url,
                reason,
                "client authentication failed"
            );
            return Err(fail(reason));
        }
        Ok(())
    }

    /// Authenticates everything but the assertion's single use: the caller must claim the
    /// returned `jti` (with [`ReplayStore::claim_jti`] or in its own transaction) and refuse
    /// the request as a replay when the claim fails.
    pub async fn authenticate_deferred(
        &self,
        input: &AuthInput<'_>,
        now: UnixTime,
    ) -> Result<(AuthenticatedClient, Option<PendingJti>), ClientError> {
        let result = self.authenticate_inner(input, now).await;
        if let Err(ClientError::Auth(reason)) = &result {
            tracing::warn!(
                target: "bulwark::security",
                client_id = input.form.get("client_id").unwrap_or("-"),
                endpoint = input.endpoint_url,
                %reason,
                "client authentication failed"
            );
        }
        result
    }

    async fn authenticate_inner(
        &self,
        input: &AuthInput<'_>,
        now: UnixTime,
    ) -> Result<(AuthenticatedClient, Option<PendingJti>), ClientError> {
        if input.authorization_header {
            return Err(fail(
                "client secrets and the Authorization header are not accepted (FAPI)",
            ));
        }
        if input.form.get("client_secret").is_some() {
            return Err(fail("client secrets are not accepted (FAPI)"));
        }
        let assertion = input.form.get("client_assertion");
        let assertion_type = input.form.get("client_assertion_type");
        match (assertion, assertion_type) {
            (Some(jwt), Some(JWT_BEARER)) => self.private_key_jwt(input, jwt, now).await,
            (Some(_), _) => Err(fail(format!("client_assertion_type must be {JWT_BEARER}"))),
            (None, Some(_)) => Err(fail("client_assertion_type without client_assertion")),
            (None, None) => Ok((self.certificate(input, now).await?, None)),
        }
    }

    async fn load(&self, client_id: &str) -> Result<Arc<RegisteredClient>, ClientError> {
        let rc = self
            .directory
            .get(client_id)
            .await?
            .ok_or_else(|| fail("unknown client"))?;
        if rc.client.status != ClientStatus::Active {
            return Err(fail("the client is suspended"));
        }
        Ok(rc)
    }

    async fn private_key_jwt(
        &self,
        input: &AuthInput<'_>,
        jwt: &str,
        now: UnixTime,
    ) -> Result<(AuthenticatedClient, Option<PendingJti>), ClientError> {
        let jws = Compact::parse(jwt).map_err(|e| fail(format!("client_assertion: {e}")))?;
        let alg = jws
            .alg()
            .map_err(|e| fail(format!("client_assertion: {e}")))?;
        let claims = jws
            .claims()
            .map_err(|e| fail(format!("client_assertion: {e}")))?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("client_assertion has no iss"))?;
        if let Some(form_id) = input.form.get("client_id")
            && form_id != iss
        {
            return Err(fail("client_id does not match the assertion's iss"));
        }
        let rc = self.load(iss).await?;
        let meta = &rc.client.metadata;
        if meta.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
            return Err(fail(format!(
                "the client is registered for {}, not private_key_jwt",
                meta.token_endpoint_auth_method.as_str()
            )));
        }
        if let Some(registered) = &meta.token_endpoint_auth_signing_alg
            && registered != alg.as_str()
        {
            return Err(fail(format!(
                "the client is registered for {registered} assertions"
            )));
        }
        let keys = self.directory.keys(&rc, jws.kid()).await?;
        let mut verified = keys.verify(&jws).map(|_| ());
        // Without a kid the fetcher cannot tell a rotated key from a bad signature: one
        // rate-limited refetch, as for an unknown kid.
        if verified.is_err() && jws.kid().is_none() {
            let fresh = self.directory.keys_where(&rc, |_| false).await?;
            verified = fresh.verify(&jws).map(|_| ());
        }
        verified.map_err(|e| match e {
            VerifyError::UnknownKey(_) => fail("no registered key matches the assertion's kid"),
            _ => fail(format!("client_assertion: {e}")),
        })?;
        // AZ-3: the client's own profile (registered `fapi_profile`), else the server's.
        let profile = meta.profile(self.settings.profile);
        let exp = self.check_assertion_claims(&claims, iss, profile, input.endpoint_url, now)?;
        let cert = match input.chain.is_empty() {
            true => None,
            false => Some(self.validated(input, now).await?),
        };
        // The certificate the tokens will be bound to (`cnf`) is the client's organisation's,
        // as with tls_client_auth.
        if let Some(validated) = cert.as_ref().and_then(|c| c.validated.as_ref()) {
            of_the_clients_organisation(&rc, validated)?;
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("client_assertion has no jti"))?;
        // Bounded and printable before it reaches the database: one hostile value (a NUL, a
        // megabyte) must not fail a batch of other clients' claims.
        if !bulwark_jose::claims::is_storable_jti(jti) {
            return Err(fail(format!(
                "client_assertion jti must be 1 to {} printable ASCII characters",
                bulwark_jose::claims::MAX_JTI_LEN
            )));
        }
        // Claimed last, by the caller: an authentication refused for another reason does not
        // burn it (a caller that refuses the authenticated request claims it, as PAR does).
        let pending = PendingJti {
            namespace: format!("assertion:{iss}"),
            jti: jti.to_string(),
            expires_at: exp.saturating_add(self.settings.clock_skew_secs),
        };
        Ok((
            AuthenticatedClient {
                client: rc,
                method: AuthMethod::PrivateKeyJwt,
                cert,
            },
            Some(pending),
        ))
    }

    /// CA-1 claim rules; returns `exp`.
    /// FAPI 1.0 Adv 5.2.2-14, OIDC Core 9, RFC 9126 2: the issuer, the URL of the endpoint
    /// called, or the token endpoint URL.
    fn fapi1_audience(&self, aud: &str, endpoint_url: &str) -> bool {
        aud == self.issuer || aud == endpoint_url || self.token_endpoint_url.as_deref() == Some(aud)
    }

    fn check_assertion_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
        client_id: &str,
        profile: Profile,
        endpoint_url: &str,
        now: UnixTime,
    ) -> Result<i64, ClientError> {
        match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if sub == client_id => {}
            Some(_) => return Err(fail("client_assertion sub must equal iss and client_id")),
            None => return Err(fail("client_assertion has no sub")),
        }
        let aud_ok = match (profile, claims.get("aud")) {
            // FAPI 2.0 SP 5.3.2.1-8: only the issuer identifier, as a string.
            (Profile::Fapi2, Some(Value::String(aud))) => aud == &self.issuer,
            (Profile::Fapi2, _) => false,
            // FAPI 1.0 Adv 5.2.2-14 / OIDC Core 9: the issuer or the endpoint URL, string or array.
            // RFC 9126 2: at the PAR endpoint the token endpoint URL is accepted too.
            (Profile::Fapi1Advanced, Some(Value::String(aud))) => {
                self.fapi1_audience(aud, endpoint_url)
            }
            (Profile::Fapi1Advanced, Some(Value::Array(auds))) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.fapi1_audience(a, endpoint_url)),
            (Profile::Fapi1Advanced, _) => false,
        };
        if !aud_ok {
            return Err(fail(match profile {
                Profile::Fapi2 => format!(
                    "client_assertion aud must be the issuer {:?} as a string",
                    self.issuer
                ),
                Profile::Fapi1Advanced => format!(
                    "client_assertion aud must contain the issuer {:?}",
                    self.issuer
                ),
            }));
        }
        // CA-1 / RFC 7523 3: exp required, not too far ahead, iat and nbf honoured when sent.
        let window = TimeWindow {
            exp: Presence::Required,
            max_lifetime: Some(self.settings.assertion_max_lifetime_secs),
            max_ahead: Some(self.settings.assertion_max_lifetime_secs),
            ..TimeWindow::with_skew(self.settings.clock_skew_secs)
        };
        let times = window
            .check(claims, now)
            .map_err(|e| fail(format!("client_assertion {e}")))?;
        let exp = times
            .exp
            .ok_or_else(|| fail("client_assertion has no exp"))?;
        Ok(exp)
    }

    async fn certificate(
        &self,
        input: &AuthInput<'_>,
        now: UnixTime,
    ) -> Result<AuthenticatedClient, ClientError> {
        let client_id = input
            .form
            .get("client_id")
            .ok_or_else(|| fail("no client authentication: send client_id with a certificate, or a client_assertion"))?;
        let rc = self.load(client_id).await?;
        if input.chain.is_empty() {
            return Err(fail("a client certificate is required"));
        }
        let meta = &rc.client.metadata;
        match meta.token_endpoint_auth_method {
            AuthMethod::PrivateKeyJwt => Err(fail(
                "the client is registered for private_key_jwt: send a client_assertion",
            )),
            AuthMethod::TlsClientAuth => {
                let cert = self.validated(input, now).await?;
                let validated = cert
                    .validated
                    .as_ref()
                    .ok_or_else(|| fail("certificate not validated"))?;
                let registered = [
                    (meta.tls_client_auth_san_dns.as_deref(), Some(SanKind::Dns)),
                    (meta.tls_client_auth_san_uri.as_deref(), Some(SanKind::Uri)),
                    (meta.tls_client_auth_san_ip.as_deref(), Some(SanKind::Ip)),
                    (
                        meta.tls_client_auth_san_email.as_deref(),
                        Some(SanKind::Email),
                    ),
                    (meta.tls_client_auth_subject_dn.as_deref(), None),
                ];
                let mut given = registered.iter().filter(|(v, _)| v.is_some());
                let matched = match (given.next(), given.next()) {
                    (Some((Some(value), Some(kind))), None) => validated.sans.matches(*kind, value),
                    (Some((Some(dn), None)), None) => dn_matches(&validated.subject, dn),
                    _ => {
                        return Err(fail(
                            "the client must register exactly one subject DN or SAN",
                        ));
                    }
                };
                if !matched {
                    return Err(fail(
                        "the certificate's subject does not match the registered one",
                    ));
                }
                of_the_clients_organisation(&rc, validated)?;
                Ok(AuthenticatedClient {
                    client: rc,
                    method: AuthMethod::TlsClientAuth,
                    cert: Some(cert),
                })
            }
            AuthMethod::SelfSignedTlsClientAuth => {
                let leaf = &input.chain[0];
                check_validity_period(leaf, now, self.settings.clock_skew_secs)?;
                // CA-3: a certificate the client rotated in at its jwks_uri is found at once.
                // RFC 8705 2.2.2: any key of the set may carry it, a transport key ("use":
                // "tls") as much as a signing key; looking at it verifies nothing with it.
                let holds = |keys: &PublicKeySet| {
                    keys.all_jwks().into_iter().any(|k| jwk_holds_cert(k, leaf))
                };
                let keys = self.directory.keys_where(&rc, holds).await?;
                if !holds(&keys) {
                    return Err(fail(
                        "the certificate matches no key in the client's JWK Set",
                    ));
                }
                Ok(AuthenticatedClient {
                    client: rc,
                    method: AuthMethod::SelfSignedTlsClientAuth,
                    cert: Some(PresentedCert {
                        x5t_s256: bulwark_certs::x5t_s256(leaf),
                        validated: None,
                    }),
                })
            }
        }
    }

    async fn validated(
        &self,
        input: &AuthInput<'_>,
        now: UnixTime,
    ) -> Result<PresentedCert, ClientError> {
        let result = self
            .validator
            .validate_presented(input.chain, input.forwarded_by, Purpose::TlsClient, now)
            .await;
        let validated = result.map_err(|e| {
            fail(format!(
                "the client certificate was refused ({})",
                e.reason()
            ))
        })?;
        Ok(PresentedCert {
            x5t_s256: validated.x5t_s256.clone(),
            validated: Some(validated),
        })
    }
}

/// CERT-8 at client authentication, whatever the method: a certificate of another
/// organisation than the client's never authenticates it nor binds its tokens (the resource
/// side holds its tokens to the same rule). The bank's own resource servers (the gateway's
/// introspection client) present internal certificates and are not TPPs.
fn of_the_clients_organisation(
    rc: &RegisteredClient,
    validated: &ValidatedCert,
) -> Result<(), ClientError> {
    if rc.client.metadata.resource_server {
        return Ok(());
    }
    let expected = crate::organisation::expected_of(
        rc.registration
            .as_ref()
            .map(|(org, software)| (org.as_str(), software.as_str())),
        Some(&rc.client),
        validated.profile,
    )?;
    match expected {
        Some(expected) => {
            organisation_matches(validated.tpp.as_ref(), &validated.subject, &expected).map_err(
                |e| {
                    fail(format!(
                        "the certificate belongs to another organisation than the client ({e})"
                    ))
                },
            )
        }
        // A directory certificate names an organisation and software the client must have;
        // without them it cannot be held to one.
        None if validated.profile == CertProfile::ObDirectory => Err(fail(
            "the client has no directory organisation and software id to match",
        )),
        None => Ok(()),
    }
}

/// RFC 8705 2.2.2: the certificate is the first `x5c` entry of a JWK (or the one its
/// `x5t#S256` names), and, as RFC 7517 4.7 and 4.9 have it, a certificate of that JWK's own
/// key: a thumbprint attached to a directory's key (whose RFC 7638 thumbprint ignores it)
/// does not make another key's certificate the client's.
fn jwk_holds_cert(jwk: &serde_json::Map<String, Value>, leaf: &CertificateDer<'_>) -> bool {
    names_cert(jwk, leaf)
        && crate::metadata::certificate_key(leaf.as_ref())
            .is_ok_and(|key| crate::metadata::same_public_key(&key, jwk))
}

/// Whether the JWK names the certificate: its first `x5c` entry, or its `x5t#S256`.
fn names_cert(jwk: &serde_json::Map<String, Value>, leaf: &CertificateDer<'_>) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let by_x5c = jwk
        .get("x5c")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .is_some_and(|der| der.as_slice() == leaf.as_ref());
    let by_thumbprint = jwk
        .get("x5t#S256")
        .and_then(Value::as_str)
        .is_some_and(|t| t == bulwark_certs::x5t_s256(leaf));
    by_x5c || by_thumbprint
}

fn check_validity_period(
    leaf: &CertificateDer<'_>,
    now: UnixTime,
    skew: i64,
) -> Result<(), ClientError> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(leaf.as_ref())
        .map_err(|_| fail("malformed client certificate"))?;
    let validity = &cert.tbs_certificate.validity;
    let secs = |t: x509_cert::time::Time| UnixTime::from_system_time(t.to_system_time());
    if secs(validity.not_before) > now.plus(skew) {
        return Err(fail("the client certificate is not yet valid"));
    }
    if secs(validity.not_after).plus(skew) < now {
        return Err(fail("the client certificate has expired"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    /// A self-signed certificate valid from 2026-01-01 to 2027-01-01 (midnight UTC).
    fn cert() -> CertificateDer<'static> {
        keyed_cert().0
    }

    /// [`cert`] with its key as a public JWK.
    fn keyed_cert() -> (CertificateDer<'static>, serde_json::Map<String, Value>) {
        let mut params = rcgen::CertificateParams::new(vec!["tpp.example".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2027, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let jwk = bulwark_jose::pem::jwk_from_public_pem(&key.public_key_pem(), None).unwrap();
        (params.self_signed(&key).unwrap().der().clone(), jwk)
    }

    fn jwk(v: Value) -> serde_json::Map<String, Value> {
        let Value::Object(m) = v else { panic!() };
        m
    }

    /// RFC 8705 2.2.2 (self-signed certificate authentication): the registered key holds the
    /// certificate as its first `x5c` entry or by its `x5t#S256`, and the certificate holds
    /// that key (RFC 7517 4.7, 4.9); anything else does not. A directory's key given another
    /// key's certificate thumbprint (which its RFC 7638 thumbprint does not cover) holds
    /// nothing.
    #[test]
    fn ca_3_a_jwk_holds_the_certificate_of_its_own_key_by_x5c_or_thumbprint() {
        let ((leaf, own), (other, other_key)) = (keyed_cert(), keyed_cert());
        let b64 = |c: &CertificateDer<'_>| STANDARD.encode(c.as_ref());
        let with = |key: &serde_json::Map<String, Value>, extra: Value| {
            let mut k = key.clone();
            k.extend(jwk(extra));
            k
        };
        assert!(jwk_holds_cert(
            &with(&own, json!({"x5c": [b64(&leaf)]})),
            &leaf
        ));
        assert!(jwk_holds_cert(
            &with(&own, json!({"x5t#S256": bulwark_certs::x5t_s256(&leaf)})),
            &leaf
        ));
        assert!(jwk_holds_cert(
            &with(
                &own,
                json!({"x5c": [b64(&other)], "x5t#S256": bulwark_certs::x5t_s256(&leaf)})
            ),
            &leaf
        ));
        for refused in [
            with(&own, json!({})),
            with(&own, json!({"x5c": [b64(&other)]})),
            with(&own, json!({"x5c": [b64(&other), b64(&leaf)]})),
            with(&own, json!({"x5t#S256": bulwark_certs::x5t_s256(&other)})),
            with(&own, json!({"x5c": ["not base64"]})),
            // The certificate named, but the JWK is another key (or none).
            with(
                &other_key,
                json!({"x5t#S256": bulwark_certs::x5t_s256(&leaf)}),
            ),
            with(&other_key, json!({"x5c": [b64(&leaf)]})),
            jwk(json!({"x5t#S256": bulwark_certs::x5t_s256(&leaf)})),
        ] {
            assert!(!jwk_holds_cert(&refused, &leaf), "{refused:?}");
        }
    }

    /// CERT-1 for a self-signed client certificate: inside its validity period, with the clock
    /// skew on both sides to the second.
    #[test]
    fn ca_3_a_self_signed_certificate_is_used_only_in_its_validity_period() {
        let leaf = cert();
        let (from, to, skew) = (1_767_225_600_i64, 1_798_761_600_i64, 30);
        let at = |secs: i64| check_validity_period(&leaf, UnixTime::from_secs(secs), skew);
        assert!(at(from - skew).is_ok());
        assert!(at(to + skew).is_ok());
        assert!(at(from + 1000).is_ok());
        let message = |r: Result<(), ClientError>| r.err().map(|e| e.to_string());
        assert_eq!(
            message(at(from - skew - 1)).as_deref(),
            Some("client authentication failed: the client certificate is not yet valid")
        );
        assert_eq!(
            message(at(to + skew + 1)).as_deref(),
            Some("client authentication failed: the client certificate has expired")
        );
    }
}
