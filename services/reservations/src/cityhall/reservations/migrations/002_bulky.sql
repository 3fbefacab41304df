-- A bulky-waste pickup's dialog: the district and the items chosen so far (`code:count,…`).
ALTER TABLE reservations_sessions
    ADD COLUMN IF NOT EXISTS district text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS cart     text NOT NULL DEFAULT '';
