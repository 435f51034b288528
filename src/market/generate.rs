//! Fills a database with generated history, for measuring the statistics
//! pages at scale (`dhune generate`; issue 13, item 8).
//!
//! Everything is written with bulk SQL (`INSERT … SELECT` over
//! `generate_series`), a batch of orders per transaction, and writes the
//! rows the operations would have written for the same history: requests
//! with their services and offers (the accepted one, the others rejected
//! or withdrawn), orders with their commission snapshot and every status
//! change in `order_status_history`, disputes, payments (online through the
//! sandbox, and cash collected on completion), refunds, and the ledger
//! transactions of every capture and refund with the entries of
//! `domain::ledger` (computed here in SQL the same way: the commission on a
//! refund is C(0) − C(a), C(R) the snapshot rate applied to g − R, rounded
//! half up), dated when the money moved. The admin actions among them
//! (force-cancels, dispute settlements, refunds) are in the audit log.
//!
//! Each order's whole life is drawn first (accept, payment, pickup, …,
//! completion, a dispute or a cancel, refunds); what lies after the moment
//! the generator runs has not happened yet, so recent orders are still on
//! their way and recent requests still open.
//!
//! Not written: events and notifications (the live stream and the bell
//! start empty), payment timelines (`payment_events`), payout statements
//! (the sweep issues them for the ended weeks), failed payment attempts.
//!
//! Random choices come from `hashint8extended(key, seed)`, so the same
//! arguments on an empty database give the same data. Accounts sign up
//! shortly before they first ask or offer, so sign-ups grow with the orders.

use sqlx::{Connection, PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{MarketError, MarketResult};
use crate::domain::account::Password;

/// The password of every generated account.
pub const GENERATED_PASSWORD: &str = "dhune-generated";

/// The generated admin's email (the customers are `customer<n>@…`, the
/// laundries `vendor<n>@…`, from 1).
pub const GENERATED_ADMIN: &str = "admin@generated.example";

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub customers: i64,
    pub vendors: i64,
    pub orders: i64,
    /// How far back the history reaches.
    pub weeks: i64,
    pub seed: i64,
    /// The commission rate of every order (the configured platform rate).
    pub commission_bps: i32,
    /// After how long the sweep completes an order out for delivery.
    pub auto_complete_hours: i64,
    /// After how long the sweep cancels an online order still unpaid.
    pub unpaid_cancel_hours: i64,
    /// Orders per transaction.
    pub batch: i64,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub customers: i64,
    pub vendors: i64,
    pub orders: i64,
    /// Requests that never became an order (expired, cancelled, open).
    pub other_requests: i64,
}

/// Requests without an order, per order.
const OTHER_REQUESTS_PER_ORDER: f64 = 0.15;

/// Fills `pool`'s database per `plan`, calling `progress` with the number
/// of orders written after each batch. Refuses a database that has orders.
pub async fn generate(
    pool: &PgPool,
    plan: &Plan,
    mut progress: impl FnMut(i64),
) -> MarketResult<Generated> {
    check_plan(plan)?;
    let mut conn = pool.acquire().await?;
    let has_orders: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders)")
        .fetch_one(&mut *conn)
        .await?;
    if has_orders {
        return Err(MarketError::Conflict(
            "This database already has orders; dhune generate fills only a database without any \
             (create a new one, e.g. with createdb, and run it there)."
                .into(),
        ));
    }
    let first_email = "customer1@generated.example";
    let password = Password::parse(GENERATED_PASSWORD, first_email, "Sita Sharma")
        .map_err(|why| MarketError::Internal(anyhow::anyhow!(why)))?;
    let hash = super::password::hash(&password).await?;
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(|err| MarketError::Internal(err.into()))?;
    let sql = Sql::new(&mut conn, plan, now).await?;

    let mut tx = conn.begin().await?;
    sql.users(&mut tx, &hash).await?;
    tx.commit().await?;

    let others = (plan.orders as f64 * OTHER_REQUESTS_PER_ORDER).round() as i64;
    let mut done = 0;
    while done < plan.orders {
        let end = (done + plan.batch).min(plan.orders);
        let (others_from, others_to) = (done * others / plan.orders, end * others / plan.orders);
        let mut tx = conn.begin().await?;
        sql.orders(&mut tx, done + 1, end).await?;
        sql.other_requests(&mut tx, others_from + 1, others_to)
            .await?;
        tx.commit().await?;
        done = end;
        progress(done);
    }
    let mut tx = conn.begin().await?;
    sql.signups(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    Ok(Generated {
        customers: plan.customers,
        vendors: plan.vendors,
        orders: plan.orders,
        other_requests: others,
    })
}

fn check_plan(plan: &Plan) -> MarketResult<()> {
    let wrong = if plan.customers < 1 || plan.vendors < 1 {
        Some("at least one customer and one vendor are needed")
    } else if plan.orders < 0 {
        Some("the number of orders cannot be negative")
    } else if !(1..=520).contains(&plan.weeks) {
        Some("weeks must be between 1 and 520")
    } else if plan.batch < 1 {
        Some("the batch size must be at least 1")
    } else {
        None
    };
    match wrong {
        Some(why) => Err(MarketError::Conflict(why.into())),
        None => Ok(()),
    }
}

/// The SQL of one generation: the plan's numbers and the identity sequences
/// are written into the text (they are numbers and names from the database,
/// never user text).
struct Sql {
    seed: i64,
    customers: i64,
    vendors: i64,
    orders: i64,
    bps: i64,
    auto_hours: i64,
    unpaid_hours: i64,
    /// The first moment of the history, and now, as timestamptz literals.
    start: String,
    now: String,
    span_secs: i64,
    seq: Sequences,
}

struct Sequences {
    requests: String,
    offers: String,
    orders: String,
    disputes: String,
    payments: String,
    refunds: String,
    ledger: String,
}

impl Sql {
    async fn new(conn: &mut PgConnection, plan: &Plan, now: String) -> MarketResult<Sql> {
        let mut names = Vec::new();
        for table in [
            "requests",
            "offers",
            "orders",
            "disputes",
            "payments",
            "refunds",
            "ledger_transactions",
        ] {
            let name: String = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                .bind(table)
                .fetch_one(&mut *conn)
                .await?;
            names.push(format!("nextval('{}')", name.replace('\'', "''")));
        }
        let mut names = names.into_iter();
        let mut next = || names.next().unwrap_or_default();
        let span_secs = plan.weeks * 7 * 86_400;
        Ok(Sql {
            seed: plan.seed,
            customers: plan.customers,
            vendors: plan.vendors,
            orders: plan.orders,
            bps: i64::from(plan.commission_bps),
            auto_hours: plan.auto_complete_hours,
            unpaid_hours: plan.unpaid_cancel_hours,
            start: format!("('{now}'::timestamptz - interval '{span_secs} seconds')"),
            now: format!("'{now}'::timestamptz"),
            span_secs,
            seq: Sequences {
                requests: next(),
                offers: next(),
                orders: next(),
                disputes: next(),
                payments: next(),
                refunds: next(),
                ledger: next(),
            },
        })
    }

    /// A number in [0, 1) drawn for `key` (an SQL expression) and `salt`.
    fn rnd(&self, key: &str, salt: i64) -> String {
        format!(
            "((hashint8extended(({key})::bigint, {}) & 9007199254740991)::float8 / 9007199254740992.0)",
            self.seed.wrapping_mul(1000).wrapping_add(salt)
        )
    }

    /// `r1 … r24` for `key`, as select-list items.
    fn draws(&self, key: &str, salt: i64) -> String {
        (1..=24)
            .map(|i| format!("{} AS r{i}", self.rnd(key, salt + i)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn users(&self, tx: &mut PgConnection, hash: &str) -> MarketResult<()> {
        let Sql {
            customers,
            vendors,
            start,
            ..
        } = self;
        let (cr, vr) = (self.rnd("n", 1), self.rnd("n", 2));
        sqlx::query(&format!(
            "INSERT INTO users (email, name, phone, password_hash, role, created_at, updated_at)
             SELECT 'customer' || n || '@generated.example',
                    {FIRST_NAMES}[1 + n % 24] || ' ' || {LAST_NAMES}[1 + (n / 24) % 20],
                    '98' || lpad(((n * 7919) % 100000000)::text, 8, '0'), $1, 'customer', t, t
             FROM generate_series(1, {customers}) AS n,
                  LATERAL (SELECT {start} - interval '90 days' * {cr} AS t) AS at
             UNION ALL
             SELECT 'vendor' || n || '@generated.example',
                    {FIRST_NAMES}[1 + (n * 7) % 24] || ' ' || {LAST_NAMES}[1 + n % 20],
                    '97' || lpad(((n * 104729) % 100000000)::text, 8, '0'), $1, 'vendor', t, t
             FROM generate_series(1, {vendors}) AS n,
                  LATERAL (SELECT {start} - interval '120 days' * {vr} AS t) AS at
             UNION ALL
             SELECT '{GENERATED_ADMIN}', 'Generated Admin', '9800000000', $1, 'admin',
                    {start} - interval '200 days', {start} - interval '200 days'"
        ))
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO vendors (user_id, business_name, city, area, created_at)
             SELECT u.id,
                    {SHOP_WORDS}[1 + n % 16] || ' ' || {SHOP_KINDS}[1 + (n / 16) % 8]
                        || CASE WHEN n > 128 THEN ' ' || n ELSE '' END,
                    {CITIES}[1 + n % 8], {AREAS}[1 + (n / 8) % 10], u.created_at
             FROM users u, LATERAL (SELECT split_part(split_part(u.email, '@', 1), 'vendor', 2)::bigint AS n) AS v
             WHERE u.role = 'vendor' AND u.email LIKE 'vendor%@generated.example'"
        ))
        .execute(&mut *tx)
        .await?;
        // Who is who, by number, for the batches (this connection only).
        sqlx::query("DROP TABLE IF EXISTS pg_temp.gen_people")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TEMP TABLE gen_people (role text, n bigint, id bigint, city text, area text,
                                            PRIMARY KEY (role, n))",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO gen_people
             SELECT u.role, split_part(split_part(u.email, '@', 1), u.role, 2)::bigint, u.id,
                    coalesce(v.city, ''), coalesce(v.area, '')
             FROM users u LEFT JOIN vendors v ON v.user_id = u.id
             WHERE u.email LIKE '%@generated.example' AND u.role IN ('customer', 'vendor')
             UNION ALL
             SELECT 'admin', 1, id, '', '' FROM users WHERE email = $1",
        )
        .bind(GENERATED_ADMIN)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Dates each account's sign-up shortly before its first request or
    /// offer (so sign-ups follow the growth of the history); accounts that
    /// never took part signed up at some time in it.
    async fn signups(&self, tx: &mut PgConnection) -> MarketResult<()> {
        let Sql {
            start, span_secs, ..
        } = self;
        let (ra, rb) = (self.rnd("p.id", 900), self.rnd("p.id", 901));
        sqlx::query(&format!(
            "WITH firsts (id, at) AS (
                 SELECT customer_id, min(created_at) FROM requests GROUP BY customer_id
                 UNION ALL
                 SELECT vendor_id, min(created_at) FROM offers GROUP BY vendor_id),
             signed_up AS (
                 SELECT p.id, coalesce(f.at - interval '1 hour' * (1 + 240 * {ra}),
                                       {start} + interval '1 second' * {span_secs} * sqrt({rb})) AS at
                 FROM gen_people p LEFT JOIN firsts f ON f.id = p.id
                 WHERE p.role IN ('customer', 'vendor'))
             UPDATE users u SET created_at = s.at, updated_at = s.at
             FROM signed_up s WHERE s.id = u.id"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE vendors v SET created_at = u.created_at FROM users u WHERE u.id = v.user_id
             AND u.email LIKE '%@generated.example'",
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Orders `from..=to` (numbered through the whole history, oldest
    /// first) with their requests, offers, history, disputes and money.
    async fn orders(&self, tx: &mut PgConnection, from: i64, to: i64) -> MarketResult<()> {
        for statement in self.order_statements(from, to) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        Ok(())
    }

    fn order_statements(&self, from: i64, to: i64) -> Vec<String> {
        let Sql {
            customers,
            vendors,
            orders,
            bps,
            auto_hours,
            unpaid_hours,
            start,
            now,
            span_secs,
            seq,
            ..
        } = self;
        let draws = self.draws("k", 100);
        // One row per order: its whole life, then what of it has happened.
        let plan = format!(
            "CREATE TEMP TABLE gen_orders ON COMMIT DROP AS
             WITH d AS (
                 SELECT k, {draws} FROM generate_series({from}, {to}) AS k),
             a AS (
                 SELECT d.*,
                        {start} + interval '1 second' * ({span_secs} - 120)
                            * sqrt((k - r1) / {orders}::float8) AS t_acc,
                        1 + floor({customers} * power(r2, 1.4))::bigint AS cust_n,
                        1 + floor({vendors} * power(r3, 1.8))::bigint AS vend_n,
                        least({vendors}, 1 + floor(r4 * 4))::int AS n_offers,
                        r5 < 0.6 AS online,
                        CASE WHEN r6 < 0.015 THEN 7 WHEN r6 < 0.025 THEN 8
                             WHEN r6 < 0.030 THEN 6 WHEN r6 < 0.070 THEN 2
                             WHEN r6 < 0.095 THEN 3 WHEN r6 < 0.105 THEN 4
                             WHEN r6 < 0.120 THEN CASE WHEN r5 < 0.6 THEN 5 ELSE 2 END
                             ELSE 1 END AS flow,
                        1 + floor(r7 * 6)::int AS svc,
                        1 + floor(r8 * 8)::int AS qty
                 FROM d),
             b AS (
                 SELECT a.*,
                        a.t_acc - interval '1 minute' * (130 + 240 * r9) AS t_req,
                        (round(qty * ({UNIT_PRICES})[svc] * (0.85 + 0.3 * r10) / 500) * 500)::bigint
                            AS price,
                        CASE WHEN online AND (flow IN (1, 6, 7, 8) OR (flow IN (2, 3, 4) AND r11 < 0.6))
                             THEN t_acc + interval '1 minute' * (1 + 8 * r12) END AS t_pay,
                        t_acc + interval '1 minute' * (60 + 420 * r13) AS t_pick0
                 FROM a),
             c AS (
                 SELECT b.*,
                        (price * {bps} + 5000) / 10000 AS commission,
                        CASE WHEN flow IN (1, 6, 7, 8) THEN t_pick0 END AS t_pick,
                        CASE WHEN flow IN (1, 6, 7, 8) THEN t_pick0 + interval '1 minute' * (30 + 210 * r14) END AS t_prog,
                        CASE WHEN flow IN (1, 7, 8) THEN t_pick0 + interval '1 minute' * (30 + 210 * r14)
                                                           + interval '1 hour' * (12 + 48 * r15) END AS t_deliv,
                        CASE WHEN r16 < 0.5 THEN 'customer' WHEN r16 < 0.85 THEN 'vendor' ELSE 'system' END
                            AS done_by,
                        CASE flow WHEN 2 THEN 'customer' WHEN 3 THEN 'vendor' WHEN 4 THEN 'admin'
                                  WHEN 5 THEN 'system' WHEN 6 THEN 'admin' END AS cancel_by,
                        CASE WHEN r18 < 0.75 OR flow = 8 THEN 'customer' ELSE 'vendor' END AS disputed_by,
                        CASE WHEN r19 < 0.4 OR (NOT online AND (flow = 8 OR r19 < 0.6)) THEN 'RELEASE'
                             WHEN r19 < 0.75 OR NOT online THEN 'REFUND' ELSE 'PARTIAL' END AS outcome
                 FROM b),
             e AS (
                 SELECT c.*,
                        CASE WHEN flow IN (1, 8) THEN
                            t_deliv + CASE done_by
                                WHEN 'customer' THEN interval '1 minute' * (30 + 300 * r17)
                                WHEN 'vendor' THEN interval '1 minute' * (10 + 180 * r17)
                                ELSE interval '1 hour' * {auto_hours} + interval '1 second' * (1 + 30 * r17) END
                        END AS t_done,
                        CASE flow
                            WHEN 5 THEN t_acc + interval '1 hour' * {unpaid_hours} + interval '1 second' * (1 + 30 * r17)
                            WHEN 6 THEN t_prog + interval '1 hour' * (2 + 10 * r17)
                            WHEN 2 THEN t_acc + interval '1 minute' * (10 + 50 * r17)
                            WHEN 3 THEN t_acc + interval '1 minute' * (10 + 50 * r17)
                            WHEN 4 THEN t_acc + interval '1 minute' * (10 + 50 * r17)
                        END AS t_cancel
                 FROM c),
             f AS (
                 SELECT e.*,
                        CASE WHEN done_by = 'customer' THEN t_done
                             WHEN done_by = 'vendor' AND r20 < 0.7 THEN t_done + interval '1 hour' * (1 + 20 * r20)
                        END AS t_recv,
                        CASE flow WHEN 7 THEN t_deliv + interval '1 hour' * (1 + 10 * r21)
                                  WHEN 8 THEN t_done + interval '1 hour' * (2 + 60 * r21) END AS t_disp
                 FROM e),
             g AS (
                 SELECT f.*,
                        t_disp + interval '1 hour' * (4 + 68 * r22) AS t_res,
                        CASE WHEN flow = 1 AND online AND r23 < 0.02
                             THEN t_done + interval '1 hour' * (1 + 96 * r22) END AS t_adjust
                 FROM f),
             h AS (
                 SELECT g.*,
                        -- The refund, if any: when, how much, why, by whom.
                        CASE WHEN t_pay IS NULL THEN NULL
                             WHEN flow IN (2, 3, 4, 6) THEN t_cancel
                             WHEN flow IN (7, 8) AND outcome <> 'RELEASE' THEN t_res
                             ELSE t_adjust END AS t_refund0,
                        CASE WHEN flow IN (7, 8) AND outcome = 'PARTIAL' OR flow = 1
                             THEN greatest(100, least(price - 100, (round(price * (0.1 + 0.4 * r24) / 100) * 100)::bigint))
                             ELSE price END AS refund_amount0,
                        -- When cash was collected: the first completion.
                        CASE WHEN online THEN t_pay
                             WHEN flow IN (1, 8) THEN t_done
                             WHEN flow = 7 AND outcome = 'RELEASE' THEN t_res END AS t_capture0
                 FROM g)
             SELECT h.*,
                    CASE WHEN t_capture0 <= {now} THEN t_capture0 END AS t_capture,
                    CASE WHEN t_refund0 <= {now} THEN t_refund0 END AS t_refund,
                    cu.id AS customer_id, ve.id AS vendor_id, ve.city, ve.area,
                    (SELECT id FROM gen_people WHERE role = 'admin') AS admin_id,
                    {seq_requests} AS request_id,
                    {seq_orders} AS order_id
             FROM h
             JOIN gen_people cu ON cu.role = 'customer' AND cu.n = h.cust_n
             JOIN gen_people ve ON ve.role = 'vendor' AND ve.n = h.vend_n",
            seq_requests = seq.requests,
            seq_orders = seq.orders,
        );
        // Ids for what happened: payments, refunds, disputes, ledger.
        let ids = format!(
            "CREATE TEMP TABLE gen_money ON COMMIT DROP AS
             SELECT k,
                    CASE WHEN t_capture IS NOT NULL THEN {payments} END AS payment_id,
                    CASE WHEN t_capture IS NOT NULL AND (online OR commission > 0) THEN {ledger} END AS capture_tx,
                    CASE WHEN t_refund IS NOT NULL THEN {refunds} END AS refund_id,
                    CASE WHEN t_refund IS NOT NULL THEN {ledger} END AS refund_tx,
                    CASE WHEN t_disp <= {now} THEN {disputes} END AS dispute_id
             FROM gen_orders ORDER BY k",
            payments = seq.payments,
            ledger = seq.ledger,
            refunds = seq.refunds,
            disputes = seq.disputes,
        );
        // Every status change, as the operations write them; only those
        // that have happened by now.
        let steps = format!(
            "CREATE TEMP TABLE gen_steps ON COMMIT DROP AS
             SELECT o.k, o.order_id, s.seq, s.from_status, s.to_status, s.actor_id, s.note, s.at
             FROM gen_orders o
             CROSS JOIN LATERAL (VALUES
                 (1, NULL, 'CREATED', o.customer_id, 'Offer accepted', o.t_acc),
                 (2, 'CREATED', 'CANCELLED',
                     CASE o.cancel_by WHEN 'customer' THEN o.customer_id WHEN 'vendor' THEN o.vendor_id
                                      WHEN 'admin' THEN o.admin_id END,
                     CASE o.cancel_by
                         WHEN 'customer' THEN {CUSTOMER_REASONS}[1 + o.k % 4]
                         WHEN 'vendor' THEN {VENDOR_REASONS}[1 + o.k % 4]
                         WHEN 'admin' THEN {ADMIN_REASONS}[1 + o.k % 3]
                         ELSE 'Cancelled automatically: not paid within {unpaid_hours} hours' END,
                     CASE WHEN o.flow IN (2, 3, 4, 5) THEN o.t_cancel END),
                 (3, 'CREATED', 'PICKED_UP', o.vendor_id, '', o.t_pick),
                 (4, 'PICKED_UP', 'IN_PROGRESS', o.vendor_id, '', o.t_prog),
                 (5, 'IN_PROGRESS', 'CANCELLED', o.admin_id, {ADMIN_REASONS}[1 + o.k % 3],
                     CASE WHEN o.flow = 6 THEN o.t_cancel END),
                 (6, 'IN_PROGRESS', 'DELIVERING', o.vendor_id, '', o.t_deliv),
                 (7, 'DELIVERING', 'DISPUTED',
                     CASE o.disputed_by WHEN 'customer' THEN o.customer_id ELSE o.vendor_id END,
                     {DISPUTE_REASONS}[1 + o.k % 4], CASE WHEN o.flow = 7 THEN o.t_disp END),
                 (8, 'DELIVERING', 'COMPLETED',
                     CASE o.done_by WHEN 'customer' THEN o.customer_id WHEN 'vendor' THEN o.vendor_id END,
                     CASE WHEN o.done_by = 'system'
                          THEN 'Completed automatically after {auto_hours} hours out for delivery'
                          ELSE '' END,
                     o.t_done),
                 (9, 'COMPLETED', 'DISPUTED', o.customer_id, {DISPUTE_REASONS}[1 + o.k % 4],
                     CASE WHEN o.flow = 8 THEN o.t_disp END),
                 (10, 'DISPUTED', CASE WHEN o.outcome = 'REFUND' THEN 'CANCELLED' ELSE 'COMPLETED' END,
                     o.admin_id, {RESOLUTION_NOTES}[1 + o.k % 3], o.t_res)
             ) AS s (seq, from_status, to_status, actor_id, note, at)
             WHERE s.at <= {now}"
        );
        let state = "CREATE TEMP TABLE gen_state ON COMMIT DROP AS
             SELECT DISTINCT ON (k) k, to_status AS status, at AS changed_at,
                    max(at) FILTER (WHERE to_status = 'COMPLETED') OVER (PARTITION BY k) AS completed_at
             FROM gen_steps ORDER BY k, seq DESC"
            .to_owned();
        let [requests, services] =
            request_statements("gen_orders", "k", "'ORDER_CREATED'", "t_acc");
        // The accepted offer is the first; the others were made by other
        // laundries and rejected at the accept (a few withdrawn before).
        let offers = format!(
            "INSERT INTO offers (id, request_id, vendor_id, price_paisa, pickup_at, delivery_at, message,
                                 status, expires_at, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT {seq_offers}, o.request_id, coalesce(v.id, o.vendor_id),
                    CASE WHEN j = 1 THEN o.price
                         ELSE (round(o.price * (0.95 + 0.35 * {rj}) / 500) * 500)::bigint + 500 END,
                    o.t_req + interval '3 hours', o.t_req + interval '51 hours',
                    {OFFER_MESSAGES}[1 + (o.k + j) % 5],
                    CASE WHEN j = 1 THEN 'ACCEPTED' WHEN {rj} < 0.05 THEN 'WITHDRAWN' ELSE 'REJECTED' END,
                    o.t_req + interval '24 hours', at, CASE WHEN j = 1 OR {rj} >= 0.05 THEN o.t_acc ELSE at + interval '20 minutes' END
             FROM gen_orders o
             CROSS JOIN LATERAL generate_series(1, o.n_offers) AS j
             CROSS JOIN LATERAL (SELECT o.t_req + interval '1 minute' * (5 + 100 * {rt}) AS at) AS t
             LEFT JOIN gen_people v ON j > 1 AND v.role = 'vendor'
                  AND v.n = 1 + (o.vend_n - 1 + (j - 1) * greatest(1, {vendors} / 4)
                                  + floor({rv} * greatest(1, {vendors} / 4))::bigint) % {vendors}
             ORDER BY o.k, at",
            seq_offers = seq.offers,
            rj = self.rnd("o.k * 8 + j", 200),
            rt = self.rnd("o.k * 8 + j", 300),
            rv = self.rnd("o.k * 8 + j", 400),
        );
        let order_rows = "INSERT INTO orders (id, request_id, offer_id, customer_id, vendor_id, price_paisa,
                                commission_bps, commission_paisa, pickup_at, delivery_at, status,
                                status_changed_at, completed_at, received_at, payment_method,
                                created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT o.order_id, o.request_id, f.id, o.customer_id, o.vendor_id, o.price, BPS,
                    o.commission, f.pickup_at, f.delivery_at, s.status, s.changed_at, s.completed_at,
                    CASE WHEN o.t_recv <= NOW THEN o.t_recv END,
                    CASE WHEN o.online THEN 'online' ELSE 'cod' END, o.t_acc,
                    greatest(s.changed_at, CASE WHEN o.t_recv <= NOW THEN o.t_recv END)
             FROM gen_orders o
             JOIN gen_state s USING (k)
             JOIN offers f ON f.request_id = o.request_id AND f.status = 'ACCEPTED'
             ORDER BY o.k"
            .replace("BPS", &bps.to_string())
            .replace("NOW", now);
        let history = "INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note, created_at)
             SELECT order_id, from_status, to_status, actor_id, note, at FROM gen_steps ORDER BY at, order_id, seq"
            .to_owned();
        let disputes = format!(
            "INSERT INTO disputes (id, order_id, opened_by, reason, status, outcome, resolution_note,
                                   resolved_by, resolved_at, created_at, refund_paisa)
             OVERRIDING SYSTEM VALUE
             SELECT m.dispute_id, o.order_id,
                    CASE WHEN o.disputed_by = 'customer' THEN o.customer_id ELSE o.vendor_id END,
                    {DISPUTE_REASONS}[1 + o.k % 4],
                    CASE WHEN resolved THEN 'RESOLVED' ELSE 'OPEN' END,
                    CASE WHEN resolved THEN o.outcome END,
                    CASE WHEN resolved THEN {RESOLUTION_NOTES}[1 + o.k % 3] ELSE '' END,
                    CASE WHEN resolved THEN o.admin_id END,
                    CASE WHEN resolved THEN o.t_res END,
                    o.t_disp,
                    CASE WHEN resolved AND o.outcome = 'PARTIAL' THEN o.refund_amount0 END
             FROM gen_orders o JOIN gen_money m USING (k),
                  LATERAL (SELECT o.t_res <= {now} AS resolved) AS r
             WHERE m.dispute_id IS NOT NULL ORDER BY m.dispute_id"
        );
        let payments = "INSERT INTO payments (id, order_id, method, provider, status, amount_paisa, refunded_paisa,
                                   reference, provider_ref, expires_at, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT m.payment_id, o.order_id, CASE WHEN o.online THEN 'online' ELSE 'cod' END,
                    CASE WHEN o.online THEN 'sandbox' END,
                    CASE WHEN o.t_refund IS NULL THEN 'SUCCEEDED'
                         WHEN o.refund_amount0 = o.price THEN 'REFUNDED' ELSE 'PARTIALLY_REFUNDED' END,
                    o.price, CASE WHEN o.t_refund IS NULL THEN 0 ELSE o.refund_amount0 END,
                    'DH-' || o.order_id || '-' || CASE WHEN o.online THEN left(md5('p' || o.order_id), 12) ELSE 'cash' END,
                    CASE WHEN o.online THEN 'gen' || left(md5('x' || o.order_id), 19) END,
                    CASE WHEN o.online THEN o.t_acc + interval '30 minutes' END,
                    CASE WHEN o.online THEN o.t_acc + (o.t_pay - o.t_acc) / 2 ELSE o.t_capture END,
                    coalesce(o.t_refund + interval '2 seconds', o.t_capture)
             FROM gen_orders o JOIN gen_money m USING (k)
             WHERE m.payment_id IS NOT NULL ORDER BY m.payment_id"
            .to_owned();
        let refunds = format!(
            "INSERT INTO refunds (id, payment_id, amount_paisa, status, reason, created_by,
                                  created_at, updated_at, sent_at)
             OVERRIDING SYSTEM VALUE
             SELECT m.refund_id, m.payment_id, o.refund_amount0, 'SUCCEEDED',
                    CASE WHEN o.flow = 1 THEN {REFUND_REASONS}[1 + o.k % 3]
                         WHEN o.flow IN (7, 8) AND o.outcome = 'PARTIAL'
                             THEN 'Dispute settled in part: ' || {RESOLUTION_NOTES}[1 + o.k % 3]
                         WHEN o.flow IN (7, 8)
                             THEN 'Order cancelled: ' || {RESOLUTION_NOTES}[1 + o.k % 3]
                         WHEN o.cancel_by = 'customer' THEN 'Order cancelled: ' || {CUSTOMER_REASONS}[1 + o.k % 4]
                         WHEN o.cancel_by = 'vendor' THEN 'Order cancelled: ' || {VENDOR_REASONS}[1 + o.k % 4]
                         ELSE 'Order cancelled: ' || {ADMIN_REASONS}[1 + o.k % 3] END,
                    CASE WHEN o.flow IN (1, 4, 6, 7, 8) THEN o.admin_id END,
                    o.t_refund, o.t_refund + interval '2 seconds', o.t_refund + interval '1 second'
             FROM gen_orders o JOIN gen_money m USING (k)
             WHERE m.refund_id IS NOT NULL ORDER BY m.refund_id"
        );
        let transactions =
            "INSERT INTO ledger_transactions (id, kind, source_type, source_id, created_at)
             OVERRIDING SYSTEM VALUE
             SELECT m.capture_tx, 'capture', 'payment', m.payment_id, o.t_capture
             FROM gen_orders o JOIN gen_money m USING (k) WHERE m.capture_tx IS NOT NULL
             UNION ALL
             SELECT m.refund_tx, 'refund', 'refund', m.refund_id, o.t_refund + interval '2 seconds'
             FROM gen_orders o JOIN gen_money m USING (k) WHERE m.refund_tx IS NOT NULL
             ORDER BY 1"
                .to_owned();
        // domain::ledger's postings: online capture provider +g, vendor
        // −(g−c), platform −c; cash capture vendor +c, platform −c; refund
        // of a (the first, so R = 0) the reverse, commission share
        // C(0) − C(a) with C(R) = round_half_up((g − R) × bps / 10000).
        let entries = format!(
            "INSERT INTO ledger_entries (transaction_id, account, amount_paisa)
             SELECT e.tx, e.account, e.amount
             FROM gen_orders o JOIN gen_money m USING (k),
                  LATERAL (SELECT 'vendor:' || o.vendor_id || ':payable' AS vendor,
                                  o.commission - ((o.price - o.refund_amount0) * {bps} + 5000) / 10000 AS share)
                      AS x,
                  LATERAL (VALUES
                      (m.capture_tx, 'provider:sandbox', CASE WHEN o.online THEN o.price ELSE 0 END),
                      (m.capture_tx, x.vendor, CASE WHEN o.online THEN -(o.price - o.commission) ELSE o.commission END),
                      (m.capture_tx, 'platform:commission', -o.commission),
                      (m.refund_tx, 'provider:sandbox', -o.refund_amount0),
                      (m.refund_tx, x.vendor, o.refund_amount0 - x.share),
                      (m.refund_tx, 'platform:commission', x.share)
                  ) AS e (tx, account, amount)
             WHERE e.tx IS NOT NULL AND e.amount <> 0
             ORDER BY e.tx"
        );
        let audit = format!(
            "INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, before_status,
                                    after_status, created_at)
             SELECT o.admin_id, 'order.force_cancel', 'order', o.order_id, s.note, s.from_status, 'CANCELLED', s.at
             FROM gen_orders o JOIN gen_steps s USING (k)
             WHERE s.to_status = 'CANCELLED' AND s.actor_id = o.admin_id AND s.seq IN (2, 5)
             UNION ALL
             SELECT o.admin_id, 'dispute.resolve', 'dispute', m.dispute_id, s.note, 'DISPUTED', s.to_status, s.at
             FROM gen_orders o JOIN gen_money m USING (k) JOIN gen_steps s USING (k)
             WHERE s.seq = 10
             UNION ALL
             SELECT o.admin_id, 'payment.refund', 'payment', m.payment_id, {REFUND_REASONS}[1 + o.k % 3],
                    NULL, NULL, o.t_refund
             FROM gen_orders o JOIN gen_money m USING (k)
             WHERE o.flow = 1 AND m.refund_id IS NOT NULL
             ORDER BY 8"
        );
        vec![
            plan,
            ids,
            steps,
            state,
            requests,
            services,
            offers,
            order_rows,
            history,
            disputes,
            payments,
            refunds,
            transactions,
            entries,
            audit,
        ]
    }

    /// Requests `from..=to` of those that never became an order: most
    /// expired with their offers, some cancelled by their customer (their
    /// offers rejected); those still within their time are open.
    async fn other_requests(&self, tx: &mut PgConnection, from: i64, to: i64) -> MarketResult<()> {
        if from > to {
            return Ok(());
        }
        let Sql {
            customers,
            vendors,
            start,
            now,
            span_secs,
            seq,
            ..
        } = self;
        let draws = self.draws("m", 500);
        let total = (self.orders as f64 * OTHER_REQUESTS_PER_ORDER)
            .round()
            .max(1.0) as i64;
        let plan = format!(
            "CREATE TEMP TABLE gen_others ON COMMIT DROP AS
             WITH d AS (SELECT m, {draws} FROM generate_series({from}, {to}) AS m),
             a AS (
                 SELECT d.*,
                        {start} + interval '1 second' * {span_secs} * sqrt((m - r1) / {total}::float8) AS t_req,
                        1 + floor({customers} * power(r2, 1.4))::bigint AS cust_n,
                        1 + floor({vendors} * power(r3, 1.8))::bigint AS vend_n,
                        least({vendors}, floor(r4 * 4))::int AS n_offers,
                        1 + floor(r7 * 6)::int AS svc,
                        1 + floor(r8 * 8)::int AS qty
                 FROM d),
             b AS (
                 SELECT a.*,
                        CASE WHEN r5 < 0.6 THEN t_req + interval '24 hours'
                             ELSE t_req + interval '1 minute' * (20 + 600 * r6) END AS t_end,
                        r5 < 0.6 AS expires,
                        (round(qty * ({UNIT_PRICES})[svc] * (0.85 + 0.3 * r10) / 500) * 500)::bigint AS price
                 FROM a)
             SELECT b.*, cu.id AS customer_id, ve.city, ve.area, {seq_requests} AS request_id,
                    CASE WHEN t_end > {now} THEN 'OPEN' WHEN expires THEN 'EXPIRED' ELSE 'CANCELLED' END
                        AS status
             FROM b
             JOIN gen_people cu ON cu.role = 'customer' AND cu.n = b.cust_n
             JOIN gen_people ve ON ve.role = 'vendor' AND ve.n = b.vend_n
             WHERE b.t_req <= {now}",
            seq_requests = seq.requests,
        );
        let [requests, services] = request_statements(
            "gen_others",
            "m",
            "status",
            "CASE WHEN status = 'OPEN' THEN t_req ELSE t_end END",
        );
        let offers = format!(
            "INSERT INTO offers (id, request_id, vendor_id, price_paisa, pickup_at, delivery_at, message,
                                 status, expires_at, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT {seq_offers}, o.request_id, v.id,
                    (round(o.price * (0.95 + 0.35 * {rj}) / 500) * 500)::bigint + 500,
                    o.t_req + interval '3 hours', o.t_req + interval '51 hours',
                    {OFFER_MESSAGES}[1 + (o.m + j) % 5],
                    CASE o.status WHEN 'OPEN' THEN 'PENDING' WHEN 'EXPIRED' THEN 'EXPIRED' ELSE 'REJECTED' END,
                    o.t_req + interval '24 hours', at,
                    CASE WHEN o.status = 'OPEN' THEN at ELSE o.t_end END
             FROM gen_others o
             CROSS JOIN LATERAL generate_series(1, o.n_offers) AS j
             CROSS JOIN LATERAL (SELECT o.t_req + interval '1 minute' * (5 + 10 * {rt}) AS at) AS t
             JOIN gen_people v ON v.role = 'vendor'
                  AND v.n = 1 + (o.vend_n - 1 + (j - 1) * greatest(1, {vendors} / 4)
                                  + floor({rv} * greatest(1, {vendors} / 4))::bigint) % {vendors}
             WHERE at <= {now}
             ORDER BY o.m, at",
            seq_offers = seq.offers,
            rj = self.rnd("o.m * 8 + j", 600),
            rt = self.rnd("o.m * 8 + j", 700),
            rv = self.rnd("o.m * 8 + j", 800),
        );
        for statement in [plan, requests, services, offers] {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        Ok(())
    }
}

/// The requests planned in `table` (numbered by `key`) with their service,
/// in `status`, last changed at `updated_at` (SQL expressions over it).
fn request_statements(table: &str, key: &str, status: &str, updated_at: &str) -> [String; 2] {
    [
        format!(
            "INSERT INTO requests (id, customer_id, status, pickup_address, city, area, pickup_from,
                                   pickup_to, notes, expires_at, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT request_id, customer_id, {status},
                    'House ' || (1 + {key} % 240) || ', ' || {STREETS}[1 + {key} % 8] || ', '
                        || area || ', ' || city,
                    city, area, t_req + interval '2 hours', t_req + interval '5 hours',
                    {NOTES}[1 + {key} % 6], t_req + interval '24 hours', t_req, {updated_at}
             FROM {table} ORDER BY {key}"
        ),
        format!(
            "INSERT INTO request_services (request_id, service_code, quantity)
             SELECT request_id, ({SERVICE_CODES})[svc], qty FROM {table}"
        ),
    ]
}

const FIRST_NAMES: &str = "(ARRAY['Sita','Ram','Gita','Hari','Anita','Bikash','Sunita','Rajesh','Puja',\
'Suman','Kabita','Dipak','Sarita','Prakash','Manisha','Nabin','Rita','Sanjay','Asmita','Bishal','Laxmi',\
'Rohan','Srijana','Arjun'])";
const LAST_NAMES: &str = "(ARRAY['Sharma','Thapa','Shrestha','Gurung','Tamang','Rai','Magar','Karki',\
'Adhikari','Basnet','Maharjan','Bhandari','Poudel','Khadka','Lama','Joshi','Bista','Pandey','Koirala',\
'Limbu'])";
const SHOP_WORDS: &str = "(ARRAY['Sparkle','Himalayan','Fresh','Clean Street','Bagmati','Everest',\
'Sunrise','Crystal','Lotus','Rhododendron','Pashmina','Kathmandu Valley','Blue Sky','Snow Peak','Gokarna',\
'Phewa'])";
const SHOP_KINDS: &str = "(ARRAY['Laundry','Dry Cleaners','Wash House','Laundromat','Cleaners','Press','Wash & Fold','Care'])";
const CITIES: &str = "(ARRAY['Kathmandu','Lalitpur','Bhaktapur','Pokhara','Biratnagar','Bharatpur',\
'Butwal','Dharan'])";
const AREAS: &str = "(ARRAY['Baneshwor','Thamel','Jawalakhel','Boudha','Kalanki','Maharajgunj',\
'Koteshwor','Chabahil','Lakeside','Putalisadak'])";
const STREETS: &str = "(ARRAY['Ganesh Marg','Bhim Sen Path','Tribhuvan Marg','Durbar Marg','Shanti Path',\
'Sahid Marg','Buddha Marg','Ring Road'])";
const NOTES: &str = "(ARRAY['','','Please call before coming','Gate code 1234',\
'Handle the silk sari with care','Third floor, no lift'])";
const OFFER_MESSAGES: &str = "(ARRAY['','We can pick up this afternoon.','Eco-friendly detergent included.',\
'Express delivery available.','Free ironing on orders above Rs 1,000.'])";
const CUSTOMER_REASONS: &str = "(ARRAY['My plans changed','Found a laundry closer to home',\
'Booked by mistake','The pickup time does not suit me any more'])";
const VENDOR_REASONS: &str = "(ARRAY['Fully booked this week','Cannot reach the pickup address',\
'Our machine is broken','No staff for pickups today'])";
const ADMIN_REASONS: &str = "(ARRAY['Duplicate order','Reported by the customer as not wanted','Laundry asked us to cancel'])";
const DISPUTE_REASONS: &str = "(ARRAY['Clothes came back damaged','Items missing from the order',\
'Delivery is very late','Customer not reachable for delivery'])";
const RESOLUTION_NOTES: &str = "(ARRAY['Checked the photos from both sides',\
'Agreed with both parties by phone','Laundry accepted responsibility'])";
const REFUND_REASONS: &str = "(ARRAY['Stain not removed from one shirt','Delivered a day late',\
'One item came back shrunk'])";
const SERVICE_CODES: &str =
    "(ARRAY['wash_fold','wash_iron','dry_clean','iron_only','bedding','shoes'])";
/// Paisa per unit of each service in `SERVICE_CODES`, roughly what Kathmandu
/// laundries ask.
const UNIT_PRICES: &str = "(ARRAY[12000,15000,35000,3000,45000,40000])";
