-- RFC 7591 / 7592 dynamic registrations (DCR-4): the registration access token is kept only as
-- its SHA-256 hash; the organisation the SSA named is kept so management requests can be held to
-- a transport certificate of the same organisation. One row per dynamically registered client,
-- written and deleted in the same transaction as its `clients` row.
CREATE TABLE registrations (
    client_id      TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL,
    software_id    TEXT NOT NULL,
    organisation   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
