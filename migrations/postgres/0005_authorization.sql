-- Authorization flows (AZ-1..AZ-8, TK-2, TK-3). Every single-use artefact is claimed by a
-- conditional UPDATE or DELETE on its primary key, so N nodes on one database stay correct.
-- Secrets a browser or a TPP holds (session cookie, code, refresh token) are stored as SHA-256
-- hashes only; request_uri values are public references, stored as they are.

-- AZ-1: pushed authorization requests. A browser may open /authorize with one again until
-- the authorization completes (a reload); the PSU's decision deletes it in the same transaction
-- that records the decision, so it completes at most once on every node.
CREATE TABLE pushed_requests (
    request_uri  TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    request      TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);

-- One PSU's walk through login and consent for one validated authorization request.
CREATE TABLE authz_interactions (
    id            TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    csrf          TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    consent_id    TEXT NOT NULL,
    request       TEXT NOT NULL,
    request_uri   TEXT,
    psu_id        TEXT,
    psu_name      TEXT,
    auth_time     BIGINT,
    acr           TEXT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX authz_interactions_expiry ON authz_interactions (expires_at);

-- TK-2: authorization codes. used_at is set by the one exchange that wins; the tokens issued
-- from the code are recorded so a second use can revoke them.
CREATE TABLE authorization_codes (
    code_hash     TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    consent_id    TEXT NOT NULL,
    grant_data    TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    issued_jti    TEXT,
    issued_exp    BIGINT,
    refresh_hash  TEXT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- TK-3: refresh tokens, bound to client and consent.
CREATE TABLE refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    consent_id   TEXT NOT NULL,
    grant_data   TEXT NOT NULL,
    issued_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX refresh_tokens_consent ON refresh_tokens (consent_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- AZ-6: the demo PSU directory (a bank replaces it with its own behind the PsuDirectory trait).
CREATE TABLE psus (
    username       TEXT PRIMARY KEY,
    subject        TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE psu_accounts (
    subject         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    scheme          TEXT NOT NULL,
    identification  TEXT NOT NULL,
    currency        TEXT NOT NULL,
    PRIMARY KEY (subject, account_id)
);

-- A logged-in PSU's browser session (single sign-on across authorizations).
CREATE TABLE psu_sessions (
    session_hash  TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    auth_time     BIGINT NOT NULL,
    acr           TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX psu_sessions_expiry ON psu_sessions (expires_at);
