-- TK-3 with rotation on, FAPI 2.0 SP 5.3.2.1: a rotated refresh token stays usable until the
-- token it was rotated into is first used, so a client that lost the response retries with
-- the one it has. `replaces` names that predecessor while the new token is unused.
ALTER TABLE refresh_tokens ADD COLUMN replaces TEXT;
CREATE INDEX refresh_tokens_replaces ON refresh_tokens (replaces) WHERE replaces IS NOT NULL;
