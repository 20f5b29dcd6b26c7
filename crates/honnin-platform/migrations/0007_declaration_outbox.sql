-- The CRL-check declaration outbox through a partial index. Portable as 0001.
--
-- 0006 found pending declarations through `(service, declared_at)` and sorted them by `(at, id)`:
-- every declared row left a dead entry where the pending ones are, so in a big status-check job
-- each round stepped over all rows declared before it (quadratic; seen on PostgreSQL past 250,000
-- users). This index holds only what is still to declare, in the order it is declared.
DROP INDEX billing_calls_declared;
CREATE INDEX billing_calls_undeclared ON billing_calls (at, id)
    WHERE service = 'crl-check' AND declared_at IS NULL;
