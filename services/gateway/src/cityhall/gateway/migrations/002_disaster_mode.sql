-- Disaster mode as the last DisasterModeSwitched on line.richmenu said (one row), and whether
-- the channel's rich menus were switched to match it: the switcher's to-do, kept across restarts.
CREATE TABLE IF NOT EXISTS disaster_mode (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    switched_on boolean     NOT NULL,
    event_id    uuid        NOT NULL,
    switched_at timestamptz NOT NULL,
    applied_at  timestamptz
);
