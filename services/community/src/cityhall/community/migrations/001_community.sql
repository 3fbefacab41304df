-- Where each resident is in the 回覧板 dialog; written with the turn's events and reply.
CREATE TABLE IF NOT EXISTS community_sessions (
    user_id        text        PRIMARY KEY,
    awaiting       text        NOT NULL,
    association_id uuid,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Officers of the associations: residents, not staff, so a store of their own (never
-- staff_accounts). An officer is appointed by 協働推進課 with an invitation code (only its hash
-- is kept), binds their LINE account by sending the code in LINE, and signs in by one-time
-- links sent there. session_epoch ends their sessions (cityhall.web.sessions), as for staff.
CREATE TABLE IF NOT EXISTS community_officers (
    username        text        PRIMARY KEY,
    association_id  uuid        NOT NULL,
    display_name    text        NOT NULL,
    user_id         text        UNIQUE,
    code_hash       text        UNIQUE,
    code_expires_at timestamptz,
    session_epoch   integer     NOT NULL DEFAULT 0,
    disabled        boolean     NOT NULL DEFAULT false,
    appointed_by    text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS community_officers_association ON community_officers (association_id);

-- One-time sign-in links (only the token's hash is kept).
CREATE TABLE IF NOT EXISTS community_signin_links (
    token_hash text        PRIMARY KEY,
    username   text        NOT NULL REFERENCES community_officers (username),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Wrong invitation codes, counted by cityhall.web.portal.accounts.LoginThrottle (the same table
-- as the portal's failed logins, in this service's schema).
CREATE TABLE IF NOT EXISTS login_failures (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL,
    username text        NOT NULL,
    source   text        NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, at);
CREATE INDEX IF NOT EXISTS login_failures_source ON login_failures (source, at);
