-- The authority's state. Times are Unix seconds (UTC); dates are ISO 8601 text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per CA generation of each hierarchy ('sign' | 'auth'). The authority's own keys live here;
-- holders' private keys never do.
CREATE TABLE ca (
    hierarchy             TEXT    NOT NULL CHECK (hierarchy IN ('sign', 'auth')),
    generation            INTEGER NOT NULL,
    certificate           BLOB    NOT NULL,
    private_key           BLOB    NOT NULL,
    responder_certificate BLOB    NOT NULL,
    responder_key         BLOB    NOT NULL,
    active                INTEGER NOT NULL,
    PRIMARY KEY (hierarchy, generation)
);

CREATE TABLE residents (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    address      TEXT NOT NULL,
    birth_date   TEXT NOT NULL,
    sex          TEXT NOT NULL CHECK (sex IN ('male', 'female', 'unknown')),
    prefecture   TEXT NOT NULL,
    municipality TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('living', 'deceased', 'emigrated')),
    adult_ward   INTEGER NOT NULL DEFAULT 0,
    my_number    TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE cards (
    id           TEXT PRIMARY KEY,
    resident_id  TEXT NOT NULL REFERENCES residents (id),
    issued_at    INTEGER NOT NULL,
    expires_on   TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'lost', 'abolished', 'replaced', 'destroyed', 'void')),
    replaced_by  TEXT REFERENCES cards (id)
);
CREATE INDEX cards_resident ON cards (resident_id);

-- Every certificate the authority issued. `reason` and `revoked_at` are NULL while it is good.
CREATE TABLE certificates (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    serial        INTEGER NOT NULL UNIQUE,
    hierarchy     TEXT    NOT NULL CHECK (hierarchy IN ('sign', 'auth')),
    ca_generation INTEGER NOT NULL,
    card_id       TEXT    NOT NULL REFERENCES cards (id),
    resident_id   TEXT    NOT NULL REFERENCES residents (id),
    der           BLOB    NOT NULL,
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    revoked_at    INTEGER,
    reason        INTEGER,
    -- The certificate this one replaced (renewal or re-issue): old serial → new serial links.
    predecessor   INTEGER REFERENCES certificates (serial),
    CHECK ((revoked_at IS NULL) = (reason IS NULL))
);
CREATE INDEX certificates_card ON certificates (card_id);
CREATE INDEX certificates_revoked ON certificates (hierarchy, serial) WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_predecessor ON certificates (predecessor);

-- Signing and auth certificates that were live together on one card (対応証明書).
CREATE TABLE serial_links (
    sign_serial INTEGER NOT NULL REFERENCES certificates (serial),
    auth_serial INTEGER NOT NULL REFERENCES certificates (serial),
    PRIMARY KEY (sign_serial, auth_serial)
);
CREATE INDEX serial_links_auth ON serial_links (auth_serial);

-- What happened to residents and cards, in order.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id TEXT    NOT NULL REFERENCES residents (id),
    kind        TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    at          INTEGER NOT NULL
);

-- Published CRLs, the newest per hierarchy is current.
CREATE TABLE crls (
    hierarchy   TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    der         BLOB    NOT NULL,
    PRIMARY KEY (hierarchy, number)
);
