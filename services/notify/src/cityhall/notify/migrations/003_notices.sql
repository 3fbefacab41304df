-- An approved notice (a campaign or an emergency alert) being cut into chunks and sent.
CREATE TABLE IF NOT EXISTS notice_sends (
    send_id           uuid        PRIMARY KEY,
    alert             boolean     NOT NULL,
    condition         jsonb       NOT NULL,
    interest          smallint,
    variants          jsonb       NOT NULL,
    not_before        timestamptz NOT NULL,
    approved_at       timestamptz NOT NULL DEFAULT now(),
    cursor            text COLLATE "C",
    next_chunk        integer     NOT NULL DEFAULT 0,
    materialized      boolean     NOT NULL DEFAULT false,
    cancelled         boolean     NOT NULL DEFAULT false,
    skipped_blocked   integer     NOT NULL DEFAULT 0,
    skipped_opted_out integer     NOT NULL DEFAULT 0,
    finished_at       timestamptz
);

-- Up to 500 recipients each, fixed once written: a resend after a crash sends the same chunk
-- under the same retry key, so LINE answers 409 and nobody gets it twice.
CREATE TABLE IF NOT EXISTS notice_chunks (
    send_id          uuid        NOT NULL REFERENCES notice_sends ON DELETE CASCADE,
    idx              integer     NOT NULL,
    variant          smallint    NOT NULL,
    release_at       timestamptz NOT NULL,
    recipients       text[]      NOT NULL,
    size             integer     NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    already_accepted boolean     NOT NULL DEFAULT false,
    line_status      integer,
    error            text,
    sent_at          timestamptz,
    PRIMARY KEY (send_id, idx)
);
CREATE INDEX IF NOT EXISTS notice_chunks_pending ON notice_chunks (release_at) WHERE status = 'pending';
