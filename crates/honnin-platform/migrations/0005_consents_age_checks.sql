-- The holder's consents (本人同意) recorded through a client URL, and age checks (年齢判定) for
-- service providers. Portable as 0001.

-- One row per consent request; `id` is its client flow's id (the flow holds the token and the
-- single-use claim). Live while given and not withdrawn. Scoped to the tenant: the authority's
-- consent names the platform, so the platform gates each tenant's use on its own row.
CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    user_id       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    given_at      BIGINT,
    -- The signing certificate that signed the statement (hex serial).
    signer_serial TEXT,
    withdrawn_at  BIGINT,
    -- `tenant` (DELETE /v1/consents/{id}) or `authority` (the authority answered consent-required).
    withdrawn_by  TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX consents_user ON consents (tenant_id, user_id, scope);

-- One row per age check; `id` is its client flow's id. Never a birth date: only the answer.
CREATE TABLE age_checks (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    threshold   BIGINT NOT NULL,
    pin         BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- `pin` or `card_read`, once the holder's client submitted.
    method      TEXT,
    validity    TEXT,
    -- 1 / 0, NULL when the certificate was not valid.
    is_over     BIGINT,
    checked_at  BIGINT
);
