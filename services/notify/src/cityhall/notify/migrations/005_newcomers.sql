-- The newcomer series: a message on given days after a resident's 転入日, each at a set hour.
-- Staff edit the steps; the defaults are written by notify at start (messages.NEWCOMER_STEPS).
CREATE TABLE IF NOT EXISTS newcomer_steps (
    day        integer     PRIMARY KEY CHECK (day >= 0),
    hour       smallint    NOT NULL CHECK (hour BETWEEN 0 AND 23),
    interest   smallint    NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    updated_by text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Which step each resident got (written with the send's chunks: a step goes to a resident once).
CREATE TABLE IF NOT EXISTS newcomer_sent (
    user_id text    NOT NULL,
    day     integer NOT NULL,
    send_id uuid    NOT NULL,
    PRIMARY KEY (user_id, day)
);

-- A send that is not a drafted notice (the newcomer series) completes without a notice stream.
ALTER TABLE notice_sends ADD COLUMN IF NOT EXISTS series text;
