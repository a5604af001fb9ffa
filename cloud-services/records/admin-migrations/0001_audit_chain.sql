-- The audit trail (HIPAA 164.312(b)), run by the ADMIN account, not the records role
-- (episante_kit::db::provision_admin_schema; search_path is pg_catalog, so every name is
-- qualified). The schema and its tables belong to the admin: the records role gets USAGE on the
-- schema and SELECT + INSERT on audit.events (SELECT on audit.chain_origin), nothing else, so it
-- cannot drop, truncate, alter, update or delete, although it owns the database.
-- Entries form a keyed chain (src/audit/chain.rs): n is the position (1, 2, 3…), hash the
-- HMAC-SHA-256 of prev_hash and the fields under a key the database never sees.
CREATE TABLE audit.events (
    seq        bigserial PRIMARY KEY,
    n          bigint NOT NULL,
    at         timestamptz NOT NULL,
    service    text NOT NULL,
    actor      text NOT NULL,
    actor_role text NOT NULL,
    patient_id uuid,
    action     text NOT NULL,
    purpose    text NOT NULL,
    detail     text NOT NULL,
    -- Events published by other services (audit.events.v1): the publisher's id, for dedup.
    event_id   uuid,
    -- Moved from the pre-key trail (plain SHA-256); only the chain's first chain_origin entries.
    legacy     boolean NOT NULL DEFAULT false,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    CONSTRAINT events_n_key UNIQUE (n)
);
CREATE INDEX events_patient ON audit.events (patient_id, seq);
CREATE INDEX events_actor ON audit.events (actor, seq);
CREATE INDEX events_event_id ON audit.events (event_id) WHERE event_id IS NOT NULL;

-- Append-only even for the owner (a superuser can still bypass it: the chain and the checkpoints
-- kept outside the database catch that).
CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only';
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- How the chain starts: the number of legacy entries moved in by 0002 (none on fresh installs).
CREATE TABLE audit.chain_origin (
    legacy_entries bigint NOT NULL,
    migrated_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
