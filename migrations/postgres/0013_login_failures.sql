-- AZ-6 / CO-5: failed-login counters every node shares (one row per user or address key), so
-- N nodes slow a password guesser down as one node would. Purged once `expires_at` (the later
-- of the block's end and the failure window after the last failure) has passed.
CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    last_failure  BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX login_failures_expiry ON login_failures (expires_at);
