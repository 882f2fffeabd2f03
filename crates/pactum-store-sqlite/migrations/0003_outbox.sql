-- The mail outbox: written in the same transaction as the change that sends the mail, delivered
-- by a worker under a lease. Content is sealed under the subject's key and dropped once delivered.
CREATE TABLE outbox (
    id BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    sealed BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    sent_at INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_subject ON outbox (subject_id);
