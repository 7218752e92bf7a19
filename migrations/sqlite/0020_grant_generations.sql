-- CO-5, RFC 7009 2.1, RFC 6749 4.1.2: revoking a consent's grant must not kill the tokens of a
-- re-authentication that follows it, whatever the nodes' clocks say. An `iat` watermark cannot
-- tell them apart within the clock skew it allows for, so each code the PSU's decision issues
-- opens the consent's next grant generation (counted on the consent, in the decision's
-- transaction); the code, the refresh tokens issued from it and the access tokens they issue
-- (claim `grant_generation`) carry it, and a revocation names the generation it reaches: what
-- carries a generation at or below it is revoked, a later one is not.
ALTER TABLE consents ADD COLUMN grant_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE authorization_codes ADD COLUMN grant_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN grant_generation BIGINT NOT NULL DEFAULT 0;
-- NULL: a revocation written before generations existed, whose `iat` watermark judges every
-- token of the grant until the grant is revoked again and so given a generation. Tokens
-- without the claim (issued before) are judged by `iat` always. Nodes of an earlier version
-- know nothing of generations: stop them all before a node of this version starts
-- (docs/operations.md, "Upgrading").
ALTER TABLE revoked_grants ADD COLUMN generation_until BIGINT;
