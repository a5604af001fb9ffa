-- Where each person lives (IANA zone): appointment times are written in it too when it differs
-- from the practitioner's (domain/when.rs).
ALTER TABLE preferences ADD COLUMN time_zone text;
