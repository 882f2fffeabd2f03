-- Orders and invoices (P04, L6). Neither table holds a clear personal value: an order points at
-- its buyer subject and the purpose instance that holds the buyer's details; an invoice keeps the
-- buyer block as issued, sealed under the buyer's key. Invoice numbers come from one gapless
-- series, taken in the issuing transaction.
CREATE TABLE orders (
    id BYTEA PRIMARY KEY,
    session_id BYTEA NOT NULL,
    buyer_subject_id BYTEA NOT NULL,
    buyer_kind TEXT NOT NULL,
    instance_id BYTEA NOT NULL,
    unit_price_ore BIGINT NOT NULL,
    status TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    payment_status TEXT NOT NULL,
    payment_session TEXT,
    payment_ref TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_buyer ON orders (buyer_subject_id);
CREATE INDEX orders_instance ON orders (instance_id);

CREATE TABLE order_participants (
    order_id BYTEA NOT NULL,
    place BIGINT NOT NULL,
    enrolment_id BYTEA NOT NULL,
    PRIMARY KEY (order_id, place)
);
CREATE INDEX order_participants_enrolment ON order_participants (enrolment_id);

CREATE TABLE invoices (
    id BYTEA PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    credits_id BYTEA,
    order_id BYTEA NOT NULL,
    buyer_subject_id BYTEA NOT NULL,
    instance_id BYTEA NOT NULL,
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    lines TEXT NOT NULL,
    net_ore BIGINT NOT NULL,
    vat_ore BIGINT NOT NULL,
    total_ore BIGINT NOT NULL,
    buyer_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
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
    order_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX payment_events_order ON payment_events (order_id);

CREATE TABLE invoice_numbers (
    series TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);
INSERT INTO invoice_numbers (series, last) VALUES ('invoice', 0);
