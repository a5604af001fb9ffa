-- Events auth publishes (session revocations on auth.sessions.v1), written in the transaction of
-- the change and relayed by episante_kit::events::outbox.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- A session (refresh-token family) ends at session_started_at + auth.session_max_age_secs,
-- whatever its refreshes. Existing sessions count from now.
ALTER TABLE refresh_tokens ADD COLUMN session_started_at TIMESTAMPTZ NOT NULL DEFAULT now();

ALTER TABLE users
    -- The latest revocation of every session of the user (deactivation, role change, reset):
    -- tokens issued in that same second are refused everywhere, so new ones wait for the next.
    ADD COLUMN sessions_revoked_at TIMESTAMPTZ,
    -- TOTP (RFC 6238): secrets sealed with AES-256-GCM (auth's MFA key), never stored in clear.
    ADD COLUMN mfa_secret BYTEA,
    ADD COLUMN mfa_pending_secret BYTEA,
    ADD COLUMN mfa_enabled_at TIMESTAMPTZ,
    -- The last time step a code was accepted for: a code works once (RFC 6238 §5.2).
    ADD COLUMN mfa_last_step BIGINT;

-- Failed logins per (account, address): the addresses an account's back-off applies to.
CREATE TABLE login_failures (
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    failures        INTEGER NOT NULL,
    last_failed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, address)
);
CREATE INDEX login_failures_age_idx ON login_failures (last_failed_at);

-- Admin-issued one-time password-reset tokens, stored as SHA-256 digests.
CREATE TABLE password_resets (
    token_hash  BYTEA PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- MFA recovery codes (80 random bits each), SHA-256 digests, single use.
CREATE TABLE recovery_codes (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);
