-- A session cookie carries its account's epoch at login; bumping the epoch (logout, disable,
-- a role change) ends every session issued before (see cityhall.web.sessions).
ALTER TABLE staff_accounts ADD COLUMN IF NOT EXISTS session_epoch integer NOT NULL DEFAULT 0;

-- Failed logins, shared by every portal replica (see cityhall.web.portal.accounts.LoginThrottle).
CREATE TABLE IF NOT EXISTS login_failures (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL,
    username text        NOT NULL,
    source   text        NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, at);
CREATE INDEX IF NOT EXISTS login_failures_source ON login_failures (source, at);
