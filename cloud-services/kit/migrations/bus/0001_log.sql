-- The event log of `episante up` (cloud-services/kit/src/events/postgres.rs): one partition per
-- topic, offsets assigned densely by the bus's single writer.
CREATE TABLE bus_topics (
    topic       text PRIMARY KEY,
    -- The next offset to assign: kept when retention has deleted every event of the topic, so
    -- that offsets never go back after a restart.
    next_offset bigint NOT NULL
);

CREATE TABLE bus_events (
    topic        text NOT NULL,
    event_offset bigint NOT NULL,
    key          bytea NOT NULL,
    payload      bytea NOT NULL,
    -- When the bus accepted the event, ms since the epoch (Kafka's CreateTime).
    ts_ms        bigint NOT NULL,
    PRIMARY KEY (topic, event_offset)
);

CREATE TABLE bus_offsets (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    -- The next offset the group reads.
    next_offset    bigint NOT NULL,
    -- Groups not seen for `bus.group_expiry_hours` are forgotten when the bus opens.
    seen_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic)
);
