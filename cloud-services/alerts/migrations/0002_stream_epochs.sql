-- Readings are deduplicated by (epoch, seq), not seq alone (episante_protocol::stream): a hub that
-- loses its buffer starts its seqs over in a new, larger epoch, and a single huge seq can no
-- longer swallow a device's later readings for good. Existing rows are epoch 0 (hubs that predate
-- epochs send 0).
ALTER TABLE device_progress ADD COLUMN last_epoch bigint NOT NULL DEFAULT 0 CHECK (last_epoch >= 0);

-- When the consumer last accepted one of the device's readings into the rollups: what the dropout
-- watchdog keys on, so a device that only sends duplicates counts as silent. Existing rows start
-- from the migration.
ALTER TABLE device_progress ADD COLUMN accepted_at timestamptz NOT NULL DEFAULT now();
