-- A booking's writes in one statement, so the common booking is one round trip (and can commit
-- on its own, without BEGIN and COMMIT round trips around it). In order, each statement with a
-- fresh snapshot (a VOLATILE PL/pgSQL function under READ COMMITTED):
--   1. the practitioner's advisory lock (a crowd racing for one slot queues instead of waiting
--      on each other's uncommitted index entries) and, when the same-specialty rule applies, the
--      patient's — always in this order;
--   2. the same-specialty rule: SQLSTATE EB001, DETAIL the other appointment's start;
--   3. the appointment and its outbox rows (the exclusion constraint refuses any overlap);
--   4. waitlist holds on the slot, in a later statement than the insert: a hold committed by a
--      cancellation our insert waited for is seen. Someone else's: SQLSTATE EB002, DETAIL its
--      expiry (the whole statement, insert included, is undone). The patient's own: released,
--      their waitlist entry fulfilled.
-- The rules' parameters (the exclusion window) are decided by the service (src/domain/rules.rs).
CREATE FUNCTION place_appointment(
    p_id uuid, p_practitioner uuid, p_patient uuid, p_type uuid, p_specialty text,
    p_starts timestamptz, p_ends timestamptz, p_booked_by text, p_rescheduled_from uuid,
    p_exclusion_start timestamptz, p_exclusion_end timestamptz,
    p_event_ids uuid[], p_kinds text[], p_appointment_ids uuid[], p_keys text[],
    p_payloads text[], p_due timestamptz[], p_topic text
) RETURNS SETOF appointments LANGUAGE plpgsql AS $$
DECLARE
    other_start timestamptz;
    hold record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_practitioner::text, 11));
    IF p_exclusion_start IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_patient::text, 7));
        SELECT starts_at INTO other_start FROM appointments
         WHERE patient_id = p_patient AND specialty = p_specialty
           AND status IN ('booked', 'arrived')
           AND starts_at >= p_exclusion_start AND starts_at < p_exclusion_end
         ORDER BY starts_at LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'same specialty too close' USING ERRCODE = 'EB001',
                DETAIL = to_char(other_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        END IF;
    END IF;

    INSERT INTO appointments (id, practitioner_id, patient_id, appointment_type_id, specialty,
        starts_at, ends_at, booked_by, rescheduled_from)
    VALUES (p_id, p_practitioner, p_patient, p_type, p_specialty, p_starts, p_ends, p_booked_by,
        p_rescheduled_from);
    INSERT INTO outbox (topic, event_id, kind, appointment_id, key, payload, due_at)
    SELECT p_topic, u.e, u.k, u.appt, u.key, convert_to(u.p, 'UTF8'), u.d
    FROM UNNEST(p_event_ids, p_kinds, p_appointment_ids, p_keys, p_payloads, p_due)
        AS u (e, k, appt, key, p, d);

    FOR hold IN
        SELECT id, patient_id, waitlist_entry_id, expires_at FROM slot_holds
         WHERE practitioner_id = p_practitioner AND released_at IS NULL AND expires_at > now()
           AND starts_at < p_ends AND ends_at > p_starts
         ORDER BY starts_at
    LOOP
        IF hold.patient_id <> p_patient THEN
            RAISE EXCEPTION 'slot held' USING ERRCODE = 'EB002',
                DETAIL = to_char(hold.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        END IF;
        UPDATE slot_holds SET released_at = now() WHERE id = hold.id;
        UPDATE waitlist_entries SET status = 'fulfilled' WHERE id = hold.waitlist_entry_id;
    END LOOP;

    RETURN QUERY SELECT * FROM appointments WHERE id = p_id;
END
$$;
