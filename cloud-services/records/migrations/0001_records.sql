-- Patients: identity encrypted (AES-256-GCM under a data key wrapped by Vault transit), searchable
-- only through blind indexes (keyed HMACs).
CREATE TABLE patients (
    id                uuid PRIMARY KEY,
    user_id           uuid,
    status            text NOT NULL DEFAULT 'active',
    wrapped_key       text NOT NULL,
    identity          bytea NOT NULL,
    name_index        bytea[] NOT NULL,
    national_id_index bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT patients_status_check CHECK (status IN ('active', 'archived')),
    CONSTRAINT patients_user_id_key UNIQUE (user_id),
    CONSTRAINT patients_national_id_key UNIQUE (national_id_index)
);
CREATE INDEX patients_name_index ON patients USING gin (name_index);

CREATE TABLE history_entries (
    id          uuid PRIMARY KEY,
    patient_id  uuid NOT NULL REFERENCES patients (id),
    kind        text NOT NULL CHECK (kind IN ('condition', 'allergy', 'medication', 'note')),
    wrapped_key text NOT NULL,
    content     bytea NOT NULL,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_entries_patient ON history_entries (patient_id, recorded_at);

CREATE TABLE consents (
    patient_id  uuid NOT NULL REFERENCES patients (id),
    scope       text NOT NULL,
    granted     boolean NOT NULL,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, scope)
);

CREATE TABLE care_teams (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT care_teams_name_key UNIQUE (name)
);
CREATE TABLE care_team_members (
    team_id      uuid NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    clinician_id uuid NOT NULL,
    PRIMARY KEY (team_id, clinician_id)
);
CREATE INDEX care_team_members_clinician ON care_team_members (clinician_id);
CREATE TABLE care_team_patients (
    team_id    uuid NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    patient_id uuid NOT NULL REFERENCES patients (id),
    PRIMARY KEY (team_id, patient_id)
);
CREATE INDEX care_team_patients_patient ON care_team_patients (patient_id);

-- A device belongs to at most one patient at a time.
CREATE TABLE device_assignments (
    device_id   text PRIMARY KEY,
    patient_id  uuid NOT NULL REFERENCES patients (id),
    assigned_by text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_assignments_patient ON device_assignments (patient_id);

-- The audit trail (HIPAA 164.312(b)). Hash-chained; after migrations the service hands the table
-- to the admin account and keeps only SELECT and INSERT (episante_kit::db::make_append_only). The
-- trigger refuses UPDATE, DELETE and TRUNCATE even to the owner.
CREATE TABLE audit_events (
    seq        bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    actor_role text NOT NULL,
    patient_id uuid,
    action     text NOT NULL,
    purpose    text NOT NULL,
    detail     text NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL
);
CREATE INDEX audit_events_patient ON audit_events (patient_id, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
