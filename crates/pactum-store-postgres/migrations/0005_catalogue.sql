-- The catalogue (courses, their sessions, events), which holds no personal data, and enrolments,
-- which tie a pseudonymous subject to a session or event through its purpose instances.
CREATE TABLE courses (
    id BYTEA PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title_da TEXT NOT NULL,
    title_en TEXT NOT NULL,
    summary_da TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    delivered_by TEXT,
    certification BIGINT NOT NULL
);

CREATE TABLE course_sessions (
    id BYTEA PRIMARY KEY,
    course_id BYTEA NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    location TEXT NOT NULL,
    online BIGINT NOT NULL,
    language TEXT NOT NULL,
    price_ore BIGINT NOT NULL,
    seats BIGINT NOT NULL
);
CREATE INDEX course_sessions_course ON course_sessions (course_id);

CREATE TABLE events (
    id BYTEA PRIMARY KEY,
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
    seats BIGINT NOT NULL
);

CREATE TABLE enrolments (
    id BYTEA PRIMARY KEY,
    activity_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    subject_id BYTEA NOT NULL,
    instance_id BYTEA NOT NULL,
    certification_instance_id BYTEA,
    sponsor_consent_id BYTEA,
    created_at BIGINT NOT NULL,
    cancelled_at BIGINT
);
CREATE INDEX enrolments_activity ON enrolments (activity_id);
CREATE INDEX enrolments_subject ON enrolments (subject_id);
