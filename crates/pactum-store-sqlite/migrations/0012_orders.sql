-- Orders and invoices (P04, L6). Neither table holds a clear personal value: an order points at
-- its buyer subject and the purpose instance that holds the buyer's details; an invoice keeps the
-- buyer block as issued, sealed under the buyer's key. Invoice numbers come from one gapless
-- series, taken in the issuing transaction.
CREATE TABLE orders (
    id BLOB PRIMARY KEY,
    session_id BLOB NOT NULL,
    buyer_subject_id BLOB NOT NULL,
    buyer_kind TEXT NOT NULL,
    instance_id BLOB NOT NULL,
    unit_price_ore INTEGER NOT NULL,
    status TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    payment_status TEXT NOT NULL,
    payment_session TEXT,
    payment_ref TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_buyer ON orders (buyer_subject_id);
CREATE INDEX orders_instance ON orders (instance_id);

CREATE TABLE order_participants (
    order_id BLOB NOT NULL,
    place INTEGER NOT NULL,
    enrolment_id BLOB NOT NULL,
    PRIMARY KEY (order_id, place)
);
CREATE INDEX order_participants_enrolment ON order_participants (enrolment_id);

CREATE TABLE invoices (
    id BLOB PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    credits_id BLOB,
    order_id BLOB NOT NULL,
    buyer_subject_id BLOB NOT NULL,
    instance_id BLOB NOT NULL,
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    lines TEXT NOT NULL,
    net_ore INTEGER NOT NULL,
    vat_ore INTEGER NOT NULL,
    total_ore INTEGER NOT NULL,
    buyer_sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX invoices_order ON invoices (order_id);
-- An invoice is credited once: a second credit note for the same invoice is refused.
CREATE UNIQUE INDEX invoices_credits ON invoices (credits_id);
CREATE INDEX invoices_buyer ON invoices (buyer_subject_id);
CREATE INDEX invoices_instance ON invoices (instance_id);

-- Every payment-provider event applied to an order, by the provider's event id, so that a
-- repeated or late callback is applied once.
CREATE TABLE payment_events (
    event_id TEXT PRIMARY KEY,
    order_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX payment_events_order ON payment_events (order_id);

CREATE TABLE invoice_numbers (
    series TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
INSERT INTO invoice_numbers (series, last) VALUES ('invoice', 0);
