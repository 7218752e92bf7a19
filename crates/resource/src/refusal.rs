//! Why a bank-API request was refused, precisely (for the security log), and how each reason
//! is answered on the wire (RFC 6750 3.1: 401 `invalid_token` for a token that cannot be used,
//! 403 for a usable token that may not call this API).

use bulwark_token::{InvalidToken, TokenKind};

/// A refused bank-API request.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization: Bearer` token.
    #[error("a bearer access token is required")]
    NoToken,
    /// The certificate header from the proxy was refused (CERT-2).
    #[error("the client certificate header was refused ({0})")]
    CertificateHeader(&'static str),
    /// Not one of our tokens, or expired.
    #[error("the access token is invalid or expired ({0})")]
    Token(InvalidToken),
    /// Revoked (TK-7).
    #[error("the access token was revoked")]
    Revoked,
    /// The token's client is suspended or deleted.
    #[error("the client is suspended or no longer registered")]
    ClientInactive,
    /// No client certificate on the connection.
    #[error("a client certificate is required (mTLS)")]
    NoCertificate,
    /// RFC 8705 3: the token's `cnf` names another certificate.
    #[error("the access token is bound to another certificate")]
    OtherCertificate,
    /// RFC 9068 4: the token's `aud` is another resource.
    #[error("the access token was issued for another resource (aud)")]
    WrongAudience,
    /// A token of the other kind (application vs customer-authorised).
    #[error("this API needs {}", kind_phrase(*.0))]
    WrongKind(TokenKind),
    /// The certificate is not a valid QWAC (CERT-5), with the validator's reason code.
    #[error("the client certificate is not an acceptable QWAC ({0})")]
    NotQwac(&'static str),
    /// CERT-8: the QWAC belongs to another organisation than the client.
    #[error("the client certificate belongs to another organisation than the client ({0})")]
    OtherOrganisation(String),
    /// The QWAC has no PSD2 statement.
    #[error("the client certificate carries no PSD2 roles")]
    NoPsd2Roles,
    /// The server could not decide because something it must ask (the database, the
    /// authorization server's keys) is unreachable now: 503, the TPP retries later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The server could not decide (a fault); logged with detail.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<bulwark_clients::ClientError> for Refusal {
    /// A directory lookup that failed: an outage is retryable, anything else a fault.
    fn from(e: bulwark_clients::ClientError) -> Self {
        match e {
            bulwark_clients::ClientError::Unavailable(detail) => Self::Unavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

fn kind_phrase(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Application => "a client_credentials (application) token",
        TokenKind::User => "a token authorised by the customer",
    }
}

/// How a refusal is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalStatus {
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
    /// 403: the caller is known but may not do this.
    Forbidden,
    /// 503 with `Retry-After`: the request may succeed later.
    Unavailable,
    /// 500.
    Internal,
}

impl Refusal {
    /// The answer's class.
    pub fn status(&self) -> RefusalStatus {
        match self {
            Self::NoToken
            | Self::CertificateHeader(_)
            | Self::Token(_)
            | Self::Revoked
            | Self::ClientInactive
            | Self::NoCertificate
            | Self::OtherCertificate
            | Self::WrongAudience => RefusalStatus::InvalidToken,
            Self::WrongKind(_)
            | Self::NotQwac(_)
            | Self::OtherOrganisation(_)
            | Self::NoPsd2Roles => RefusalStatus::Forbidden,
            Self::Unavailable(_) => RefusalStatus::Unavailable,
            Self::Internal(_) => RefusalStatus::Internal,
        }
    }

    /// A stable code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::CertificateHeader(_) => "certificate_header",
            Self::Token(InvalidToken::Forged(_)) => "token_forged",
            Self::Token(InvalidToken::ForeignIssuer) => "token_foreign_issuer",
            Self::Token(InvalidToken::Expired) => "token_expired",
            Self::Revoked => "token_revoked",
            Self::ClientInactive => "client_inactive",
            Self::NoCertificate => "no_certificate",
            Self::OtherCertificate => "certificate_not_bound",
            Self::WrongAudience => "wrong_audience",
            Self::WrongKind(_) => "wrong_token_kind",
            Self::NotQwac(_) => "not_a_qwac",
            Self::OtherOrganisation(_) => "other_organisation",
            Self::NoPsd2Roles => "no_psd2_roles",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The text safe to show the caller: no detail about why a token is unusable.
    pub fn description(&self) -> String {
        match self {
            Self::Token(_) => "the access token is invalid or expired".into(),
            Self::Unavailable(_) => "the service is briefly unavailable; retry shortly".into(),
            Self::Internal(_) => "the server could not complete the request".into(),
            Self::NoToken
            | Self::CertificateHeader(_)
            | Self::Revoked
            | Self::ClientInactive
            | Self::NoCertificate
            | Self::OtherCertificate
            | Self::WrongAudience
            | Self::WrongKind(_)
            | Self::NotQwac(_)
            | Self::OtherOrganisation(_)
            | Self::NoPsd2Roles => self.to_string(),
        }
    }

    /// Logs the refusal: internal failures as errors, the rest on `bulwark::security`.
    pub fn log(&self) {
        match self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "bank-API request could not be decided");
            }
            Self::Unavailable(detail) => {
                tracing::warn!(error = %detail, "bank-API request deferred: a dependency is unavailable");
            }
            other => tracing::warn!(
                target: "bulwark::security",
                reason = other.reason(),
                detail = %other,
                "bank-API request refused"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use RefusalStatus::{Forbidden, Internal, InvalidToken as Unusable, Unavailable};

    /// Every refusal with the answer and the reason code it must have (written out, not
    /// derived from the code under test).
    fn table() -> Vec<(Refusal, RefusalStatus, &'static str)> {
        vec![
            (Refusal::NoToken, Unusable, "no_token"),
            (
                Refusal::CertificateHeader("untrusted_proxy"),
                Unusable,
                "certificate_header",
            ),
            (
                Refusal::Token(InvalidToken::Forged("bad signature".into())),
                Unusable,
                "token_forged",
            ),
            (
                Refusal::Token(InvalidToken::ForeignIssuer),
                Unusable,
                "token_foreign_issuer",
            ),
            (
                Refusal::Token(InvalidToken::Expired),
                Unusable,
                "token_expired",
            ),
            (Refusal::Revoked, Unusable, "token_revoked"),
            (Refusal::ClientInactive, Unusable, "client_inactive"),
            (Refusal::NoCertificate, Unusable, "no_certificate"),
            (Refusal::OtherCertificate, Unusable, "certificate_not_bound"),
            (Refusal::WrongAudience, Unusable, "wrong_audience"),
            (
                Refusal::WrongKind(TokenKind::User),
                Forbidden,
                "wrong_token_kind",
            ),
            (Refusal::NotQwac("revoked"), Forbidden, "not_a_qwac"),
            (
                Refusal::OtherOrganisation("PSDGB-FCA-1".into()),
                Forbidden,
                "other_organisation",
            ),
            (Refusal::NoPsd2Roles, Forbidden, "no_psd2_roles"),
            (
                Refusal::Unavailable("database down".into()),
                Unavailable,
                "unavailable",
            ),
            (
                Refusal::Internal("corrupt row".into()),
                Internal,
                "internal",
            ),
        ]
    }

    fn every() -> Vec<Refusal> {
        table().into_iter().map(|(r, _, _)| r).collect()
    }

    #[test]
    fn gw_1_unusable_tokens_are_401_and_unauthorised_callers_403() {
        for (r, status, reason) in table() {
            assert_eq!(r.status(), status, "{r}");
            assert_eq!(r.reason(), reason, "{r}");
        }
    }

    #[test]
    fn gw_1_each_refusal_has_its_own_reason_and_no_leaked_detail() {
        let reasons: std::collections::BTreeSet<_> = every().iter().map(Refusal::reason).collect();
        assert_eq!(reasons.len(), every().len(), "reason codes are distinct");
        let forged = Refusal::Token(InvalidToken::Forged("bad signature".into()));
        assert!(!forged.description().contains("signature"));
        for r in [
            Refusal::Internal("database corrupt".into()),
            Refusal::Unavailable("database down".into()),
        ] {
            assert!(!r.description().contains("database"), "{r}");
        }
    }
}
