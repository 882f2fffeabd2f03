-- Rights requests (P34, L1): received, due one calendar month later, perhaps extended, closed
-- with a reason. Staff's reasons are sealed under the person's key; the person's own words are an
-- item held by the request's rights_requests purpose instance.
CREATE TABLE rights_requests (
    id BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    scope TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    due_on TEXT NOT NULL,
    extended_to TEXT,
    extension_reason BYTEA,
    status TEXT NOT NULL,
    restricts INTEGER NOT NULL,
    restricted_until TEXT,
    decision_reason BYTEA,
    decided_at BIGINT,
    decided_by TEXT,
    instance_id BYTEA,
    details_item_id BYTEA,
    created_by TEXT NOT NULL,
    lang TEXT NOT NULL
);
CREATE INDEX rights_requests_open ON rights_requests (status, due_on);
CREATE INDEX rights_requests_subject ON rights_requests (subject_id);
CREATE INDEX rights_requests_instance ON rights_requests (instance_id);
