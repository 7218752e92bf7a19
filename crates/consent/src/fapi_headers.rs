//! The FAPI request headers a TPP forwards about its customer (OB Read/Write v3.1.10 "Request
//! Headers", FAPI 1.0 Baseline 6.2.2): `x-fapi-auth-date`, the last time the PSU logged in with
//! the TPP (an HTTP-date, RFC 7231 7.1.1.1 IMF-fixdate), and `x-fapi-customer-ip-address`, the
//! PSU's IP address. Both are optional; when sent they must be well formed
//! (`UK.OBIE.Header.Invalid`).

use std::net::IpAddr;

use time::PrimitiveDateTime;
use time::macros::format_description;

use bulwark_store::FapiCustomer;

use crate::error::ConsentError;

/// The two headers, validated, as the consent's audit keeps them (trimmed; absent when not
/// sent). `UK.OBIE.Header.Invalid` when one is malformed.
pub fn customer_headers(
    auth_date: Option<&str>,
    customer_ip: Option<&str>,
) -> Result<FapiCustomer, ConsentError> {
    check_fapi_headers(auth_date, customer_ip)?;
    Ok(FapiCustomer {
        auth_date: auth_date.map(|d| d.trim().to_owned()),
        ip_address: customer_ip.map(|ip| ip.trim().to_owned()),
    })
}

/// Checks the two headers when present.
pub fn check_fapi_headers(
    auth_date: Option<&str>,
    customer_ip: Option<&str>,
) -> Result<(), ConsentError> {
    if let Some(date) = auth_date {
        // RFC 7231 7.1.1.1: IMF-fixdate, and recipients accept the two obsolete forms; the OB
        // specification's own example writes `UTC` for `GMT`.
        let imf = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second]"
        );
        let rfc850 = format_description!(
            "[weekday repr:long], [day]-[month repr:short]-[year] [hour]:[minute]:[second]"
        );
        let asctime = format_description!(
            "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        );
        let date = date.trim();
        let zoned = date
            .strip_suffix(" GMT")
            .or_else(|| date.strip_suffix(" UTC"));
        let ok = match zoned {
            Some(d) => {
                PrimitiveDateTime::parse(d, imf).is_ok()
                    || full_year_rfc850(d)
                        .is_some_and(|d| PrimitiveDateTime::parse(&d, rfc850).is_ok())
            }
            None => PrimitiveDateTime::parse(date, asctime).is_ok(),
        };
        if !ok {
            return Err(ConsentError::InvalidHeader {
                name: "x-fapi-auth-date",
                detail: "must be an HTTP-date such as Sun, 10 Sep 2017 19:43:31 GMT".into(),
            });
        }
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

/// RFC 850 writes a two-digit year: RFC 7231 7.1.1.1 reads it as the nearest past century
/// (here: 70-99 as 19xx, 00-69 as 20xx). `Sunday, 10-Sep-17 19:43:31` ->
/// `Sunday, 10-Sep-2017 19:43:31`.
fn full_year_rfc850(date: &str) -> Option<String> {
    let (head, time) = date.rsplit_once(' ')?;
    let (rest, yy) = head.rsplit_once('-')?;
    if yy.len() != 2 || !yy.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let century = if yy.as_bytes()[0] >= b'7' { "19" } else { "20" };
    Some(format!("{rest}-{century}{yy} {time}"))
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
        // The OB specification's example (UTC), RFC 850 and asctime forms.
        for ok in [
            "Sun, 10 Sep 2017 19:43:31 UTC",
            "Sunday, 10-Sep-17 19:43:31 GMT",
            "Sun Sep 10 19:43:31 2017",
            "Sun Sep  3 19:43:31 2017",
        ] {
            assert!(check_fapi_headers(Some(ok), None).is_ok(), "{ok}");
        }
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
