//! The platform's daily figures (DESIGN.md, "Statistics"): kept per Nepal
//! day in `platform_daily` by the sweep, read by the admin's statistics.
//!
//! One definition computes them, the SQL function `platform_day_figures`
//! (migration `…06_platform_daily`), and each laundry's money per day,
//! `vendor_money_figures` (`…08_vendor_money_daily`, read by the laundry's
//! statistics): the sweep stores their rows, and a read
//! computes the days not stored yet (today, always, so today's figures are
//! as fresh as the records). The sweep recomputes the last
//! [`RECENT_DAYS`] days on every tick (a late commit, a payment method
//! switched before an order was paid) and fills the days that have no row,
//! a week per transaction, newest first. Each write is one short
//! transaction of one statement, which takes its transaction id only when
//! it writes, so it never holds back the live relay; instances skip each
//! other's writes through a transaction-level advisory lock. It locks no row the operations lock, so it takes no place
//! in the lock order.

use sqlx::PgPool;
use time::{Date, Duration, OffsetDateTime};

use super::accounts::User;
use super::stats::{Daily, OnDay};
use super::{MarketResult, require_admin};
use crate::domain::payouts::week_of_date;
use crate::domain::stats::{Range, Step};
use crate::domain::when::nepal_date;

/// The days recomputed on every tick, today included.
pub const RECENT_DAYS: i64 = 3;

/// The days filled per transaction when rows are missing.
const CHUNK_DAYS: i64 = 7;

/// The most days filled in one tick, so a tick stays short; the rest
/// follow on the next ones.
const FILL_PER_TICK: i64 = 8 * CHUNK_DAYS;

/// The first key of the advisory lock the refresh runs under.
const REFRESHING: i32 = 0x5354_4154;

/// One Nepal day's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlatformDay {
    pub day: Option<Date>,
    pub requests_created: i32,
    pub offers_made: i32,
    pub orders_created: i32,
    pub orders_online: i32,
    pub gross_paisa: i64,
    pub orders_completed: i32,
    pub cancelled_customer: i32,
    pub cancelled_vendor: i32,
    pub cancelled_admin: i32,
    pub cancelled_system: i32,
    pub commission_paisa: i64,
    pub refunds_paisa: i64,
    pub refunds_made: i32,
    pub disputes_opened: i32,
    pub disputes_open: i32,
    /// Customers who posted a request that day; laundries that made an
    /// offer. For a week see [`weeks_active`]: a week's are not its days'.
    pub active_customers: i32,
    pub active_vendors: i32,
}

/// Who was active in one Nepal week (Sunday–Saturday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeekActive {
    pub week: Option<Date>,
    pub active_customers: i32,
    pub active_vendors: i32,
}

/// Stores the figures of the last days and of days missing since the first
/// record, as of `now`: the number of days written (0 when another instance
/// is refreshing).
pub async fn refresh(pool: &PgPool, now: OffsetDateTime) -> MarketResult<i64> {
    let today = nepal_date(now);
    let recent = today - Duration::days(RECENT_DAYS - 1);
    let Some(mut written) = store(pool, recent, today).await? else {
        return Ok(0);
    };
    // The days since the first record with no row, newest first, a week
    // at a time.
    let first = sqlx::query_scalar!(
        r#"SELECT (least((SELECT min(created_at) FROM requests),
                         (SELECT min(created_at) FROM orders))
                   AT TIME ZONE 'Asia/Kathmandu')::date"#
    )
    .fetch_one(pool)
    .await?;
    let Some(first) = first else {
        return Ok(written);
    };
    let missing = sqlx::query_scalar!(
        r#"SELECT d::date AS "day!" FROM generate_series($1::date, $2::date, interval '1 day') d
           WHERE NOT EXISTS (SELECT 1 FROM platform_daily p WHERE p.day = d::date)
              OR NOT EXISTS (SELECT 1 FROM vendor_money_days v WHERE v.day = d::date)
           ORDER BY 1 DESC LIMIT $3"#,
        first,
        recent - Duration::days(1),
        FILL_PER_TICK,
    )
    .fetch_all(pool)
    .await?;
    for chunk in missing.chunks(CHUNK_DAYS as usize) {
        if let (Some(&last), Some(&first)) = (chunk.first(), chunk.last()) {
            // Another instance storing now goes on with the rest.
            let Some(days) = store(pool, first, last).await? else {
                break;
            };
            written += days;
        }
    }
    Ok(written)
}

/// Computes and stores the days `first..=last`, in one short transaction:
/// the number written, or `None` when another instance is storing now.
async fn store(pool: &PgPool, first: Date, last: Date) -> MarketResult<Option<i64>> {
    let mut tx = pool.begin().await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1, 0) AS "locked!""#,
        REFRESHING
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(None);
    }
    let done = sqlx::query!(
        "INSERT INTO platform_daily
             (day, requests_created, offers_made, orders_created, orders_online, gross_paisa,
              orders_completed, cancelled_customer, cancelled_vendor, cancelled_admin,
              cancelled_system, commission_paisa, refunds_paisa, refunds_made, disputes_opened,
              disputes_open, active_customers, active_vendors)
         SELECT * FROM platform_day_figures($1, $2)
         ON CONFLICT (day) DO UPDATE SET
             requests_created = EXCLUDED.requests_created, offers_made = EXCLUDED.offers_made,
             orders_created = EXCLUDED.orders_created, orders_online = EXCLUDED.orders_online,
             gross_paisa = EXCLUDED.gross_paisa, orders_completed = EXCLUDED.orders_completed,
             cancelled_customer = EXCLUDED.cancelled_customer,
             cancelled_vendor = EXCLUDED.cancelled_vendor,
             cancelled_admin = EXCLUDED.cancelled_admin,
             cancelled_system = EXCLUDED.cancelled_system,
             commission_paisa = EXCLUDED.commission_paisa, refunds_paisa = EXCLUDED.refunds_paisa,
             refunds_made = EXCLUDED.refunds_made,
             disputes_opened = EXCLUDED.disputes_opened, disputes_open = EXCLUDED.disputes_open,
             active_customers = EXCLUDED.active_customers,
             active_vendors = EXCLUDED.active_vendors, computed_at = now()",
        first,
        last,
    )
    .execute(&mut *tx)
    .await?;
    // The weeks these days fall in, whole.
    sqlx::query!(
        "INSERT INTO platform_weekly (week, active_customers, active_vendors)
         SELECT * FROM platform_week_figures($1, $2)
         ON CONFLICT (week) DO UPDATE SET
             active_customers = EXCLUDED.active_customers,
             active_vendors = EXCLUDED.active_vendors, computed_at = now()",
        week_of_date(first),
        week_of_date(last),
    )
    .execute(&mut *tx)
    .await?;
    // Each laundry's money on these days (`vendor_money_figures`), the
    // days marked complete.
    sqlx::query!(
        "DELETE FROM vendor_money_daily WHERE day BETWEEN $1 AND $2",
        first,
        last
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO vendor_money_daily (vendor_id, day, online_paisa, cash_paisa, movements)
         SELECT * FROM vendor_money_figures(NULL, $1, $2)",
        first,
        last,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO vendor_money_days (day)
         SELECT d::date FROM generate_series($1::date, $2::date, interval '1 day') d
         ON CONFLICT (day) DO UPDATE SET computed_at = now()",
        first,
        last,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(
        i64::try_from(done.rows_affected()).unwrap_or(i64::MAX),
    ))
}

/// The figures of every Nepal day `first..=last`, in order: stored rows,
/// and computed from the records for today and any day not stored yet
/// (each run of missing days apart, so a day missing before the history
/// began and today do not make every day between them computed again).
/// Reads only.
pub async fn days(
    pool: &PgPool,
    first: Date,
    last: Date,
    now: OffsetDateTime,
) -> MarketResult<Vec<PlatformDay>> {
    let today = nepal_date(now);
    Ok(sqlx::query_as!(
        PlatformDay,
        r#"WITH stored AS (
               SELECT day, requests_created, offers_made, orders_created, orders_online,
                      gross_paisa, orders_completed, cancelled_customer, cancelled_vendor,
                      cancelled_admin, cancelled_system, commission_paisa, refunds_paisa,
                      refunds_made, disputes_opened, disputes_open, active_customers,
                      active_vendors
               FROM platform_daily WHERE day BETWEEN $1 AND $2 AND day < $3),
           missing AS (
               SELECT d::date AS day,
                      d::date - (row_number() OVER (ORDER BY d))::int AS run
               FROM generate_series($1::date, $2::date, interval '1 day') d
               WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.day = d::date)),
           gap AS (SELECT min(day) AS first, max(day) AS last FROM missing GROUP BY run)
           SELECT f.day, f.requests_created AS "requests_created!",
                  f.offers_made AS "offers_made!", f.orders_created AS "orders_created!",
                  f.orders_online AS "orders_online!", f.gross_paisa AS "gross_paisa!",
                  f.orders_completed AS "orders_completed!",
                  f.cancelled_customer AS "cancelled_customer!",
                  f.cancelled_vendor AS "cancelled_vendor!",
                  f.cancelled_admin AS "cancelled_admin!",
                  f.cancelled_system AS "cancelled_system!",
                  f.commission_paisa AS "commission_paisa!", f.refunds_paisa AS "refunds_paisa!",
                  f.refunds_made AS "refunds_made!",
                  f.disputes_opened AS "disputes_opened!", f.disputes_open AS "disputes_open!",
                  f.active_customers AS "active_customers!", f.active_vendors AS "active_vendors!"
           FROM gap CROSS JOIN LATERAL platform_day_figures(gap.first, gap.last) f
           UNION ALL
           SELECT day, requests_created, offers_made, orders_created, orders_online, gross_paisa,
                  orders_completed, cancelled_customer, cancelled_vendor, cancelled_admin,
                  cancelled_system, commission_paisa, refunds_paisa, refunds_made,
                  disputes_opened, disputes_open, active_customers, active_vendors
           FROM stored
           ORDER BY 1"#,
        first,
        last,
        today,
    )
    .fetch_all(pool)
    .await?)
}

/// Who was active in the Nepal weeks starting on the Sundays
/// `first..=last`, in order: stored rows (the sweep refreshes the current
/// week's on every tick), computed from the records for any week not stored
/// yet. Reads only.
pub async fn weeks_active(pool: &PgPool, first: Date, last: Date) -> MarketResult<Vec<WeekActive>> {
    let (first, last) = (week_of_date(first), week_of_date(last));
    Ok(sqlx::query_as!(
        WeekActive,
        r#"WITH stored AS (
               SELECT week, active_customers, active_vendors FROM platform_weekly
               WHERE week BETWEEN $1 AND $2),
           missing AS (
               SELECT w::date AS week,
                      w::date - 7 * (row_number() OVER (ORDER BY w))::int AS run
               FROM generate_series($1::date, $2::date, interval '7 days') w
               WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.week = w::date)),
           gap AS (SELECT min(week) AS first, max(week) AS last FROM missing GROUP BY run)
           SELECT f.week, f.active_customers AS "active_customers!",
                  f.active_vendors AS "active_vendors!"
           FROM gap CROSS JOIN LATERAL platform_week_figures(gap.first, gap.last) f
           UNION ALL
           SELECT week, active_customers, active_vendors FROM stored
           ORDER BY 1"#,
        first,
        last,
    )
    .fetch_all(pool)
    .await?)
}

impl OnDay for PlatformDay {
    fn day(&self) -> Option<Date> {
        self.day
    }
}

/// What the admin's statistics show over `range`: every day of it and of
/// the period before it, and who was active per week of both (a week's are
/// not its days').
#[derive(Debug, Clone)]
pub struct PlatformStats {
    pub daily: Daily<PlatformDay>,
    pub weeks: Vec<WeekActive>,
}

impl PlatformStats {
    /// Who was active (customers, laundries) in each bucket of `range` (the
    /// range or the one before it), per day or per week; `None` per month
    /// (not kept).
    pub fn active(&self, range: &Range) -> Option<Vec<(i64, i64)>> {
        match range.step {
            Step::Day => Some(
                range
                    .buckets()
                    .iter()
                    .map(|bucket| {
                        self.daily
                            .days
                            .iter()
                            .find(|d| d.day == Some(bucket.first))
                            .map_or((0, 0), |d| {
                                (i64::from(d.active_customers), i64::from(d.active_vendors))
                            })
                    })
                    .collect(),
            ),
            Step::Week => Some(
                range
                    .buckets()
                    .iter()
                    .map(|bucket| {
                        self.weeks
                            .iter()
                            .find(|w| w.week == Some(week_of_date(bucket.first)))
                            .map_or((0, 0), |w| {
                                (i64::from(w.active_customers), i64::from(w.active_vendors))
                            })
                    })
                    .collect(),
            ),
            Step::Month => None,
        }
    }

    /// The disputes still open at the end of each bucket (at its last day,
    /// or now for the one still going on).
    pub fn open_disputes(&self) -> Vec<i64> {
        self.daily
            .range
            .buckets()
            .iter()
            .map(|bucket| self.open_at(bucket.last))
            .collect()
    }

    /// Disputes open at the end of `range` (a level, not a sum).
    pub fn open_at_end(&self, range: &Range) -> i64 {
        self.open_at(range.last)
    }

    /// Disputes open at the end of the day `last` (or now, for today).
    fn open_at(&self, last: Date) -> i64 {
        self.daily
            .days
            .iter()
            .rfind(|d| d.day.is_some_and(|day| day <= last))
            .map_or(0, |d| i64::from(d.disputes_open))
    }
}

/// The admin's statistics over `range` (and the period before it). Reads
/// only: stored days and weeks, today and anything not stored computed.
pub async fn platform(pool: &PgPool, admin: &User, range: Range) -> MarketResult<PlatformStats> {
    require_admin(admin)?;
    let previous = range.previous();
    let now = OffsetDateTime::now_utc();
    let days = days(pool, previous.first, range.last, now).await?;
    let weeks = if range.step == Step::Week {
        weeks_active(pool, previous.first, range.last).await?
    } else {
        Vec::new()
    };
    Ok(PlatformStats {
        daily: Daily { range, days },
        weeks,
    })
}
