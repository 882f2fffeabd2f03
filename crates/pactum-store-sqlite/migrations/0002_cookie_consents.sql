-- The cookie-consent log (P28, L12): Pactum's highest-volume table. One row per decision.
CREATE TABLE cookie_consents (
    receipt BLOB PRIMARY KEY,
    device BLOB NOT NULL,
    granted TEXT NOT NULL,
    method TEXT NOT NULL,
    cookie_version TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    ip_prefix TEXT NOT NULL,
    decided_at INTEGER NOT NULL
);
CREATE INDEX cookie_consents_device ON cookie_consents (device);
