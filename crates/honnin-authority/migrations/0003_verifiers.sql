-- Registered verifiers (署名検証者 / プラットフォーム事業者), the holders' consents, and every call a
-- verifier makes, kept so the fees can be billed later. Times are Unix seconds (UTC).

-- A verifier's secret is never stored: only a random salt and SHA-256(salt ‖ secret).
CREATE TABLE verifiers (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_salt BLOB    NOT NULL,
    secret_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    disabled_at INTEGER
);

-- A holder's consent to one verifier for one service; withdrawn consents stay as history.
-- 'linking': 新旧シリアル番号紐付け and 対応証明書; 'basic4' (latest 4 attributes) comes later.
CREATE TABLE consents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id  TEXT    NOT NULL REFERENCES residents (id),
    verifier_id  TEXT    NOT NULL REFERENCES verifiers (id),
    scope        TEXT    NOT NULL CHECK (scope IN ('linking', 'basic4')),
    given_at     INTEGER NOT NULL,
    withdrawn_at INTEGER
);
-- At most one live consent per holder, verifier and scope.
CREATE UNIQUE INDEX consents_live ON consents (resident_id, verifier_id, scope) WHERE withdrawn_at IS NULL;
CREATE INDEX consents_verifier ON consents (verifier_id);

-- One row per verifier call (per certificate for OCSP). `serial` is the certificate asked about;
-- `linked_serial` the one answered (previous, next, or the other certificate of the card).
CREATE TABLE verifier_calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    verifier_id   TEXT    NOT NULL REFERENCES verifiers (id),
    at            INTEGER NOT NULL,
    service       TEXT    NOT NULL CHECK (service IN ('ocsp', 'crl', 'previous', 'next', 'counterpart')),
    hierarchy     TEXT    CHECK (hierarchy IN ('sign', 'auth')),
    serial        INTEGER,
    linked_serial INTEGER,
    result        TEXT    NOT NULL CHECK (result IN ('good', 'revoked', 'unknown', 'unauthorized', 'malformed',
                                                     'error', 'sent', 'not-modified', 'found', 'none',
                                                     'not-found', 'consent-required'))
);
CREATE INDEX verifier_calls_by_verifier ON verifier_calls (verifier_id, at);
