-- Weekly payout statements (issue 12, item 2; DESIGN.md, "Money" → "Payouts").
--
-- One statement per vendor and Nepal week (Sunday..Saturday, Asia/Kathmandu),
-- issued by the sweep once the week has ended. Its lines are the entries of
-- the vendor's ledger account (`vendor:<id>:payable`) not yet on a line, plus
-- a `carried` line when the vendor's previous statement had a negative net.
-- Amounts are positive when Dhune owes the laundry (the opposite sign of the
-- ledger entry). A statement's net is the sum of its lines; its totals by kind
-- add up to the net (CHECK below; `dhune ledger check` compares the lines).
CREATE TABLE payout_statements (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor_id         bigint NOT NULL REFERENCES vendors (user_id),
    period_start      date NOT NULL,
    period_end        date NOT NULL,
    gross_paisa       bigint NOT NULL,
    commission_paisa  bigint NOT NULL,
    refunds_paisa     bigint NOT NULL,
    clawbacks_paisa   bigint NOT NULL,
    carried_paisa     bigint NOT NULL,
    net_paisa         bigint NOT NULL,
    status            text NOT NULL DEFAULT 'ISSUED' CHECK (status IN ('ISSUED', 'PAID')),
    issued_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payout_statements_one_per_week UNIQUE (vendor_id, period_start),
    CONSTRAINT payout_statements_a_week CHECK (
        extract(isodow FROM period_start) = 7 AND period_end = period_start + 6),
    CONSTRAINT payout_statements_totals CHECK (
        net_paisa = gross_paisa + commission_paisa + refunds_paisa + clawbacks_paisa + carried_paisa),
    -- A statement whose net is negative is never paid: it carries forward.
    CONSTRAINT payout_statements_negative_unpaid CHECK (status = 'ISSUED' OR net_paisa >= 0)
);

-- Every entry of a vendor's account lands on exactly one line (UNIQUE), so
-- nothing is paid twice or forgotten; a carried net is carried once.
CREATE TABLE payout_statement_lines (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement_id     bigint NOT NULL REFERENCES payout_statements (id),
    ledger_entry_id  bigint UNIQUE REFERENCES ledger_entries (id),
    carried_from     bigint UNIQUE REFERENCES payout_statements (id),
    kind             text NOT NULL
                     CHECK (kind IN ('capture', 'cash_commission', 'refund', 'clawback', 'carried')),
    order_id         bigint REFERENCES orders (id),
    amount_paisa     bigint NOT NULL,
    CONSTRAINT payout_statement_lines_one_source CHECK (
        (ledger_entry_id IS NULL) <> (carried_from IS NULL)),
    CONSTRAINT payout_statement_lines_carried_kind CHECK (
        (kind = 'carried') = (carried_from IS NOT NULL))
);
CREATE INDEX payout_statement_lines_statement_idx ON payout_statement_lines (statement_id, id);
