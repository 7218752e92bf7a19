//! TK-4 access tokens: RFC 9068 JWTs (`typ: at+jwt`), self-contained and never stored, bound to
//! the client certificate (`cnf.x5t#S256`, RFC 8705 3) and, for user tokens, to a consent.

use bulwark_jose::{Compact, PublicKeySet, SigningKey};
use serde::{Deserialize, Serialize};

/// Whether a token acts for the client itself or for a PSU through a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// client_credentials: the TPP acting for itself (consent APIs).
    Application,
    /// authorization_code / refresh_token: the TPP acting for a PSU under a consent.
    User,
}

/// RFC 8705 3.1 confirmation claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// base64url SHA-256 of the client certificate.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the client id for application tokens, the PSU's subject for user tokens.
    pub sub: String,
    /// Audience: the resource.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Unique id (revocation records it).
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Certificate binding.
    pub cnf: Confirmation,
    /// Application or user.
    pub token_kind: TokenKind,
    /// The consent a user token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    /// The same consent under its Open Banking claim name (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openbanking_intent_id: Option<String>,
    /// The consent's grant generation the token was issued under (user tokens): a revocation
    /// of the grant reaches the generations it names, not a later re-authentication's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_generation: Option<i64>,
}

impl AccessTokenClaims {
    /// True once the token has expired at `now` (Unix seconds; `exp` itself is already past):
    /// the one expiry rule for a freshly verified token and a cached one alike.
    pub fn is_expired(&self, now: i64) -> bool {
        self.exp <= now
    }

    /// What a revocation look-up needs: the `jti`, and the grant (consent) with `iat`.
    pub fn revocation_key(&self) -> bulwark_store::IssuedToken<'_> {
        bulwark_store::IssuedToken {
            jti: &self.jti,
            consent_id: self.consent_id.as_deref(),
            issued_at: self.iat,
            grant_generation: self.grant_generation,
        }
    }
}

/// Signs claims with the given key as an RFC 9068 JWT.
pub fn sign(key: &SigningKey, claims: &AccessTokenClaims) -> Result<String, String> {
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    key.sign_compact("at+jwt", &payload)
        .map_err(|e| e.to_string())
}

/// Why a presented access token is not one we accept; callers answer "inactive" for all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidToken {
    /// Not a JWT, wrong type, or bad signature.
    #[error("malformed or forged: {0}")]
    Forged(String),
    /// Issued by someone else.
    #[error("foreign issuer")]
    ForeignIssuer,
    /// Past its expiry.
    #[error("expired")]
    Expired,
}

/// Verifies a token this server issued and returns its claims (expiry checked at `now`).
pub fn verify(
    public: &PublicKeySet,
    issuer: &str,
    token: &str,
    now: i64,
) -> Result<AccessTokenClaims, InvalidToken> {
    let jws = Compact::parse(token).map_err(|e| InvalidToken::Forged(e.to_string()))?;
    // RFC 9068 2.1 / 4: the type is compared case-insensitively, with or without "application/".
    let typ = jws.typ().unwrap_or("").to_ascii_lowercase();
    if typ != "at+jwt" && typ != "application/at+jwt" {
        return Err(InvalidToken::Forged("typ is not at+jwt".into()));
    }
    public
        .verify(&jws)
        .map_err(|e| InvalidToken::Forged(e.to_string()))?;
    let claims: AccessTokenClaims =
        serde_json::from_slice(&jws.payload).map_err(|e| InvalidToken::Forged(e.to_string()))?;
    if claims.iss != issuer {
        return Err(InvalidToken::ForeignIssuer);
    }
    if claims.is_expired(now) {
        return Err(InvalidToken::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use bulwark_jose::{Alg, KeyRing};

    const ISSUER: &str = "https://as.bank.example";

    fn claims(exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "psu-1".into(),
            aud: "https://api.bank.example".into(),
            exp,
            iat: exp - 300,
            jti: "jti-1".into(),
            client_id: "tpp-1".into(),
            scope: "accounts".into(),
            cnf: Confirmation {
                x5t_s256: "thumb".into(),
            },
            token_kind: TokenKind::User,
            consent_id: Some("aac-1".into()),
            openbanking_intent_id: Some("aac-1".into()),
            grant_generation: Some(3),
        }
    }

    fn ring() -> KeyRing {
        KeyRing::new(vec![SigningKey::generate(Alg::Es256).unwrap()])
    }

    /// RFC 9068 2.2 claims as issued: a user token names its consent under both claim names.
    #[test]
    fn tk_4_a_user_token_carries_its_consent_under_both_names() {
        let ring = ring();
        let key = ring.signing_key(Alg::Es256).unwrap();
        let token = sign(key, &claims(2_000)).unwrap();
        let jws = Compact::parse(&token).unwrap();
        assert_eq!(jws.typ(), Some("at+jwt"));
        let body = jws.claims().unwrap();
        assert_eq!(body["consent_id"], "aac-1");
        assert_eq!(body["openbanking_intent_id"], "aac-1");
        assert_eq!(
            verify(ring.public_set(), ISSUER, &token, 1_000).unwrap(),
            claims(2_000)
        );
    }

    /// A token expires at `exp` exactly (RFC 7519 4.1.4: on or after), not a second later.
    #[test]
    fn tk_4_a_token_is_expired_from_its_exp_second_on() {
        let ring = ring();
        let token = sign(ring.signing_key(Alg::Es256).unwrap(), &claims(2_000)).unwrap();
        assert!(verify(ring.public_set(), ISSUER, &token, 1_999).is_ok());
        for now in [2_000, 2_001, 2_030] {
            assert_eq!(
                verify(ring.public_set(), ISSUER, &token, now),
                Err(InvalidToken::Expired),
                "{now}"
            );
        }
    }

    /// Only our own issuer, whole: an issuer that merely starts with ours is foreign.
    #[test]
    fn tk_4_a_token_naming_an_issuer_that_extends_ours_is_foreign() {
        let ring = ring();
        let key = ring.signing_key(Alg::Es256).unwrap();
        for iss in [
            format!("{ISSUER}.evil"),
            format!("{ISSUER}/other"),
            "".into(),
        ] {
            let mut c = claims(2_000);
            c.iss = iss.clone();
            let token = sign(key, &c).unwrap();
            assert_eq!(
                verify(ring.public_set(), ISSUER, &token, 1_000),
                Err(InvalidToken::ForeignIssuer),
                "{iss}"
            );
        }
    }

    /// RFC 9068 4: a JWT of another type (an ID token's `JWT`, none) signed by the same key
    /// is not an access token; a key we do not publish signs nothing we accept.
    #[test]
    fn tk_4_a_jwt_of_another_type_or_key_is_not_an_access_token() {
        let ring = ring();
        let key = ring.signing_key(Alg::Es256).unwrap();
        let payload = serde_json::to_vec(&claims(2_000)).unwrap();
        for typ in ["JWT", "jwt", "id_token+jwt", ""] {
            let token = key.sign_compact(typ, &payload).unwrap();
            assert!(
                matches!(
                    verify(ring.public_set(), ISSUER, &token, 1_000),
                    Err(InvalidToken::Forged(_))
                ),
                "{typ}"
            );
        }
        let other = SigningKey::generate(Alg::Es256).unwrap();
        let token = sign(&other, &claims(2_000)).unwrap();
        assert!(matches!(
            verify(ring.public_set(), ISSUER, &token, 1_000),
            Err(InvalidToken::Forged(_))
        ));
        // RFC 9068's media type form is the same type.
        let token = key.sign_compact("application/at+jwt", &payload).unwrap();
        assert!(verify(ring.public_set(), ISSUER, &token, 1_000).is_ok());
    }

    /// A revocation look-up names the token's own consent and generation.
    #[test]
    fn tk_8_the_revocation_key_is_the_tokens_own() {
        let c = claims(2_000);
        let key = c.revocation_key();
        assert_eq!(key.jti, "jti-1");
        assert_eq!(key.consent_id, Some("aac-1"));
        assert_eq!(key.issued_at, 1_700);
        assert_eq!(key.grant_generation, Some(3));
    }
}
