-- GW-1: the domestic payments the gateway forwarded and the bank accepted, by the id the bank
-- gave them, with the client and consent they were made under. A payment read
-- (`GET /domestic-payments/{DomesticPaymentId}`, `.../payment-details`) through the gateway is
-- forwarded only for the client that made the payment. Kept like consents (not purged).
CREATE TABLE submitted_payments (
    payment_id  TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    consent_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
