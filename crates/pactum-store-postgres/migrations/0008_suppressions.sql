-- Addresses that withdrew a consent and were then erased: only the keyed blind index of the address
-- is kept, so that the address is not added again by mistake (P20).
CREATE TABLE suppressions (
    email_index BYTEA PRIMARY KEY,
    purpose TEXT NOT NULL,
    since BIGINT NOT NULL
);
