-- Keys that sign the data of the 券面事項入力補助AP and 券面AP: a top key (whose public half a
-- verifier configures) and an intermediate key certified by a card-verifiable certificate.
CREATE TABLE card_data_keys (
    name        TEXT PRIMARY KEY CHECK (name IN ('top', 'intermediate')),
    private_key BLOB NOT NULL,
    -- The intermediate key's CVC (as written in EF 0004); NULL for the top key.
    cvc         BLOB
);
