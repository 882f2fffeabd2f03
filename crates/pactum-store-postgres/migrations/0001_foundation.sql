-- Pactum's foundation schema. Every column is classified in pactum_store::schema::COLUMNS.
-- Times are UTC microseconds since the epoch; dates are 'YYYY-MM-DD'; ids are UUIDv7 as 16 bytes.

CREATE TABLE vault_keys (
    name TEXT PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    wrapped BYTEA NOT NULL
);

CREATE TABLE subjects (
    id BYTEA PRIMARY KEY,
    email_index BYTEA UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE subject_keys (
    subject_id BYTEA PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    wrapped BYTEA NOT NULL
);

CREATE TABLE items (
    id BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    category TEXT NOT NULL,
    source TEXT NOT NULL,
    collected_at BIGINT NOT NULL,
    value BYTEA NOT NULL
);
CREATE INDEX items_subject ON items (subject_id);

CREATE TABLE purpose_instances (
    id BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    purpose TEXT NOT NULL,
    basis TEXT NOT NULL,
    anchor TEXT NOT NULL,
    anchor_date TEXT,
    retain_until TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT,
    notice_version TEXT NOT NULL
);
CREATE INDEX purpose_instances_subject ON purpose_instances (subject_id);
CREATE INDEX purpose_instances_retain_until ON purpose_instances (retain_until);

CREATE TABLE purpose_holds (
    instance_id BYTEA NOT NULL,
    subject_id BYTEA NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (instance_id, category)
);
CREATE INDEX purpose_holds_subject ON purpose_holds (subject_id);

CREATE TABLE deletion_proofs (
    id BYTEA PRIMARY KEY,
    at BIGINT NOT NULL,
    record_class TEXT NOT NULL,
    subject_ref TEXT NOT NULL,
    rule TEXT NOT NULL,
    content_hash BYTEA NOT NULL
);
CREATE INDEX deletion_proofs_subject ON deletion_proofs (subject_ref);

CREATE TABLE audit_log (
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_ref TEXT,
    details TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    mac BYTEA NOT NULL
);

CREATE TABLE policy_activations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version TEXT NOT NULL,
    source_digest TEXT NOT NULL,
    cookie_version TEXT NOT NULL,
    activated_at BIGINT NOT NULL
);
