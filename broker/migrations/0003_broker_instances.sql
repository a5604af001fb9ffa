-- A device is online only while the broker instance holding its session is alive: an instance
-- that dies without saying goodbye (kill -9, power loss) stops refreshing `seen_at`, and its
-- devices read as offline within seconds instead of forever.
CREATE TABLE broker_instances (
    instance_id TEXT PRIMARY KEY,
    seen_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
ALTER TABLE device_health ADD COLUMN instance_id TEXT;
