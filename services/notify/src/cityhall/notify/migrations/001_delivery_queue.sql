-- Requests notify has taken from line.outbound and not yet settled with LINE. A row is written
-- with the consumer's inbox row and deleted in the transaction that records its outcome.
CREATE TABLE IF NOT EXISTS delivery_queue (
    seq                bigserial   PRIMARY KEY,
    tx                 xid8        NOT NULL DEFAULT pg_current_xact_id(),
    request_id         uuid        NOT NULL UNIQUE,
    key                text        NOT NULL,
    request            jsonb       NOT NULL,
    correlation_id     text,
    traceparent        text,
    enqueued_at        timestamptz NOT NULL DEFAULT now(),
    -- Set, and committed, before a reply is sent: a resend then knows the token may be used.
    reply_attempted_at timestamptz,
    -- A multicast's blocked recipients, fixed before its first chunk is sent.
    skipped            jsonb
);
CREATE INDEX IF NOT EXISTS delivery_queue_commit_order ON delivery_queue (tx, seq);
