-- The audit log screens filter by person and by action, newest first, and list who appears.
CREATE INDEX IF NOT EXISTS audit_log_department_actor_id ON audit_log (department, actor, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_department_action_id ON audit_log (department, action, id DESC);
