-- Which text of a consent the patient agreed to (e.g. the portal's `2026-12` data-processing
-- notice): with `recorded_at`, the proof GDPR art. 7(1) asks for.
ALTER TABLE consents ADD COLUMN version text;
