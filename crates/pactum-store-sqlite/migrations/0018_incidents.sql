-- The incident register (L9): personal-data breaches as staff record them, with the fields of
-- Art. 33(3). Who is affected is derived from the audit chain and the disclosure ledger when read.
CREATE TABLE incidents (
    id BLOB PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    aware_at INTEGER NOT NULL,
    occurred_from INTEGER NOT NULL,
    occurred_to INTEGER NOT NULL,
    recipient TEXT,
    actor TEXT,
    categories TEXT NOT NULL,
    consequences TEXT NOT NULL,
    measures TEXT NOT NULL,
    risk TEXT NOT NULL,
    authority_notified_at INTEGER,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX disclosures_recipient ON disclosures (recipient, at);
