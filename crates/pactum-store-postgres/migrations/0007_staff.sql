-- Staff accounts, their sessions, API tokens, and the instructor assigned to each course session.
-- Passwords are argon2id hashes, TOTP seeds are sealed, and tokens are kept only as hashes.
CREATE TABLE staff_accounts (
    id BYTEA PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    totp_secret BYTEA NOT NULL,
    failed_logins BIGINT NOT NULL,
    locked_until BIGINT,
    setup_hash BYTEA UNIQUE,
    setup_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE staff_sessions (
    token_hash BYTEA PRIMARY KEY,
    staff_id BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_expires ON staff_sessions (expires_at);

CREATE TABLE api_tokens (
    id BYTEA PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

ALTER TABLE course_sessions ADD COLUMN instructor TEXT;
