-- Waiting lists of full sessions: who joined (a pseudonymous subject, whose name and e-mail address
-- are items held by the entry's `waiting_list` purpose instance), in the order they joined, and
-- when each was told about a free seat.
CREATE TABLE waiting_list (
    id BLOB PRIMARY KEY,
    session_id BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    instance_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    notified_at INTEGER
);
CREATE INDEX waiting_list_session ON waiting_list (session_id, created_at);
CREATE INDEX waiting_list_subject ON waiting_list (subject_id);
