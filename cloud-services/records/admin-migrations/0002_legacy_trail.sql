-- Entries written before the chain was keyed (public.audit_events, plain SHA-256) move into
-- audit.events unchanged, flagged legacy, as the chain's prefix; their count is recorded in
-- audit.chain_origin so no later insert can pass for a legacy entry. Only a plain table the admin
-- account owns is trusted (the old make_append_only handed it over): one the records role owns
-- could have been rewritten, or replaced by a view that would run the role's code as the admin.
DO $$
DECLARE
    moved bigint := 0;
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
        WHERE s.nspname = 'public' AND c.relname = 'audit_events' AND c.relkind = 'r'
          AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
    ) THEN
        INSERT INTO audit.events
            (n, at, service, actor, actor_role, patient_id, action, purpose, detail, legacy,
             prev_hash, hash)
        SELECT pg_catalog.row_number() OVER (ORDER BY a.seq), a.at, 'records', a.actor,
               a.actor_role, a.patient_id, a.action, a.purpose, a.detail, true, a.prev_hash,
               a.hash
        FROM public.audit_events a ORDER BY a.seq;
        GET DIAGNOSTICS moved = ROW_COUNT;
        DROP TABLE public.audit_events;
    END IF;
    INSERT INTO audit.chain_origin (legacy_entries) VALUES (moved);
END;
$$;
