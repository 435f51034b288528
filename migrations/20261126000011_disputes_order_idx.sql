-- An order's disputes, looked up by order: the order page reads its latest
-- (ORDER BY id DESC LIMIT 1) and a customer's receipt checks it has none.
-- Only the open dispute had an index by order (disputes_one_open_per_order),
-- so both read every dispute ever opened. With 6,000 orders and ~1,400
-- disputes the order page's statement took about half the instructions
-- with this index as without.
CREATE INDEX disputes_order_idx ON disputes (order_id, id);
