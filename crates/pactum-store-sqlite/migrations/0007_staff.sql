-- Staff accounts, their sessions, API tokens, and the instructor assigned to each course session.
-- Passwords are argon2id hashes, TOTP seeds are sealed, and tokens are kept only as hashes.
CREATE TABLE staff_accounts (
    id BLOB PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    totp_secret BLOB NOT NULL,
    failed_logins INTEGER NOT NULL,
    locked_until INTEGER,
    setup_hash BLOB UNIQUE,
    setup_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE TABLE staff_sessions (
    token_hash BLOB PRIMARY KEY,
    staff_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX staff_sessions_expires ON staff_sessions (expires_at);

CREATE TABLE api_tokens (
    id BLOB PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

ALTER TABLE course_sessions ADD COLUMN instructor TEXT;
