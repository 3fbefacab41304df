-- Identity-document photos, sealed with a data key per photo; the data key is kept wrapped
-- with the resident's own key (subject_keys), so forgetting the resident shreds the photo too.
-- The photo never enters an event: events carry photo_id.
CREATE TABLE IF NOT EXISTS id_photos (
    photo_id     uuid        PRIMARY KEY,
    user_id      text        NOT NULL,
    request_id   uuid        NOT NULL,
    content_type text        NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size         integer     NOT NULL CHECK (size > 0),
    wrapped_key  text        NOT NULL,
    sealed       bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS id_photos_request ON id_photos (request_id);
CREATE INDEX IF NOT EXISTS id_photos_user ON id_photos (user_id);

-- Where each resident is in the request dialog: which draft, which question is open.
-- Written in the same transaction as the events the answer produced.
CREATE TABLE IF NOT EXISTS dialog_sessions (
    user_id    text        PRIMARY KEY,
    request_id uuid        NOT NULL,
    awaiting   text        NOT NULL,
    editing    boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
