-- The staff console's consent search (CO-5): every filter is served by an index in the
-- order of the page (newest first, keyset on (time, id)), so a page and its capped count stay
-- fast over millions of consents.
CREATE INDEX consents_status ON consents (status, created_at, id);
CREATE INDEX consents_kind ON consents (kind, created_at, id);
CREATE INDEX consents_updated ON consents (status_updated_at, id);
CREATE INDEX consents_status_updated ON consents (status, status_updated_at, id);
