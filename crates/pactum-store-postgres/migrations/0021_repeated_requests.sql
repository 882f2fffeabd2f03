-- Sign-ups and orders that a double click or a retried call do not repeat: the outcome of a request
-- made under a key of its own (an HTML form's one-time token, an API caller's Idempotency-Key),
-- kept a day so that the same request again gets the same answer. Keys and requests are keyed
-- hashes; the outcome holds ids only.
CREATE TABLE repeated_requests (
    key_hash BYTEA PRIMARY KEY,
    request_hash BYTEA NOT NULL,
    outcome TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX repeated_requests_expiry ON repeated_requests (expires_at);
