-- Where a resident is in the 配信設定 dialog; written with the turn's reply.
CREATE TABLE IF NOT EXISTS notify_sessions (
    user_id    text        PRIMARY KEY,
    awaiting   text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A resident's 配信設定, sealed with their key (personal data; see preferences.py).
CREATE TABLE IF NOT EXISTS preferences (
    user_id    text        PRIMARY KEY,
    sealed     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What segments select on: small integer codes derived from the preferences, one row per
-- friend (defaults until they set any). Deleted with the resident's key. "C" collation: the
-- sender walks it in user_id order.
CREATE TABLE IF NOT EXISTS audience (
    user_id     text COLLATE "C" PRIMARY KEY,
    blocked     boolean  NOT NULL DEFAULT false,
    district    smallint,
    school      smallint,
    interests   smallint[] NOT NULL,
    children    int[]    NOT NULL DEFAULT '{}',
    moved_in    date,
    language    smallint NOT NULL DEFAULT 0,
    quiet_start smallint,
    quiet_end   smallint
);
CREATE INDEX IF NOT EXISTS audience_district ON audience (district);
CREATE INDEX IF NOT EXISTS audience_interests ON audience USING gin (interests);
CREATE INDEX IF NOT EXISTS audience_children ON audience USING gin (children);
