//! The expiry sweeps, with several runners on one database at once.

use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn concurrent_sweeps_expire_each_overdue_record_exactly_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendors = [
        app.vendor("a@example.com").await,
        app.vendor("b@example.com").await,
    ];
    let mut requests = Vec::new();
    for _ in 0..30 {
        let id = customer.create_request().await;
        for vendor in &vendors {
            vendor.make_offer(id, "500").await;
        }
        requests.push(id);
    }
    let still_open = customer.create_request().await;
    vendors[0].make_offer(still_open, "500").await;
    let lone_offer = app.offer_id(still_open, "a@example.com").await;
    // Time is moved by moving the deadlines: 30 requests (60 offers) are
    // overdue, and one offer on a request that is still open.
    sqlx::query("UPDATE requests SET expires_at = now() - interval '1 minute' WHERE id = ANY($1)")
        .bind(&requests)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE offers SET expires_at = now() - interval '1 minute' WHERE id = $1")
        .bind(lone_offer)
        .execute(&app.pool)
        .await
        .unwrap();

    let runners: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(
                async move { dhune::jobs::sweep_once(&pool, time::Duration::hours(48)).await },
            )
        })
        .collect();
    for runner in runners {
        runner.await.unwrap();
    }

    assert_eq!(
        app.count("SELECT count(*) FROM requests WHERE status = 'EXPIRED'")
            .await,
        30
    );
    assert_eq!(app.status_of("requests", still_open).await, "OPEN");
    assert_eq!(
        app.count("SELECT count(*) FROM offers WHERE status = 'EXPIRED'")
            .await,
        61
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'request_expired'")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'offer_expired'")
            .await,
        61
    );
    let doubled = app
        .count(
            "SELECT count(*) FROM (SELECT kind, request_id, offer_id FROM events
             WHERE kind IN ('request_expired', 'offer_expired')
             GROUP BY 1, 2, 3 HAVING count(*) > 1) AS twice",
        )
        .await;
    assert_eq!(doubled, 0, "no record expired twice");

    dhune::jobs::sweep_once(&app.pool, time::Duration::hours(48)).await;
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind LIKE '%_expired'")
            .await,
        91,
        "a second pass finds nothing"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn orders_left_out_for_delivery_complete_once_with_several_sweepers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let mut orders = Vec::new();
    for _ in 0..5 {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, "500").await;
        let offer_id = app.offer_id(request_id, "v@example.com").await;
        let accepted = customer.accept(offer_id, 1).await;
        let order_id = crate::helpers::id_after(accepted.location().unwrap(), "/orders/");
        for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
            vendor
                .post(
                    &format!("/orders/{order_id}/status"),
                    &[("status", step.into())],
                )
                .await;
        }
        orders.push(order_id);
    }
    // Four of them have been out for delivery for two days.
    sqlx::query(
        "UPDATE orders SET status_changed_at = now() - interval '49 hours' WHERE id = ANY($1)",
    )
    .bind(&orders[..4])
    .execute(&app.pool)
    .await
    .unwrap();

    let runners: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(
                async move { dhune::jobs::sweep_once(&pool, time::Duration::hours(48)).await },
            )
        })
        .collect();
    for runner in runners {
        runner.await.unwrap();
    }

    assert_eq!(
        app.count("SELECT count(*) FROM orders WHERE status = 'COMPLETED'")
            .await,
        4
    );
    assert_eq!(app.status_of("orders", orders[4]).await, "DELIVERING");
    let automatic = app
        .count("SELECT count(*) FROM order_status_history WHERE to_status = 'COMPLETED' AND actor_id IS NULL")
        .await;
    assert_eq!(automatic, 4, "one history row each, by the system");
    let events = app
        .count(
            "SELECT count(*) FROM events WHERE kind = 'order_status_updated' AND actor_id IS NULL",
        )
        .await;
    assert_eq!(events, 4, "one event each");
}
