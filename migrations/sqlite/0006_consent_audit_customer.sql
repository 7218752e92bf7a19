-- OB Read/Write v3.1.10 request headers kept in the consent's audit: the FAPI headers a TPP
-- forwards about its customer on the request that caused the change (`x-fapi-auth-date`, an
-- HTTP-date, and `x-fapi-customer-ip-address`), as sent, after validation. NULL when not sent
-- or when the change was not a TPP request.
ALTER TABLE consent_audit ADD COLUMN customer_auth_date TEXT;
ALTER TABLE consent_audit ADD COLUMN customer_ip_address TEXT;
