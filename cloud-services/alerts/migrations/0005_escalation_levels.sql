-- Escalation has levels (domain::alert::LAST_ESCALATION_LEVEL): the care team, then the on-call
-- staff. Alerts escalated before this migration reached the first.
ALTER TABLE alerts ADD COLUMN escalation_level smallint NOT NULL DEFAULT 0;
UPDATE alerts SET escalation_level = 1 WHERE escalated_at IS NOT NULL;
