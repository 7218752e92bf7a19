-- Registered clients (RFC 7591 metadata as JSON text) and the server's signing keys.
-- Times are Unix seconds from the application clock, so the SQL stays portable.
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_jwk  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);
