-- OB idempotency of payment submissions (Read/Write API profile, "Idempotency"): the
-- x-idempotency-key and canonical body hash of the submission that consumed each domestic
-- payment consent at the gateway. The same submission sent again within 24 hours (its answer
-- was lost) is forwarded to the bank again, which answers it with the payment it made, instead
-- of being refused as a second payment of a consumed consent. Kept like consents.
CREATE TABLE payment_submissions (
    consent_id       TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    body_hash        TEXT NOT NULL,
    submitted_at     BIGINT NOT NULL
);
