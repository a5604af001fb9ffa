-- btree_gist lets one exclusion constraint combine equality on a UUID with overlap of ranges.
-- It is a trusted extension, so the database's owning role may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A practitioner is a clinician user (auth's user id) with a public booking profile.
CREATE TABLE practitioners (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL,
    display_name  TEXT NOT NULL,
    specialty     TEXT NOT NULL,
    location      TEXT NOT NULL,
    languages     TEXT[] NOT NULL DEFAULT '{}',
    -- IANA zone name; validated by the service (chrono-tz) before it gets here.
    time_zone     TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT practitioners_user_id_key UNIQUE (user_id)
);
CREATE INDEX practitioners_specialty_location_idx ON practitioners (specialty, location);

-- Weekly template: on ISO weekday `weekday` (1 = Monday), the practitioner sees patients from
-- `start_time` to `end_time`, wall-clock time in the practitioner's zone.
CREATE TABLE availability_windows (
    practitioner_id  UUID NOT NULL REFERENCES practitioners (id) ON DELETE CASCADE,
    weekday          SMALLINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time       TIME NOT NULL,
    end_time         TIME NOT NULL,
    CHECK (end_time > start_time)
);
CREATE INDEX availability_windows_practitioner_idx ON availability_windows (practitioner_id);

-- Exceptions to the template: holidays, absences. No slot overlapping one is offered.
CREATE TABLE availability_exceptions (
    id               UUID PRIMARY KEY,
    practitioner_id  UUID NOT NULL REFERENCES practitioners (id) ON DELETE CASCADE,
    starts_at        TIMESTAMPTZ NOT NULL,
    ends_at          TIMESTAMPTZ NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    CHECK (ends_at > starts_at)
);
CREATE INDEX availability_exceptions_practitioner_idx
    ON availability_exceptions (practitioner_id, starts_at);

CREATE TABLE appointment_types (
    id                UUID PRIMARY KEY,
    name              TEXT NOT NULL,
    duration_minutes  INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT appointment_types_name_key UNIQUE (name)
);

-- Appointments, with FHIR Appointment statuses. The exclusion constraint is what makes double
-- booking impossible: two non-cancelled appointments of one practitioner cannot overlap, however
-- many service instances race to insert them.
CREATE TABLE appointments (
    id                   UUID PRIMARY KEY,
    practitioner_id      UUID NOT NULL REFERENCES practitioners (id),
    patient_id           UUID NOT NULL,
    appointment_type_id  UUID NOT NULL REFERENCES appointment_types (id),
    -- Copied from the practitioner so the same-specialty rule needs no join.
    specialty            TEXT NOT NULL,
    starts_at            TIMESTAMPTZ NOT NULL,
    ends_at              TIMESTAMPTZ NOT NULL,
    status               TEXT NOT NULL DEFAULT 'booked'
                         CHECK (status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow')),
    booked_by            TEXT NOT NULL,
    rescheduled_from     UUID REFERENCES appointments (id),
    rescheduled_to       UUID REFERENCES appointments (id),
    cancelled_at         TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        practitioner_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (status <> 'cancelled')
);
CREATE INDEX appointments_patient_idx ON appointments (patient_id, starts_at);
CREATE INDEX appointments_practitioner_idx ON appointments (practitioner_id, starts_at);

-- Idempotency keys of booking requests, per caller: the request's digest and the answer given.
CREATE TABLE idempotency_keys (
    caller          TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_digest  BYTEA NOT NULL,
    status_code     SMALLINT,
    response        TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Waitlist: a patient waiting for any slot of a practitioner within a time range.
CREATE TABLE waitlist_entries (
    id               UUID PRIMARY KEY,
    patient_id       UUID NOT NULL,
    practitioner_id  UUID NOT NULL REFERENCES practitioners (id) ON DELETE CASCADE,
    window_start     TIMESTAMPTZ NOT NULL,
    window_end       TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL DEFAULT 'waiting'
                     CHECK (status IN ('waiting', 'offered', 'fulfilled', 'expired', 'left')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (window_end > window_start)
);
CREATE INDEX waitlist_waiting_idx ON waitlist_entries (practitioner_id, created_at)
    WHERE status = 'waiting';

-- A freed slot held for one waitlisted patient until `expires_at`; nobody else may book it then.
CREATE TABLE slot_holds (
    id                 UUID PRIMARY KEY,
    practitioner_id    UUID NOT NULL REFERENCES practitioners (id) ON DELETE CASCADE,
    appointment_type_id UUID NOT NULL REFERENCES appointment_types (id),
    starts_at          TIMESTAMPTZ NOT NULL,
    ends_at            TIMESTAMPTZ NOT NULL,
    patient_id         UUID NOT NULL,
    waitlist_entry_id  UUID NOT NULL REFERENCES waitlist_entries (id) ON DELETE CASCADE,
    expires_at         TIMESTAMPTZ NOT NULL,
    -- Set when the holder booked it or the hold expired and was handled.
    released_at        TIMESTAMPTZ
);
CREATE INDEX slot_holds_active_idx ON slot_holds (practitioner_id, starts_at)
    WHERE released_at IS NULL;

-- Transactional outbox: events and reminders are written in the same transaction as the change
-- they describe, and a relay publishes them (FOR UPDATE SKIP LOCKED, so instances never send a
-- row twice) and marks them sent. Reminders are rows due in the future.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID NOT NULL,
    kind            TEXT NOT NULL,
    appointment_id  UUID,
    key             TEXT NOT NULL,
    payload         TEXT NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    cancelled_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One reminder of each kind per appointment, ever.
CREATE UNIQUE INDEX outbox_reminder_once ON outbox (appointment_id, kind)
    WHERE kind IN ('reminder_24h', 'reminder_1h');
CREATE INDEX outbox_pending_idx ON outbox (due_at, id)
    WHERE sent_at IS NULL AND cancelled_at IS NULL;
