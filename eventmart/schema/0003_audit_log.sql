-- Auditors filter the global log by event type (GET /v1/audit/log?type=): one index range
-- per type, in position order, instead of a scan of the whole log. The events tables are
-- the eventsourcing library's; `migrate` creates them before applying migrations.
CREATE INDEX IF NOT EXISTS catalog_events_topic_position ON catalog_events (topic, notification_id);
CREATE INDEX IF NOT EXISTS commerce_events_topic_position ON commerce_events (topic, notification_id);
CREATE INDEX IF NOT EXISTS payments_events_topic_position ON payments_events (topic, notification_id);
CREATE INDEX IF NOT EXISTS support_events_topic_position ON support_events (topic, notification_id);

-- The address an order is delivered to, as it was when the order was placed. Personal data
-- stays out of the append-only log: the order's event holds only this row's id. A saved
-- address may be edited or deleted later; this copy is not, so the order keeps its address
-- (and erasing a person deletes their rows here, leaving the log as it is).
CREATE TABLE delivery_addresses (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    address_id uuid,
    house_number text NOT NULL,
    street text NOT NULL,
    landmark text,
    city text NOT NULL,
    society text,
    pincode text NOT NULL,
    label text,
    created_at timestamptz NOT NULL
);
CREATE INDEX delivery_addresses_user ON delivery_addresses (user_id);
