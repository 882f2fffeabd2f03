-- A person's rows kept together: the tables that hold a person's data are keyed by subject first
-- (WITHOUT ROWID, so each row is one entry of one b-tree), and the categories a purpose holds are
-- one column of the purpose, sorted and joined by commas (category keys are policy keys:
-- lower-case letters, digits and underscores), instead of a row per category.

CREATE TABLE subjects_by_id (
    id BLOB PRIMARY KEY,
    email_index BLOB UNIQUE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO subjects_by_id (id, email_index, created_at) SELECT id, email_index, created_at FROM subjects;
DROP TABLE subjects;
ALTER TABLE subjects_by_id RENAME TO subjects;

CREATE TABLE subject_keys_by_subject (
    subject_id BLOB PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    wrapped BLOB NOT NULL
) WITHOUT ROWID;
INSERT INTO subject_keys_by_subject (subject_id, master_key_id, wrapped)
    SELECT subject_id, master_key_id, wrapped FROM subject_keys;
DROP TABLE subject_keys;
ALTER TABLE subject_keys_by_subject RENAME TO subject_keys;

CREATE TABLE items_by_subject (
    subject_id BLOB NOT NULL,
    id BLOB NOT NULL,
    category TEXT NOT NULL,
    source TEXT NOT NULL,
    collected_at INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (subject_id, id)
) WITHOUT ROWID;
INSERT INTO items_by_subject (subject_id, id, category, source, collected_at, value)
    SELECT subject_id, id, category, source, collected_at, value FROM items;
DROP TABLE items;
ALTER TABLE items_by_subject RENAME TO items;
CREATE UNIQUE INDEX items_id ON items (id);

CREATE TABLE purposes_by_subject (
    subject_id BLOB NOT NULL,
    id BLOB NOT NULL,
    purpose TEXT NOT NULL,
    basis TEXT NOT NULL,
    anchor TEXT NOT NULL,
    anchor_date TEXT,
    retain_until TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT,
    notice_version TEXT NOT NULL,
    categories TEXT NOT NULL,
    PRIMARY KEY (subject_id, id)
) WITHOUT ROWID;
INSERT INTO purposes_by_subject (subject_id, id, purpose, basis, anchor, anchor_date, retain_until, started_at,
                                 ended_at, end_reason, notice_version, categories)
    SELECT p.subject_id, p.id, p.purpose, p.basis, p.anchor, p.anchor_date, p.retain_until, p.started_at,
           p.ended_at, p.end_reason, p.notice_version,
           COALESCE((SELECT group_concat(category, ',' ORDER BY category)
                     FROM purpose_holds h WHERE h.instance_id = p.id), '')
    FROM purpose_instances p;
DROP TABLE purpose_holds;
DROP TABLE purpose_instances;
ALTER TABLE purposes_by_subject RENAME TO purpose_instances;
CREATE UNIQUE INDEX purpose_instances_id ON purpose_instances (id);
CREATE INDEX purpose_instances_retain_until ON purpose_instances (retain_until);
