//! Content negotiation of the consent APIs (OB Read/Write v3.1.10, "Request Headers"): bodies
//! are `application/json` (with a `charset=utf-8` and a `q` parameter, which the spec lets a TPP
//! add; the JWE form is not offered), answers are `application/json`, so an `Accept` that
//! admits neither it nor a wildcard is 406 and another body type 415.

use crate::error::ConsentError;

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A request body's `Content-Type` must be `application/json`.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ConsentError> {
    let Some(ct) = content_type else {
        return Err(ConsentError::UnsupportedMediaType("absent".into()));
    };
    let params_ok = ct.split(';').skip(1).all(|p| {
        let p = p.trim().to_ascii_lowercase();
        match p.split_once('=') {
            None => p.is_empty(),
            Some(("charset", value)) => value == "utf-8" || value == "\"utf-8\"",
            Some(("q", value)) => is_qvalue(value),
            Some(_) => false,
        }
    });
    if media_type(ct) == "application/json" && params_ok {
        Ok(())
    } else {
        Err(ConsentError::UnsupportedMediaType(
            ct.chars().take(100).collect(),
        ))
    }
}

/// A weight (RFC 9110 12.4.2): `0` to `1` with at most three decimals.
fn is_qvalue(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit());
    match int {
        "0" => digits,
        "1" => digits && frac.bytes().all(|b| b == b'0'),
        _ => false,
    }
}

/// An `Accept` header, when sent, must admit `application/json`.
pub fn check_accept(accept: Option<&str>) -> Result<(), ConsentError> {
    let Some(accept) = accept else {
        return Ok(());
    };
    let admits = accept.split(',').any(|range| {
        let quality_zero = range
            .split(';')
            .skip(1)
            .any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        !quality_zero
            && matches!(
                media_type(range).as_str(),
                "application/json" | "application/*" | "*/*"
            )
    });
    if admits {
        Ok(())
    } else {
        Err(ConsentError::NotAcceptable(
            accept.chars().take(100).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ob_content_negotiation() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            // OB "Request Headers": the TPP may add a q value as well as the charset.
            "application/json; q=1",
            "application/json;q=0.5; charset=utf-8",
            "application/json; Q=1.000",
        ] {
            assert!(check_content_type(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            None,
            Some("text/plain"),
            Some("application/jose+jwe"),
            Some("application/json; charset=latin1"),
            Some("application/json; q=1; charset=latin1"),
            Some("application/json; q=2"),
            Some("application/json; q=1.5"),
            Some("application/json; q=high"),
            Some("application/json; q="),
            Some("application/json; version=1"),
            Some("application/x-www-form-urlencoded"),
        ] {
            assert_eq!(
                check_content_type(bad).unwrap_err().to_ob().status,
                415,
                "{bad:?}"
            );
        }
        for ok in [
            None,
            Some("application/json"),
            Some("*/*"),
            Some("text/html, application/*;q=0.5"),
            Some("application/json;q=0.9"),
        ] {
            assert!(check_accept(ok).is_ok(), "{ok:?}");
        }
        for bad in ["text/html", "application/xml", "application/json;q=0"] {
            assert_eq!(
                check_accept(Some(bad)).unwrap_err().to_ob().status,
                406,
                "{bad}"
            );
        }
    }
}
