-- Alert pages, SMS and the portal's bell, preferences (cloud-services/notify/src/domain/preferences.rs).

ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check
    CHECK (channel IN ('email', 'sms', 'portal'));
-- `digested`: a page folded into its recipient's digest (kept for the log, not sent alone).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('queued', 'sent', 'failed', 'withdrawn', 'digested'));
ALTER TABLE deliveries
    ADD COLUMN alert_id uuid,
    -- The SMS body (short); NULL for other channels.
    ADD COLUMN body_sms text,
    -- Portal messages: when the recipient read it.
    ADD COLUMN read_at timestamptz,
    -- Digests: how many pages it stands for ({count} in its text, filled in when sent).
    ADD COLUMN digest_count integer NOT NULL DEFAULT 0;
CREATE INDEX deliveries_unread ON deliveries (recipient_id)
    WHERE channel = 'portal' AND read_at IS NULL;
-- Recent pages per recipient (the digest threshold).
CREATE INDEX deliveries_pages ON deliveries (recipient_id, channel, created_at)
    WHERE kind IN ('alert_page', 'alert_escalated');

-- Who cares for whom, from records.care-teams.v1 (the latest event per patient is the truth).
CREATE TABLE care_teams (
    patient_id uuid PRIMARY KEY,
    clinicians uuid[] NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Alerts as their events last described them: what a page is checked against at send time.
CREATE TABLE alerts (
    id         uuid PRIMARY KEY,
    active     boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE preferences (
    user_id     uuid PRIMARY KEY,
    -- E.164.
    phone       text,
    -- Message kind -> channels chosen; kinds absent go everywhere.
    channels    jsonb NOT NULL DEFAULT '{}',
    quiet_start time,
    quiet_end   time,
    quiet_zone  text,
    on_call     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL) AND (quiet_start IS NULL) = (quiet_zone IS NULL))
);
CREATE INDEX preferences_on_call ON preferences (user_id) WHERE on_call;
