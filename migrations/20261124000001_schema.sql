-- The whole marketplace schema. Statuses are capitalised words guarded by CHECK;
-- money is bigint paisa in columns ending _paisa; times are timestamptz.

-- Accounts -------------------------------------------------------------------

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    phone           text NOT NULL CHECK (length(phone) BETWEEN 7 AND 20),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('customer', 'vendor', 'admin')),
    status          text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_role_created_idx ON users (role, created_at DESC);
CREATE INDEX users_status_created_idx ON users (status, created_at DESC);

CREATE TABLE vendors (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    business_name   text NOT NULL CHECK (length(business_name) BETWEEN 1 AND 100),
    city            text NOT NULL CHECK (length(city) BETWEEN 1 AND 60),
    area            text NOT NULL DEFAULT '' CHECK (length(area) <= 60),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vendors_city_idx ON vendors (lower(city));

-- Failed logins, per account (by the email typed, so unknown emails are
-- throttled the same way and the messages reveal nothing).
CREATE TABLE login_failures (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at DESC);

-- The session store's table (the same DDL as tower-sessions-sqlx-store's migrate()).
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE IF NOT EXISTS tower_sessions.session (
    id              text PRIMARY KEY NOT NULL,
    data            bytea NOT NULL,
    expiry_date     timestamptz NOT NULL
);
CREATE INDEX session_expiry_idx ON tower_sessions.session (expiry_date);

-- The service catalog ---------------------------------------------------------

CREATE TABLE services (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,30}$'),
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    unit            text NOT NULL CHECK (unit IN ('kg', 'piece', 'pair')),
    sort_order      int NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true
);

INSERT INTO services (code, name, description, unit, sort_order) VALUES
    ('wash_fold',  'Wash & fold',  'Everyday clothes washed, dried and folded', 'kg',    10),
    ('wash_iron',  'Wash & iron',  'Washed, dried and pressed',                 'kg',    20),
    ('dry_clean',  'Dry clean',    'Suits, saris, coats and delicate fabrics',  'piece', 30),
    ('iron_only',  'Iron only',    'Pressing of clean garments',                'piece', 40),
    ('bedding',    'Bedding',      'Duvets, blankets, bedsheets and curtains',  'piece', 50),
    ('shoes',      'Shoe cleaning','Sneakers and leather shoes, cleaned',       'pair',  60);

-- Requests and offers -----------------------------------------------------------

CREATE TABLE requests (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     bigint NOT NULL REFERENCES users (id),
    status          text NOT NULL DEFAULT 'OPEN'
                    CHECK (status IN ('OPEN', 'ORDER_CREATED', 'CANCELLED', 'EXPIRED')),
    pickup_address  text NOT NULL CHECK (length(pickup_address) BETWEEN 1 AND 300),
    city            text NOT NULL DEFAULT '' CHECK (length(city) <= 60),
    area            text NOT NULL DEFAULT '' CHECK (length(area) <= 60),
    pickup_from     timestamptz NOT NULL,
    pickup_to       timestamptz NOT NULL,
    notes           text NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (pickup_to > pickup_from)
);
CREATE INDEX requests_customer_idx ON requests (customer_id, created_at DESC);
CREATE INDEX requests_status_created_idx ON requests (status, created_at DESC);
CREATE INDEX requests_open_expiry_idx ON requests (expires_at) WHERE status = 'OPEN';

CREATE TABLE request_services (
    request_id      bigint NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    service_code    text NOT NULL REFERENCES services (code),
    quantity        int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (request_id, service_code)
);

CREATE TABLE offers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      bigint NOT NULL REFERENCES requests (id),
    vendor_id       bigint NOT NULL REFERENCES vendors (user_id),
    price_paisa     bigint NOT NULL CHECK (price_paisa > 0),
    pickup_at       timestamptz NOT NULL,
    delivery_at     timestamptz NOT NULL,
    message         text NOT NULL DEFAULT '' CHECK (length(message) <= 1000),
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'ACCEPTED', 'REJECTED', 'WITHDRAWN', 'EXPIRED')),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (delivery_at > pickup_at)
);
-- One live offer per vendor per request, and never two accepted offers on one request.
CREATE UNIQUE INDEX offers_one_pending_per_vendor ON offers (request_id, vendor_id) WHERE status = 'PENDING';
CREATE UNIQUE INDEX offers_one_accepted_per_request ON offers (request_id) WHERE status = 'ACCEPTED';
CREATE INDEX offers_request_idx ON offers (request_id, status, price_paisa);
CREATE INDEX offers_vendor_idx ON offers (vendor_id, status, created_at DESC);
CREATE INDEX offers_status_created_idx ON offers (status, created_at DESC);
CREATE INDEX offers_pending_expiry_idx ON offers (expires_at) WHERE status = 'PENDING';

-- Orders ---------------------------------------------------------------------------

CREATE TABLE orders (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id        bigint NOT NULL UNIQUE REFERENCES requests (id),
    offer_id          bigint NOT NULL UNIQUE REFERENCES offers (id),
    customer_id       bigint NOT NULL REFERENCES users (id),
    vendor_id         bigint NOT NULL REFERENCES vendors (user_id),
    price_paisa       bigint NOT NULL CHECK (price_paisa > 0),
    commission_bps    int NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    commission_paisa  bigint NOT NULL CHECK (commission_paisa BETWEEN 0 AND price_paisa),
    pickup_at         timestamptz NOT NULL,
    delivery_at       timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'CREATED'
                      CHECK (status IN ('CREATED', 'PICKED_UP', 'IN_PROGRESS', 'DELIVERING',
                                        'COMPLETED', 'CANCELLED', 'DISPUTED')),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_vendor_idx ON orders (vendor_id, created_at DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC);
CREATE INDEX orders_delivering_idx ON orders (status_changed_at) WHERE status = 'DELIVERING';

CREATE TABLE order_status_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders (id),
    from_status     text,
    to_status       text NOT NULL,
    actor_id        bigint REFERENCES users (id),
    note            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id);

CREATE TABLE disputes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders (id),
    opened_by       bigint NOT NULL REFERENCES users (id),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    status          text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'RESOLVED')),
    outcome         text CHECK (outcome IN ('RELEASE', 'REFUND')),
    resolution_note text NOT NULL DEFAULT '',
    resolved_by     bigint REFERENCES users (id),
    resolved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'OPEN') = (outcome IS NULL))
);
CREATE UNIQUE INDEX disputes_one_open_per_order ON disputes (order_id) WHERE status = 'OPEN';
CREATE INDEX disputes_status_created_idx ON disputes (status, created_at DESC);

-- Live events (the outbox), notifications and the audit log -------------------------

-- `txid` is the writing transaction's id. The relay reads only rows whose
-- transaction is older than every running one (txid < pg_snapshot_xmin), in
-- (txid, id) order, so an event that commits late is never skipped.
CREATE TABLE events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind            text NOT NULL CHECK (kind IN (
                        'request_created', 'request_cancelled', 'request_expired',
                        'offer_created', 'offer_updated', 'offer_withdrawn',
                        'offer_accepted', 'offer_rejected', 'offer_expired',
                        'order_created', 'order_status_updated', 'order_cancelled',
                        'dispute_opened', 'dispute_resolved',
                        'user_suspended', 'user_reinstated')),
    actor_id        bigint REFERENCES users (id),
    request_id      bigint REFERENCES requests (id),
    offer_id        bigint REFERENCES offers (id),
    order_id        bigint REFERENCES orders (id),
    dispute_id      bigint REFERENCES disputes (id),
    -- Who may see it besides admins: these users, and every vendor when set.
    audience_users  bigint[] NOT NULL DEFAULT '{}',
    all_vendors     boolean NOT NULL DEFAULT false,
    payload         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_position_idx ON events (txid, id);
CREATE INDEX events_audience_idx ON events USING gin (audience_users);

CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    event_id        bigint REFERENCES events (id),
    title           text NOT NULL,
    body            text NOT NULL DEFAULT '',
    link            text NOT NULL DEFAULT '',
    read_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, event_id)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id        bigint NOT NULL REFERENCES users (id),
    action          text NOT NULL,
    target_type     text NOT NULL,
    target_id       bigint NOT NULL,
    reason          text NOT NULL,
    before_status   text,
    after_status    text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at DESC);
