-- Which patient each device feeds, and which clinicians see each patient: both rebuilt from the
-- records service's events (records.device-assignments.v1, records.care-teams.v1).
CREATE TABLE device_patients (
    device_id  text PRIMARY KEY,
    patient_id uuid NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_patients_patient ON device_patients (patient_id);

CREATE TABLE patient_clinicians (
    patient_id   uuid NOT NULL,
    clinician_id uuid NOT NULL,
    PRIMARY KEY (patient_id, clinician_id)
);
CREATE INDEX patient_clinicians_clinician ON patient_clinicians (clinician_id);

-- Deduplication: the highest reading seq applied per device (Kafka keeps per-device order).
CREATE TABLE device_progress (
    device_id text PRIMARY KEY,
    last_seq  bigint NOT NULL,
    last_ts   timestamptz NOT NULL
);

-- Readings are stored as per-minute rollups per device, attributed to the patient the device fed
-- at the time (NULL: unassigned).
CREATE TABLE vitals_minute (
    device_id  text NOT NULL,
    vital      text NOT NULL,
    minute     timestamptz NOT NULL,
    patient_id uuid,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    sum        double precision NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (device_id, vital, minute)
);
CREATE INDEX vitals_minute_patient ON vitals_minute (patient_id, vital, minute);

-- Clinicians' per-patient rule overrides (validated JSON, see domain::rules).
CREATE TABLE patient_rules (
    patient_id uuid PRIMARY KEY,
    rules      jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id                  uuid PRIMARY KEY,
    patient_id          uuid NOT NULL,
    device_id           text NOT NULL,
    rule_key            text NOT NULL,
    vital               text,
    severity            text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    state               text NOT NULL CHECK (state IN ('active', 'acknowledged', 'resolved')),
    message             text NOT NULL,
    first_value         double precision,
    last_value          double precision,
    occurrences         integer NOT NULL DEFAULT 1,
    triggered_at        timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    reading_received_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    acknowledged_at     timestamptz,
    acknowledged_by     text,
    resolved_at         timestamptz,
    resolved_by         text,
    resolution_note     text,
    assigned_to         uuid,
    escalated_at        timestamptz
);
-- One alert per episode: at most one open alert per patient and rule.
CREATE UNIQUE INDEX alerts_one_open_episode ON alerts (patient_id, rule_key) WHERE state <> 'resolved';
CREATE INDEX alerts_patient ON alerts (patient_id, created_at);
CREATE INDEX alerts_open ON alerts (created_at) WHERE state <> 'resolved';

-- Every change of every alert: the alert's history, the SSE stream's source (ids are SSE event
-- ids), and what webhooks deliver.
CREATE TABLE alert_events (
    id         bigserial PRIMARY KEY,
    alert_id   uuid NOT NULL REFERENCES alerts (id),
    patient_id uuid NOT NULL,
    kind       text NOT NULL,
    actor      text,
    note       text,
    at         timestamptz NOT NULL DEFAULT now(),
    snapshot   jsonb NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);
CREATE INDEX alert_events_patient ON alert_events (patient_id, id);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES alert_events (id),
    url             text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up         boolean NOT NULL DEFAULT false,
    last_error      text
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND NOT gave_up;

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE FUNCTION severity_rank(s text) RETURNS integer IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE s WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END
$$;
