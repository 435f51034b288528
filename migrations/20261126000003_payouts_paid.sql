-- Paying a statement (issue 12, item 4; DESIGN.md, "Money" → "Payouts").
--
-- An admin marks an issued statement paid with the reference of the bank
-- transfer that paid it. With it the payout is posted to the ledger: vendor
-- +net, `cash:payouts` −net, one `payout` transaction per statement. A
-- statement whose net is zero is marked paid with no posting (nothing moves);
-- one whose net is negative is never paid (it carries into the next one).
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_source;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_source CHECK (
    (kind = 'capture' AND source_type = 'payment')
    OR (kind = 'refund' AND source_type = 'refund')
    OR (kind = 'payout' AND source_type = 'statement'));

ALTER TABLE payout_statements
    ADD COLUMN paid_at timestamptz,
    ADD COLUMN paid_by bigint REFERENCES users (id),
    ADD COLUMN transfer_reference text
        CHECK (transfer_reference IS NULL OR length(transfer_reference) BETWEEN 1 AND 100),
    ADD CONSTRAINT payout_statements_paid_has_reference CHECK (
        (status = 'PAID') = (paid_at IS NOT NULL AND paid_by IS NOT NULL
                             AND transfer_reference IS NOT NULL));

CREATE INDEX payout_statements_status_idx ON payout_statements (status, period_start DESC, id DESC);
CREATE INDEX payout_statements_period_idx ON payout_statements (period_start DESC, id DESC);

-- A vendor's statement was issued, or paid: told to the vendor (the
-- statement's id is in the payload).
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN (
    'request_created', 'request_cancelled', 'request_expired', 'request_closed',
    'offer_created', 'offer_updated', 'offer_withdrawn',
    'offer_accepted', 'offer_rejected', 'offer_expired',
    'order_created', 'order_status_updated', 'order_cancelled',
    'dispute_opened', 'dispute_resolved',
    'user_suspended', 'user_reinstated',
    'payment_succeeded', 'payment_failed', 'payment_refunded',
    'payout_issued', 'payout_paid'));
