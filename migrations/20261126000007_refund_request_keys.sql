-- An admin's refund form carries a key made when the form was drawn, kept
-- with the refund it made: the same form sent twice (a double click, a
-- resend after a timeout) makes one refund, never two.
ALTER TABLE refunds ADD COLUMN request_key text
    CHECK (request_key IS NULL OR request_key ~ '^[0-9a-f]{32}$');
CREATE UNIQUE INDEX refunds_request_key_idx ON refunds (payment_id, request_key)
    WHERE request_key IS NOT NULL;
