-- A laundry's money per Nepal day (issue 13, "Scale"): the earnings on a
-- laundry's statistics page read these rows instead of every ledger entry,
-- payment and refund of the laundry (at a million orders the busiest one's
-- two years took a second to add up). Kept by the sweep with the platform's
-- daily figures (`market::platform_stats::refresh`, the same days in the
-- same transaction): money is dated when it moved, so a day's rows change
-- only while its money can still move (the last days), and a page computes
-- only today and days not stored yet.
CREATE TABLE vendor_money_daily (
    vendor_id     bigint NOT NULL REFERENCES users (id),
    day           date NOT NULL,
    -- What Dhune owes for payments taken online, less refunds' share.
    online_paisa  bigint NOT NULL,
    -- Cash collected on delivery, less the commission owed on it and any
    -- cash given back.
    cash_paisa    bigint NOT NULL,
    -- Money movements counted (the earnings' n).
    movements     bigint NOT NULL,
    PRIMARY KEY (vendor_id, day)
);

-- The days whose rows above are complete: a laundry with no row on such a
-- day had no money move.
CREATE TABLE vendor_money_days (
    day          date PRIMARY KEY,
    computed_at  timestamptz NOT NULL DEFAULT now()
);

-- Each laundry's money on the Nepal days first..last (only `vendor`'s when
-- it is given): the figures the statistics page showed before, per day.
CREATE FUNCTION vendor_money_figures(vendor bigint, first date, last date)
RETURNS TABLE (vendor_id bigint, day date, online_paisa bigint, cash_paisa bigint, movements bigint)
LANGUAGE sql STABLE AS $$
    WITH money AS (
        -- The ledger: online earnings, and the commission owed on cash.
        SELECT split_part(e.account, ':', 2)::bigint AS vendor_id, t.created_at AS at,
               CASE WHEN p.method = 'online' THEN -e.amount_paisa ELSE 0 END AS online,
               CASE WHEN p.method = 'cod' THEN -e.amount_paisa ELSE 0 END AS cash,
               (p.method = 'online')::int AS movements
        FROM ledger_transactions t
        JOIN ledger_entries e ON e.transaction_id = t.id
        LEFT JOIN refunds r ON t.kind = 'refund' AND r.id = t.source_id
        JOIN payments p ON p.id = CASE WHEN t.kind = 'capture' THEN t.source_id
                                       ELSE r.payment_id END
        WHERE t.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND t.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
          AND t.kind IN ('capture', 'refund') AND e.account LIKE 'vendor:%:payable'
          AND (vendor IS NULL OR e.account = 'vendor:' || vendor || ':payable')
        UNION ALL
        -- Cash collected on delivery (recorded when the order completes).
        SELECT o.vendor_id, p.created_at, 0, p.amount_paisa, 1
        FROM payments p JOIN orders o ON o.id = p.order_id
        WHERE p.method = 'cod' AND p.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND p.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
          AND (vendor IS NULL OR o.vendor_id = vendor)
        UNION ALL
        -- Cash given back (when an admin records it done).
        SELECT o.vendor_id, r.updated_at, 0, -r.amount_paisa, 1
        FROM refunds r
        JOIN payments p ON p.id = r.payment_id AND p.method = 'cod'
        JOIN orders o ON o.id = p.order_id
        WHERE r.status = 'SUCCEEDED' AND r.updated_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND r.updated_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
          AND (vendor IS NULL OR o.vendor_id = vendor))
    SELECT vendor_id, (at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
           sum(online)::bigint, sum(cash)::bigint, sum(movements)::bigint
    FROM money
    GROUP BY 1, 2
$$;
ALTER FUNCTION vendor_money_figures(bigint, date, date) SET jit = off;

-- What the function starts from: cash payments and cash given back by time.
CREATE INDEX payments_cod_created_idx ON payments (created_at) WHERE method = 'cod';
CREATE INDEX refunds_succeeded_updated_idx ON refunds (updated_at) WHERE status = 'SUCCEEDED';

-- A laundry's orders by time with what its page counts, read from the index
-- alone (it replaces the plain (vendor_id, created_at DESC) index).
CREATE INDEX orders_vendor_created_idx ON orders (vendor_id, created_at)
    INCLUDE (status, completed_at);
DROP INDEX orders_vendor_idx;
