-- When the customer confirmed they received their laundry. A vendor may
-- mark an order delivered (COMPLETED) first; until the customer confirms,
-- the customer is asked to. Orders the customer completed themselves were
-- confirmed then.
ALTER TABLE orders ADD COLUMN received_at timestamptz;

UPDATE orders o SET received_at = h.created_at
FROM order_status_history h
WHERE h.order_id = o.id AND h.from_status = 'DELIVERING' AND h.to_status = 'COMPLETED'
  AND h.actor_id = o.customer_id;
