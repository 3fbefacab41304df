-- Images staff attach to notices: re-encoded by Pillow (`cityhall.line.images`), served to LINE
-- and residents' phones at an unguessable public URL (a notice is public; no personal data here).
CREATE TABLE IF NOT EXISTS notice_images (
    image_id    uuid        PRIMARY KEY,
    uploaded_by text        NOT NULL,
    width       integer     NOT NULL,
    height      integer     NOT NULL,
    photo       bytea       NOT NULL,
    thumbnail   bytea       NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
