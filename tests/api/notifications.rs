//! In-app notifications: for the right people only, listed, marked read,
//! counted in the header, and the count pushed live.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, id_after};

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn each_event_notifies_the_people_it_concerns_and_nobody_else(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    app.customer("stranger@example.com").await;
    let winner = app.vendor("w@example.com").await;
    let loser = app.vendor("l@example.com").await;
    let request_id = customer.create_request().await;
    winner.make_offer(request_id, "500").await;
    loser.make_offer(request_id, "600").await;
    let offer_id = app.offer_id(request_id, "w@example.com").await;
    let order_id = id_after(
        customer.accept(offer_id, 1).await.location().unwrap(),
        "/orders/",
    );
    winner
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "PICKED_UP".into())],
        )
        .await;

    assert_eq!(
        app.notification_titles("c@example.com").await,
        [
            format!("Sparkle Laundry offered Rs 500.00 on your request #{request_id}"),
            format!("Sparkle Laundry offered Rs 600.00 on your request #{request_id}"),
            format!("Sparkle Laundry picked up order #{order_id}"),
        ]
    );
    assert_eq!(
        app.notification_titles("w@example.com").await,
        [format!(
            "Sita Sharma accepted your offer: order #{order_id}"
        )]
    );
    assert_eq!(
        app.notification_titles("l@example.com").await,
        [format!(
            "Sita Sharma did not choose your offer on request #{request_id}"
        )]
    );
    assert!(
        app.notification_titles("stranger@example.com")
            .await
            .is_empty()
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn notifications_are_listed_counted_and_marked_read(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let other = app.customer("o@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    for price in ["500", "510"] {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, price).await;
    }

    let badge = r#"<span id="unread-count" class="badge" aria-live="polite" aria-atomic="true">2<span class="visually-hidden"> unread</span></span>"#;
    let home = customer
        .get_until("/requests", |page| page.body.contains(badge))
        .await;
    assert!(
        home.body.contains(badge),
        "the header counts unread notifications"
    );
    let page = customer.get("/notifications").await;
    assert_eq!(page.body.matches(r#"data-status="UNREAD""#).count(), 2);
    let first: i64 = sqlx::query_scalar("SELECT min(id) FROM notifications")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    assert_eq!(
        other
            .post(&format!("/notifications/{first}/read"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    customer
        .post(&format!("/notifications/{first}/read"), &[])
        .await
        .assert_redirect("/notifications");
    assert!(
        customer
            .get("/requests")
            .await
            .body
            .contains(r#"aria-live="polite" aria-atomic="true">1<span class="visually-hidden"> unread</span></span>"#)
    );
    customer
        .post("/notifications/read-all", &[])
        .await
        .assert_redirect("/notifications");
    let page = customer.get("/notifications").await;
    assert_eq!(page.body.matches(r#"data-status="READ""#).count(), 2);
    assert!(page.body.contains(r#"aria-live="polite" aria-atomic="true">0<span class="visually-hidden"> unread</span></span>"#));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_unread_count_is_pushed_with_the_event_that_raised_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    let mut stream = customer.events(Some("0")).await;
    assert_eq!(stream.next().await.event, "request_created");

    vendor.make_offer(request_id, "500").await;

    let event = stream.next().await;
    assert_eq!(event.event, "offer_created");
    assert!(
        event.data.contains(r#"<span id="unread-count" class="badge" aria-live="polite" aria-atomic="true" data-hx-swap-oob="innerHTML">1<span class="visually-hidden"> unread</span></span>"#),
        "{}",
        event.data
    );
}
