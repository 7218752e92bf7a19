//! The FAPI request headers a TPP forwards about its customer (OB Read/Write v3.1.10 "Request
//! Headers", FAPI 1.0 Baseline 6.2.2): `x-fapi-auth-date`, the last time the PSU logged in with
//! the TPP (an HTTP-date, RFC 7231 7.1.1.1 IMF-fixdate), and `x-fapi-customer-ip-address`, the
//! PSU's IP address. Both are optional; when sent they must be well formed
//! (`UK.OBIE.Header.Invalid`).

use std::net::IpAddr;

use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::error::ConsentError;

/// Checks the two headers when present.
pub fn check_fapi_headers(
    auth_date: Option<&str>,
    customer_ip: Option<&str>,
) -> Result<(), ConsentError> {
    if let Some(date) = auth_date {
        let format = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        PrimitiveDateTime::parse(date, format).map_err(|_| ConsentError::InvalidHeader {
            name: "x-fapi-auth-date",
            detail: "must be an HTTP-date such as Sun, 10 Sep 2017 19:43:31 GMT".into(),
        })?;
    }
    if let Some(ip) = customer_ip
        && ip.trim().parse::<IpAddr>().is_err()
    {
        return Err(ConsentError::InvalidHeader {
            name: "x-fapi-customer-ip-address",
            detail: "must be an IPv4 or IPv6 address".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ob_fapi_headers_are_validated_when_present() {
        assert!(check_fapi_headers(None, None).is_ok());
        assert!(
            check_fapi_headers(Some("Sun, 10 Sep 2017 19:43:31 GMT"), Some("104.25.212.99"))
                .is_ok()
        );
        assert!(check_fapi_headers(None, Some("2001:db8::1")).is_ok());
        for bad in [
            "2017-09-10T19:43:31Z",
            "Sun, 10 Sep 2017 19:43:31 CET",
            "yesterday",
        ] {
            let e = check_fapi_headers(Some(bad), None).unwrap_err().to_ob();
            assert_eq!(
                e.errors[0].error_code.as_str(),
                "UK.OBIE.Header.Invalid",
                "{bad}"
            );
            assert_eq!(e.errors[0].path.as_deref(), Some("x-fapi-auth-date"));
        }
        for bad in ["localhost", "104.25.212.999", "1.2.3.4, 5.6.7.8"] {
            let e = check_fapi_headers(None, Some(bad)).unwrap_err().to_ob();
            assert_eq!(
                e.errors[0].path.as_deref(),
                Some("x-fapi-customer-ip-address"),
                "{bad}"
            );
        }
    }
}
