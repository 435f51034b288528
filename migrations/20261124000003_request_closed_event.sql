-- request_closed: a request stopped taking offers because an offer was
-- accepted. It goes to every vendor and carries only the request's id, so
-- boards drop the request without telling anyone about the order.
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN (
    'request_created', 'request_cancelled', 'request_expired', 'request_closed',
    'offer_created', 'offer_updated', 'offer_withdrawn',
    'offer_accepted', 'offer_rejected', 'offer_expired',
    'order_created', 'order_status_updated', 'order_cancelled',
    'dispute_opened', 'dispute_resolved',
    'user_suspended', 'user_reinstated'));
