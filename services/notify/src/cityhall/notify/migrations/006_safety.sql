-- 安否確認: a check sent to districts (through the alert lane), and each resident's answer.
ALTER TABLE notify_sessions ADD COLUMN IF NOT EXISTS safety text NOT NULL DEFAULT '';

CREATE TABLE IF NOT EXISTS safety_checks (
    check_id   uuid        PRIMARY KEY,
    title      text        NOT NULL,
    condition  jsonb       NOT NULL,
    started_by text        NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);

-- The note and the location are personal data, sealed with the resident's key.
CREATE TABLE IF NOT EXISTS safety_answers (
    check_id    uuid        NOT NULL REFERENCES safety_checks,
    user_id     text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('safe', 'help')),
    district    smallint,
    note        text,
    location    text,
    answered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (check_id, user_id)
);
