-- UK Open Banking consents (CO-1..CO-4) and their append-only audit history (CO-2).
-- Times are Unix seconds from the application clock; JSON is stored as text, so the SQL stays
-- portable (PostgreSQL, CockroachDB, YugabyteDB, SQLite).
CREATE TABLE consents (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    status             TEXT NOT NULL,
    psu_id             TEXT,
    body               TEXT NOT NULL,
    selected_accounts  TEXT NOT NULL,
    idempotency_key    TEXT,
    body_hash          TEXT,
    created_at         BIGINT NOT NULL,
    status_updated_at  BIGINT NOT NULL,
    expires_at         BIGINT,
    CONSTRAINT consents_idempotency UNIQUE (client_id, kind, idempotency_key)
);

CREATE INDEX consents_created ON consents (created_at, id);
CREATE INDEX consents_client ON consents (client_id, created_at);
CREATE INDEX consents_psu ON consents (psu_id, created_at);

-- One row per state change, written in the same transaction as the change itself.
CREATE TABLE consent_audit (
    seq          BIGSERIAL PRIMARY KEY,
    consent_id   TEXT NOT NULL REFERENCES consents (id),
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    at           BIGINT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    reason       TEXT
);

CREATE INDEX consent_audit_consent ON consent_audit (consent_id, seq);
