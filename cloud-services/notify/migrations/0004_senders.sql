-- Which sender holds a claim, and each sender's heartbeat: the claims of a sender that stopped
-- beating (killed) are taken over within seconds instead of when their lease runs out
-- (src/dispatcher.rs).
CREATE TABLE senders (
    id      uuid PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE deliveries ADD COLUMN claimed_by uuid;
CREATE INDEX deliveries_claimed ON deliveries (claimed_by)
    WHERE status = 'queued' AND claimed_by IS NOT NULL;
