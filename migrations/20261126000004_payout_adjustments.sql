-- Adjustments (issue 12, item 2): an admin credits a laundry (Dhune owes it
-- more: a courier fee Dhune agreed to bear) or debits it (it owes Dhune: a
-- fine, a cash float), with a reason, audited. Each is its own ledger
-- transaction against `platform:adjustments`, so the commission account
-- keeps only commission, and lands on the laundry's next statement as an
-- `adjustment` line.
CREATE TABLE payout_adjustments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor_id     bigint NOT NULL REFERENCES vendors (user_id),
    -- Positive: Dhune owes the laundry this much more; negative: less.
    amount_paisa  bigint NOT NULL CHECK (amount_paisa <> 0),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    created_by    bigint NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_adjustments_vendor_idx ON payout_adjustments (vendor_id, id);
CREATE TRIGGER payout_adjustments_append_only BEFORE UPDATE OR DELETE ON payout_adjustments
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_source;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_source CHECK (
    (kind = 'capture' AND source_type = 'payment')
    OR (kind = 'refund' AND source_type = 'refund')
    OR (kind = 'payout' AND source_type = 'statement')
    OR (kind = 'adjustment' AND source_type = 'adjustment'));

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_account_check CHECK (account ~
    '^(provider:(sandbox|khalti|esewa)|vendor:[1-9][0-9]{0,18}:payable|platform:commission|platform:adjustments|cash:payouts)$');

ALTER TABLE payout_statements ADD COLUMN adjustments_paisa bigint NOT NULL DEFAULT 0;
ALTER TABLE payout_statements DROP CONSTRAINT payout_statements_totals;
ALTER TABLE payout_statements ADD CONSTRAINT payout_statements_totals CHECK (
    net_paisa = gross_paisa + commission_paisa + refunds_paisa + clawbacks_paisa
                + adjustments_paisa + carried_paisa);

ALTER TABLE payout_statement_lines DROP CONSTRAINT payout_statement_lines_kind_check;
ALTER TABLE payout_statement_lines ADD CONSTRAINT payout_statement_lines_kind_check CHECK (
    kind IN ('capture', 'cash_commission', 'refund', 'clawback', 'adjustment', 'carried'));
