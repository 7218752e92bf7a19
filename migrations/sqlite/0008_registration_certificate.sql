-- The transport certificate a client registered (and last re-registered) with, as JSON owned
-- by the `dcr` crate (subject, serial, notAfter, profile, PSD2 roles, organisation
-- identifier, thumbprint), so the staff console can show who the TPP proved to be.
ALTER TABLE registrations ADD COLUMN certificate TEXT;
