-- Payments reach the people concerned as events (DESIGN.md, "Money"):
-- payment_succeeded, payment_failed and payment_refunded go to the order's
-- customer and laundry (and admins), live and as notifications.
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN (
    'request_created', 'request_cancelled', 'request_expired', 'request_closed',
    'offer_created', 'offer_updated', 'offer_withdrawn',
    'offer_accepted', 'offer_rejected', 'offer_expired',
    'order_created', 'order_status_updated', 'order_cancelled',
    'dispute_opened', 'dispute_resolved',
    'user_suspended', 'user_reinstated',
    'payment_succeeded', 'payment_failed', 'payment_refunded'));

-- A dispute may now be settled with part of the money back: the order
-- completes and the customer gets `refund_paisa` of it.
ALTER TABLE disputes DROP CONSTRAINT IF EXISTS disputes_outcome_check;
ALTER TABLE disputes
    ADD CONSTRAINT disputes_outcome_check CHECK (outcome IN ('RELEASE', 'REFUND', 'PARTIAL')),
    ADD COLUMN refund_paisa bigint CHECK (refund_paisa > 0),
    ADD CONSTRAINT disputes_partial_has_amount CHECK ((outcome = 'PARTIAL') = (refund_paisa IS NOT NULL));

-- When a refund was handed to the provider: the claim that makes one
-- instance send it, and how the sweep tells a refund never sent (send it)
-- from one sent without an answer recorded (an admin must check).
ALTER TABLE refunds ADD COLUMN sent_at timestamptz;
