-- The audit log: who looked at or did what, when. Every service with staff pages includes
-- `cityhall.web` in its ServiceSpec.migrations, so each has this table in its own schema.
CREATE TABLE IF NOT EXISTS audit_log (
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,
    department text        NOT NULL,
    action     text        NOT NULL,
    subject    text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_department_id ON audit_log (department, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject, id DESC);
