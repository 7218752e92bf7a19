-- GW-1: one consent pays once. The payments recorded under a consent are found by it: the
-- gateway notices a bank answering a resent submission with another payment (it may have paid
-- twice), and `bulwark payments record` refuses a second payment for a consent.
CREATE INDEX submitted_payments_consent ON submitted_payments (consent_id);
