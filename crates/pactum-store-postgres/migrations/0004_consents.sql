-- Consents given through forms and the API (P07, P21, L12), and single-purpose link tokens
-- (double opt-in confirmation, one-click unsubscribe), stored only as hashes.
CREATE TABLE consents (
    id BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    purpose TEXT NOT NULL,
    instance_id BYTEA NOT NULL,
    state TEXT NOT NULL,
    lang TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    withdrawn_at BIGINT,
    withdraw_method TEXT
);
CREATE INDEX consents_subject ON consents (subject_id);
CREATE INDEX consents_purpose_state ON consents (purpose, state);

CREATE TABLE link_tokens (
    hash BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    consent_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT,
    used_at BIGINT
);
CREATE INDEX link_tokens_subject ON link_tokens (subject_id);
