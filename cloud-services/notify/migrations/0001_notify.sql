-- The notify service's database (cloud-services/notify). Messages are rows: a restart loses
-- none, a redelivered event adds none (one row per event, channel and recipient), and the rows
-- are the delivery log admins and recipients read.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email')),
    recipient_id    uuid NOT NULL,
    -- Where it went (an email address), as it was when the message was written.
    address         text NOT NULL,
    kind            text NOT NULL,
    language        text NOT NULL,
    subject         text NOT NULL,
    body_text       text NOT NULL,
    body_html       text NOT NULL,
    -- The calendar invitation (.ics) attached, if any.
    invitation      text,
    appointment_id  uuid,
    -- When the appointment started as the event said it (reminders are checked against it).
    starts_at       timestamptz,
    hold_expires_at timestamptz,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'failed', 'withdrawn')),
    attempts        integer NOT NULL DEFAULT 0,
    -- Queued: when to try (a claim pushes it forward, so a crashed sender's claim expires).
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Why it failed, was retried or was withdrawn.
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (event_id, channel, recipient_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_by_recipient ON deliveries (recipient_id, created_at DESC);
CREATE INDEX deliveries_by_time ON deliveries (created_at DESC);

-- Appointments as the booking events last described them: what a reminder is checked against
-- when it is about to be sent.
CREATE TABLE appointments (
    id         uuid PRIMARY KEY,
    booked     boolean NOT NULL,
    starts_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
