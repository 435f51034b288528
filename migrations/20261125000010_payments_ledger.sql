-- Payments, refunds and the double-entry ledger (issue 11; DESIGN.md, "Money").
-- This is the foundation: the tables and the rules the database itself keeps.

-- How the customer pays for an order: `online` (the configured provider) or
-- `cod` (cash on delivery). Orders made before this migration were settled in
-- cash between customer and laundry, so every existing order becomes a `cod`
-- order; an order made without choosing is `cod` too (DESIGN.md).
ALTER TABLE orders
    ADD COLUMN payment_method text NOT NULL DEFAULT 'cod'
        CHECK (payment_method IN ('online', 'cod'));

-- One row per attempt to be paid for an order. An online attempt that fails,
-- expires or is cancelled stays as it is (with its events) and a new one is
-- made; at most one attempt per order is alive (pending or paid).
-- `reference` is ours, unique, and is what we give the provider (Khalti's
-- purchase_order_id, eSewa's transaction_uuid); `provider_ref` is the
-- provider's own id for it (Khalti's pidx, eSewa's ref_id). A cash payment
-- has no provider. `refunded_paisa` is the sum of the payment's SUCCEEDED
-- refunds (`dhune ledger check` verifies it).
CREATE TABLE payments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders (id),
    method          text NOT NULL CHECK (method IN ('online', 'cod')),
    provider        text CHECK (provider IN ('sandbox', 'khalti', 'esewa')),
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED',
                                      'PARTIALLY_REFUNDED', 'REFUNDED')),
    amount_paisa    bigint NOT NULL CHECK (amount_paisa > 0),
    refunded_paisa  bigint NOT NULL DEFAULT 0,
    reference       text NOT NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 64),
    provider_ref    text CHECK (length(provider_ref) BETWEEN 1 AND 200),
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_refunded_within_amount CHECK (refunded_paisa BETWEEN 0 AND amount_paisa),
    CONSTRAINT payments_online_has_provider CHECK ((method = 'online') = (provider IS NOT NULL)),
    -- The status tells how much came back: nothing, a part, or all of it.
    CONSTRAINT payments_status_matches_refunds CHECK (CASE status
        WHEN 'PARTIALLY_REFUNDED' THEN refunded_paisa > 0 AND refunded_paisa < amount_paisa
        WHEN 'REFUNDED' THEN refunded_paisa = amount_paisa
        ELSE refunded_paisa = 0 END)
);
CREATE UNIQUE INDEX payments_one_alive_per_order ON payments (order_id)
    WHERE status NOT IN ('FAILED', 'EXPIRED', 'CANCELLED');
CREATE INDEX payments_order_idx ON payments (order_id, id);
CREATE INDEX payments_status_created_idx ON payments (status, created_at DESC);
CREATE INDEX payments_pending_idx ON payments (created_at) WHERE status = 'PENDING';

-- What happened to a payment, as its timeline: initiated, the customer's
-- return, each provider callback and look-up, the outcome, refunds.
CREATE TABLE payment_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id      bigint NOT NULL REFERENCES payments (id),
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
    detail          jsonb NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_events_payment_idx ON payment_events (payment_id, id);

-- Money given back, in full or in part. A refund is PENDING while the
-- provider works on it, SUCCEEDED when the money went back, FAILED when the
-- provider refused (an admin may retry), MANUAL_ACTION_NEEDED where the
-- provider has no refund API (eSewa) until an admin marks it done.
-- `created_by` is who asked for it; NULL when Dhune itself did (a sweep).
CREATE TABLE refunds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id      bigint NOT NULL REFERENCES payments (id),
    amount_paisa    bigint NOT NULL CHECK (amount_paisa > 0),
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'MANUAL_ACTION_NEEDED')),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    provider_ref    text CHECK (length(provider_ref) BETWEEN 1 AND 200),
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id, id);
CREATE INDEX refunds_open_idx ON refunds (created_at) WHERE status IN ('FAILED', 'MANUAL_ACTION_NEEDED');

-- Refunds asked for (all but FAILED ones: pending, done, or waiting for an
-- admin) never exceed the payment, however many are asked for at once: each
-- new or retried refund locks its payment (FOR NO KEY UPDATE; payments come
-- before refunds in the lock order) and counts them again. The CHECK on
-- payments.refunded_paisa guards what actually went back; this guards what
-- may still go back, before the provider is asked.
CREATE FUNCTION refunds_within_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    paid  bigint;
    asked numeric;
BEGIN
    SELECT amount_paisa INTO paid FROM payments WHERE id = NEW.payment_id FOR NO KEY UPDATE;
    SELECT coalesce(sum(amount_paisa), 0) INTO asked
    FROM refunds WHERE payment_id = NEW.payment_id AND status <> 'FAILED';
    IF asked > paid THEN
        RAISE EXCEPTION 'refunds of payment % would come to % paisa, more than the % paid',
            NEW.payment_id, asked, paid
            USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_within_payment';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER refunds_within_payment AFTER INSERT OR UPDATE OF amount_paisa, status ON refunds
    FOR EACH ROW WHEN (NEW.status <> 'FAILED') EXECUTE FUNCTION refunds_within_payment();

-- The ledger --------------------------------------------------------------------
--
-- One `ledger_transactions` row per money movement, unique per (kind, source):
--   capture  source payment  the payment was captured: online (the provider
--                            confirmed it) or cash (collected on completion)
--   refund   source refund   the refund went back to the customer
-- Its `ledger_entries` carry signed paisa: positive is a debit (money held
-- or owed to the platform), negative a credit (money the platform owes, or
-- earned). Accounts are text:
--   provider:sandbox|khalti|esewa  money a provider collected for us (clearing)
--   vendor:<user id>:payable       negative: we owe the laundry; positive: it owes us
--   platform:commission            the platform's commission (negative: earned)
--   cash:payouts                   money paid out to laundries (later: payouts)
-- Postings (g = the amount, c = the commission at the order's snapshot rate):
--   online capture   provider +g, vendor -(g-c), platform -c
--   cash capture     vendor +c, platform -c (the laundry holds the cash g:
--                    its own account is the clearing account, so +g and
--                    -(g-c) meet there and what remains is c it owes us)
--   refund           the reverse of the refunded part (src/domain/ledger.rs
--                    says how the commission's share is computed)
-- The database keeps three rules: the entries of a transaction are written in
-- the same database transaction as it, at least two of them, summing to zero
-- (checked at commit); and nothing in the ledger is ever updated or deleted.

CREATE TABLE ledger_transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    source_type     text NOT NULL,
    source_id       bigint NOT NULL,
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_transactions_one_per_movement UNIQUE (kind, source_type, source_id),
    CONSTRAINT ledger_transactions_kind_source CHECK (
        (kind = 'capture' AND source_type = 'payment')
        OR (kind = 'refund' AND source_type = 'refund'))
);
CREATE INDEX ledger_transactions_created_idx ON ledger_transactions (created_at);

CREATE TABLE ledger_entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  bigint NOT NULL REFERENCES ledger_transactions (id),
    account         text NOT NULL CHECK (account ~
                        '^(provider:(sandbox|khalti|esewa)|vendor:[1-9][0-9]{0,18}:payable|platform:commission|cash:payouts)$'),
    amount_paisa    bigint NOT NULL CHECK (amount_paisa <> 0)
);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account, id);

-- Entries join their transaction only in the database transaction that wrote
-- it: a committed ledger transaction is complete and stays so.
CREATE FUNCTION ledger_entry_with_its_transaction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT txid FROM ledger_transactions WHERE id = NEW.transaction_id)
       IS DISTINCT FROM pg_current_xact_id() THEN
        RAISE EXCEPTION 'ledger transaction % is already committed; entries cannot be added to it',
            NEW.transaction_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_with_their_transaction';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_entries_with_their_transaction BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_with_its_transaction();

-- At commit, each transaction written (or given entries) has at least two
-- entries summing to zero; otherwise the commit fails and nothing is kept.
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tx      bigint;
    entries bigint;
    total   numeric;
BEGIN
    IF TG_TABLE_NAME = 'ledger_transactions' THEN
        tx := NEW.id;
    ELSE
        tx := NEW.transaction_id;
    END IF;
    SELECT count(*), coalesce(sum(amount_paisa), 0) INTO entries, total
    FROM ledger_entries WHERE transaction_id = tx;
    IF entries < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % entries summing to % paisa',
            tx, entries, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transactions_balance';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_transactions_balance AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();
CREATE CONSTRAINT TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

-- Append-only: a mistake is corrected by a new transaction, never by editing.
CREATE FUNCTION ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
