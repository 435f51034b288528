//! The vendor's statistics (issue 13, item 2): every figure on /stats equals
//! a count made here independently (UTC bounds of Nepal midnights written
//! out, prices and commissions from the orders), over a fixture made through
//! the operations and then moved in time (orders, offers and the ledger's
//! transactions backdated) so the range crosses Nepal midnights and the
//! Saturday→Sunday week edge.

use axum::http::StatusCode;
use dhune::market::platform_stats;
use sqlx::PgPool;
use time::macros::offset;
use time::{Date, Duration, OffsetDateTime, UtcOffset, Weekday};

use crate::helpers::{Browser, TestApp};
use crate::statements::paid_online;

const VENDOR: &str = "v@example.com";
const OTHER: &str = "w@example.com";
const NEPAL: UtcOffset = offset!(+5:45);

/// `h:m` on `day` in Nepal.
fn at(day: Date, h: u8, m: u8) -> OffsetDateTime {
    day.with_hms(h, m, 0).expect("time").assume_offset(NEPAL)
}

fn plus(day: Date, days: i64) -> Date {
    day + Duration::days(days)
}

/// A Saturday (Nepal) at least ten days ago.
fn past_saturday() -> Date {
    let mut day = (OffsetDateTime::now_utc().to_offset(NEPAL) - Duration::days(10)).date();
    while day.weekday() != Weekday::Saturday {
        day = day.previous_day().expect("day");
    }
    day
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .expect("user")
}

/// Moves an order (and its accepted offer) to `created`; a completed order
/// completes `hours` later; its ledger transactions (captures, refunds) are
/// moved to `money_at`.
async fn move_order(
    app: &TestApp,
    order_id: i64,
    created: OffsetDateTime,
    hours: i64,
    money_at: OffsetDateTime,
) {
    sqlx::query(
        "UPDATE orders SET created_at = $2,
             completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE $2 + make_interval(hours => $3) END
         WHERE id = $1",
    )
    .bind(order_id)
    .bind(created)
    .bind(i32::try_from(hours).expect("hours"))
    .execute(&app.pool)
    .await
    .expect("order");
    sqlx::query(
        "UPDATE offers SET created_at = $2 WHERE id = (SELECT offer_id FROM orders WHERE id = $1)",
    )
    .bind(order_id)
    .bind(created)
    .execute(&app.pool)
    .await
    .expect("offer");
    // A cash payment is recorded when the order completes.
    sqlx::query("UPDATE payments SET created_at = $2 WHERE order_id = $1 AND method = 'cod'")
        .bind(order_id)
        .bind(money_at)
        .execute(&app.pool)
        .await
        .expect("cash payment");
    app.move_ledger(order_id, money_at).await;
}

async fn complete(vendor: &Browser, order_id: i64) {
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
        vendor.move_order(order_id, step).await;
    }
}

async fn cancel(by: &Browser, order_id: i64) {
    let page = by
        .post(
            &format!("/orders/{order_id}/cancel"),
            &[("reason", "plans changed".into())],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// The cells of the table in `<section data-table="{id}">`: its heading
/// row, then a row per `<tr>` of its body, text unescaped.
pub(crate) fn table(body: &str, id: &str) -> Vec<Vec<String>> {
    let marker = format!("data-table=\"{id}\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no table {id}"));
    let section = &body[start..];
    let section = &section[..section.find("</section>").expect("section end")];
    section
        .split("<tr")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").expect("row end")];
            let mut cells = Vec::new();
            let mut rest = row;
            while let Some(i) = ["<th>", "<th ", "<td>", "<td "]
                .iter()
                .filter_map(|tag| rest.find(tag))
                .min()
            {
                let open = &rest[i..];
                let text_start = open.find('>').expect("tag end") + 1;
                let text = &open[text_start..];
                let end = text.find("</t").expect("cell end");
                cells.push(unescape(&text[..end]));
                rest = &text[end..];
            }
            cells
        })
        .collect()
}

pub(crate) fn unescape(text: &str) -> String {
    text.replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The CSV `csv` holds exactly the page's tables (id, caption), row for
/// row, each row led by its table's caption; money compared as plain numbers.
pub(crate) fn assert_csv_is_the_tables(page: &str, csv: &str, tables: &[(&str, &str)]) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    let plain = |cell: &str| cell.replace("Rs ", "").replace(',', "");
    let mut rows = 0;
    for (id, caption) in tables {
        let shown: Vec<Vec<String>> = table(page, id)
            .iter()
            .map(|row| row.iter().map(|c| plain(c)).collect())
            .collect();
        let written: Vec<Vec<String>> = records
            .iter()
            .filter(|r| r[0] == *caption)
            .map(|r| r[1..].iter().map(|c| plain(c)).collect())
            .collect();
        assert_eq!(shown, written, "{id}");
        rows += written.len();
    }
    assert_eq!(rows, records.len(), "nothing else in the CSV");
}

/// The row whose heading is `name`.
pub(crate) fn row<'a>(table: &'a [Vec<String>], name: &str) -> &'a [String] {
    table
        .iter()
        .find(|row| row.first().is_some_and(|h| h == name))
        .unwrap_or_else(|| panic!("no row {name} in {table:?}"))
}

fn rupees(paisa: i64) -> String {
    dhune::domain::money::Money::from_paisa(paisa).to_string()
}

/// The interpolated percentile of sorted values (as `percentile_cont`).
fn percentile(sorted: &[i64], p: f64) -> i64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (low, high) = (pos.floor() as usize, pos.ceil() as usize);
    let value = sorted[low] as f64 + (sorted[high] - sorted[low]) as f64 * (pos - low as f64);
    value.round() as i64
}

struct World {
    app: TestApp,
    vendor: Browser,
    other: Browser,
    customer: Browser,
    vendor_id: i64,
    saturday: Date,
}

/// The fixture, around a past Saturday S (Nepal). The range is Fri S−1 to
/// Sun S+1; the previous period Tue S−4 to Thu S−2.
/// - Fri 12:00 cash at no commission, completed after 1 h;
/// - Sat 23:50 cash, completed after 2 h (its money on Sunday);
/// - Sat 10:00 cash, completed after 3 h;
/// - Sat 09:00 cash, cancelled by the laundry;
/// - Sun 00:10 online, completed after 4 h;
/// - Sun 09:00 online, completed after 10 h;
/// - Sun 08:00 online, paid then cancelled by the customer (refunded);
/// - offers: one withdrawn Sat 12:00, one rejected Sun 01:00, one pending
///   Sun 02:00; the other laundry's order on Sunday;
/// - previous period, Wed: one completed (1 h), one cancelled by the customer;
/// - long before: one completed.
async fn world(pool: PgPool) -> World {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let other = app.vendor(OTHER).await;
    let vendor_id = user_id(&app, VENDOR).await;
    let s = past_saturday();
    let (fri, sun) = (plus(s, -1), plus(s, 1));

    for (created, hours) in [(at(fri, 12, 0), 1), (at(s, 23, 50), 2), (at(s, 10, 0), 3)] {
        let id = app.order(&customer, &vendor, VENDOR, "500").await;
        if hours == 1 {
            // At no commission: nothing for the ledger to post, all cash kept.
            sqlx::query("UPDATE orders SET commission_bps = 0, commission_paisa = 0 WHERE id = $1")
                .bind(id)
                .execute(&app.pool)
                .await
                .expect("no commission");
        }
        complete(&vendor, id).await;
        move_order(&app, id, created, hours, created + Duration::hours(hours)).await;
    }
    let id = app.order(&customer, &vendor, VENDOR, "500").await;
    cancel(&vendor, id).await;
    move_order(&app, id, at(s, 9, 0), 0, at(s, 9, 0)).await;
    for (created, hours) in [(at(sun, 0, 10), 4), (at(sun, 9, 0), 10)] {
        let id = paid_online(&app, &customer, &vendor, "1000").await;
        complete(&vendor, id).await;
        move_order(&app, id, created, hours, created + Duration::hours(hours)).await;
    }
    let id = paid_online(&app, &customer, &vendor, "800").await;
    cancel(&customer, id).await;
    move_order(&app, id, at(sun, 8, 0), 0, at(sun, 8, 30)).await;

    // Offers that reached another end, and one still pending.
    let request = customer.create_request().await;
    vendor.make_offer(request, "300").await;
    let withdrawn = app.offer_id(request, VENDOR).await;
    let page = vendor
        .post(&format!("/offers/{withdrawn}/withdraw"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let request = customer.create_request().await;
    vendor.make_offer(request, "300").await;
    let rejected = app.offer_id(request, VENDOR).await;
    other.make_offer(request, "250").await;
    let theirs = app.offer_id(request, OTHER).await;
    customer.accept(theirs, 1).await;
    let request = customer.create_request().await;
    vendor.make_offer(request, "300").await;
    let pending = app.offer_id(request, VENDOR).await;
    for (offer, when) in [
        (withdrawn, at(s, 12, 0)),
        (rejected, at(sun, 1, 0)),
        (pending, at(sun, 2, 0)),
        (theirs, at(sun, 1, 0)),
    ] {
        sqlx::query("UPDATE offers SET created_at = $2 WHERE id = $1")
            .bind(offer)
            .bind(when)
            .execute(&app.pool)
            .await
            .expect("offer");
    }
    sqlx::query("UPDATE orders SET created_at = $2 WHERE offer_id = $1")
        .bind(theirs)
        .bind(at(sun, 1, 0))
        .execute(&app.pool)
        .await
        .expect("their order");

    let wed = plus(s, -3);
    let id = app.delivered(&customer, &vendor, VENDOR, "500").await;
    move_order(&app, id, at(wed, 10, 0), 1, at(wed, 11, 0)).await;
    let id = app.order(&customer, &vendor, VENDOR, "500").await;
    cancel(&customer, id).await;
    move_order(&app, id, at(wed, 12, 0), 0, at(wed, 12, 0)).await;
    let long_ago = plus(s, -30);
    let id = app.delivered(&customer, &vendor, VENDOR, "500").await;
    move_order(&app, id, at(long_ago, 10, 0), 1, at(long_ago, 11, 0)).await;

    World {
        app,
        vendor,
        other,
        customer,
        vendor_id,
        saturday: s,
    }
}

impl World {
    /// A count over the vendor's rows between two moments.
    async fn count(&self, sql: &str, from: OffsetDateTime, to: OffsetDateTime) -> i64 {
        sqlx::query_scalar(sql)
            .bind(self.vendor_id)
            .bind(from)
            .bind(to)
            .fetch_one(&self.app.pool)
            .await
            .expect(sql)
    }

    fn range_query(&self) -> String {
        format!(
            "from={}&to={}",
            plus(self.saturday, -1),
            plus(self.saturday, 1)
        )
    }
}

const ORDERS: &str =
    "SELECT count(*) FROM orders WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3";
const COMPLETED: &str = "SELECT count(*) FROM orders WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'COMPLETED'";
const CANCELLED: &str = "SELECT count(*) FROM orders WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'CANCELLED'";
/// What the laundry keeps of its completed orders whose money moved then
/// (price less the commission); a refunded order nets to nothing.
const EARNED_ONLINE: &str = "SELECT coalesce(sum(price_paisa - commission_paisa), 0)::bigint FROM orders WHERE vendor_id = $1 AND completed_at >= $2 AND completed_at < $3 AND status = 'COMPLETED' AND payment_method = 'online'";
const EARNED_CASH: &str = "SELECT coalesce(sum(price_paisa - commission_paisa), 0)::bigint FROM orders WHERE vendor_id = $1 AND completed_at >= $2 AND completed_at < $3 AND status = 'COMPLETED' AND payment_method = 'cod'";
const OFFERS_FINAL: &str = "SELECT count(*) FROM offers WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3 AND status IN ('ACCEPTED', 'REJECTED', 'WITHDRAWN', 'EXPIRED')";
const OFFERS_ACCEPTED: &str = "SELECT count(*) FROM offers WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'ACCEPTED'";

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_every_vendor_figure_equals_an_independent_count(pool: PgPool) {
    let w = world(pool).await;
    let s = w.saturday;
    let page = w.vendor.get(&format!("/stats?{}", w.range_query())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    // Per day: Fri, Sat, Sun, each from its Nepal midnight (UTC 18:15 the
    // day before) to the next.
    let orders = table(&page.body, "orders");
    let earnings = table(&page.body, "earnings");
    assert_eq!(orders[0], ["Period", "Orders", "Completed", "Cancelled"]);
    assert_eq!(orders.len(), 4, "{orders:?}");
    for (i, day) in [plus(s, -1), s, plus(s, 1)].into_iter().enumerate() {
        let (from, to) = (at(day, 0, 0), at(plus(day, 1), 0, 0));
        let expected = [
            w.count(ORDERS, from, to).await,
            w.count(COMPLETED, from, to).await,
            w.count(CANCELLED, from, to).await,
        ];
        let shown: Vec<i64> = orders[i + 1][1..]
            .iter()
            .map(|c| c.parse().expect("count"))
            .collect();
        assert_eq!(shown, expected, "orders on {day}");
        let (online, cash) = (
            w.count(EARNED_ONLINE, from, to).await,
            w.count(EARNED_CASH, from, to).await,
        );
        assert_eq!(
            earnings[i + 1][1..],
            [rupees(online), rupees(cash), rupees(online + cash)],
            "earnings on {day}"
        );
    }
    // The fixture is what it says: Saturday's 23:50 order is Saturday's,
    // its money (two hours later) Sunday's; the refunded order nets nothing.
    assert_eq!(orders[2][1..], ["3", "2", "1"]);
    assert_eq!(orders[3][1..], ["3", "2", "1"]);
    assert_eq!(earnings[2][3], rupees(50_000 - 5_000));
    assert_eq!(earnings[3][3], rupees(45_000 + 2 * 90_000));

    // At a glance, against the previous three days.
    let (start, end) = (at(plus(s, -1), 0, 0), at(plus(s, 2), 0, 0));
    let (prev_start, prev_end) = (at(plus(s, -4), 0, 0), start);
    let summary = table(&page.body, "summary");
    let orders_now = w.count(ORDERS, start, end).await;
    let orders_before = w.count(ORDERS, prev_start, prev_end).await;
    assert_eq!((orders_now, orders_before), (7, 2));
    assert_eq!(row(&summary, "Orders"), ["Orders", "7", "7", "2", "+250%"]);
    let earned = w.count(EARNED_ONLINE, start, end).await + w.count(EARNED_CASH, start, end).await;
    let earned_before = w.count(EARNED_ONLINE, prev_start, prev_end).await
        + w.count(EARNED_CASH, prev_start, prev_end).await;
    let earnings_row = row(&summary, "Earnings");
    assert_eq!(earnings_row[1], rupees(earned));
    assert_eq!(earnings_row[3], rupees(earned_before));
    // Three cash payments, three online payments, one refund.
    assert_eq!(earnings_row[2], "7");

    let accepted = w.count(OFFERS_ACCEPTED, start, end).await;
    let final_offers = w.count(OFFERS_FINAL, start, end).await;
    assert_eq!((accepted, final_offers), (7, 9));
    let percent = (accepted * 200 + final_offers) / (final_offers * 2);
    assert_eq!(
        row(&summary, "Acceptance rate")[1..3],
        [format!("{percent}%"), final_offers.to_string()]
    );
    let completed = w.count(COMPLETED, start, end).await;
    let closed = completed + w.count(CANCELLED, start, end).await;
    assert_eq!(
        row(&summary, "Completion rate")[1..4],
        [
            format!("{}%", (completed * 200 + closed) / (closed * 2)),
            closed.to_string(),
            "not enough orders yet".to_owned(),
        ]
    );

    // Times: accepted → completed over the range's completed orders.
    let mut secs: Vec<i64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM completed_at - created_at)::bigint FROM orders
         WHERE vendor_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'COMPLETED'",
    )
    .bind(w.vendor_id)
    .bind(start)
    .bind(end)
    .fetch_all(&w.app.pool)
    .await
    .expect("times");
    secs.sort_unstable();
    assert_eq!(secs.len(), 5);
    let words = |secs: i64| dhune::domain::offer::span(time::Duration::seconds(secs));
    let median = row(&summary, "Median completion time");
    assert_eq!(
        median[1..3],
        [words(percentile(&secs, 0.5)), "5".to_owned()]
    );
    assert_eq!(median[1], "3 h");
    let p90 = row(&summary, "90th percentile completion time");
    assert_eq!(p90[1], words(percentile(&secs, 0.9)));
    assert_eq!(p90[1], "7 h 36 min");
    assert_eq!(median[3], "not enough orders yet");

    // Cancellations by who, now and before.
    let cancellations = table(&page.body, "cancellations");
    assert_eq!(
        cancellations[1..],
        [
            vec!["The customer", "1", "1", "0%"],
            vec!["You", "1", "0", "—"],
        ]
    );

    // Per week: Fri–Sat is the end of one week, Sunday starts the next.
    let weekly = w
        .vendor
        .get(&format!("/stats?{}&by=week", w.range_query()))
        .await;
    let orders = table(&weekly.body, "orders");
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert!(
        orders[1][0].contains('–') && !orders[2][0].contains('–'),
        "{orders:?}"
    );
    let week_edge = at(plus(s, 1), 0, 0);
    assert_eq!(
        orders[1][1],
        w.count(ORDERS, start, week_edge).await.to_string()
    );
    assert_eq!(
        orders[2][1],
        w.count(ORDERS, week_edge, end).await.to_string()
    );

    // Once the sweep has stored the laundry's money per day, the page reads
    // the stored days (a stored row changed by hand shows) and says the same.
    loop {
        let written = platform_stats::refresh(&w.app.pool, OffsetDateTime::now_utc())
            .await
            .expect("refresh");
        if written <= platform_stats::RECENT_DAYS {
            break;
        }
    }
    let url = format!("/stats?{}", w.range_query());
    let stored = w.vendor.get(&url).await;
    for id in ["earnings", "summary", "orders", "cancellations"] {
        assert_eq!(table(&stored.body, id), table(&page.body, id), "{id}");
    }
    sqlx::query(
        "UPDATE vendor_money_daily SET online_paisa = online_paisa + 10000
         WHERE vendor_id = $1 AND day = $2",
    )
    .bind(w.vendor_id)
    .bind(s)
    .execute(&w.app.pool)
    .await
    .expect("change a stored day");
    let changed = table(&w.vendor.get(&url).await.body, "earnings");
    let before = table(&page.body, "earnings");
    assert_eq!(
        changed[2][1],
        rupees(
            w.count(EARNED_ONLINE, at(s, 0, 0), at(plus(s, 1), 0, 0))
                .await
                + 10_000
        ),
        "{before:?} → {changed:?}"
    );
    w.app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_the_csv_equals_the_tables(pool: PgPool) {
    let w = world(pool).await;
    let query = w.range_query();
    let page = w.vendor.get(&format!("/stats?{query}")).await;
    let download = w.vendor.get(&format!("/stats.csv?{query}")).await;
    assert_eq!(download.status, StatusCode::OK);
    let link = format!("href=\"/stats.csv?{}\"", query.replace('&', "&#38;"));
    assert!(page.body.contains(&link), "{link}");
    assert_csv_is_the_tables(
        &page.body,
        &download.body,
        &[
            ("summary", "At a glance"),
            ("orders", "Orders per day"),
            ("earnings", "Earnings per day"),
            ("cancellations", "Cancellations by who cancelled"),
        ],
    );
    w.app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_a_vendor_sees_only_their_own_and_others_are_refused(pool: PgPool) {
    let w = world(pool).await;
    let query = w.range_query();
    let theirs = w.other.get(&format!("/stats?{query}")).await;
    assert_eq!(theirs.status, StatusCode::OK);
    let summary = table(&theirs.body, "summary");
    assert_eq!(row(&summary, "Orders")[1..4], ["1", "1", "0"]);
    assert_eq!(row(&summary, "Acceptance rate")[2], "1");
    assert_eq!(table(&theirs.body, "cancellations").len(), 2, "only 'none'");
    // Admins have a statistics page of their own.
    let admin = w.app.admin("admin@example.com").await;
    assert_eq!(admin.get("/stats").await.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.get("/stats.csv").await.status, StatusCode::FORBIDDEN);
    let anonymous = w.app.browser();
    assert_eq!(anonymous.get("/stats").await.status, StatusCode::SEE_OTHER);
    w.app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_small_samples_zero_filled_days_and_today_partial(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    for _ in 0..4 {
        app.delivered(&customer, &vendor, VENDOR, "500").await;
    }
    let page = vendor.get("/stats?range=7d").await;
    assert_eq!(page.status, StatusCode::OK);
    let summary = table(&page.body, "summary");
    for figure in [
        "Acceptance rate",
        "Completion rate",
        "Median completion time",
        "90th percentile completion time",
    ] {
        assert_eq!(
            row(&summary, figure)[1..3],
            ["not enough orders yet", "4"],
            "{figure}"
        );
    }
    let orders = table(&page.body, "orders");
    assert_eq!(orders.len(), 8, "seven days and the heading");
    for day in &orders[1..7] {
        assert_eq!(day[1..], ["0", "0", "0"], "{day:?}");
        assert!(!day[0].contains("so far"));
    }
    assert!(orders[7][0].ends_with("(so far)"), "{:?}", orders[7]);
    assert_eq!(orders[7][1..], ["4", "4", "0"]);
    assert_eq!(row(&summary, "Orders")[3..], ["0", "—"]);
    assert!(page.body.contains("aria-current=\"page\">7 days"));

    // The fifth completion shows the figures.
    app.delivered(&customer, &vendor, VENDOR, "500").await;
    let page = vendor.get("/stats?range=7d").await;
    let summary = table(&page.body, "summary");
    assert_eq!(row(&summary, "Completion rate")[1..3], ["100%", "5"]);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_a_bad_range_is_refused_on_the_form_with_what_was_typed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let vendor = app.vendor(VENDOR).await;
    let page = vendor.get("/stats?from=2026-11-20&to=2026-11-01").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("The end date is before the start date."));
    assert!(page.body.contains("value=\"2026-11-20\""));
    assert!(!page.body.contains("data-table="));
    let page = vendor.get("/stats?from=2024-01-01&to=2026-11-01").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("at most 366 days"));
    let page = vendor.get("/stats?range=12d").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Choose 7, 28, 90 or 365 days"));
    let page = vendor.get("/stats?from=soon&to=2026-11-01").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("value=\"soon\""));
    assert_eq!(
        vendor.get("/stats.csv?range=12d").await.status,
        StatusCode::BAD_REQUEST
    );
}

const REQUESTS_BY: &str =
    "SELECT count(*) FROM requests WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3";
const ORDERS_BY: &str =
    "SELECT count(*) FROM orders WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3";
/// Paid: the payments taken, at the moment their capture was posted (or,
/// for cash at no commission, which posts nothing, the payment's own).
const PAID_BY: &str = "SELECT coalesce(sum(p.amount_paisa), 0)::bigint FROM payments p JOIN orders o ON o.id = p.order_id
     WHERE o.customer_id = $1 AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')
       AND coalesce((SELECT t.created_at FROM ledger_transactions t
                     WHERE t.kind = 'capture' AND t.source_id = p.id), p.created_at) >= $2
       AND coalesce((SELECT t.created_at FROM ledger_transactions t
                     WHERE t.kind = 'capture' AND t.source_id = p.id), p.created_at) < $3";
const REFUNDED_BY: &str = "SELECT coalesce(sum(p.refunded_paisa), 0)::bigint FROM payments p JOIN orders o ON o.id = p.order_id
     WHERE o.customer_id = $1 AND o.status = 'CANCELLED' AND o.created_at >= $2 AND o.created_at < $3";

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_a_customer_sees_their_activity(pool: PgPool) {
    let w = world(pool).await;
    let s = w.saturday;
    let customer_id = user_id(&w.app, "c@example.com").await;
    let count = |sql: &'static str, from: OffsetDateTime, to: OffsetDateTime| {
        let pool = w.app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(customer_id)
                .bind(from)
                .bind(to)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    // Requests were posted now; move three of them into the range.
    sqlx::query(
        "UPDATE requests SET created_at = $2 WHERE id IN
         (SELECT request_id FROM orders WHERE vendor_id = $1 AND created_at >= $2)",
    )
    .bind(w.vendor_id)
    .bind(at(plus(s, -1), 0, 0))
    .execute(&w.app.pool)
    .await
    .expect("requests");
    let page = w.customer.get(&format!("/stats?{}", w.range_query())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Your activity</h1>"));
    let (start, end) = (at(plus(s, -1), 0, 0), at(plus(s, 2), 0, 0));
    let (prev_start, prev_end) = (at(plus(s, -4), 0, 0), start);
    let summary = table(&page.body, "summary");
    let requests = count(REQUESTS_BY, start, end).await;
    assert_eq!(row(&summary, "Requests")[1], requests.to_string());
    let orders = count(ORDERS_BY, start, end).await;
    let orders_before = count(ORDERS_BY, prev_start, prev_end).await;
    assert_eq!((orders, orders_before), (8, 2), "with the other laundry's");
    assert_eq!(row(&summary, "Orders")[1..5], ["8", "8", "2", "+300%"]);
    let paid = count(PAID_BY, start, end).await;
    assert_eq!(paid, 3 * 50_000 + 2 * 100_000 + 80_000);
    assert_eq!(row(&summary, "Paid")[1..3], [rupees(paid), "6".to_owned()]);
    assert_eq!(
        row(&summary, "Refunded")[1],
        rupees(count(REFUNDED_BY, start, end).await)
    );
    assert_eq!(
        row(&summary, "Refunded")[1..3],
        [rupees(80_000), "1".to_owned()]
    );

    let activity = table(&page.body, "activity");
    let spending = table(&page.body, "spending");
    for (i, day) in [plus(s, -1), s, plus(s, 1)].into_iter().enumerate() {
        let (from, to) = (at(day, 0, 0), at(plus(day, 1), 0, 0));
        assert_eq!(
            activity[i + 1][1..],
            [
                count(REQUESTS_BY, from, to).await.to_string(),
                count(ORDERS_BY, from, to).await.to_string()
            ],
            "{day}"
        );
        let paid = count(PAID_BY, from, to).await;
        assert_eq!(spending[i + 1][1], rupees(paid), "{day}");
    }
    let laundries = table(&page.body, "laundries");
    let value = rupees(3 * 50_000 + 50_000 + 2 * 100_000 + 80_000);
    assert_eq!(laundries[1], ["Sparkle Laundry", "7", value.as_str()]);
    assert_eq!(laundries.len(), 3, "both laundries: {laundries:?}");

    // Without a range: the last year, per month; the CSV is the tables.
    let year = w.customer.get("/stats").await;
    assert_eq!(
        table(&year.body, "activity").len(),
        14,
        "13 months and the heading"
    );
    assert!(year.body.contains("range=365d&#38;by=month"));
    let csv = w.customer.get("/stats.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.starts_with("At a glance,Figure,"), "{}", csv.body);
    // A vendor's numbers are not the customer's, nor the other way round.
    assert!(!page.body.contains("Acceptance rate"));
    w.app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn stats_pages_are_valid_html(pool: PgPool) {
    let Some(jar) = crate::html_valid::checker() else {
        return;
    };
    let w = world(pool).await;
    let query = w.range_query();
    let mut pages = crate::html_valid::Pages::new();
    for path in [
        format!("/stats?{query}"),
        format!("/stats?{query}&by=week"),
        "/stats?range=365d".to_owned(),
        "/stats?from=2026-11-20&to=2026-11-01".to_owned(),
        "/board".to_owned(),
    ] {
        let page = w.vendor.get(&path).await;
        pages.push((format!("vendor: {path} ({})", page.status), page.body));
    }
    for path in [
        "/stats",
        "/stats?range=28d",
        "/stats?range=oops",
        "/requests",
    ] {
        let page = w.customer.get(path).await;
        pages.push((format!("customer: {path} ({})", page.status), page.body));
    }
    let errors = crate::html_valid::validate(&jar, &pages);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    w.app.assert_books_balance().await;
}
