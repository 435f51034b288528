//! The races of DESIGN.md, run for real with many tasks at once.

use std::sync::Arc;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, id_after, offer_fields};

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn fifty_simultaneous_accepts_make_exactly_one_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = Arc::new(app.customer("c@example.com").await);
    let request_id = customer.create_request().await;
    let mut offers = Vec::new();
    for n in 0..5 {
        let email = format!("v{n}@example.com");
        let vendor = app.vendor(&email).await;
        vendor
            .make_offer(request_id, &format!("{}", 400 + n * 10))
            .await;
        offers.push(app.offer_id(request_id, &email).await);
    }
    let token = customer.csrf_token().await;

    let attempts = (0..50).map(|n| {
        let customer = Arc::clone(&customer);
        let token = token.clone();
        let offer_id = offers[n % offers.len()];
        tokio::spawn(async move {
            let page = customer
                .post_raw(
                    &format!("/offers/{offer_id}/accept"),
                    &[("offer_version", "1".into()), ("csrf_token", token)],
                    &[],
                )
                .await;
            (page.status, page.body)
        })
    });
    let results = futures_join(attempts).await;

    let won: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::SEE_OTHER)
        .collect();
    let lost: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .collect();
    assert_eq!(won.len(), 1, "exactly one accept wins");
    assert_eq!(
        lost.len(),
        49,
        "every other attempt is refused plainly: {:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(
        lost.iter()
            .all(|(_, body)| body.contains("already has an order")
                || body.contains("no longer available"))
    );
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM offers WHERE status = 'ACCEPTED'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM offers WHERE status = 'REJECTED'")
            .await,
        4
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'order_created'")
            .await,
        1
    );
    assert_eq!(app.status_of("requests", request_id).await, "ORDER_CREATED");
    println!(
        "accept race: 50 attempts over 5 offers -> {} order, {} refused with 409",
        won.len(),
        lost.len()
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn twenty_identical_status_updates_apply_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = Arc::new(app.vendor("v@example.com").await);
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    let token = vendor.csrf_token().await;

    let attempts = (0..20).map(|_| {
        let vendor = Arc::clone(&vendor);
        let token = token.clone();
        tokio::spawn(async move {
            vendor
                .post_raw(
                    &format!("/orders/{order_id}/status"),
                    &[("status", "PICKED_UP".into()), ("csrf_token", token)],
                    &[],
                )
                .await
                .status
        })
    });
    let statuses = futures_join(attempts).await;

    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        19,
        "{statuses:?}"
    );
    let rows = app
        .count(&format!("SELECT count(*) FROM order_status_history WHERE order_id = {order_id} AND to_status = 'PICKED_UP'"))
        .await;
    assert_eq!(rows, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'order_status_updated'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn racing_update_and_withdraw_of_an_offer_end_consistent(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = Arc::new(app.vendor("v@example.com").await);
    let token = vendor.csrf_token().await;

    for round in 0..10 {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, "500").await;
        let offer_id = app.offer_id(request_id, "v@example.com").await;
        let mut update_fields = offer_fields("777");
        update_fields.push(("csrf_token", token.clone()));
        let updater = {
            let vendor = Arc::clone(&vendor);
            tokio::spawn(async move {
                vendor
                    .post_raw(&format!("/offers/{offer_id}/update"), &update_fields, &[])
                    .await
                    .status
            })
        };
        let withdrawer = {
            let vendor = Arc::clone(&vendor);
            let token = token.clone();
            tokio::spawn(async move {
                vendor
                    .post_raw(
                        &format!("/offers/{offer_id}/withdraw"),
                        &[("csrf_token", token)],
                        &[],
                    )
                    .await
                    .status
            })
        };
        let (updated, withdrawn) = (updater.await.unwrap(), withdrawer.await.unwrap());

        assert_eq!(
            withdrawn,
            StatusCode::SEE_OTHER,
            "round {round}: the withdraw always applies"
        );
        assert!(
            updated == StatusCode::SEE_OTHER || updated == StatusCode::CONFLICT,
            "round {round}: {updated}"
        );
        let (status, price): (String, i64) =
            sqlx::query_as("SELECT status, price_paisa FROM offers WHERE id = $1")
                .bind(offer_id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(status, "WITHDRAWN");
        let expected_price = if updated == StatusCode::SEE_OTHER {
            77_700
        } else {
            50_000
        };
        assert_eq!(
            price, expected_price,
            "round {round}: the update applied exactly when it said so"
        );
        let updates = app
            .count(&format!(
                "SELECT count(*) FROM events WHERE kind = 'offer_updated' AND offer_id = {offer_id}"
            ))
            .await;
        assert_eq!(updates, i64::from(updated == StatusCode::SEE_OTHER));
    }
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        results.push(task.await.expect("task"));
    }
    results
}
