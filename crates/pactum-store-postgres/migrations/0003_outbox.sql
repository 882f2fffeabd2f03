-- The mail outbox: written in the same transaction as the change that sends the mail, delivered
-- by a worker under a lease. Content is sealed under the subject's key and dropped once delivered.
CREATE TABLE outbox (
    id BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_subject ON outbox (subject_id);
