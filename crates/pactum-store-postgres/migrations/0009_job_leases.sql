-- Which node runs a periodic job (the retention sweep) until when, so that only one does at a time.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until BIGINT NOT NULL
);
