-- The bank staff console (CO-5) and the append-only audit trail of security events (OP-6).
-- Staff passwords are argon2 PHC strings; a session is known by the SHA-256 of its cookie
-- value only, with the CSRF token of its forms.
CREATE TABLE staff_users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES staff_users (username) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

CREATE INDEX staff_sessions_user ON staff_sessions (username);

CREATE TABLE audit_events (
    seq        BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT,
    reason     TEXT,
    request_id TEXT
);

CREATE INDEX audit_events_at ON audit_events (at, seq);
