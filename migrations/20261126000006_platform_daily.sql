-- The platform's statistics, one row per Nepal day (issue 13, "Scale";
-- DESIGN.md, "Statistics"): the admin's figures over any range read at most
-- a few hundred of these rows instead of every order. Kept by the sweep
-- (`market::platform_stats::refresh`): it recomputes the last few days on
-- every tick and fills any day that has no row yet, so the rows are never
-- written by a page. Every figure is of events ON that day: a day's row
-- changes only while its events can still change (the last days).
CREATE TABLE platform_daily (
    day                  date PRIMARY KEY,
    requests_created     int NOT NULL,
    offers_made          int NOT NULL,
    orders_created       int NOT NULL,
    -- Of the orders created, those to be paid online (the rest: cash).
    orders_online        int NOT NULL,
    -- The price of the orders created (gross order value).
    gross_paisa          bigint NOT NULL,
    orders_completed     int NOT NULL,
    -- Orders cancelled that day, by who cancelled them (nobody: Dhune).
    cancelled_customer   int NOT NULL,
    cancelled_vendor     int NOT NULL,
    cancelled_admin      int NOT NULL,
    cancelled_system     int NOT NULL,
    -- The commission earned net of its refunds' share (platform:commission).
    commission_paisa     bigint NOT NULL,
    -- Money given back to customers (the ledger's refund transactions),
    -- and how many refunds.
    refunds_paisa        bigint NOT NULL,
    refunds_made         int NOT NULL,
    disputes_opened      int NOT NULL,
    -- Disputes still open at the day's end.
    disputes_open        int NOT NULL,
    -- Customers who posted a request, laundries that made an offer.
    active_customers     int NOT NULL,
    active_vendors       int NOT NULL,
    computed_at          timestamptz NOT NULL DEFAULT now()
);

-- Who was active in each Nepal week (Sunday–Saturday): not the sum of its
-- days' (one customer active on three days is one), so kept on its own.
CREATE TABLE platform_weekly (
    week                 date PRIMARY KEY CHECK (extract(isodow FROM week) = 7),
    active_customers     int NOT NULL,
    active_vendors       int NOT NULL,
    computed_at          timestamptz NOT NULL DEFAULT now()
);

-- The figures of the Nepal days `first`..`last` (inclusive), every day
-- present (zero-filled), computed from the records: what the sweep stores,
-- and what a page reads for a day not stored yet. One definition for both.
CREATE FUNCTION platform_day_figures(first date, last date)
RETURNS TABLE (
    day date, requests_created int, offers_made int, orders_created int,
    orders_online int, gross_paisa bigint, orders_completed int,
    cancelled_customer int, cancelled_vendor int, cancelled_admin int,
    cancelled_system int, commission_paisa bigint, refunds_paisa bigint,
    refunds_made int, disputes_opened int, disputes_open int, active_customers int, active_vendors int)
LANGUAGE sql STABLE AS $$
    WITH days AS (
        SELECT d::date AS day FROM generate_series(first, last, interval '1 day') d),
    req AS (
        SELECT (r.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*)::int AS n,
               count(DISTINCT r.customer_id)::int AS customers
        FROM requests r WHERE r.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND r.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    off AS (
        SELECT (f.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*)::int AS n,
               count(DISTINCT f.vendor_id)::int AS vendors
        FROM offers f WHERE f.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND f.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    ord AS (
        SELECT (o.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*)::int AS n,
               (count(*) FILTER (WHERE o.payment_method = 'online'))::int AS online,
               sum(o.price_paisa)::bigint AS gross
        FROM orders o WHERE o.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND o.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    done AS (
        SELECT (o.completed_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*)::int AS n
        FROM orders o WHERE o.completed_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND o.completed_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    cancelled AS (
        SELECT (h.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
               (count(*) FILTER (WHERE u.role = 'customer'))::int AS customer,
               (count(*) FILTER (WHERE u.role = 'vendor'))::int AS vendor,
               (count(*) FILTER (WHERE u.role = 'admin'))::int AS admin,
               (count(*) FILTER (WHERE h.actor_id IS NULL))::int AS system
        FROM order_status_history h LEFT JOIN users u ON u.id = h.actor_id
        WHERE h.to_status = 'CANCELLED' AND h.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND h.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    commission AS (
        SELECT (t.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
               (-sum(e.amount_paisa))::bigint AS paisa
        FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
        WHERE e.account = 'platform:commission'
          AND t.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND t.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    refunded AS (
        SELECT (t.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
               sum(r.amount_paisa)::bigint AS paisa, count(*)::int AS n
        FROM ledger_transactions t JOIN refunds r ON r.id = t.source_id
        WHERE t.kind = 'refund' AND t.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND t.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    opened AS (
        SELECT (d.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*)::int AS n
        FROM disputes d WHERE d.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND d.created_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    resolved AS (
        SELECT (d.resolved_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*)::int AS n
        FROM disputes d WHERE d.resolved_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND d.resolved_at < ((last + 1)::timestamp AT TIME ZONE 'Asia/Kathmandu')
        GROUP BY 1),
    -- Open when the range begins; then each day's opened less resolved.
    open_before AS (
        SELECT count(*)::int AS n FROM disputes d
        WHERE d.created_at < (first::timestamp AT TIME ZONE 'Asia/Kathmandu')
          AND (d.resolved_at IS NULL OR d.resolved_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu')))
    SELECT days.day,
           coalesce(req.n, 0), coalesce(off.n, 0), coalesce(ord.n, 0), coalesce(ord.online, 0),
           coalesce(ord.gross, 0), coalesce(done.n, 0),
           coalesce(cancelled.customer, 0), coalesce(cancelled.vendor, 0),
           coalesce(cancelled.admin, 0), coalesce(cancelled.system, 0),
           coalesce(commission.paisa, 0), coalesce(refunded.paisa, 0), coalesce(refunded.n, 0),
           coalesce(opened.n, 0),
           ((SELECT n FROM open_before)
            + sum(coalesce(opened.n, 0) - coalesce(resolved.n, 0)) OVER (ORDER BY days.day))::int,
           coalesce(req.customers, 0), coalesce(off.vendors, 0)
    FROM days
    LEFT JOIN req USING (day) LEFT JOIN off USING (day) LEFT JOIN ord USING (day)
    LEFT JOIN done USING (day) LEFT JOIN cancelled USING (day)
    LEFT JOIN commission USING (day) LEFT JOIN refunded USING (day) LEFT JOIN opened USING (day)
    LEFT JOIN resolved USING (day)
    ORDER BY days.day
$$;

-- Who was active in the Nepal weeks starting on the Sundays `first`..`last`.
CREATE FUNCTION platform_week_figures(first date, last date)
RETURNS TABLE (week date, active_customers int, active_vendors int)
LANGUAGE sql STABLE AS $$
    WITH weeks AS (
        SELECT w::date AS week FROM generate_series(first, last, interval '7 days') w),
    -- A Nepal date's Sunday: the date less its days since Sunday.
    req AS (
        SELECT d - extract(dow FROM d)::int AS week, count(DISTINCT customer_id)::int AS n
        FROM (SELECT (r.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS d, r.customer_id
              FROM requests r
              WHERE r.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND r.created_at < ((last + 7)::timestamp AT TIME ZONE 'Asia/Kathmandu')) x
        GROUP BY 1),
    off AS (
        SELECT d - extract(dow FROM d)::int AS week, count(DISTINCT vendor_id)::int AS n
        FROM (SELECT (f.created_at AT TIME ZONE 'Asia/Kathmandu')::date AS d, f.vendor_id
              FROM offers f
              WHERE f.created_at >= (first::timestamp AT TIME ZONE 'Asia/Kathmandu') AND f.created_at < ((last + 7)::timestamp AT TIME ZONE 'Asia/Kathmandu')) x
        GROUP BY 1)
    SELECT weeks.week, coalesce(req.n, 0), coalesce(off.n, 0)
    FROM weeks LEFT JOIN req USING (week) LEFT JOIN off USING (week)
    ORDER BY weeks.week
$$;

-- The plans of these are cheap (a few milliseconds a day at a million
-- orders), but their estimates are not: compiling them (JIT) would cost
-- far more than running them.
ALTER FUNCTION platform_day_figures(date, date) SET jit = off;
ALTER FUNCTION platform_week_figures(date, date) SET jit = off;

-- What the figures read, by time.
CREATE INDEX requests_created_idx ON requests (created_at) INCLUDE (customer_id);
CREATE INDEX offers_created_idx ON offers (created_at) INCLUDE (vendor_id);
CREATE INDEX orders_created_idx ON orders (created_at) INCLUDE (payment_method, price_paisa);
CREATE INDEX orders_completed_idx ON orders (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX order_status_history_cancelled_at_idx ON order_status_history (created_at)
    INCLUDE (actor_id) WHERE to_status = 'CANCELLED';
CREATE INDEX disputes_created_idx ON disputes (created_at) INCLUDE (resolved_at);
CREATE INDEX disputes_resolved_idx ON disputes (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX ledger_entries_commission_idx ON ledger_entries (transaction_id) INCLUDE (amount_paisa)
    WHERE account = 'platform:commission';
