//! The figures of the statistics pages (DESIGN.md, "Statistics"), read
//! from the pool outside any write transaction. Per-day figures are counted
//! by Nepal day in SQL (a few hundred rows at most) and cut into buckets by
//! `domain::stats`. Each query starts from a vendor's own rows through a
//! composite index (vendor, time), so its cost follows the vendor's
//! activity in the range, not the size of the tables; a laundry's money,
//! spread over its ledger, payments and refunds, is read per day from
//! `vendor_money_daily`, which the sweep keeps with the platform's daily
//! figures (`platform_stats`), and computed only for today and days not
//! stored yet.
//!
//! Definitions, for a range `start <= t < end`:
//! - offers: the vendor's offers made in the range; acceptance rate =
//!   accepted ÷ those no longer pending (accepted, rejected, withdrawn or
//!   expired);
//! - orders: the vendor's orders created (offer accepted) in the range;
//!   completion rate = completed ÷ closed (completed or cancelled);
//!   completion time = accepted → completed, over those completed, median
//!   and 90th percentile interpolated (`percentile_cont`);
//! - earnings: the ledger's entries on `vendor:<id>:payable` of captures
//!   and refunds posted in the range, sign flipped (what Dhune owes the
//!   laundry, net of commission and refunds; for cash orders, the
//!   commission it owes), plus the cash it collected itself on delivery
//!   (the cash payment, recorded at completion; a cash order at 0%
//!   commission has no ledger entry but is counted here) less the cash
//!   given back;
//! - cancellations: the range's orders now cancelled, by who cancelled
//!   them (the history's actor; none: Dhune's sweep, for an unpaid order).

use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use time::{Date, OffsetDateTime};

use super::accounts::User;
use super::{MarketError, MarketResult};
use crate::domain::account::Role;
use crate::domain::stats::{Range, Rate};
use crate::domain::when::nepal_date;

/// A vendor's figures for one Nepal day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VendorDay {
    pub day: Option<Date>,
    pub offers_final: i64,
    pub offers_accepted: i64,
    pub orders: i64,
    pub completed: i64,
    pub cancelled: i64,
    /// Earnings from online payments (the ledger's entries, sign flipped).
    pub online_paisa: i64,
    /// Earnings from cash orders: the cash kept, less the commission owed.
    pub cash_paisa: i64,
    /// Payments and refunds behind the earnings.
    pub movements: i64,
}

/// Completion times over one period, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Times {
    pub n: i64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// Who cancelled how many of a period's orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellers {
    /// `customer`, `vendor`, `admin` or `dhune` (the sweep).
    pub who: String,
    pub current: i64,
    pub previous: i64,
}

/// A record of figures for one Nepal day.
pub trait OnDay {
    fn day(&self) -> Option<Date>;
}

impl OnDay for VendorDay {
    fn day(&self) -> Option<Date> {
        self.day
    }
}

impl OnDay for CustomerDay {
    fn day(&self) -> Option<Date> {
        self.day
    }
}

/// Per-day figures over a range and the period of the same length before
/// it, summed over either or cut into the range's buckets.
#[derive(Debug, Clone)]
pub struct Daily<T> {
    pub range: Range,
    pub days: Vec<T>,
}

impl<T: OnDay> Daily<T> {
    /// The per-day figures of the days of `range`.
    fn within(&self, range: &Range) -> impl Iterator<Item = &T> {
        self.days.iter().filter(|d| {
            d.day()
                .is_some_and(|day| range.first <= day && day <= range.last)
        })
    }

    /// A figure summed over `range`'s days.
    pub fn total(&self, range: &Range, figure: fn(&T) -> i64) -> i64 {
        self.within(range).map(figure).sum()
    }

    /// A figure per bucket of the range, zero-filled.
    pub fn series(&self, figure: fn(&T) -> i64) -> Vec<i64> {
        let per_day: Vec<(Date, i64)> = self
            .within(&self.range)
            .filter_map(|d| Some((d.day()?, figure(d))))
            .collect();
        self.range.series(&per_day)
    }
}

/// Everything the vendor's page shows: per-day figures over the range and
/// the one before it, and the times and cancellations of each.
#[derive(Debug, Clone)]
pub struct VendorStats {
    pub daily: Daily<VendorDay>,
    pub times: Times,
    pub previous_times: Times,
    pub cancellers: Vec<Cancellers>,
}

impl VendorStats {
    pub fn acceptance(&self, range: &Range) -> Rate {
        Rate {
            hits: self.daily.total(range, |d| d.offers_accepted),
            n: self.daily.total(range, |d| d.offers_final),
        }
    }

    pub fn completion(&self, range: &Range) -> Rate {
        Rate {
            hits: self.daily.total(range, |d| d.completed),
            n: self.daily.total(range, |d| d.completed + d.cancelled),
        }
    }
}

/// The vendor's own figures over `range` and the period before it.
pub async fn vendor_stats(pool: &PgPool, vendor: &User, range: Range) -> MarketResult<VendorStats> {
    if vendor.role != Role::Vendor {
        return Err(MarketError::NotFound);
    }
    let previous = range.previous();
    let (start, end) = (previous.start(), range.end());
    let mut tx = reading(pool).await?;
    let days = sqlx::query_as!(
        VendorDay,
        r#"WITH offer_days AS (
               SELECT (created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
                      count(*) FILTER (WHERE status <> 'PENDING') AS final,
                      count(*) FILTER (WHERE status = 'ACCEPTED') AS accepted
               FROM offers WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3
               GROUP BY 1),
           order_days AS (
               SELECT (created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
                      count(*) AS orders,
                      count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
                      count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
               FROM orders WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3
               GROUP BY 1),
           -- Money from the stored days (`vendor_money_daily`, kept by the
           -- sweep), and computed for today and each run of days not stored.
           covered AS (
               SELECT day FROM vendor_money_days WHERE day BETWEEN $4 AND $5 AND day < $6),
           missing AS (
               SELECT d::date AS day,
                      d::date - (row_number() OVER (ORDER BY d))::int AS run
               FROM generate_series($4::date, $5::date, interval '1 day') d
               WHERE NOT EXISTS (SELECT 1 FROM covered c WHERE c.day = d::date)),
           gap AS (SELECT min(day) AS first, max(day) AS last FROM missing GROUP BY run),
           money_days AS (
               SELECT m.day, m.online_paisa AS online, m.cash_paisa AS cash, m.movements
               FROM vendor_money_daily m JOIN covered c USING (day)
               WHERE m.vendor_id = $1
               UNION ALL
               SELECT f.day, f.online_paisa, f.cash_paisa, f.movements
               FROM gap CROSS JOIN LATERAL vendor_money_figures($1, gap.first, gap.last) f)
           SELECT day,
                  coalesce(o.final, 0) AS "offers_final!",
                  coalesce(o.accepted, 0) AS "offers_accepted!",
                  coalesce(d.orders, 0) AS "orders!",
                  coalesce(d.completed, 0) AS "completed!",
                  coalesce(d.cancelled, 0) AS "cancelled!",
                  coalesce(m.online, 0)::bigint AS "online_paisa!",
                  coalesce(m.cash, 0)::bigint AS "cash_paisa!",
                  coalesce(m.movements, 0)::bigint AS "movements!"
           FROM offer_days o
           FULL JOIN order_days d USING (day)
           FULL JOIN money_days m USING (day)
           ORDER BY day"#,
        vendor.id,
        start,
        end,
        previous.first,
        range.last,
        nepal_date(OffsetDateTime::now_utc()),
    )
    .fetch_all(&mut *tx)
    .await?;
    let times = completion_times(&mut tx, vendor.id, range.start(), end).await?;
    let previous_times = completion_times(&mut tx, vendor.id, start, range.start()).await?;
    let cancellers = sqlx::query_as!(
        Cancellers,
        r#"SELECT coalesce(u.role, 'dhune') AS "who!",
                  count(*) FILTER (WHERE o.created_at >= $3) AS "current!",
                  count(*) FILTER (WHERE o.created_at < $3) AS "previous!"
           FROM orders o
           LEFT JOIN LATERAL (
               SELECT h.actor_id FROM order_status_history h
               WHERE h.order_id = o.id AND h.to_status = 'CANCELLED'
               ORDER BY h.id DESC LIMIT 1) h ON true
           LEFT JOIN users u ON u.id = h.actor_id
           WHERE o.vendor_id = $1 AND o.created_at >= $2 AND o.created_at < $4
             AND o.status = 'CANCELLED'
           GROUP BY 1 ORDER BY 1"#,
        vendor.id,
        start,
        range.start(),
        end,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(VendorStats {
        daily: Daily { range, days },
        times,
        previous_times,
        cancellers,
    })
}

/// A read-only transaction for one page's figures, its statements planned
/// for their own values and not compiled: Postgres' generic plan for a
/// statement run often (once a laundry or customer has opened the page five
/// times on a connection) ignores how few rows one person has, and read
/// everybody's payments (150 ms instead of 2 ms at a million orders); and
/// the full joins' row estimates are high enough to make it compile the
/// query (JIT, 400 ms) to add up a few hundred rows.
async fn reading(pool: &PgPool) -> MarketResult<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "SELECT set_config('transaction_read_only', 'on', true) AS read_only,
                set_config('plan_cache_mode', 'force_custom_plan', true) AS plans,
                set_config('jit', 'off', true) AS jit"
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}

/// Accepted → completed over the vendor's orders created in `[start, end)`
/// and completed since.
async fn completion_times(
    tx: &mut PgConnection,
    vendor_id: i64,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> MarketResult<Times> {
    let times = sqlx::query_as!(
        Times,
        r#"SELECT count(*) AS "n!",
                  (percentile_cont(0.5) WITHIN GROUP (ORDER BY secs))::bigint AS median_secs,
                  (percentile_cont(0.9) WITHIN GROUP (ORDER BY secs))::bigint AS p90_secs
           FROM (SELECT extract(epoch FROM completed_at - created_at) AS secs
                 FROM orders
                 WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3
                   AND status = 'COMPLETED' AND completed_at IS NOT NULL) t"#,
        vendor_id,
        start,
        end,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(times)
}

/// A customer's figures for one Nepal day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CustomerDay {
    pub day: Option<Date>,
    pub requests: i64,
    pub orders: i64,
    /// Paid (online, or cash on delivery at completion), when the payment
    /// was taken.
    pub paid_paisa: i64,
    /// Given back, when the refund was posted.
    pub refunded_paisa: i64,
    /// How many payments were taken, and refunds made.
    pub payments: i64,
    pub refunds: i64,
}

/// A laundry the customer ordered from in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Laundry {
    pub name: String,
    pub orders: i64,
    pub value_paisa: i64,
}

/// Everything the customer's page shows.
#[derive(Debug, Clone)]
pub struct CustomerStats {
    pub daily: Daily<CustomerDay>,
    pub laundries: Vec<Laundry>,
}

/// How many laundries the customer's page lists.
const TOP_LAUNDRIES: i64 = 5;

/// The customer's own activity over `range` and the period before it:
/// requests posted, orders made (offers accepted), money paid (captures)
/// and given back (refunds) by the day the ledger posted them, and the
/// laundries ordered from most in the range.
pub async fn customer_stats(
    pool: &PgPool,
    customer: &User,
    range: Range,
) -> MarketResult<CustomerStats> {
    if customer.role != Role::Customer {
        return Err(MarketError::NotFound);
    }
    let (start, end) = (range.previous().start(), range.end());
    let mut tx = reading(pool).await?;
    let days = sqlx::query_as!(
        CustomerDay,
        r#"WITH request_days AS (
               SELECT (created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*) AS n
               FROM requests WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3
               GROUP BY 1),
           order_days AS (
               SELECT (created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, count(*) AS n
               FROM orders WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3
               GROUP BY 1),
           -- The customer's payments, first: everything else is theirs.
           mine AS MATERIALIZED (
               SELECT p.id, p.method, p.amount_paisa, p.created_at
               FROM orders o JOIN payments p ON p.order_id = o.id
               WHERE o.customer_id = $1),
           money AS (
               -- Online: when the ledger took the payment, or gave some back.
               SELECT t.created_at, m.amount_paisa AS paid, 0::bigint AS refunded
               FROM mine m
               JOIN ledger_transactions t
                 ON t.kind = 'capture' AND t.source_type = 'payment' AND t.source_id = m.id
               WHERE m.method = 'online' AND t.created_at >= $2 AND t.created_at < $3
               UNION ALL
               SELECT t.created_at, 0, r.amount_paisa
               FROM mine m
               JOIN refunds r ON r.payment_id = m.id
               JOIN ledger_transactions t
                 ON t.kind = 'refund' AND t.source_type = 'refund' AND t.source_id = r.id
               WHERE m.method = 'online' AND t.created_at >= $2 AND t.created_at < $3
               UNION ALL
               -- Cash: paid when the order completed; given back when recorded done.
               SELECT m.created_at, m.amount_paisa, 0
               FROM mine m
               WHERE m.method = 'cod' AND m.created_at >= $2 AND m.created_at < $3
               UNION ALL
               SELECT r.updated_at, 0, r.amount_paisa
               FROM mine m
               JOIN refunds r ON r.payment_id = m.id AND r.status = 'SUCCEEDED'
               WHERE m.method = 'cod' AND r.updated_at >= $2 AND r.updated_at < $3),
           money_days AS (
               SELECT (created_at AT TIME ZONE 'Asia/Kathmandu')::date AS day,
                      sum(paid) AS paid, sum(refunded) AS refunded,
                      count(*) FILTER (WHERE paid > 0) AS payments,
                      count(*) FILTER (WHERE refunded > 0) AS refunds
               FROM money GROUP BY 1)
           SELECT day,
                  coalesce(q.n, 0) AS "requests!",
                  coalesce(d.n, 0) AS "orders!",
                  coalesce(m.paid, 0)::bigint AS "paid_paisa!",
                  coalesce(m.refunded, 0)::bigint AS "refunded_paisa!",
                  coalesce(m.payments, 0) AS "payments!",
                  coalesce(m.refunds, 0) AS "refunds!"
           FROM request_days q
           FULL JOIN order_days d USING (day)
           FULL JOIN money_days m USING (day)
           ORDER BY day"#,
        customer.id,
        start,
        end,
    )
    .fetch_all(&mut *tx)
    .await?;
    let laundries = sqlx::query_as!(
        Laundry,
        r#"SELECT v.business_name AS name, count(*) AS "orders!",
                  sum(o.price_paisa)::bigint AS "value_paisa!"
           FROM orders o JOIN vendors v ON v.user_id = o.vendor_id
           WHERE o.customer_id = $1 AND o.created_at >= $2 AND o.created_at < $3
           GROUP BY v.user_id, v.business_name
           ORDER BY count(*) DESC, sum(o.price_paisa) DESC, v.business_name
           LIMIT $4"#,
        customer.id,
        range.start(),
        end,
        TOP_LAUNDRIES,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(CustomerStats {
        daily: Daily { range, days },
        laundries,
    })
}
