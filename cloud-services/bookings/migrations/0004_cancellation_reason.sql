-- Who cancelled an appointment and why: the patient is told (notify), and the practice's reason
-- is shown to them.
ALTER TABLE appointments
    ADD COLUMN cancelled_by text CHECK (cancelled_by IN ('patient', 'practice')),
    ADD COLUMN cancellation_reason text CHECK (char_length(cancellation_reason) <= 500);
