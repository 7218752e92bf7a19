-- DCR: a new registration is refused while a client of the same software is suspended (a TPP
-- must not undo the bank's suspension by registering again); this finds them.
CREATE INDEX registrations_software_id ON registrations (software_id);
