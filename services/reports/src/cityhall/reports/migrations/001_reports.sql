-- Where each resident is in the report dialog; written with the turn's events and reply.
CREATE TABLE IF NOT EXISTS reports_sessions (
    user_id    text             PRIMARY KEY,
    report_id  uuid             NOT NULL,
    awaiting   text             NOT NULL,
    category   text             NOT NULL DEFAULT '',
    photos     text             NOT NULL DEFAULT '',
    latitude   double precision NOT NULL DEFAULT 0,
    longitude  double precision NOT NULL DEFAULT 0,
    district   text             NOT NULL DEFAULT '',
    address    text             NOT NULL DEFAULT '',
    comment    text             NOT NULL DEFAULT '',
    candidates text             NOT NULL DEFAULT '',
    updated_at timestamptz      NOT NULL DEFAULT now()
);

-- Residents' photos (already stripped and resized, and their thumbnails), sealed with a data key
-- per photo wrapped with the resident's key (cityhall.line.content.PhotoStore): forgetting the
-- resident shreds them. Events carry photo ids only.
CREATE TABLE IF NOT EXISTS report_photos (
    photo_id     uuid        PRIMARY KEY,
    user_id      text        NOT NULL,
    report_id    uuid        NOT NULL,
    content_type text        NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size         integer     NOT NULL CHECK (size > 0),
    wrapped_key  text        NOT NULL,
    sealed       bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS report_photos_report ON report_photos (report_id);
CREATE INDEX IF NOT EXISTS report_photos_user ON report_photos (user_id);

-- Staff's after-photos (of the repaired place, no one's personal data): sent to the residents
-- in LINE, so served at an unguessable public address.
CREATE TABLE IF NOT EXISTS report_after_photos (
    photo_id   uuid        PRIMARY KEY,
    report_id  uuid        NOT NULL,
    photo      bytea       NOT NULL,
    thumbnail  bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
