-- Scheduled status checks: over all users every period (e.g. yearly), or over the users whose
-- known certificates newly appear on the CRL (e.g. daily).
CREATE TABLE status_schedules (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    scope         TEXT NOT NULL,
    method        TEXT NOT NULL,
    alive_events  BIGINT NOT NULL,
    period_seconds BIGINT NOT NULL,
    next_run_at   BIGINT NOT NULL,
    last_job_id   TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX status_schedules_due ON status_schedules (next_run_at);
