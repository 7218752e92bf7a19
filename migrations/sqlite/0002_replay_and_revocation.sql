-- Single-use records (client assertion jti, DCR request jti, ...) claimed with a primary key so
-- every node sharing the database refuses a replay; kept until the artefact's own expiry.
CREATE TABLE used_jtis (
    namespace   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (namespace, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);

-- Revoked access tokens (RFC 7009): only the jti, until the token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
