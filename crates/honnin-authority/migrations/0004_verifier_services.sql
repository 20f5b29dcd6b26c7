-- The services of issue 6 for registered verifiers: the age check, the latest 4 attributes with
-- consent, consents signed by the holder, declared CRL-based checks and monthly statements. Their
-- calls go into verifier_calls like the others; SQLite cannot widen a CHECK, so the table is rebuilt
-- (nothing references it).

CREATE TABLE verifier_calls_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    verifier_id   TEXT    NOT NULL REFERENCES verifiers (id),
    at            INTEGER NOT NULL,
    service       TEXT    NOT NULL CHECK (service IN ('ocsp', 'crl', 'crl-check', 'age-check', 'previous', 'next',
                                                      'counterpart', 'basic4', 'consent', 'statement')),
    hierarchy     TEXT    CHECK (hierarchy IN ('sign', 'auth')),
    serial        INTEGER,
    linked_serial INTEGER,
    result        TEXT    NOT NULL CHECK (result IN ('good', 'revoked', 'unknown', 'unauthorized', 'malformed',
                                                     'error', 'sent', 'not-modified', 'found', 'none',
                                                     'not-found', 'consent-required', 'valid', 'invalid',
                                                     'recorded', 'deceased', 'emigrated', 'accepted',
                                                     'refused'))
);
INSERT INTO verifier_calls_new (id, verifier_id, at, service, hierarchy, serial, linked_serial, result)
    SELECT id, verifier_id, at, service, hierarchy, serial, linked_serial, result FROM verifier_calls;
DROP TABLE verifier_calls;
ALTER TABLE verifier_calls_new RENAME TO verifier_calls;
CREATE INDEX verifier_calls_by_verifier ON verifier_calls (verifier_id, at);

-- Consent statements signed by holders (POST /verifier/v1/consents): the evidence of a consent,
-- and the guard against replay (a statement's SHA-256 is accepted once).
CREATE TABLE consent_statements (
    digest        BLOB    PRIMARY KEY,
    consent_id    INTEGER NOT NULL REFERENCES consents (id),
    signer_serial INTEGER NOT NULL REFERENCES certificates (serial),
    signed_data   BLOB    NOT NULL,
    received_at   INTEGER NOT NULL
);
