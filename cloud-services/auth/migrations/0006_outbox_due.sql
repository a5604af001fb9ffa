-- The outbox gains due times (episante_kit::events::outbox): one relay, shared with bookings,
-- whose reminders are rows due later. Rows written so far are due now.
ALTER TABLE outbox ADD COLUMN due_at timestamptz NOT NULL DEFAULT clock_timestamp();
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_due ON outbox (due_at, id) WHERE published_at IS NULL;
