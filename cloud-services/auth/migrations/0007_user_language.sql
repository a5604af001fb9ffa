-- The language the platform writes to a user in (portal, notifications): kit/src/language.rs.
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'fr'));
