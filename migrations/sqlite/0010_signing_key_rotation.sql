-- DS-2 key rotation: a key is published (JWKS) from its creation, signs from `activates_at`
-- (so relying parties' JWKS caches hold it before the first token signed with it), and stays
-- published until `retired_at`, which may lie in the future: the moment the last token it
-- signed expires. Keys from before this migration sign at once, as they did.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX signing_keys_published ON signing_keys (retired_at);
