-- Links that let a person into "My data" (L1): the mailed link, single-use and short-lived, and the
-- portal token it is exchanged for. Only hashes are stored.
CREATE TABLE access_links (
    hash BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX access_links_subject ON access_links (subject_id);
