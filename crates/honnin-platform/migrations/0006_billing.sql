-- Metering and billing (issue 6). Portable as 0001.

-- Every call the platform made to the authority for a tenant (計量), written with the result it
-- produced where one transaction holds both. `service` and `result` use the authority's names
-- (honnin_proto::Service, the authority's call results), so the platform can price its calls by
-- the same rules as the authority's statement. CRL-based status checks are also the outbox of
-- their declaration to the authority: `declared_at IS NULL` until the authority acknowledged them.
CREATE TABLE billing_calls (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    user_id         TEXT,
    at              BIGINT NOT NULL,
    service         TEXT NOT NULL,
    hierarchy       TEXT,
    serial          TEXT,
    result          TEXT NOT NULL,
    declared_at     BIGINT,
    -- The order the authority received declarations in (which check of a holder it billed).
    declared_seq    BIGINT,
    declared_result TEXT
);
CREATE INDEX billing_calls_tenant ON billing_calls (tenant_id, at);
CREATE INDEX billing_calls_at ON billing_calls (at);
CREATE INDEX billing_calls_declared ON billing_calls (service, declared_at);

INSERT INTO counters (name, value) VALUES ('crl_declarations', 0);
