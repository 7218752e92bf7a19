-- AZ-8: secrets every node must hold alike, generated once by whichever node starts first and
-- read by the others (today the pairwise subject salt: a salt per node would give one PSU a
-- different `sub` on each node, and a new one whenever a node is replaced). A configured value
-- (`[pages] pairwise_salt`) takes precedence and is not stored here.
CREATE TABLE shared_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
