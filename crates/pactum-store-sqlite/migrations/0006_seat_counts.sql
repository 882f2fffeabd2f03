-- Seats taken per session or event, claimed in the enrolment's own transaction so that a limit
-- holds under concurrency and costs one row update, however many enrolments there are.
CREATE TABLE seat_counts (
    activity_id BLOB PRIMARY KEY,
    taken INTEGER NOT NULL
);
