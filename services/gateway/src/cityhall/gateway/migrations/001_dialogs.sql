-- Which domain's dialog each resident is in: where their free text, photos and locations go.
-- Set by postbacks (their data names a domain) and by DialogClaimed / DialogReleased on line.dialogs.
CREATE TABLE IF NOT EXISTS dialogs (
    user_id    text        PRIMARY KEY,
    domain     text        NOT NULL,
    updated_at timestamptz NOT NULL
);
