-- Bookings' outbox takes the kit's shape (episante_kit::events::outbox) and is relayed by the
-- kit's relay, like every other service's. A withdrawn reminder is now deleted rather than marked.
DELETE FROM outbox WHERE cancelled_at IS NOT NULL;
DROP INDEX outbox_pending_idx;
ALTER TABLE outbox DROP COLUMN cancelled_at;
ALTER TABLE outbox RENAME COLUMN sent_at TO published_at;
ALTER TABLE outbox ADD COLUMN topic text NOT NULL DEFAULT 'bookings.events.v1';
ALTER TABLE outbox ALTER COLUMN topic DROP DEFAULT;
ALTER TABLE outbox ALTER COLUMN payload TYPE bytea USING convert_to(payload, 'UTF8');
ALTER TABLE outbox ALTER COLUMN due_at SET DEFAULT clock_timestamp();
CREATE INDEX outbox_due ON outbox (due_at, id) WHERE published_at IS NULL;
