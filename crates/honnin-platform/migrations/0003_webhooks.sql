-- Signed webhooks: each tenant may register one endpoint; every event gets a delivery row in the
-- same transaction that writes the event, retried with exponential backoff until delivered or dead.
ALTER TABLE tenants ADD COLUMN webhook_url TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret TEXT;

CREATE TABLE webhook_deliveries (
    event_seq        BIGINT PRIMARY KEY REFERENCES events (seq),
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    delivered_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
