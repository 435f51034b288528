//! Issue 9, item 5: the accept carries the version of the offer the customer
//! saw, and is refused (with the offer as it is now) when it changed since.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp, id_after, offer_fields};

fn offer_version_in(body: &str) -> Option<String> {
    let marker = r#"name="offer_version" value=""#;
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

async fn orders(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM orders").await
}

/// A customer with a request and a vendor's pending offer at Rs 500 on it.
async fn offer_at_500(app: &TestApp) -> (Browser, Browser, i64) {
    let customer = app.customer("pc-customer@example.com").await;
    let vendor = app.vendor("pc-vendor@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "pc-vendor@example.com").await;
    (customer, vendor, offer_id)
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn price_change_after_confirmation_refuses_the_accept_and_shows_the_new_price(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, offer_id) = offer_at_500(&app).await;

    let confirm = customer.get(&format!("/offers/{offer_id}/accept")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Rs 500.00"), "{}", confirm.body);
    let seen = offer_version_in(&confirm.body).expect("the form carries the offer's version");

    let updated = vendor
        .post(
            &format!("/offers/{offer_id}/update"),
            &offer_fields("1000000"),
        )
        .await;
    assert_eq!(updated.status, StatusCode::SEE_OTHER, "{}", updated.body);

    let refused = customer
        .post(
            &format!("/offers/{offer_id}/accept"),
            &[("offer_version", seen.clone())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("changed after you opened it"));
    assert!(
        refused.body.contains("Rs 1,000,000.00"),
        "the new price is shown: {}",
        refused.body
    );
    assert!(!refused.body.contains("Rs 500.00"));
    let fresh = offer_version_in(&refused.body).expect("a fresh confirmation form");
    assert_ne!(fresh, seen);
    assert_eq!(orders(&app).await, 0, "no order at a price never agreed to");
    assert_eq!(app.status_of("offers", offer_id).await, "PENDING");

    let accepted = customer
        .post(
            &format!("/offers/{offer_id}/accept"),
            &[("offer_version", fresh)],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    let order_id = id_after(accepted.location().expect("location"), "/orders/");
    let price: i64 = sqlx::query_scalar("SELECT price_paisa FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(price, 100_000_000, "the order is at the price confirmed");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn price_change_accept_without_a_readable_version_is_refused_the_same_way(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, offer_id) = offer_at_500(&app).await;

    for fields in [vec![], vec![("offer_version", "abc".to_owned())]] {
        let refused = customer
            .post(&format!("/offers/{offer_id}/accept"), &fields)
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert!(refused.body.contains("could not tell which version"));
        assert!(refused.body.contains("Rs 500.00"));
        assert_eq!(offer_version_in(&refused.body).as_deref(), Some("1"));
        assert_eq!(orders(&app).await, 0);
    }
    let accepted = customer.accept(offer_id, 1).await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    assert_eq!(orders(&app).await, 1);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn price_change_each_update_bumps_the_version(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, offer_id) = offer_at_500(&app).await;
    for price in ["600", "700"] {
        vendor
            .post(&format!("/offers/{offer_id}/update"), &offer_fields(price))
            .await;
    }
    let version: i32 = sqlx::query_scalar("SELECT version FROM offers WHERE id = $1")
        .bind(offer_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(version, 3);
    assert_eq!(
        customer.accept(offer_id, 2).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        customer.accept(offer_id, 3).await.status,
        StatusCode::SEE_OTHER
    );
}
