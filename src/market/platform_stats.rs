//! The platform's daily figures (DESIGN.md, "Statistics"): kept per Nepal
//! day in `platform_daily` by the sweep, read by the admin's statistics.
//!
//! One definition computes them, the SQL function `platform_day_figures`
//! (migration `…06_platform_daily`): the sweep stores its rows, and a read
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

use super::MarketResult;
use crate::domain::payouts::week_of_date;
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
    let mut written = store(pool, recent, today).await?;
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
           ORDER BY 1 DESC LIMIT $3"#,
        first,
        recent - Duration::days(1),
        FILL_PER_TICK,
    )
    .fetch_all(pool)
    .await?;
    for chunk in missing.chunks(CHUNK_DAYS as usize) {
        if let (Some(&last), Some(&first)) = (chunk.first(), chunk.last()) {
            written += store(pool, first, last).await?;
        }
    }
    Ok(written)
}

/// Computes and stores the days `first..=last`, in one short transaction,
/// unless another instance is storing some now (0 days written).
async fn store(pool: &PgPool, first: Date, last: Date) -> MarketResult<i64> {
    let mut tx = pool.begin().await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1, 0) AS "locked!""#,
        REFRESHING
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(0);
    }
    let done = sqlx::query!(
        "INSERT INTO platform_daily
             (day, requests_created, offers_made, orders_created, orders_online, gross_paisa,
              orders_completed, cancelled_customer, cancelled_vendor, cancelled_admin,
              cancelled_system, commission_paisa, refunds_paisa, disputes_opened, disputes_open,
              active_customers, active_vendors)
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
    tx.commit().await?;
    Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
}

/// The figures of every Nepal day `first..=last`, in order: stored rows,
/// and computed from the records for today and any day not stored yet.
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
                      disputes_opened, disputes_open, active_customers, active_vendors
               FROM platform_daily WHERE day BETWEEN $1 AND $2 AND day < $3),
           gap AS (
               SELECT min(d::date) AS first, max(d::date) AS last
               FROM generate_series($1::date, $2::date, interval '1 day') d
               WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.day = d::date))
           SELECT f.day, f.requests_created AS "requests_created!",
                  f.offers_made AS "offers_made!", f.orders_created AS "orders_created!",
                  f.orders_online AS "orders_online!", f.gross_paisa AS "gross_paisa!",
                  f.orders_completed AS "orders_completed!",
                  f.cancelled_customer AS "cancelled_customer!",
                  f.cancelled_vendor AS "cancelled_vendor!",
                  f.cancelled_admin AS "cancelled_admin!",
                  f.cancelled_system AS "cancelled_system!",
                  f.commission_paisa AS "commission_paisa!", f.refunds_paisa AS "refunds_paisa!",
                  f.disputes_opened AS "disputes_opened!", f.disputes_open AS "disputes_open!",
                  f.active_customers AS "active_customers!", f.active_vendors AS "active_vendors!"
           FROM gap, platform_day_figures(gap.first, gap.last) f
           WHERE gap.first IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stored s WHERE s.day = f.day)
           UNION ALL
           SELECT day, requests_created, offers_made, orders_created, orders_online, gross_paisa,
                  orders_completed, cancelled_customer, cancelled_vendor, cancelled_admin,
                  cancelled_system, commission_paisa, refunds_paisa, disputes_opened,
                  disputes_open, active_customers, active_vendors
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
           gap AS (
               SELECT min(w::date) AS first, max(w::date) AS last
               FROM generate_series($1::date, $2::date, interval '7 days') w
               WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.week = w::date))
           SELECT f.week, f.active_customers AS "active_customers!",
                  f.active_vendors AS "active_vendors!"
           FROM gap, platform_week_figures(gap.first, gap.last) f
           WHERE gap.first IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stored s WHERE s.week = f.week)
           UNION ALL
           SELECT week, active_customers, active_vendors FROM stored
           ORDER BY 1"#,
        first,
        last,
    )
    .fetch_all(pool)
    .await?)
}

/// The figures of a run of days (a week, or the whole range) added up:
/// counts and money summed; disputes still open taken at the run's end;
/// who was active is not a sum (see [`weeks_active`]), so left at zero.
pub fn total(days: &[PlatformDay]) -> PlatformDay {
    let mut sum = PlatformDay {
        day: days.first().and_then(|day| day.day),
        ..PlatformDay::default()
    };
    for day in days {
        sum.requests_created += day.requests_created;
        sum.offers_made += day.offers_made;
        sum.orders_created += day.orders_created;
        sum.orders_online += day.orders_online;
        sum.gross_paisa += day.gross_paisa;
        sum.orders_completed += day.orders_completed;
        sum.cancelled_customer += day.cancelled_customer;
        sum.cancelled_vendor += day.cancelled_vendor;
        sum.cancelled_admin += day.cancelled_admin;
        sum.cancelled_system += day.cancelled_system;
        sum.commission_paisa += day.commission_paisa;
        sum.refunds_paisa += day.refunds_paisa;
        sum.disputes_opened += day.disputes_opened;
        sum.disputes_open = day.disputes_open;
    }
    sum
}

/// The days grouped into Nepal weeks (Sunday–Saturday), each the
/// [`total`] of its days (the first and last may be partial weeks).
pub fn weeks(days: &[PlatformDay]) -> Vec<PlatformDay> {
    days.chunk_by(|a, b| {
        a.day.map(crate::domain::payouts::week_of_date)
            == b.day.map(crate::domain::payouts::week_of_date)
    })
    .map(total)
    .collect()
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn on(day: Date, orders: i32, open: i32) -> PlatformDay {
        PlatformDay {
            day: Some(day),
            orders_created: orders,
            gross_paisa: i64::from(orders) * 100,
            disputes_open: open,
            ..PlatformDay::default()
        }
    }

    #[test]
    fn statistics_a_run_of_days_sums_its_flows_and_keeps_the_last_level() {
        let days = [
            on(date!(2026 - 11 - 20), 2, 1),
            on(date!(2026 - 11 - 21), 3, 4),
            on(date!(2026 - 11 - 22), 5, 2),
        ];
        let sum = total(&days);
        assert_eq!(sum.day, Some(date!(2026 - 11 - 20)));
        assert_eq!((sum.orders_created, sum.gross_paisa), (10, 1_000));
        assert_eq!(sum.disputes_open, 2, "open at the end, not summed");
        assert_eq!(total(&[]), PlatformDay::default());
    }

    #[test]
    fn statistics_weeks_run_sunday_to_saturday() {
        // Fri 20, Sat 21 Nov 2026, then Sun 22 starts a week.
        let days: Vec<PlatformDay> = (0..10)
            .map(|n| on(date!(2026 - 11 - 20) + Duration::days(n), 1, 0))
            .collect();
        let weeks = weeks(&days);
        let shape: Vec<(Option<Date>, i32)> =
            weeks.iter().map(|w| (w.day, w.orders_created)).collect();
        assert_eq!(
            shape,
            [
                (Some(date!(2026 - 11 - 20)), 2),
                (Some(date!(2026 - 11 - 22)), 7),
                (Some(date!(2026 - 11 - 29)), 1)
            ]
        );
    }

    #[test]
    fn statistics_a_nepal_day_begins_at_1815_utc() {
        use time::macros::datetime;
        assert_eq!(
            nepal_date(datetime!(2026-11-25 18:14:59 UTC)),
            date!(2026 - 11 - 25)
        );
        assert_eq!(
            nepal_date(datetime!(2026-11-25 18:15 UTC)),
            date!(2026 - 11 - 26)
        );
    }
}
