//! Test clients and their calls: a `private_key_jwt` client (`PkjClient`) with its signing key
//! and certificate, its client-credentials token request, and introspection.

use bulwark_jose::{Alg, SigningKey};
use serde_json::{Map, Value, json};

use super::{BEARER, Harness, ISSUER, Identity, Resp};

/// A private_key_jwt client: its key, certificate and metadata.
pub struct PkjClient {
    pub id: String,
    pub key: SigningKey,
    pub identity: Identity,
}

impl PkjClient {
    /// Registers a client_credentials client with a fresh ES256 key and a certificate from the
    /// harness's PKI.
    pub async fn register(h: &Harness, id: &str, scope: &str) -> Self {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let (identity, _) = h.pki.client("TPP Ltd", id, None);
        h.register(
            id,
            json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "grant_types": ["client_credentials"],
                "scope": scope,
                "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}
            }),
        )
        .await;
        Self {
            id: id.into(),
            key,
            identity,
        }
    }

    /// The claims of a valid client assertion at the harness's clock.
    pub fn claims(&self, h: &Harness) -> Map<String, Value> {
        let now = h.clock_now();
        json!({
            "iss": self.id, "sub": self.id, "aud": ISSUER,
            "iat": now, "exp": now + 60, "jti": bulwark_core::random::token(12)
        })
        .as_object()
        .unwrap()
        .clone()
    }

    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        self.key
            .sign_compact("JWT", &serde_json::to_vec(claims).unwrap())
            .unwrap()
    }

    /// A valid, freshly signed client assertion.
    pub fn assertion(&self, h: &Harness) -> String {
        self.sign(&self.claims(h))
    }

    /// A client_credentials token request with `assertion`, over mTLS with the client's
    /// certificate.
    pub async fn token(&self, h: &Harness, assertion: &str) -> Resp {
        h.post(
            Some(&self.identity),
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", BEARER),
                ("client_assertion", assertion),
            ],
        )
        .await
    }
}

/// Introspects `token` as `caller`; asserts a 200 with `Cache-Control: no-store` and returns the
/// answer.
pub async fn introspect(h: &Harness, caller: &PkjClient, token: &str) -> Value {
    let resp = h
        .post(
            Some(&caller.identity),
            "/introspect",
            &[
                ("token", token),
                ("client_assertion_type", BEARER),
                ("client_assertion", &caller.assertion(h)),
            ],
        )
        .await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    assert_eq!(resp.1["cache-control"], "no-store");
    resp.2
}
