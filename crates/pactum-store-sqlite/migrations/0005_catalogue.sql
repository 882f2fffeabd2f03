-- The catalogue (courses, their sessions, events), which holds no personal data, and enrolments,
-- which tie a pseudonymous subject to a session or event through its purpose instances.
CREATE TABLE courses (
    id BLOB PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title_da TEXT NOT NULL,
    title_en TEXT NOT NULL,
    summary_da TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    delivered_by TEXT,
    certification INTEGER NOT NULL
);

CREATE TABLE course_sessions (
    id BLOB PRIMARY KEY,
    course_id BLOB NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    location TEXT NOT NULL,
    online INTEGER NOT NULL,
    language TEXT NOT NULL,
    price_ore INTEGER NOT NULL,
    seats INTEGER NOT NULL
);
CREATE INDEX course_sessions_course ON course_sessions (course_id);

CREATE TABLE events (
    id BLOB PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title_da TEXT NOT NULL,
    title_en TEXT NOT NULL,
    summary_da TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    location TEXT NOT NULL,
    co_organiser TEXT,
    sponsor TEXT,
    seats INTEGER NOT NULL
);

CREATE TABLE enrolments (
    id BLOB PRIMARY KEY,
    activity_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    subject_id BLOB NOT NULL,
    instance_id BLOB NOT NULL,
    certification_instance_id BLOB,
    sponsor_consent_id BLOB,
    created_at INTEGER NOT NULL,
    cancelled_at INTEGER
);
CREATE INDEX enrolments_activity ON enrolments (activity_id);
CREATE INDEX enrolments_subject ON enrolments (subject_id);
