-- Statistics (issue 13): each query of a vendor's dashboard reads that
-- vendor's rows of the range through a (vendor, time) index.
-- orders (vendor_id, created_at) exists already (orders_vendor_idx); offers
-- had (vendor_id, status, created_at), which a range over every status
-- cannot use well, so offers get (vendor_id, created_at) with the status.
CREATE INDEX offers_vendor_created_idx ON offers (vendor_id, created_at) INCLUDE (status);
-- Orders now cancelled, looked up by order in the history for who cancelled.
CREATE INDEX order_status_history_cancelled_idx ON order_status_history (order_id)
    INCLUDE (actor_id) WHERE to_status = 'CANCELLED';
