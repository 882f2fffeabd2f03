-- The cookie-consent log is Pactum's highest-volume table: on PostgreSQL it is partitioned by month
-- of `decided_at` (microseconds since the epoch), so old months can be detached and dropped whole
-- and each month's indexes stay small. The adapter creates each month's partition ahead of time
-- (at start and every hour); a decision outside every month partition lands in the default one.
-- The receipt stays unique in practice (a UUIDv7 Pactum makes); the key adds the partition column,
-- as PostgreSQL requires.
ALTER TABLE cookie_consents RENAME TO cookie_consents_unpartitioned;
ALTER INDEX cookie_consents_device RENAME TO cookie_consents_unpartitioned_device;

CREATE TABLE cookie_consents (
    receipt BYTEA NOT NULL,
    device BYTEA NOT NULL,
    granted TEXT NOT NULL,
    method TEXT NOT NULL,
    cookie_version TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    ip_prefix TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (receipt, decided_at)
) PARTITION BY RANGE (decided_at);
CREATE TABLE cookie_consents_default PARTITION OF cookie_consents DEFAULT;
CREATE INDEX cookie_consents_device ON cookie_consents (device);
CREATE INDEX cookie_consents_receipt ON cookie_consents (receipt);

INSERT INTO cookie_consents SELECT receipt, device, granted, method, cookie_version, policy_version, ip_prefix, decided_at
    FROM cookie_consents_unpartitioned;
DROP TABLE cookie_consents_unpartitioned;
