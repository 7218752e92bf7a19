//! CA-1 `private_key_jwt` against a real store (SQLite): the assertion's claims by profile,
//! the client's registration and status, and the assertion's single use; and a request that
//! names its client with no certificate. The certificate methods with certificates (CA-2 and
//! CA-3, with a PKI and a TLS handshake) are the server's end-to-end suites'.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bulwark_certs::{CertValidator, RevocationSettings, TrustAnchors};
use bulwark_clients::{AuthInput, AuthSettings, ClientAuthenticator, ClientDirectory, JWT_BEARER};
use bulwark_core::{Client, Form, Profile, UnixTime};
use bulwark_jose::{Alg, JwksFetcher, SigningKey};
use bulwark_store::ClientStore;
use bulwark_store::testing::TestDb;
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example";
const TOKEN: &str = "https://as.example/token";
const PAR: &str = "https://as.example/par";
const NOW: i64 = 1_800_000_000;

struct Setup {
    auth: ClientAuthenticator,
    key: SigningKey,
    _db: TestDb,
}

/// A store with client `tpp-1` (its ES256 key inline, `extra` merged into its metadata) and
/// an authenticator for `profile` (assertions live 60 s at most, 10 s of skew).
async fn setup(profile: Profile, extra: Value) -> Setup {
    let db = TestDb::sqlite();
    let store = Arc::new(db.migrated_store().await.unwrap());
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let mut client = json!({
        "client_id": "tpp-1",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": {"keys": [Value::Object(key.public_jwk().clone())]},
        "scope": "accounts",
        "status": "active",
        "client_id_issued_at": 1,
        "updated_at": 1
    });
    if let (Value::Object(base), Value::Object(more)) = (&mut client, extra) {
        base.extend(more);
    }
    let client: Client = serde_json::from_value(client).unwrap();
    store.insert_client(&client).await.unwrap();
    let fetcher =
        Arc::new(JwksFetcher::new(Duration::from_secs(1), Duration::from_secs(30), &[]).unwrap());
    let directory = Arc::new(ClientDirectory::new(
        store.clone(),
        store.clone(),
        Duration::ZERO,
        fetcher,
    ));
    let validator = CertValidator::new(
        &TrustAnchors::default(),
        Duration::from_secs(10),
        RevocationSettings::default(),
    )
    .unwrap();
    let auth = ClientAuthenticator::new(
        ISSUER.into(),
        AuthSettings {
            profile,
            assertion_max_lifetime_secs: 60,
            clock_skew_secs: 10,
        },
        directory,
        store,
        validator,
    )
    .with_token_endpoint(TOKEN.into());
    Setup { auth, key, _db: db }
}

/// Claims of a good assertion from `tpp-1` for `aud`, with `jti`.
fn claims(aud: Value, jti: &str) -> Value {
    json!({"iss": "tpp-1", "sub": "tpp-1", "aud": aud, "iat": NOW, "exp": NOW + 60, "jti": jti})
}

/// An assertion of `claims` signed with `key`.
fn signed(key: &SigningKey, claims: &Value) -> String {
    key.sign_compact("JWT", &serde_json::to_vec(claims).unwrap())
        .unwrap()
}

/// A request at `endpoint` with `form` and no certificate.
fn input<'a>(form: &'a Form, endpoint: &'a str) -> AuthInput<'a> {
    AuthInput {
        form,
        chain: &[],
        endpoint_url: endpoint,
        authorization_header: false,
        forwarded_by: None,
    }
}

impl Setup {
    /// Authenticates an assertion of `claims` signed with `key` at `endpoint`: the refusal's
    /// text, or `None` when accepted.
    async fn try_with(&self, key: &SigningKey, claims: &Value, endpoint: &str) -> Option<String> {
        let jwt = signed(key, claims);
        let form = Form::from_pairs([
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", jwt.as_str()),
        ]);
        self.try_form(&form, endpoint).await
    }

    /// Authenticates a request with `form` at `endpoint`: the refusal's text, or `None`.
    async fn try_form(&self, form: &Form, endpoint: &str) -> Option<String> {
        self.auth
            .authenticate(&input(form, endpoint), UnixTime::from_secs(NOW))
            .await
            .err()
            .map(|e| e.to_string())
    }

    async fn try_claims(&self, claims: &Value, endpoint: &str) -> Option<String> {
        self.try_with(&self.key, claims, endpoint).await
    }
}

fn refused_with(answer: Option<String>, expected: &str) {
    let Some(message) = answer else {
        panic!("accepted; expected a refusal with {expected:?}");
    };
    assert!(message.contains(expected), "{message}");
}

/// CA-1: an assertion is used once; its `sub` is the client.
#[tokio::test]
async fn ca_1_an_assertion_is_used_once_and_names_its_client_as_sub() {
    let s = setup(Profile::Fapi2, json!({})).await;
    let good = claims(json!(ISSUER), "jti-1");
    assert_eq!(s.try_claims(&good, TOKEN).await, None);
    refused_with(s.try_claims(&good, TOKEN).await, "already used (replay)");
    let mut other_sub = claims(json!(ISSUER), "jti-2");
    other_sub["sub"] = json!("tpp-2");
    refused_with(s.try_claims(&other_sub, TOKEN).await, "sub must equal iss");
    let mut no_sub = claims(json!(ISSUER), "jti-3");
    no_sub.as_object_mut().unwrap().remove("sub");
    refused_with(s.try_claims(&no_sub, TOKEN).await, "has no sub");
    // Refused for its sub, the assertion's jti was not spent.
    assert_eq!(
        s.try_claims(&claims(json!(ISSUER), "jti-2"), TOKEN).await,
        None
    );
    let unstorable = claims(json!(ISSUER), "jti\u{7}bell");
    refused_with(s.try_claims(&unstorable, TOKEN).await, "printable ASCII");
}

/// FAPI 2.0 SP 5.3.2.1-8: the audience is the issuer, as a string, and nothing else.
#[tokio::test]
async fn ca_1_fapi2_assertions_are_for_the_issuer_only() {
    let s = setup(Profile::Fapi2, json!({})).await;
    for (n, aud) in [json!(TOKEN), json!([ISSUER]), json!(PAR)]
        .into_iter()
        .enumerate()
    {
        refused_with(
            s.try_claims(&claims(aud, &format!("a-{n}")), PAR).await,
            "aud must be the issuer",
        );
    }
    assert_eq!(s.try_claims(&claims(json!(ISSUER), "b"), PAR).await, None);
}

/// FAPI 1.0 Adv 5.2.2-14, OIDC Core 9, RFC 9126 2: the issuer, the endpoint called, or (at
/// PAR) the token endpoint, as a string or among an array; another audience is refused.
#[tokio::test]
async fn ca_1_fapi1_assertions_name_the_issuer_the_endpoint_or_the_token_endpoint() {
    let s = setup(Profile::Fapi1Advanced, json!({})).await;
    for (n, aud) in [
        json!(ISSUER),
        json!(PAR),
        json!(TOKEN),
        json!(["https://elsewhere.example", PAR]),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            s.try_claims(&claims(aud.clone(), &format!("ok-{n}")), PAR)
                .await,
            None,
            "{aud}"
        );
    }
    for (n, aud) in [
        json!("https://elsewhere.example"),
        json!(["https://elsewhere.example"]),
        json!("https://as.example/introspect"),
    ]
    .into_iter()
    .enumerate()
    {
        refused_with(
            s.try_claims(&claims(aud, &format!("no-{n}")), PAR).await,
            "aud must contain the issuer",
        );
    }
}

/// CA-1 / RFC 7523 3: `exp` is required, at most the maximum lifetime ahead, and the
/// assertion lives no longer than that from its `iat`.
#[tokio::test]
async fn ca_1_assertion_lifetimes_are_bounded() {
    let s = setup(Profile::Fapi2, json!({})).await;
    let mut no_exp = claims(json!(ISSUER), "t-1");
    no_exp.as_object_mut().unwrap().remove("exp");
    refused_with(s.try_claims(&no_exp, TOKEN).await, "has no exp");
    // An hour ahead, without an iat to measure a lifetime from.
    let mut far = claims(json!(ISSUER), "t-2");
    far["exp"] = json!(NOW + 3600);
    far.as_object_mut().unwrap().remove("iat");
    refused_with(
        s.try_claims(&far, TOKEN).await,
        "exp is too far in the future",
    );
    let mut near = claims(json!(ISSUER), "t-5");
    near.as_object_mut().unwrap().remove("iat");
    assert_eq!(s.try_claims(&near, TOKEN).await, None, "a minute ahead");
    let mut long_lived = claims(json!(ISSUER), "t-3");
    long_lived["iat"] = json!(NOW - 3000);
    long_lived["exp"] = json!(NOW + 30);
    refused_with(
        s.try_claims(&long_lived, TOKEN).await,
        "lifetime is too long",
    );
    assert_eq!(
        s.try_claims(&claims(json!(ISSUER), "t-4"), TOKEN).await,
        None
    );
}

/// CA-1 (RFC 7523 3, FAPI 2.0 SP 5.3.2.1): an assertion's `jti` stays claimed for as long as
/// the assertion itself could be accepted, its `exp` plus the clock skew allowed, so no purge
/// of expired claims opens a window in which it could be replayed.
#[tokio::test]
async fn ca_1_an_assertion_jti_is_claimed_until_the_assertion_cannot_be_accepted() {
    let s = setup(Profile::Fapi2, json!({})).await;
    let jwt = signed(&s.key, &claims(json!(ISSUER), "p-1"));
    let form = Form::from_pairs([
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", jwt.as_str()),
    ]);
    let (_, pending) = s
        .auth
        .authenticate_deferred(&input(&form, TOKEN), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    let pending = pending.unwrap();
    assert_eq!(
        (pending.namespace.as_str(), pending.jti.as_str()),
        ("assertion:tpp-1", "p-1")
    );
    // exp (NOW + 60) plus the 10 s of skew the authenticator allows.
    assert_eq!(pending.expires_at, NOW + 70);
}

/// CA-1: the client's registration decides: suspended, another method, another algorithm,
/// another key are each refused for what they are.
#[tokio::test]
async fn ca_1_the_registration_decides_method_algorithm_key_and_status() {
    let suspended = setup(Profile::Fapi2, json!({"status": "suspended"})).await;
    refused_with(
        suspended
            .try_claims(&claims(json!(ISSUER), "r-1"), TOKEN)
            .await,
        "the client is suspended",
    );
    // Registered for a certificate method (a self-signed one with its keys in `jwks` too):
    // an assertion signed with a registered key does not authenticate it.
    for (n, method) in [
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp-1"}),
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth"}),
    ]
    .into_iter()
    .enumerate()
    {
        let mtls = setup(Profile::Fapi2, method).await;
        refused_with(
            mtls.try_claims(&claims(json!(ISSUER), &format!("r-2-{n}")), TOKEN)
                .await,
            "not private_key_jwt",
        );
    }
    let ps256 = setup(
        Profile::Fapi2,
        json!({"token_endpoint_auth_signing_alg": "PS256"}),
    )
    .await;
    refused_with(
        ps256.try_claims(&claims(json!(ISSUER), "r-3"), TOKEN).await,
        "registered for PS256 assertions",
    );
    let s = setup(Profile::Fapi2, json!({})).await;
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    refused_with(
        s.try_with(&stranger, &claims(json!(ISSUER), "r-4"), TOKEN)
            .await,
        "no registered key matches the assertion's kid",
    );
    // The form's client_id, when sent, is the assertion's iss.
    let jwt = signed(&s.key, &claims(json!(ISSUER), "r-5"));
    let form = Form::from_pairs([
        ("client_id", "tpp-2"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", jwt.as_str()),
    ]);
    refused_with(
        s.try_form(&form, TOKEN).await,
        "client_id does not match the assertion's iss",
    );
}

/// CA-2 and CA-3: a request that names its client by `client_id` alone and presents no
/// certificate is refused for the missing certificate, whatever the client's method (a
/// self-signed client's keys would have nothing to be compared with).
#[tokio::test]
async fn ca_1_ca_2_ca_3_a_client_id_without_a_certificate_is_refused() {
    let form = Form::from_pairs([("client_id", "tpp-1")]);
    for extra in [
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth"}),
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp-1"}),
    ] {
        let s = setup(Profile::Fapi2, extra).await;
        refused_with(
            s.try_form(&form, TOKEN).await,
            "a client certificate is required",
        );
    }
    let s = setup(Profile::Fapi2, json!({})).await;
    refused_with(
        s.try_form(&form, TOKEN).await,
        "a client certificate is required",
    );
}
