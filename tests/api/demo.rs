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
    // Payout statements of the last three weeks: both laundries, paid but
    // for last week's, a clawback, and the cash-heavy laundry's negative
    // week carried into the next.
    let this_week = dhune::domain::payouts::week_start(time::OffsetDateTime::now_utc());
    let statements: Vec<(String, time::Date, String, bool)> = sqlx::query_as(
        "SELECT u.email, s.period_start, s.status, s.net_paisa < 0 FROM payout_statements s
         JOIN users u ON u.id = s.vendor_id ORDER BY u.email, s.period_start",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let week = |back: i64| this_week - time::Duration::weeks(back);
    let himalayan = DEMO_LOGINS[4].1.to_owned();
    let sparkle = DEMO_LOGINS[3].1.to_owned();
    assert_eq!(
        statements,
        [
            (himalayan.clone(), week(3), "PAID".into(), false),
            (himalayan.clone(), week(2), "ISSUED".into(), true),
            (himalayan, week(1), "ISSUED".into(), false),
            (sparkle.clone(), week(3), "PAID".into(), false),
            (sparkle.clone(), week(2), "PAID".into(), false),
            (sparkle, week(1), "ISSUED".into(), false),
        ]
    );
    let lines: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM payout_statement_lines ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(lines, ["capture", "carried", "cash_commission", "clawback"]);
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
    // The settled disputes, the admin's two refunds.
    assert_eq!(audit.body.matches("data-audit-id=").count(), 4);
    assert!(audit.body.contains(r#"data-action="dispute.resolve""#));
    assert!(audit.body.contains(r#"data-action="payment.refund""#));
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
