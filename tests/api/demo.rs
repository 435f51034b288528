//! The demo a newcomer clicks through: every status of every record, logins
//! that work, and an audit log with an entry; seeded once.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::TestApp;
use dhune::demo::{DEMO_LOGINS, DEMO_PASSWORD, seed_if_empty};
use dhune::domain::status::{OfferStatus, OrderStatus, RequestStatus};

async fn statuses(pool: &PgPool, table: &str) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT status FROM {table} ORDER BY status"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

fn sorted(words: impl Iterator<Item = &'static str>) -> Vec<String> {
    let mut words: Vec<String> = words.map(String::from).collect();
    words.sort();
    words
}

/// How many rows `sql` counts.
async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// The demo's past: months of orders, dated step by step so that every
/// figure read from them is true to the rows, and two laundries that
/// differ.
async fn the_past_holds_together(pool: &PgPool) {
    let past = count(
        pool,
        "SELECT count(*) FROM orders WHERE created_at < now() - interval '1 day'",
    )
    .await;
    assert!((60..=140).contains(&past), "{past} past orders");
    let weeks = count(
        pool,
        "SELECT count(DISTINCT date_trunc('week', created_at AT TIME ZONE 'Asia/Kathmandu'))
         FROM orders",
    )
    .await;
    assert!(weeks >= 12, "orders in {weeks} weeks");
    let busy_days = count(
        pool,
        "SELECT count(DISTINCT (created_at AT TIME ZONE 'Asia/Kathmandu')::date) FROM orders
         WHERE created_at >= now() - interval '28 days'",
    )
    .await;
    assert!(busy_days >= 20, "orders on {busy_days} of the last 28 days");
    // Nothing is dated ahead of now or before what it follows.
    let wrong = [
        "SELECT count(*) FROM orders WHERE greatest(created_at, updated_at, status_changed_at,
                completed_at, received_at) > now()",
        "SELECT count(*) FROM requests r JOIN offers f ON f.request_id = r.id
         WHERE f.created_at < r.created_at OR f.updated_at < f.created_at",
        "SELECT count(*) FROM orders o JOIN offers f ON f.id = o.offer_id
         WHERE o.created_at < f.created_at",
        // Each step after the one before, the order's times those of its steps.
        "SELECT count(*) FROM (SELECT h.created_at, o.created_at AS made,
                lag(h.created_at) OVER (PARTITION BY h.order_id ORDER BY h.id) AS before
            FROM order_status_history h JOIN orders o ON o.id = h.order_id) s
         WHERE s.created_at < s.made OR s.created_at < s.before",
        "SELECT count(*) FROM orders o
         WHERE o.status_changed_at <> coalesce((SELECT max(h.created_at)
                FROM order_status_history h WHERE h.order_id = o.id), o.created_at)",
        "SELECT count(*) FROM orders o WHERE o.status = 'COMPLETED'
           AND o.completed_at <> (SELECT max(h.created_at) FROM order_status_history h
                                  WHERE h.order_id = o.id AND h.to_status = 'COMPLETED')",
        // Cash is taken when the order completes; online before pickup.
        "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id
         WHERE p.method = 'cod' AND p.created_at <> o.completed_at",
        "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id
         JOIN ledger_transactions t ON t.kind = 'capture' AND t.source_id = p.id
         JOIN order_status_history h ON h.order_id = o.id AND h.to_status = 'PICKED_UP'
         WHERE p.method = 'online' AND (p.created_at < o.created_at OR t.created_at > h.created_at)",
        // The ledger after the order, refunds after their capture.
        "SELECT count(*) FROM ledger_transactions t JOIN payments p ON p.id = t.source_id
         JOIN orders o ON o.id = p.order_id
         WHERE t.kind = 'capture' AND (t.created_at < o.created_at OR t.created_at < p.created_at)",
        "SELECT count(*) FROM ledger_transactions t JOIN refunds r ON r.id = t.source_id
         JOIN ledger_transactions c ON c.kind = 'capture' AND c.source_id = r.payment_id
         WHERE t.kind = 'refund' AND (t.created_at < c.created_at OR r.created_at < c.created_at)",
        "SELECT count(*) FROM events e JOIN orders o ON o.id = e.order_id
         WHERE e.created_at < o.created_at",
        "SELECT count(*) FROM disputes d JOIN orders o ON o.id = d.order_id
         WHERE d.created_at < o.created_at OR d.resolved_at < d.created_at",
    ];
    for sql in wrong {
        assert_eq!(count(pool, sql).await, 0, "{sql}");
    }
    // Both laundries have enough closed orders and final offers for their
    // rates, and differ: Sparkle faster (its completion rate, higher on
    // average, is left to chance).
    let mut medians = Vec::new();
    for laundry in [DEMO_LOGINS[3].1, DEMO_LOGINS[4].1] {
        let (closed, offers, median): (i64, i64, f64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM orders o WHERE o.vendor_id = u.id
                        AND o.status IN ('COMPLETED', 'CANCELLED')),
                    (SELECT count(*) FROM offers f WHERE f.vendor_id = u.id
                        AND f.status <> 'PENDING'),
                    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY
                        extract(epoch FROM o.completed_at - o.created_at))
                     FROM orders o WHERE o.vendor_id = u.id AND o.status = 'COMPLETED')
             FROM users u WHERE u.email = $1",
        )
        .bind(laundry)
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(
            closed >= 5 && offers >= 5,
            "{laundry}: {closed} closed, {offers} offers"
        );
        let hours = median / 3600.0;
        assert!(
            (20.0..=75.0).contains(&hours),
            "{laundry}: median {hours} h"
        );
        medians.push(hours);
    }
    assert!(medians[0] < medians[1], "Sparkle is faster: {medians:?}");
    // Both demo customers over several months, with both laundries.
    for customer in [DEMO_LOGINS[1].1, DEMO_LOGINS[2].1] {
        let (months, laundries): (i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT date_trunc('month', o.created_at AT TIME ZONE 'Asia/Kathmandu')),
                    count(DISTINCT o.vendor_id)
             FROM orders o JOIN users u ON u.id = o.customer_id WHERE u.email = $1",
        )
        .bind(customer)
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(
            months >= 3 && laundries == 2,
            "{customer}: {months} months, {laundries}"
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_demo_shows_every_status_and_its_logins_work(pool: PgPool) {
    assert!(seed_if_empty(&pool, 1000).await.unwrap());
    assert!(!seed_if_empty(&pool, 1000).await.unwrap(), "seeded once");

    assert_eq!(
        statuses(&pool, "requests").await,
        sorted(RequestStatus::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        statuses(&pool, "offers").await,
        sorted(OfferStatus::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        statuses(&pool, "orders").await,
        sorted(OrderStatus::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(statuses(&pool, "disputes").await, ["OPEN", "RESOLVED"]);

    let app = TestApp::spawn(pool).await;
    assert!(app.seed_demo_payments().await);
    assert!(!app.seed_demo_payments().await, "payments added once");
    let payments: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT method || ' ' || status FROM payments ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        payments,
        [
            "cod PARTIALLY_REFUNDED",
            "cod SUCCEEDED",
            "online CANCELLED",
            "online PARTIALLY_REFUNDED",
            "online PENDING",
            "online REFUNDED",
            "online SUCCEEDED"
        ]
    );
    assert_eq!(
        statuses(&app.pool, "refunds").await,
        ["FAILED", "MANUAL_ACTION_NEEDED", "SUCCEEDED"]
    );
    // Payout statements of every past week: both laundries, all paid but
    // for last week's and those that ended below zero (carried into the
    // next instead, the cash-heavy laundry's).
    let this_week = dhune::domain::payouts::week_start(time::OffsetDateTime::now_utc());
    let statements: Vec<(String, time::Date, String, bool)> = sqlx::query_as(
        "SELECT u.email, s.period_start, s.status, s.net_paisa < 0 FROM payout_statements s
         JOIN users u ON u.id = s.vendor_id ORDER BY u.email, s.period_start",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let last_week = this_week - time::Duration::weeks(1);
    for laundry in [DEMO_LOGINS[3].1, DEMO_LOGINS[4].1] {
        let weeks: Vec<_> = statements.iter().filter(|s| s.0 == laundry).collect();
        assert!(weeks.len() >= 10, "{laundry}: {} statements", weeks.len());
        for (_, week, status, negative) in &weeks {
            let expected = if *week == last_week || *negative {
                "ISSUED"
            } else {
                "PAID"
            };
            assert_eq!(status, expected, "{laundry}, week of {week}");
            assert!(*week <= last_week, "{laundry}: a statement for {week}");
        }
        assert_eq!(weeks.last().map(|s| s.1), Some(last_week), "{laundry}");
    }
    assert!(
        statements.iter().any(|s| s.0 == DEMO_LOGINS[4].1 && s.3),
        "a week of the cash-heavy laundry ended below zero"
    );
    let lines: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM payout_statement_lines ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        lines,
        [
            "capture",
            "carried",
            "cash_commission",
            "clawback",
            "refund"
        ]
    );
    app.assert_books_balance().await;
    for (role, email) in DEMO_LOGINS {
        let browser = app.browser();
        let login = browser.login(email, DEMO_PASSWORD).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{email}");
        let home = browser.get(login.location().unwrap()).await;
        assert_eq!(home.status, StatusCode::OK, "{email}");
        let marker = if role == "admin" {
            "data-dispute-id="
        } else {
            "data-request-id="
        };
        assert!(home.body.contains(marker), "{email}'s home shows records");
    }
    let admin = app.browser();
    admin.login(DEMO_LOGINS[0].1, DEMO_PASSWORD).await;
    let audit = admin.get("/admin/audit").await;
    // A page of the admin's work: settled disputes, refunds (one made by
    // hand), a force-cancelled order, statements paid and an adjustment.
    assert_eq!(audit.body.matches("data-audit-id=").count(), 20);
    assert!(audit.body.contains(r#"data-action="payout.adjust""#));
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT action FROM audit_log ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "dispute.resolve",
            "order.force_cancel",
            "payment.refund",
            "payout.adjust",
            "payout.paid",
            "refund.done"
        ]
    );
    the_past_holds_together(&app.pool).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn every_list_cell_names_its_column_for_phones(pool: PgPool) {
    seed_if_empty(&pool, 1000).await.unwrap();
    let app = TestApp::spawn(pool).await;
    let lists: [(&str, &[&str]); 3] = [
        ("sita@demo.dhune.test", &["/orders"]),
        ("sparkle@demo.dhune.test", &["/offers", "/orders"]),
        (
            "admin@demo.dhune.test",
            &[
                "/admin",
                "/admin/requests",
                "/admin/offers",
                "/admin/orders",
                "/admin/disputes",
                "/admin/users",
                "/admin/audit",
            ],
        ),
    ];
    for (email, paths) in lists {
        let browser = app.browser();
        browser.login(email, DEMO_PASSWORD).await;
        for path in paths {
            let body = browser.get(path).await.body;
            let cells = body.matches("<td").count();
            assert!(cells > 0, "{path} lists something");
            assert_eq!(
                body.matches("<td data-label=\"").count(),
                cells,
                "{path}: every cell carries its column's name"
            );
        }
    }
    // The board and my requests are cards, not tables squeezed into cards.
    for (email, path) in [
        ("sita@demo.dhune.test", "/requests"),
        ("sparkle@demo.dhune.test", "/board"),
    ] {
        let browser = app.browser();
        browser.login(email, DEMO_PASSWORD).await;
        let body = browser.get(path).await.body;
        assert!(
            body.contains(r#"<article class="card request-card""#),
            "{path} lists requests as cards"
        );
        assert!(!body.contains("<td"), "{path} has no table");
    }
}
