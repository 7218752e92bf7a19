//! The one JWT time-window check (RFC 7519 4.1.4-4.1.6): `exp`, `nbf` and `iat` read as
//! NumericDates and held against the caller's clock with a tolerated skew, plus the lifetime
//! bounds the profiles add (FAPI 1.0 Adv 5.2.2-13 request objects: `exp` - `nbf` at most 60
//! minutes; client assertions: not valid too far ahead; software statements: not too old).
//! Client assertions, software statements, registration requests, request objects and
//! `x-jws-signature` headers all go through it. Arithmetic saturates, so a hostile
//! `exp` of `i64::MAX` cannot wrap into the past.

use bulwark_core::UnixTime;
use serde_json::{Map, Value};

/// Whether a time claim must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Absent is an error.
    Required,
    /// Checked when present.
    Optional,
    /// Not looked at.
    Ignored,
}

/// The time claims that were read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeClaims {
    /// `iat`, when present.
    pub iat: Option<i64>,
    /// `exp`, when present.
    pub exp: Option<i64>,
    /// `nbf`, when present.
    pub nbf: Option<i64>,
}

/// Why a token's time claims are unacceptable. `Display` is a phrase that follows the
/// token's name ("client_assertion has expired").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// A required claim is absent.
    #[error("has no {0}")]
    Missing(&'static str),
    /// A claim is not an integer NumericDate.
    #[error("{0} is not a number")]
    NotNumber(&'static str),
    /// `exp` (plus skew) has passed.
    #[error("has expired")]
    Expired,
    /// `nbf` is ahead of now (plus skew).
    #[error("is not yet valid (nbf)")]
    NotYetValid,
    /// `iat` is ahead of now (plus skew).
    #[error("iat is in the future")]
    IssuedInFuture,
    /// `iat` is older than allowed.
    #[error("is older than {0} seconds")]
    TooOld(i64),
    /// `exp` is further from now than allowed.
    #[error("exp is too far in the future")]
    ExpiresTooFarAhead,
    /// `exp` minus the start (`iat`, `nbf`) is longer than allowed, or not after it.
    #[error("lifetime is too long (at most {0} seconds, exp after iat and nbf)")]
    LifetimeTooLong(i64),
    /// `nbf` is older than allowed.
    #[error("nbf is older than {0} seconds")]
    NbfTooOld(i64),
}

/// A time-window policy; build it once per kind of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    /// Tolerated clock difference, seconds.
    pub skew: i64,
    /// `exp` presence.
    pub exp: Presence,
    /// `iat` presence.
    pub iat: Presence,
    /// `nbf` presence.
    pub nbf: Presence,
    /// Longest `exp` - `iat` (when both are present); `exp` must also be after `iat`.
    pub max_lifetime: Option<i64>,
    /// Longest `exp` - `nbf` (when both are present); `exp` must also be after `nbf`.
    pub max_nbf_lifetime: Option<i64>,
    /// Longest `exp` - now.
    pub max_ahead: Option<i64>,
    /// Oldest accepted `iat` (now - `iat`).
    pub max_age: Option<i64>,
    /// Oldest accepted `nbf` (now - `nbf`).
    pub max_nbf_age: Option<i64>,
}

impl TimeWindow {
    /// Only the skew set: every claim optional, no bounds.
    pub const fn with_skew(skew: i64) -> Self {
        Self {
            skew,
            exp: Presence::Optional,
            iat: Presence::Optional,
            nbf: Presence::Optional,
            max_lifetime: None,
            max_nbf_lifetime: None,
            max_ahead: None,
            max_age: None,
            max_nbf_age: None,
        }
    }

    /// Checks the claims of `claims` at `now`; returns what was read.
    pub fn check(
        &self,
        claims: &Map<String, Value>,
        now: UnixTime,
    ) -> Result<TimeClaims, ClaimError> {
        let read = TimeClaims {
            iat: read(claims, "iat", self.iat)?,
            exp: read(claims, "exp", self.exp)?,
            nbf: read(claims, "nbf", self.nbf)?,
        };
        self.check_times(read, now)?;
        Ok(read)
    }

    /// Checks already-read times (for claims that live elsewhere than a JWT body, such as the
    /// `http://openbanking.org.uk/iat` header of a detached signature).
    pub fn check_times(&self, t: TimeClaims, now: UnixTime) -> Result<(), ClaimError> {
        let now = i128::from(now.secs());
        let skew = i128::from(self.skew);
        let wide = |v: i64| i128::from(v);
        for (name, value, presence) in [
            ("iat", t.iat, self.iat),
            ("exp", t.exp, self.exp),
            ("nbf", t.nbf, self.nbf),
        ] {
            if presence == Presence::Required && value.is_none() {
                return Err(ClaimError::Missing(name));
            }
        }
        if let Some(exp) = t.exp.map(wide) {
            if exp + skew <= now {
                return Err(ClaimError::Expired);
            }
            if let Some(max) = self.max_ahead
                && exp - now > i128::from(max)
            {
                return Err(ClaimError::ExpiresTooFarAhead);
            }
        }
        if let Some(nbf) = t.nbf.map(wide) {
            if nbf > now + skew {
                return Err(ClaimError::NotYetValid);
            }
            if let Some(max) = self.max_nbf_age
                && now - nbf > i128::from(max) + skew
            {
                return Err(ClaimError::NbfTooOld(max));
            }
        }
        if let Some(iat) = t.iat.map(wide) {
            if iat > now + skew {
                return Err(ClaimError::IssuedInFuture);
            }
            if let Some(max) = self.max_age
                && now - iat > i128::from(max)
            {
                return Err(ClaimError::TooOld(max));
            }
        }
        for (max, start) in [(self.max_lifetime, t.iat), (self.max_nbf_lifetime, t.nbf)] {
            if let (Some(max), Some(exp), Some(start)) = (max, t.exp.map(wide), start.map(wide))
                && (exp <= start || exp - start > i128::from(max))
            {
                return Err(ClaimError::LifetimeTooLong(max));
            }
        }
        Ok(())
    }
}

fn read(
    claims: &Map<String, Value>,
    name: &'static str,
    presence: Presence,
) -> Result<Option<i64>, ClaimError> {
    match (presence, claims.get(name)) {
        (Presence::Ignored, _) | (_, None) => Ok(None),
        (_, Some(v)) => v.as_i64().map(Some).ok_or(ClaimError::NotNumber(name)),
    }
}

/// The longest `jti` a single-use record stores.
pub const MAX_JTI_LEN: usize = 256;

/// A `jti` fit to be stored as a single-use record: 1 to [`MAX_JTI_LEN`] printable ASCII
/// characters. Checked before it reaches the database, where a NUL or a megabyte would fail
/// the statement (a 500, or a batch of other clients' claims) instead of refusing the one
/// request.
pub fn is_storable_jti(jti: &str) -> bool {
    !jti.is_empty() && jti.len() <= MAX_JTI_LEN && jti.bytes().all(|b| (0x21..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const NOW: UnixTime = UnixTime::from_secs(1_000_000);

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn assertion() -> TimeWindow {
        TimeWindow {
            exp: Presence::Required,
            max_lifetime: Some(600),
            max_ahead: Some(600),
            ..TimeWindow::with_skew(10)
        }
    }

    #[test]
    fn ca_1_exp_iat_nbf_within_skew_pass() {
        let c = map(json!({"exp": 1_000_060, "iat": 1_000_005, "nbf": 1_000_008}));
        let t = assertion().check(&c, NOW).unwrap();
        assert_eq!(t.exp, Some(1_000_060));
    }

    #[test]
    fn ca_1_each_time_bound_has_its_reason() {
        let w = assertion();
        let cases = [
            (json!({}), ClaimError::Missing("exp")),
            (json!({"exp": "soon"}), ClaimError::NotNumber("exp")),
            (json!({"exp": 999_990}), ClaimError::Expired),
            (json!({"exp": 1_000_700}), ClaimError::ExpiresTooFarAhead),
            (
                json!({"exp": 1_000_060, "iat": 1_000_011}),
                ClaimError::IssuedInFuture,
            ),
            (
                json!({"exp": 1_000_060, "nbf": 1_000_070}),
                ClaimError::NotYetValid,
            ),
            (
                json!({"exp": 1_000_500, "iat": 999_800}),
                ClaimError::LifetimeTooLong(600),
            ),
        ];
        for (claims, want) in cases {
            assert_eq!(w.check(&map(claims.clone()), NOW), Err(want), "{claims}");
        }
    }

    #[test]
    fn ca_1_hostile_time_claims_do_not_overflow() {
        let w = assertion();
        assert_eq!(
            w.check(&map(json!({"exp": i64::MAX})), NOW),
            Err(ClaimError::ExpiresTooFarAhead)
        );
        assert_eq!(
            w.check(&map(json!({"exp": i64::MIN})), NOW),
            Err(ClaimError::Expired)
        );
        let aged = TimeWindow {
            iat: Presence::Required,
            max_age: Some(60),
            ..TimeWindow::with_skew(i64::MAX)
        };
        assert!(aged.check(&map(json!({"iat": i64::MIN})), NOW).is_err());
    }

    /// Every bound holds to the second: the last accepted value passes, one second further
    /// fails with its own reason (skew 10 s, lifetime and lead 600 s, ages 60 s).
    #[test]
    fn ca_1_every_bound_is_exact_to_the_second() {
        let now = NOW.secs();
        let w = TimeWindow {
            max_age: Some(60),
            max_nbf_age: Some(60),
            ..assertion()
        };
        let at = |claims: Value| w.check(&map(claims), NOW);
        let exp = now + 100;
        let cases = [
            // exp: expired once exp + skew <= now.
            (json!({"exp": now - 9}), None),
            (json!({"exp": now - 10}), Some(ClaimError::Expired)),
            // exp at most 600 s ahead.
            (json!({"exp": now + 600}), None),
            (
                json!({"exp": now + 601}),
                Some(ClaimError::ExpiresTooFarAhead),
            ),
            // nbf at most the skew ahead.
            (json!({"exp": exp, "nbf": now + 10}), None),
            (
                json!({"exp": exp, "nbf": now + 11}),
                Some(ClaimError::NotYetValid),
            ),
            // nbf at most 60 s (plus the skew) old.
            (json!({"exp": exp, "nbf": now - 70}), None),
            (
                json!({"exp": exp, "nbf": now - 71}),
                Some(ClaimError::NbfTooOld(60)),
            ),
            // iat at most the skew ahead.
            (json!({"exp": exp, "iat": now + 10}), None),
            (
                json!({"exp": exp, "iat": now + 11}),
                Some(ClaimError::IssuedInFuture),
            ),
            // iat at most 60 s old.
            (json!({"exp": exp, "iat": now - 60}), None),
            (
                json!({"exp": exp, "iat": now - 61}),
                Some(ClaimError::TooOld(60)),
            ),
            // exp - iat at most 600 s, and exp after iat.
            (json!({"exp": now + 550, "iat": now - 50}), None),
            (
                json!({"exp": now + 551, "iat": now - 50}),
                Some(ClaimError::LifetimeTooLong(600)),
            ),
            (
                json!({"exp": now + 5, "iat": now + 5}),
                Some(ClaimError::LifetimeTooLong(600)),
            ),
        ];
        for (claims, want) in cases {
            let got = at(claims.clone());
            match want {
                None => assert!(got.is_ok(), "{claims}: {got:?}"),
                Some(e) => assert_eq!(got, Err(e), "{claims}"),
            }
        }
    }

    /// A `jti` is stored only when it is 1 to 256 printable ASCII characters.
    #[test]
    fn ca_1_only_printable_bounded_jtis_are_storable() {
        for ok in [
            "a",
            "!",
            "~",
            "6f1c2d9e-5b7a-4f0e-9d3c-2a1b0c9d8e7f",
            &"j".repeat(256),
        ] {
            assert!(is_storable_jti(ok), "{ok}");
        }
        for bad in ["", " ", "a b", "a\u{0}", "\u{7f}", "é", &"j".repeat(257)] {
            assert!(!is_storable_jti(bad), "{bad:?}");
        }
    }

    /// FAPI 1.0 Adv 5.2.2-13 to the second: `exp` - `nbf` of exactly 60 minutes passes, one
    /// second more does not, and `exp` must come after `nbf`.
    #[test]
    fn az_2_the_nbf_lifetime_is_exact_to_the_second() {
        let w = TimeWindow {
            exp: Presence::Required,
            nbf: Presence::Required,
            max_nbf_lifetime: Some(3600),
            ..TimeWindow::with_skew(10)
        };
        let hour = map(json!({"nbf": 999_000, "exp": 1_002_600}));
        assert!(w.check(&hour, NOW).is_ok());
        let longer = map(json!({"nbf": 999_000, "exp": 1_002_601}));
        assert_eq!(
            w.check(&longer, NOW),
            Err(ClaimError::LifetimeTooLong(3600))
        );
        let empty = map(json!({"nbf": 1_000_005, "exp": 1_000_005}));
        assert_eq!(w.check(&empty, NOW), Err(ClaimError::LifetimeTooLong(3600)));
    }

    /// RFC 7519 2: a NumericDate is read as an integer here; a fractional or a string date is
    /// refused as not a number, and a claim the window ignores is not read at all.
    #[test]
    fn ca_1_time_claims_are_integers_and_ignored_ones_are_not_read() {
        let w = TimeWindow::with_skew(10);
        assert_eq!(
            w.check(&map(json!({"exp": 1_000_100.5})), NOW),
            Err(ClaimError::NotNumber("exp"))
        );
        assert_eq!(
            w.check(&map(json!({"iat": "1000000"})), NOW),
            Err(ClaimError::NotNumber("iat"))
        );
        // Only the skew set: no claim is required; a required one must be there.
        assert_eq!(w.check(&map(json!({})), NOW), Ok(TimeClaims::default()));
        let needs_iat = TimeWindow {
            iat: Presence::Required,
            ..w
        };
        assert_eq!(
            needs_iat.check(&map(json!({"exp": 1_000_100})), NOW),
            Err(ClaimError::Missing("iat"))
        );
        let ignoring = TimeWindow {
            exp: Presence::Ignored,
            ..w
        };
        assert_eq!(
            ignoring.check(&map(json!({"exp": "never"})), NOW),
            Ok(TimeClaims::default())
        );
    }

    #[test]
    fn az_2_request_object_window_bounds_nbf() {
        // FAPI 1.0 Adv 5.2.2-13: exp - nbf <= 60 min, nbf not older than 60 min.
        let w = TimeWindow {
            exp: Presence::Required,
            nbf: Presence::Required,
            max_nbf_lifetime: Some(3600),
            max_nbf_age: Some(3600),
            ..TimeWindow::with_skew(10)
        };
        let ok = map(json!({"nbf": 999_000, "exp": 1_002_000}));
        assert!(w.check(&ok, NOW).is_ok());
        let long = map(json!({"nbf": 999_000, "exp": 1_003_000}));
        assert_eq!(w.check(&long, NOW), Err(ClaimError::LifetimeTooLong(3600)));
        let old = map(json!({"nbf": 990_000, "exp": 1_000_100}));
        assert_eq!(w.check(&old, NOW), Err(ClaimError::NbfTooOld(3600)));
        assert_eq!(
            w.check(&map(json!({"exp": 1_000_100})), NOW),
            Err(ClaimError::Missing("nbf"))
        );
    }
}
