#!/usr/bin/env python3
"""The floor of the retention sweep's writes on two SQLite schemas, with Python's sqlite3.

Seeds a fresh database with PEOPLE people (4 values each, one purpose), the way Pactum stores them,
then deletes every one of them in pages of 500: per page one BEGIN IMMEDIATE ... COMMIT with a
deletion proof per person and the statements that forget a subject's rows, as the sweep's writes
do (WAL, synchronous=FULL, secure_delete=ON). Nothing is read back and nothing is hashed, so no
sweep on that schema is faster. Prints values deleted per second and where the time went.

  --schema rowid       the tables before migration 0020 (rowid tables, a purpose_holds row per category)
  --schema by-subject  migration 0020 (WITHOUT ROWID tables keyed by subject, categories in the purpose)
  --no-email-index     leave out the unique e-mail blind index of subjects (what it costs)
  --no-secure-delete   secure_delete=OFF (what overwriting deleted content costs)

Usage: scripts/bench/sweep-floor-schemas.py --schema by-subject --people 250000
"""

import argparse
import collections
import os
import sqlite3
import tempfile
import time

ROWID = """
CREATE TABLE subjects (id BLOB PRIMARY KEY, email_index BLOB {unique}, created_at INTEGER NOT NULL);
CREATE TABLE subject_keys (subject_id BLOB PRIMARY KEY, master_key_id TEXT NOT NULL, wrapped BLOB NOT NULL);
CREATE TABLE items (id BLOB PRIMARY KEY, subject_id BLOB NOT NULL, category TEXT NOT NULL, source TEXT NOT NULL,
    collected_at INTEGER NOT NULL, value BLOB NOT NULL);
CREATE INDEX items_subject ON items (subject_id);
CREATE TABLE purpose_instances (id BLOB PRIMARY KEY, subject_id BLOB NOT NULL, purpose TEXT NOT NULL,
    basis TEXT NOT NULL, anchor TEXT NOT NULL, anchor_date TEXT, retain_until TEXT, started_at INTEGER NOT NULL,
    ended_at INTEGER, end_reason TEXT, notice_version TEXT NOT NULL);
CREATE INDEX purpose_instances_subject ON purpose_instances (subject_id);
CREATE INDEX purpose_instances_retain_until ON purpose_instances (retain_until);
CREATE TABLE purpose_holds (instance_id BLOB NOT NULL, subject_id BLOB NOT NULL, category TEXT NOT NULL,
    PRIMARY KEY (instance_id, category));
CREATE INDEX purpose_holds_subject ON purpose_holds (subject_id);
"""

BY_SUBJECT = """
CREATE TABLE subjects (id BLOB PRIMARY KEY, email_index BLOB {unique}, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE subject_keys (subject_id BLOB PRIMARY KEY, master_key_id TEXT NOT NULL, wrapped BLOB NOT NULL)
    WITHOUT ROWID;
CREATE TABLE items (subject_id BLOB NOT NULL, id BLOB NOT NULL, category TEXT NOT NULL, source TEXT NOT NULL,
    collected_at INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (subject_id, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX items_id ON items (id);
CREATE TABLE purpose_instances (subject_id BLOB NOT NULL, id BLOB NOT NULL, purpose TEXT NOT NULL,
    basis TEXT NOT NULL, anchor TEXT NOT NULL, anchor_date TEXT, retain_until TEXT, started_at INTEGER NOT NULL,
    ended_at INTEGER, end_reason TEXT, notice_version TEXT NOT NULL, categories TEXT NOT NULL,
    PRIMARY KEY (subject_id, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX purpose_instances_id ON purpose_instances (id);
CREATE INDEX purpose_instances_retain_until ON purpose_instances (retain_until);
"""

PROOFS = """
CREATE TABLE deletion_proofs (id BLOB PRIMARY KEY, at INTEGER NOT NULL, record_class TEXT NOT NULL,
    subject_ref TEXT NOT NULL, rule TEXT NOT NULL, content_hash BLOB NOT NULL);
CREATE INDEX deletion_proofs_subject ON deletion_proofs (subject_ref);
"""

CATEGORIES = ("email", "name", "phone", "title")
PAGE = 500


def time_ordered_id(counter=[0]):
    """16 bytes that sort by creation, as Pactum's UUIDv7 ids do."""
    counter[0] += 1
    return (time.time_ns() // 1000).to_bytes(8, "big") + counter[0].to_bytes(8, "big")


def seed(db, schema, people):
    ids = []
    db.execute("BEGIN")
    for n in range(people):
        subject, purpose = time_ordered_id(), time_ordered_id()
        ids.append(subject)
        db.execute("INSERT INTO subjects VALUES (?, ?, 0)", (subject, os.urandom(32)))
        db.execute("INSERT INTO subject_keys VALUES (?, 'master-1', ?)", (subject, os.urandom(60)))
        common = ("course_enrolment", "contract", "course_end", "2020-01-01", "2020-01-31", 0, None, None, "v1")
        if schema == "rowid":
            db.execute("INSERT INTO purpose_instances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (purpose, subject) + common)
        else:
            db.execute(
                "INSERT INTO purpose_instances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (subject, purpose) + common + (",".join(CATEGORIES),),
            )
        for category in CATEGORIES:
            value = os.urandom(70)
            if schema == "rowid":
                db.execute("INSERT INTO purpose_holds VALUES (?, ?, ?)", (purpose, subject, category))
                db.execute("INSERT INTO items VALUES (?, ?, ?, 'bench', 0, ?)", (time_ordered_id(), subject, category, value))
            else:
                db.execute("INSERT INTO items VALUES (?, ?, ?, 'bench', 0, ?)", (subject, time_ordered_id(), category, value))
        if n % 5000 == 4999:
            db.execute("COMMIT")
            db.execute("BEGIN")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


def forget(db, schema, ids):
    statements = [
        ("proofs", "INSERT INTO deletion_proofs SELECT id || X'00', 0, 'subject', lower(hex(id)), 'course_enrolment', "
                   "randomblob(32) FROM temp.forget_ids"),
        ("subject_keys", "DELETE FROM subject_keys WHERE subject_id IN (SELECT id FROM temp.forget_ids)"),
        ("items", "DELETE FROM items WHERE subject_id IN (SELECT id FROM temp.forget_ids)"),
    ]
    if schema == "rowid":
        statements.append(("purpose_holds", "DELETE FROM purpose_holds WHERE subject_id IN (SELECT id FROM temp.forget_ids)"))
    statements += [
        ("purpose_instances", "DELETE FROM purpose_instances WHERE subject_id IN (SELECT id FROM temp.forget_ids)"),
        ("subjects", "DELETE FROM subjects WHERE id IN (SELECT id FROM temp.forget_ids)"),
    ]
    spent = collections.Counter()
    db.execute("CREATE TEMP TABLE forget_ids (id BLOB PRIMARY KEY)")
    started = time.perf_counter()
    for k in range(0, len(ids), PAGE):
        page = ids[k:k + PAGE]
        steps = [("begin", "BEGIN IMMEDIATE"),
                 ("ids", "INSERT INTO temp.forget_ids VALUES " + ", ".join(f"(X'{i.hex()}')" for i in page))]
        steps += statements + [("clear", "DELETE FROM temp.forget_ids"), ("commit", "COMMIT")]
        for name, sql in steps:
            t = time.perf_counter()
            db.execute(sql)
            spent[name] += time.perf_counter() - t
    return time.perf_counter() - started, spent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", choices=("rowid", "by-subject"), required=True)
    parser.add_argument("--people", type=int, default=250_000)
    parser.add_argument("--no-email-index", action="store_true")
    parser.add_argument("--no-secure-delete", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        db = sqlite3.connect(os.path.join(directory, "floor.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=" + ("OFF" if args.no_secure_delete else "ON"))
        tables = ROWID if args.schema == "rowid" else BY_SUBJECT
        db.executescript(tables.format(unique="" if args.no_email_index else "UNIQUE") + PROOFS)
        ids = seed(db, args.schema, args.people)
        seconds, spent = forget(db, args.schema, ids)
        left = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        values = args.people * len(CATEGORIES)
        print(f"schema={args.schema} email_index={'no' if args.no_email_index else 'unique'} "
              f"secure_delete={'off' if args.no_secure_delete else 'on'} sqlite={sqlite3.sqlite_version}")
        print(f"{values} values in {seconds:.2f} s: {values / seconds:,.0f} values/s; {left} left")
        print("seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in spent.items()))


if __name__ == "__main__":
    main()
