-- Links that let a person into "My data" (L1): the mailed link, single-use and short-lived, and the
-- portal token it is exchanged for. Only hashes are stored.
CREATE TABLE access_links (
    hash BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX access_links_subject ON access_links (subject_id);
