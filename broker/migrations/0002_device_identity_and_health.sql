-- Identity: the serial of the device's current client certificate. A certificate the registry
-- does not know as current (an old one after rotation) is refused. NULL for devices registered
-- before serials were kept: any certificate of theirs signed by the device CA is accepted.
ALTER TABLE devices ADD COLUMN cert_serial TEXT;

-- Fleet health, written by the broker instances in batches (src/fleet.rs): connection state,
-- what the device last did, and where its reading stream stands (protocol `stream` rule).
CREATE TABLE device_health (
    device_id          TEXT PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    online             BOOLEAN NOT NULL DEFAULT false,
    last_connect_at    TIMESTAMPTZ,
    last_disconnect_at TIMESTAMPTZ,
    last_reading_at    TIMESTAMPTZ,
    last_status_at     TIMESTAMPTZ,
    backlog            BIGINT,
    agent_version      TEXT,
    stream_epoch       BIGINT NOT NULL DEFAULT 0,
    stream_seq         BIGINT NOT NULL DEFAULT 0
);
