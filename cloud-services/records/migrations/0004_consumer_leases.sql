-- Which records instance reads which partitions of audit.events.v1 (episante_kit::events::leases): members
-- renew themselves, leases expire unless renewed, and every batch transaction checks its leases.
CREATE TABLE consumer_members (
    grp     text NOT NULL,
    member  text NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (grp, member)
);

CREATE TABLE consumer_leases (
    grp        text NOT NULL,
    topic      text NOT NULL,
    part       integer NOT NULL,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (grp, topic, part)
);
