//! The platform's daily figures (issue 13, "Scale"): kept per Nepal day by
//! the sweep, computed live for today and any day not stored yet, and equal
//! to independent counts of the records, bucketed by Nepal day in Rust.

use std::collections::{BTreeMap, BTreeSet};

use dhune::domain::when::nepal_date as nepal_day;
use dhune::market::platform_stats::{self, PlatformDay};
use sqlx::PgPool;
use time::{Date, Duration, OffsetDateTime};

use crate::helpers::TestApp;
use crate::statements::{paid_online, refund};

const VENDOR: &str = "v@example.com";

/// 00:00 in Nepal on `date`.
fn nepal_midnight(date: Date) -> OffsetDateTime {
    date.with_time(time::Time::MIDNIGHT)
        .assume_offset(dhune::domain::request::LOCAL_OFFSET)
}

/// Moves a table's `created_at` (and the given other columns) of one row.
async fn move_row(app: &TestApp, table: &str, id: i64, at: OffsetDateTime, also: &[&str]) {
    let mut sets = vec!["created_at = $2".to_owned()];
    sets.extend(also.iter().map(|column| format!("{column} = $2")));
    sqlx::query(&format!(
        "UPDATE {table} SET {} WHERE id = $1",
        sets.join(", ")
    ))
    .bind(id)
    .bind(at)
    .execute(&app.pool)
    .await
    .expect("move");
}

/// The figures of `at`'s Nepal day, a new one if need be.
fn day(days: &mut BTreeMap<Date, PlatformDay>, at: OffsetDateTime) -> &mut PlatformDay {
    let date = nepal_day(at);
    days.entry(date).or_insert_with(|| PlatformDay {
        day: Some(date),
        ..PlatformDay::default()
    })
}

/// The figures counted from the records in Rust, per Nepal day.
async fn counted(app: &TestApp) -> BTreeMap<Date, PlatformDay> {
    let mut days: BTreeMap<Date, PlatformDay> = BTreeMap::new();
    let rows = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_as::<_, (OffsetDateTime, String, i64)>(sql)
                .fetch_all(&pool)
                .await
                .expect("rows")
        }
    };
    let mut customers: BTreeMap<Date, BTreeSet<i64>> = BTreeMap::new();
    for (at, _, who) in rows("SELECT created_at, '', customer_id FROM requests").await {
        day(&mut days, at).requests_created += 1;
        customers.entry(nepal_day(at)).or_default().insert(who);
    }
    let mut vendors: BTreeMap<Date, BTreeSet<i64>> = BTreeMap::new();
    for (at, _, who) in rows("SELECT created_at, '', vendor_id FROM offers").await {
        day(&mut days, at).offers_made += 1;
        vendors.entry(nepal_day(at)).or_default().insert(who);
    }
    for (date, who) in &customers {
        day(&mut days, nepal_midnight(*date)).active_customers = who.len() as i32;
    }
    for (date, who) in &vendors {
        day(&mut days, nepal_midnight(*date)).active_vendors = who.len() as i32;
    }
    for (at, method, price) in
        rows("SELECT created_at, payment_method, price_paisa FROM orders").await
    {
        let d = day(&mut days, at);
        d.orders_created += 1;
        d.orders_online += i32::from(method == "online");
        d.gross_paisa += price;
    }
    for (at, _, _) in
        rows("SELECT completed_at, '', 0::bigint FROM orders WHERE completed_at IS NOT NULL").await
    {
        day(&mut days, at).orders_completed += 1;
    }
    for (at, role, _) in rows(
        "SELECT h.created_at, coalesce(u.role, 'system'), 0::bigint FROM order_status_history h
         LEFT JOIN users u ON u.id = h.actor_id WHERE h.to_status = 'CANCELLED'",
    )
    .await
    {
        let d = day(&mut days, at);
        match role.as_str() {
            "customer" => d.cancelled_customer += 1,
            "vendor" => d.cancelled_vendor += 1,
            "admin" => d.cancelled_admin += 1,
            _ => d.cancelled_system += 1,
        }
    }
    for (at, _, amount) in rows(
        "SELECT t.created_at, '', e.amount_paisa FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id WHERE e.account = 'platform:commission'",
    )
    .await
    {
        day(&mut days, at).commission_paisa -= amount;
    }
    for (at, _, amount) in rows(
        "SELECT t.created_at, '', r.amount_paisa FROM ledger_transactions t
         JOIN refunds r ON r.id = t.source_id WHERE t.kind = 'refund'",
    )
    .await
    {
        let d = day(&mut days, at);
        d.refunds_paisa += amount;
        d.refunds_made += 1;
    }
    for (at, _, _) in rows("SELECT created_at, '', 0::bigint FROM disputes").await {
        day(&mut days, at).disputes_opened += 1;
    }
    // Open at a day's end: opened before it, not resolved before it.
    let disputes: Vec<(OffsetDateTime, Option<OffsetDateTime>)> =
        sqlx::query_as("SELECT created_at, resolved_at FROM disputes")
            .fetch_all(&app.pool)
            .await
            .expect("disputes");
    for (date, figures) in days.iter_mut() {
        let end = nepal_midnight(*date) + Duration::days(1);
        figures.disputes_open = disputes
            .iter()
            .filter(|(opened, resolved)| *opened < end && resolved.is_none_or(|at| at >= end))
            .count() as i32;
    }
    days
}

/// The days `first..=last` as the figures give them, without the empty ones.
async fn figured(app: &TestApp, first: Date, last: Date) -> BTreeMap<Date, PlatformDay> {
    platform_stats::days(&app.pool, first, last, OffsetDateTime::now_utc())
        .await
        .expect("days")
        .into_iter()
        .filter(|day| {
            *day != PlatformDay {
                day: day.day,
                ..PlatformDay::default()
            }
        })
        .map(|day| (day.day.expect("day"), day))
        .collect()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn platform_stats_each_day_counts_what_happened_on_it_in_nepal(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let completed = app.delivered(&customer, &vendor, VENDOR, "1000").await;
    let paid = paid_online(&app, &customer, &vendor, "800").await;
    refund(&app, &admin, paid, "150").await;
    let by_customer = app.order(&customer, &vendor, VENDOR, "300").await;
    customer
        .post(
            &format!("/orders/{by_customer}/cancel"),
            &[("reason", "Plans changed".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{by_customer}"));
    let by_admin = app.order(&customer, &vendor, VENDOR, "400").await;
    admin
        .post(
            &format!("/admin/orders/{by_admin}/cancel"),
            &[("reason", "Duplicate".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{by_admin}"));
    let disputed = app.order(&customer, &vendor, VENDOR, "600").await;
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(disputed, step).await;
    }
    customer
        .post(
            &format!("/orders/{disputed}/dispute"),
            &[("reason", "A torn shirt".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{disputed}"));

    // The completed order was created at 23:50 on a Nepal day and completed
    // at 00:10 on the next; the first cancelled one was created at 00:10.
    let midnight = nepal_midnight(nepal_day(OffsetDateTime::now_utc())) - Duration::days(9);
    move_row(
        &app,
        "orders",
        completed,
        midnight - Duration::minutes(10),
        &[],
    )
    .await;
    sqlx::query("UPDATE orders SET completed_at = $2 WHERE id = $1")
        .bind(completed)
        .bind(midnight + Duration::minutes(10))
        .execute(&app.pool)
        .await
        .expect("completed");
    move_row(
        &app,
        "orders",
        by_customer,
        midnight + Duration::minutes(10),
        &[],
    )
    .await;
    sqlx::query(
        "UPDATE requests SET created_at = $2 WHERE id = (SELECT request_id FROM orders WHERE id = $1)",
    )
    .bind(by_customer)
    .bind(midnight + Duration::minutes(10))
    .execute(&app.pool)
    .await
    .expect("request");

    let today = nepal_day(OffsetDateTime::now_utc());
    let first = today - Duration::days(30);
    let expected = counted(&app).await;
    assert_eq!(expected.len(), 3, "three days with records: {expected:?}");
    assert_eq!(
        expected.values().map(|d| d.active_customers).sum::<i32>(),
        2,
        "the customer was active on two days"
    );
    assert_eq!(figured(&app, first, today).await, expected, "computed live");

    // Stored by the sweep: the same figures, read from the rows.
    let written = platform_stats::refresh(&app.pool, OffsetDateTime::now_utc())
        .await
        .expect("refresh");
    assert!(written >= 3, "{written}");
    assert!(
        app.count(&format!(
            "SELECT count(*) FROM platform_daily WHERE day = '{}'",
            today - Duration::days(9)
        ))
        .await
            == 1
    );
    assert_eq!(figured(&app, first, today).await, expected, "stored");
    // Days not stored here and there: each run of them computed, once.
    sqlx::query("DELETE FROM platform_daily WHERE day IN ($1, $2, $3)")
        .bind(first)
        .bind(today - Duration::days(9))
        .bind(today - Duration::days(8))
        .execute(&app.pool)
        .await
        .expect("forget days");
    assert_eq!(figured(&app, first, today).await, expected, "gaps");
    let days = platform_stats::days(&app.pool, first, today, OffsetDateTime::now_utc())
        .await
        .expect("days");
    assert_eq!(days.len(), 31);
    assert!(days.windows(2).all(|w| w[0].day < w[1].day));
    platform_stats::refresh(&app.pool, OffsetDateTime::now_utc())
        .await
        .expect("refill");
    // Every day of the range comes back, the empty ones as zeros.
    let all = platform_stats::days(&app.pool, first, today, OffsetDateTime::now_utc())
        .await
        .expect("days");
    assert_eq!(all.len(), 31);
    assert!(all.windows(2).all(|w| w[0].day < w[1].day));

    // Today is always computed from the records: a new order shows at once.
    app.order(&customer, &vendor, VENDOR, "250").await;
    let now = figured(&app, today, today).await;
    assert_eq!(
        now.get(&today).map(|d| d.orders_created),
        counted(&app).await.get(&today).map(|d| d.orders_created)
    );
    assert_eq!(
        figured(&app, first, today).await,
        counted(&app).await,
        "today fresh, the rest stored"
    );

    // Who was active per week: each person once however many days.
    let weeks = platform_stats::weeks_active(&app.pool, first, today)
        .await
        .expect("weeks");
    let mut expected: BTreeMap<Date, (BTreeSet<i64>, BTreeSet<i64>)> = BTreeMap::new();
    for (at, customer, vendor) in sqlx::query_as::<_, (OffsetDateTime, i64, i64)>(
        "SELECT created_at, customer_id, 0::bigint FROM requests
         UNION ALL SELECT created_at, 0::bigint, vendor_id FROM offers",
    )
    .fetch_all(&app.pool)
    .await
    .expect("activity")
    {
        let week = dhune::domain::payouts::week_start(at);
        let entry = expected.entry(week).or_default();
        if customer != 0 {
            entry.0.insert(customer);
        }
        if vendor != 0 {
            entry.1.insert(vendor);
        }
    }
    let got: BTreeMap<Date, (i32, i32)> = weeks
        .iter()
        .filter(|w| w.active_customers + w.active_vendors > 0)
        .map(|w| {
            (
                w.week.expect("week"),
                (w.active_customers, w.active_vendors),
            )
        })
        .collect();
    let want: BTreeMap<Date, (i32, i32)> = expected
        .into_iter()
        .map(|(week, (c, v))| (week, (c.len() as i32, v.len() as i32)))
        .collect();
    assert_eq!(got, want);
    assert!(want.values().any(|&(c, _)| c == 1), "{want:?}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn platform_stats_racing_sweepers_fill_every_day_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    // Records on 20 days, 100 days back: more than one tick fills.
    for back in 0..20 {
        let order = app.delivered(&customer, &vendor, VENDOR, "500").await;
        let at = OffsetDateTime::now_utc() - Duration::days(100 - back);
        move_row(&app, "orders", order, at, &["completed_at"]).await;
        sqlx::query(
            "UPDATE requests SET created_at = $2 WHERE id = (SELECT request_id FROM orders WHERE id = $1)",
        )
        .bind(order)
        .bind(at)
        .execute(&app.pool)
        .await
        .expect("request");
    }
    let now = OffsetDateTime::now_utc();
    for _ in 0..3 {
        let sweeps: Vec<_> = (0..4)
            .map(|_| {
                let pool = app.pool.clone();
                tokio::spawn(async move { platform_stats::refresh(&pool, now).await })
            })
            .collect();
        for sweep in sweeps {
            sweep.await.expect("join").expect("refresh");
        }
    }
    let today = nepal_day(now);
    let first = nepal_day(now - Duration::days(100));
    let days = app
        .count(&format!(
            "SELECT count(*) FROM platform_daily WHERE day BETWEEN '{first}' AND '{today}'"
        ))
        .await;
    assert_eq!(
        days,
        (today - first).whole_days() + 1,
        "every day stored once"
    );
    assert_eq!(
        app.count("SELECT sum(orders_completed) FROM platform_daily")
            .await,
        20
    );
    assert_eq!(figured(&app, first, today).await, counted(&app).await);
}
