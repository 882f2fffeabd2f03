-- Consents given through forms and the API (P07, P21, L12), and single-purpose link tokens
-- (double opt-in confirmation, one-click unsubscribe), stored only as hashes.
CREATE TABLE consents (
    id BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    purpose TEXT NOT NULL,
    instance_id BLOB NOT NULL,
    state TEXT NOT NULL,
    lang TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    withdrawn_at INTEGER,
    withdraw_method TEXT
);
CREATE INDEX consents_subject ON consents (subject_id);
CREATE INDEX consents_purpose_state ON consents (purpose, state);

CREATE TABLE link_tokens (
    hash BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    consent_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    expires_at INTEGER,
    used_at INTEGER
);
CREATE INDEX link_tokens_subject ON link_tokens (subject_id);
