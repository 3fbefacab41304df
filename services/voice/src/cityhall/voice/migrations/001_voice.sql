-- Where each resident is in the opinion dialog; written with the turn's events and reply.
CREATE TABLE IF NOT EXISTS voice_sessions (
    user_id    text        PRIMARY KEY,
    opinion_id uuid        NOT NULL,
    awaiting   text        NOT NULL,
    category   text        NOT NULL DEFAULT '',
    draft      text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
