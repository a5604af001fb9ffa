-- Addresses each account signed in from: a sign-in from one not seen before is a security
-- notice to the person (auth.security.v1; notify writes to them).
CREATE TABLE sign_in_addresses (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    text NOT NULL,
    first_at   timestamptz NOT NULL DEFAULT now(),
    last_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, address)
);
