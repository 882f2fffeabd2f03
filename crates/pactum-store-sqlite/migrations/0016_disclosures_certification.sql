-- The disclosure ledger (P08–P12, L4): one row per person per export to a recipient, holding no
-- personal value: who (a pseudonymous subject), which categories, to whom, why, on which basis
-- and when. A row goes with the purpose instance it was made under.
CREATE TABLE disclosures (
    id BLOB PRIMARY KEY,
    batch_id BLOB NOT NULL,
    recipient TEXT NOT NULL,
    purpose TEXT NOT NULL,
    basis TEXT NOT NULL,
    categories TEXT NOT NULL,
    subject_id BLOB NOT NULL,
    instance_id BLOB NOT NULL,
    activity_id BLOB,
    reference TEXT NOT NULL,
    statute TEXT,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX disclosures_subject ON disclosures (subject_id);
CREATE INDEX disclosures_instance ON disclosures (instance_id);

-- The certification partner's messages to a session's exam proctor (P15): the content is sealed
-- under the participant's key; a row goes with its exam_proctoring purpose instance (P16).
CREATE TABLE certification_messages (
    id BLOB PRIMARY KEY,
    session_id BLOB NOT NULL,
    enrolment_id BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    instance_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    sealed BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX certification_messages_session ON certification_messages (session_id, received_at);
CREATE INDEX certification_messages_subject ON certification_messages (subject_id);
CREATE INDEX certification_messages_instance ON certification_messages (instance_id);

-- Participation records (P17): the course, its end date and passed yes/no (sealed), nothing else;
-- held by a certification_record purpose instance for five years after the course end (P18).
CREATE TABLE participations (
    enrolment_id BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    instance_id BLOB NOT NULL,
    course_id BLOB NOT NULL,
    ends_on TEXT NOT NULL,
    passed BLOB NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX participations_subject ON participations (subject_id);
CREATE INDEX participations_instance ON participations (instance_id);
