-- The device registry. A device authenticates with a client certificate (Organization = its id,
-- which confines its topics) and a secret, stored as a SHA-256 digest (secrets carry 256 random
-- bits, so a fast digest is enough and keeps reconnect storms cheap).
CREATE TABLE devices (
    device_id          TEXT PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9]{1,64}$'),
    label              TEXT NOT NULL DEFAULT '',
    secret_hash        BYTEA NOT NULL,
    revoked_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    credentials_issued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
