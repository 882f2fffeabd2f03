-- Art. 19 notifications to recipients (L4): that data a recipient received under `reference` was
-- erased or restricted. A row names the recipient and the pseudonymous reference it got in the
-- export, never a personal value, so it outlives the person's shredded key as the proof of notice.
CREATE TABLE recipient_notifications (
    id BLOB PRIMARY KEY,
    recipient TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    disclosed_at INTEGER NOT NULL,
    subject_ref TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error TEXT
);
CREATE INDEX recipient_notifications_due ON recipient_notifications (status, next_attempt_at);
CREATE INDEX recipient_notifications_created ON recipient_notifications (created_at);
