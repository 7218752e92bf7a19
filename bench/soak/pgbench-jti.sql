-- One client-assertion jti claim as Bulwark's store makes it (single-row form; under load the
-- store batches many into one statement). `pgbench -n -c 16 -T 30 -f bench/soak/pgbench-jti.sql`
-- against a database migrated by `bulwark migrate` gives the inserts per second one primary takes.
INSERT INTO used_jtis (namespace, jti, expires_at)
VALUES ('pgbench', md5(random()::text || clock_timestamp()::text), extract(epoch FROM now())::bigint + 600)
ON CONFLICT (namespace, jti) DO NOTHING;
