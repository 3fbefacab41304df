-- The event store, which is also the outbox: a relay publishes rows in (tx, position) order.
CREATE TABLE IF NOT EXISTS events (
    position    bigserial   PRIMARY KEY,
    tx          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream      text        NOT NULL,
    category    text        NOT NULL,
    version     integer     NOT NULL,
    id          uuid        NOT NULL UNIQUE,
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    metadata    jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_commit_order ON events (tx, position);
CREATE INDEX IF NOT EXISTS events_category ON events (category, tx, position);

-- Where a relay or a projection has got to in the store.
CREATE TABLE IF NOT EXISTS checkpoints (
    name       text        PRIMARY KEY,
    tx         xid8        NOT NULL,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotent consumers: one row per (consumer, message) handled, written with the handler's effects.
CREATE TABLE IF NOT EXISTS inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    handled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- The next offset to read per consumer group and partition, written in the same transaction.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer    text   NOT NULL,
    topic       text   NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

-- Crypto-shredding: one data key per resident; deleting it makes their fields unreadable.
CREATE TABLE IF NOT EXISTS subject_keys (
    subject    text        PRIMARY KEY,
    key        bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS forgotten_subjects (
    subject      text        PRIMARY KEY,
    forgotten_at timestamptz NOT NULL DEFAULT now()
);
