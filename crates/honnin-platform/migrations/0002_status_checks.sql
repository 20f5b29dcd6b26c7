-- Status checks (現況確認) and the event feed. Portable as 0001.

-- The certificate as the platform saw it (base64 DER), for OCSP status checks later.
ALTER TABLE user_certificates ADD COLUMN certificate TEXT;

-- The last finding of a user's status, so events are emitted on change only.
ALTER TABLE users ADD COLUMN finding TEXT;
ALTER TABLE users ADD COLUMN finding_at BIGINT;

-- Named counters, incremented with UPDATE … RETURNING (both engines) inside a transaction.
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('events', 0);

CREATE TABLE status_jobs (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    method        TEXT NOT NULL,
    alive_events  BIGINT NOT NULL,
    state         TEXT NOT NULL,
    total         BIGINT NOT NULL,
    done          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);

-- One row per user to check; `done` rows carry the result. An item turns done in the same
-- transaction that writes its event, so a killed job resumes without losing or repeating one.
CREATE TABLE status_job_items (
    job_id      TEXT NOT NULL REFERENCES status_jobs (id),
    seq         BIGINT NOT NULL,
    user_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    finding     TEXT,
    action      TEXT,
    detail      TEXT,
    checked_at  BIGINT,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX status_job_items_pending ON status_job_items (job_id, state, seq);

CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    type       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, seq);
