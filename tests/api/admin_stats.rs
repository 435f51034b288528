//! The admin's statistics (issue 13, item 1): every figure equals an
//! independent count over the records, the CSV equals the tables, and only
//! admins see them.

use reqwest::StatusCode;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use crate::helpers::TestApp;
use crate::statements::{paid_online, refund};
use crate::stats::{assert_csv_is_the_tables, row, table};

const VENDOR: &str = "v@example.com";

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn admin_stats_every_figure_equals_a_count_and_the_csv_the_tables(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    app.delivered(&customer, &vendor, VENDOR, "1000").await;
    let paid = paid_online(&app, &customer, &vendor, "800").await;
    refund(&app, &admin, paid, "150").await;
    let cancelled = app.order(&customer, &vendor, VENDOR, "300").await;
    customer
        .post(
            &format!("/orders/{cancelled}/cancel"),
            &[("reason", "Plans changed".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{cancelled}"));
    let forced = app.order(&customer, &vendor, VENDOR, "400").await;
    admin
        .post(
            &format!("/admin/orders/{forced}/cancel"),
            &[("reason", "Duplicate".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{forced}"));
    // One completed order moved to last week, so the previous period has one.
    let old = app.delivered(&customer, &vendor, VENDOR, "500").await;
    let back = OffsetDateTime::now_utc() - Duration::days(9);
    for sql in [
        "UPDATE orders SET created_at = $2, completed_at = $2 WHERE id = $1",
        "UPDATE requests SET created_at = $2 WHERE id = (SELECT request_id FROM orders WHERE id = $1)",
        "UPDATE offers SET created_at = $2 WHERE request_id = (SELECT request_id FROM orders WHERE id = $1)",
    ] {
        sqlx::query(sql)
            .bind(old)
            .bind(back)
            .execute(&app.pool)
            .await
            .expect("move");
    }

    let page = admin.get("/admin/stats?range=7d").await;
    assert_eq!(page.status, StatusCode::OK);
    let glance = table(&page.body, "summary");
    let count = |sql: String| {
        let app = &app;
        async move { app.count(&sql).await }
    };
    let since = "date_trunc('day', now() AT TIME ZONE 'Asia/Kathmandu') - interval '6 days'";
    let in_range = |column: &str| format!("({column} AT TIME ZONE 'Asia/Kathmandu') >= {since}");
    let rupees = |paisa: i64| dhune::domain::money::Money::from_paisa(paisa).to_string();
    assert_eq!(
        row(&glance, "Requests created")[1],
        count(format!(
            "SELECT count(*) FROM requests WHERE {}",
            in_range("created_at")
        ))
        .await
        .to_string()
    );
    assert_eq!(
        row(&glance, "Offers made")[1],
        count(format!(
            "SELECT count(*) FROM offers WHERE {}",
            in_range("created_at")
        ))
        .await
        .to_string()
    );
    assert_eq!(row(&glance, "Orders created")[1], "4");
    assert_eq!(row(&glance, "Orders completed")[1..4], ["1", "1", "1"]);
    assert_eq!(
        row(&glance, "Gross order value")[1],
        rupees(
            count(format!(
                "SELECT sum(price_paisa)::bigint FROM orders WHERE {}",
                in_range("created_at")
            ))
            .await
        )
    );
    assert_eq!(
        row(&glance, "Platform revenue")[1],
        rupees(
            count(format!(
                "SELECT (-sum(e.amount_paisa))::bigint FROM ledger_entries e JOIN ledger_transactions t
                 ON t.id = e.transaction_id WHERE e.account = 'platform:commission' AND {}",
                in_range("t.created_at")
            ))
            .await
        )
    );
    assert_eq!(
        row(&glance, "Refunds")[1..3],
        [rupees(15_000), "1".to_owned()]
    );
    // One customer and one laundry active today, none the other six days.
    assert_eq!(
        row(&glance, "Active customers, a day on average")[1..4],
        ["0.1", "7", "0.1"]
    );
    // Closed this week: one completed, two cancelled: too few for a rate.
    assert_eq!(
        row(&glance, "Cancellation rate")[1..3],
        ["not enough orders yet", "3"]
    );
    assert_eq!(row(&glance, "… cancelled by the customer")[2], "3");
    assert_eq!(row(&glance, "Orders paid online")[2], "4");
    let activity = table(&page.body, "activity");
    let today = activity.last().expect("today");
    assert!(today[0].ends_with("(so far)"), "{today:?}");
    assert_eq!(activity.len(), 8, "a heading and seven days: {activity:?}");
    let cancellations = table(&page.body, "cancellations");
    let sums: Vec<i64> = (1..5)
        .map(|col| {
            cancellations[1..]
                .iter()
                .map(|r| r[col].parse::<i64>().expect("count"))
                .sum()
        })
        .collect();
    assert_eq!(sums, [1, 0, 1, 0], "customer, laundry, admin, Dhune");

    // The CSV is the tables, row for row.
    let download = admin.get("/admin/stats.csv?range=7d").await;
    assert_eq!(download.status, StatusCode::OK);
    assert_csv_is_the_tables(
        &page.body,
        &download.body,
        &[
            ("summary", "At a glance"),
            ("activity", "Requests, offers and orders per day"),
            ("money", "Money per day"),
            ("cancellations", "Cancellations per day, by who cancelled"),
            ("methods", "How orders are paid, per day"),
            ("disputes", "Disputes per day"),
            ("active", "Active people per day"),
        ],
    );

    // Weeks: the buckets of a long range; the admin home links here.
    let weeks = admin.get("/admin/stats?range=90d").await;
    assert_eq!(weeks.status, StatusCode::OK);
    assert!(weeks.body.contains("Active people per week"));
    let home = admin.get("/admin").await;
    assert!(
        home.body
            .contains(r#"href="/admin/stats?range=7d#activity-caption""#)
    );

    for outsider in [&customer, &vendor] {
        for path in ["/admin/stats", "/admin/stats.csv"] {
            assert_eq!(
                outsider.get(path).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
    let bad = admin
        .get("/admin/stats?from=2026-13-01&to=2026-01-01")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains(r#"value="2026-13-01""#));

    if let Some(jar) = crate::html_valid::checker() {
        let pages = vec![
            ("/admin/stats?range=7d".to_owned(), page.body.clone()),
            ("/admin/stats?range=90d".to_owned(), weeks.body.clone()),
            ("bad range".to_owned(), bad.body.clone()),
        ];
        let errors = crate::html_valid::validate(&jar, &pages);
        assert!(errors.is_empty(), "{errors:#?}");
    }
    app.assert_books_balance().await;
}
