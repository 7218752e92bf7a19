-- RFC 7009 2.1 and RFC 6749 4.1.2: revoking a refresh token, or reusing a code, revokes every
-- access token of the grant. Access tokens are self-contained and a refresh issues one without
-- a write, so their jtis are not all known: a grant (one per consent, which one code
-- authorises) is revoked as a watermark instead. Its access tokens issued at or before
-- `issued_until` (the revocation's time plus the clock skew, so a refresh racing the
-- revocation, or a node whose clock is behind, mints nothing that escapes it) are refused;
-- the row is kept until the last of them has expired.
CREATE TABLE revoked_grants (
    consent_id   TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    issued_until BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX revoked_grants_expiry ON revoked_grants (expires_at);
