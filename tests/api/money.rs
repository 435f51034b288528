//! Payments and refunds as users meet them (issue 11): cash on delivery,
//! the online flow through the sandbox provider, refunds, and the sweeps,
//! with `dhune ledger check` after each test that moves money.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::helpers::TestApp;

const VENDOR: &str = "v@example.com";

async fn count(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_cash_is_collected_when_the_order_completes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app.delivered(&customer, &vendor, VENDOR, "1234.56").await;

    let (method, status, amount): (String, String, i64) =
        sqlx::query_as("SELECT method, status, amount_paisa FROM payments WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (method.as_str(), status.as_str(), amount),
        ("cod", "SUCCEEDED", 123_456)
    );
    // The laundry holds the cash and owes the platform its 10% commission.
    let entries: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.account, e.amount_paisa FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
         JOIN payments p ON p.id = t.source_id AND t.kind = 'capture'
         WHERE p.order_id = $1 ORDER BY e.account",
    )
    .bind(order_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let vendor_id: i64 = count(&app, "SELECT vendor_id FROM orders WHERE id = $1", order_id).await;
    assert_eq!(
        entries,
        vec![
            ("platform:commission".to_owned(), -12_346),
            (format!("vendor:{vendor_id}:payable"), 12_346),
        ]
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_the_auto_complete_sweep_collects_cash_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app.order(&customer, &vendor, VENDOR, "500").await;
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(order_id, step).await;
    }
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                dhune::market::sweeps::auto_complete_orders(&pool, time::Duration::ZERO).await
            })
        })
        .collect();
    let mut completed = 0;
    for sweep in sweeps {
        completed += sweep.await.unwrap().unwrap();
    }
    assert_eq!(completed, 1);
    let sql = "SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'SUCCEEDED'";
    assert_eq!(count(&app, sql, order_id).await, 1);
    assert_eq!(
        count(&app, "SELECT count(*) FROM ledger_transactions", 0).await,
        1
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_the_accept_step_asks_how_to_pay(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "700").await;
    let offer_id = app.offer_id(request_id, VENDOR).await;

    let confirm = customer.get(&format!("/offers/{offer_id}/accept")).await;
    assert!(
        confirm.body.contains("How will you pay?"),
        "{}",
        confirm.body
    );
    assert!(
        confirm
            .body
            .contains("Online now with Sandbox (test payments)")
    );
    assert!(confirm.body.contains(r#"value="cod""#));

    let refused = customer.accept_paying(offer_id, "bitcoin").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("Choose how you will pay"),
        "{}",
        refused.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM orders WHERE request_id = $1",
            request_id
        )
        .await,
        0
    );

    let accepted = customer.accept_paying(offer_id, "online").await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
    let method: String =
        sqlx::query_scalar("SELECT payment_method FROM orders WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(method, "online");

    // Without the field the order is paid in cash (DESIGN.md).
    let other = app.order(&customer, &vendor, VENDOR, "300").await;
    let method: String = sqlx::query_scalar("SELECT payment_method FROM orders WHERE id = $1")
        .bind(other)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(method, "cod");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_an_unpaid_online_order_cannot_be_picked_up(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app
        .order_paying(&customer, &vendor, VENDOR, "450", "online")
        .await;

    let page = vendor.get(&format!("/orders/{order_id}")).await;
    assert!(!page.body.contains(r#"value="PICKED_UP""#), "{}", page.body);
    let refused = vendor
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "PICKED_UP".into())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("Waiting for the customer"),
        "{}",
        refused.body
    );
    assert_eq!(app.status_of("orders", order_id).await, "CREATED");

    // Switched to cash, the laundry may pick it up.
    customer
        .post(
            &format!("/orders/{order_id}/payment-method"),
            &[("payment_method", "cod".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    vendor.move_order(order_id, "PICKED_UP").await;
    // Once picked up, the method stays.
    let late = customer
        .post(
            &format!("/orders/{order_id}/payment-method"),
            &[("payment_method", "online".into())],
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_a_partial_dispute_on_a_cash_order_is_given_back_by_hand(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let order_id = app.order(&customer, &vendor, VENDOR, "1000").await;
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(order_id, step).await;
    }
    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "Two shirts came back torn.".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let dispute_id: i64 = count(
        &app,
        "SELECT id FROM disputes WHERE order_id = $1",
        order_id,
    )
    .await;

    let bad = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("amount", "0".into()),
                ("note", "Half".into()),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let too_much = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("amount", "1000.01".into()),
                ("note", "More".into()),
            ],
        )
        .await;
    assert_eq!(
        too_much.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_much.body
    );
    assert_eq!(app.status_of("disputes", dispute_id).await, "OPEN");

    admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("amount", "333.33".into()),
                ("note", "Two shirts of six were torn.".into()),
            ],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "COMPLETED");
    let (refund_id, status, amount): (i64, String, i64) = sqlx::query_as(
        "SELECT r.id, r.status, r.amount_paisa FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE p.order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), amount), ("MANUAL_ACTION_NEEDED", 33_333));
    app.assert_books_balance().await;

    let blank = admin
        .post(
            &format!("/admin/refunds/{refund_id}/done"),
            &[("reference", " ".into())],
        )
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    admin
        .post(
            &format!("/admin/refunds/{refund_id}/done"),
            &[("reference", "Cash handed back 26 Nov".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("refunds", refund_id).await, "SUCCEEDED");
    let (status, refunded): (String, i64) =
        sqlx::query_as("SELECT status, refunded_paisa FROM payments WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), refunded), ("PARTIALLY_REFUNDED", 33_333));
    let again = admin
        .post(
            &format!("/admin/refunds/{refund_id}/done"),
            &[("reference", "again".into())],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let audit = count(
        &app,
        "SELECT count(*) FROM audit_log WHERE action = 'refund.done' AND target_id = $1",
        refund_id,
    )
    .await;
    assert_eq!(audit, 1);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_unpaid_online_orders_are_cancelled_once_by_racing_sweeps(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let mut unpaid = Vec::new();
    for _ in 0..5 {
        unpaid.push(
            app.order_paying(&customer, &vendor, VENDOR, "200", "online")
                .await,
        );
    }
    let recent = app
        .order_paying(&customer, &vendor, VENDOR, "200", "online")
        .await;
    let cash = app.order(&customer, &vendor, VENDOR, "200").await;
    sqlx::query(
        "UPDATE orders SET created_at = now() - interval '25 hours' WHERE id = ANY($1) OR id = $2",
    )
    .bind(&unpaid)
    .bind(cash)
    .execute(&app.pool)
    .await
    .unwrap();

    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                dhune::market::sweeps::cancel_unpaid_orders(&pool, time::Duration::hours(24)).await
            })
        })
        .collect();
    let mut cancelled = 0;
    for sweep in sweeps {
        cancelled += sweep.await.unwrap().unwrap();
    }
    assert_eq!(cancelled, 5);
    for id in &unpaid {
        assert_eq!(app.status_of("orders", *id).await, "CANCELLED");
        let events = count(
            &app,
            "SELECT count(*) FROM events WHERE kind = 'order_cancelled' AND order_id = $1",
            *id,
        )
        .await;
        assert_eq!(events, 1);
    }
    assert_eq!(app.status_of("orders", recent).await, "CREATED");
    assert_eq!(app.status_of("orders", cash).await, "CREATED");
    let titles = app.notification_titles("c@example.com").await;
    assert!(
        titles.iter().any(|t| t.contains("Dhune cancelled order")),
        "{titles:?}"
    );
}
