//! Requests, offers, the accept, and orders through HTTP, as users see them.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, id_after, offer_fields, request_fields};

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_request_goes_from_offers_to_a_delivered_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let winner = app.vendor("win@example.com").await;
    let loser = app.vendor("lose@example.com").await;

    let request_id = customer.create_request().await;
    let page = customer.get(&format!("/requests/{request_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!(
        r#"data-request-id="{request_id}" data-status="OPEN""#
    )));
    assert!(
        page.body.contains("Wash &amp; fold: 6 kg") || page.body.contains("Wash &#38; fold: 6 kg"),
        "{}",
        page.body
    );
    assert!(page.body.contains("House 7, Tinkune Marg"));

    let board = winner.get("/board").await;
    assert!(
        board
            .body
            .contains(&format!(r#"data-request-id="{request_id}""#)),
        "{}",
        board.body
    );
    let seen_by_vendor = winner.get(&format!("/requests/{request_id}")).await;
    assert_eq!(seen_by_vendor.status, StatusCode::OK);
    assert!(seen_by_vendor.body.contains("Tinkune"));
    assert!(
        !seen_by_vendor.body.contains("House 7"),
        "vendors never see the street address before the accept"
    );
    assert!(
        !seen_by_vendor.body.contains("9801234567"),
        "nor the customer's phone"
    );

    winner
        .make_offer(request_id, "1,250.50")
        .await
        .assert_redirect(&format!("/requests/{request_id}"));
    loser
        .make_offer(request_id, "1100")
        .await
        .assert_redirect(&format!("/requests/{request_id}"));
    let winning = app.offer_id(request_id, "win@example.com").await;
    let losing = app.offer_id(request_id, "lose@example.com").await;
    assert!(
        !winner
            .get("/board")
            .await
            .body
            .contains(&format!(r#"data-request-id="{request_id}""#)),
        "offered-on requests leave my board"
    );

    let page = customer.get(&format!("/requests/{request_id}")).await;
    let cheaper = page
        .body
        .find(&format!(r#"data-offer-id="{losing}""#))
        .expect("losing offer shown");
    let dearer = page
        .body
        .find(&format!(r#"data-offer-id="{winning}""#))
        .expect("winning offer shown");
    assert!(cheaper < dearer, "offers are sorted by price");
    assert!(page.body.contains("Rs 1,250.50"));

    let confirm = customer.get(&format!("/offers/{winning}/accept")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Accept this offer?"));
    let accepted = customer.accept(winning, 1).await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
    let order_id = id_after(accepted.location().unwrap(), "/orders/");

    let (price, bps, commission, status): (i64, i32, i64, String) = sqlx::query_as(
        "SELECT price_paisa, commission_bps, commission_paisa, status FROM orders WHERE id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (price, bps, commission, status.as_str()),
        (125_050, 1000, 12_505, "CREATED")
    );
    assert_eq!(app.status_of("offers", winning).await, "ACCEPTED");
    assert_eq!(app.status_of("offers", losing).await, "REJECTED");
    assert_eq!(app.status_of("requests", request_id).await, "ORDER_CREATED");

    let order_page = winner.get(&format!("/orders/{order_id}")).await;
    assert!(
        order_page.body.contains("House 7, Tinkune Marg"),
        "the winner sees the address on the order"
    );
    assert!(
        order_page.body.contains("9801234567"),
        "and the customer's phone"
    );
    assert_eq!(
        loser.get(&format!("/orders/{order_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    // The loser may read the request they offered on: their offer not
    // chosen, no forms, nothing of the order or the address.
    let lost = loser.get(&format!("/requests/{request_id}")).await;
    assert_eq!(lost.status, StatusCode::OK);
    assert!(lost.body.contains("Another laundry was chosen"));
    assert!(!lost.body.contains(&format!("/orders/{order_id}")));
    assert!(!lost.body.contains("House 7") && !lost.body.contains("/update"));
    let my_offers = loser.get("/offers").await;
    assert!(my_offers.body.contains(&format!(
        r#"data-offer-id="{losing}" data-status="REJECTED""#
    )));
    assert!(my_offers.body.contains("Not chosen"));

    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        let page = winner.get(&format!("/orders/{order_id}")).await;
        assert!(
            page.body
                .contains(&format!(r#"name="status" value="{step}""#)),
            "the one next step {step} is offered"
        );
        winner
            .post(
                &format!("/orders/{order_id}/status"),
                &[("status", step.into())],
            )
            .await
            .assert_redirect(&format!("/orders/{order_id}"));
    }
    let page = customer.get(&format!("/orders/{order_id}")).await;
    assert!(page.body.contains("I received my laundry"));
    customer
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "COMPLETED".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));

    let page = customer.get(&format!("/orders/{order_id}")).await;
    assert!(page.body.contains(&format!(
        r#"data-order-id="{order_id}" data-status="COMPLETED""#
    )));
    let history: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT from_status, to_status FROM order_status_history WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let steps: Vec<&str> = history.iter().map(|(_, to)| to.as_str()).collect();
    assert_eq!(
        steps,
        [
            "CREATED",
            "PICKED_UP",
            "IN_PROGRESS",
            "DELIVERING",
            "COMPLETED"
        ]
    );
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM events ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        kinds,
        [
            "request_created",
            "offer_created",
            "offer_created",
            "offer_accepted",
            "offer_rejected",
            "request_closed",
            "order_created",
            "order_status_updated",
            "order_status_updated",
            "order_status_updated",
            "order_status_updated",
        ]
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn strangers_and_wrong_roles_learn_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let other = app.customer("other@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;

    assert_eq!(
        other.get(&format!("/requests/{request_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .get(&format!("/offers/{offer_id}/accept"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.accept(offer_id, 1).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .post(&format!("/requests/{request_id}/cancel"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        vendor.post("/requests", &request_fields()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        customer
            .post(
                &format!("/requests/{request_id}/offers"),
                &offer_fields("400")
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let rival = app.vendor("rival@example.com").await;
    assert_eq!(
        rival
            .post(&format!("/offers/{offer_id}/withdraw"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        rival
            .post(&format!("/offers/{offer_id}/update"), &offer_fields("1"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for path in [
        "/requests/abc",
        "/requests/-1",
        "/requests/99999999",
        "/orders/1.5",
        "/orders/0",
    ] {
        assert_eq!(
            customer.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(app.status_of("offers", offer_id).await, "PENDING");
    assert_eq!(app.status_of("requests", request_id).await, "OPEN");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn offers_are_updated_withdrawn_and_refused_when_no_longer_pending(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;

    let twice = vendor.make_offer(request_id, "450").await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "one pending offer per vendor per request"
    );

    vendor
        .post(
            &format!("/offers/{offer_id}/update"),
            &offer_fields("475.25"),
        )
        .await
        .assert_redirect(&format!("/requests/{request_id}"));
    let price: i64 = sqlx::query_scalar("SELECT price_paisa FROM offers WHERE id = $1")
        .bind(offer_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(price, 47_525);

    vendor
        .post(&format!("/offers/{offer_id}/withdraw"), &[])
        .await
        .assert_redirect(&format!("/requests/{request_id}"));
    assert_eq!(app.status_of("offers", offer_id).await, "WITHDRAWN");
    assert_eq!(
        vendor
            .post(&format!("/offers/{offer_id}/update"), &offer_fields("400"))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        vendor
            .post(&format!("/offers/{offer_id}/withdraw"), &[])
            .await
            .status,
        StatusCode::CONFLICT
    );
    let accept = customer.accept(offer_id, 1).await;
    assert_eq!(accept.status, StatusCode::CONFLICT);
    assert!(
        accept.body.contains("no longer available"),
        "{}",
        accept.body
    );

    // A new offer after withdrawing is allowed.
    vendor
        .make_offer(request_id, "420")
        .await
        .assert_redirect(&format!("/requests/{request_id}"));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_cancelled_request_rejects_its_offers_and_takes_no_more(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;

    customer
        .post(&format!("/requests/{request_id}/cancel"), &[])
        .await
        .assert_redirect(&format!("/requests/{request_id}"));

    assert_eq!(app.status_of("requests", request_id).await, "CANCELLED");
    assert_eq!(app.status_of("offers", offer_id).await, "REJECTED");
    assert_eq!(
        customer
            .post(&format!("/requests/{request_id}/cancel"), &[])
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        vendor.make_offer(request_id, "400").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        customer.accept(offer_id, 1).await.status,
        StatusCode::CONFLICT
    );
}

/// An accepted order with a customer and its vendor.
async fn order(app: &TestApp) -> (crate::helpers::Browser, crate::helpers::Browser, i64) {
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    (customer, vendor, order_id)
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_order_state_machine_is_enforced_over_http(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, order_id) = order(&app).await;
    let status = |to: &str| vec![("status", to.to_owned())];
    let path = format!("/orders/{order_id}/status");

    assert_eq!(
        customer.post(&path, &status("PICKED_UP")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        vendor.post(&path, &status("DELIVERING")).await.status,
        StatusCode::CONFLICT,
        "no skipping"
    );
    assert_eq!(
        vendor.post(&path, &status("SHINY")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        vendor.post(&path, &status("CANCELLED")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let page = customer.get(&format!("/orders/{order_id}")).await;
    assert!(
        page.body.contains("Cancel the order"),
        "cancel is offered before pickup"
    );
    assert!(
        !page.body.contains("Open a dispute"),
        "no dispute before pickup"
    );

    vendor
        .post(&path, &status("PICKED_UP"))
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let page = customer.get(&format!("/orders/{order_id}")).await;
    assert!(
        !page.body.contains("Cancel the order"),
        "no cancel after pickup"
    );
    let cancel = customer
        .post(
            &format!("/orders/{order_id}/cancel"),
            &[("reason", "changed my mind".into())],
        )
        .await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);

    let no_reason = customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "   ".into())],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("Please give a reason."));
    let long = "x".repeat(2001);
    let too_long = customer
        .post(&format!("/orders/{order_id}/dispute"), &[("reason", long)])
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.status_of("orders", order_id).await, "PICKED_UP");

    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "<b>Torn</b> shirt".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "DISPUTED");
    let page = vendor.get(&format!("/orders/{order_id}")).await;
    assert!(
        page.body.contains("data-dispute-id="),
        "both parties see the dispute"
    );
    assert!(
        page.body.contains("&lt;b&gt;Torn&lt;/b&gt; shirt")
            || page.body.contains("&#60;b&#62;Torn"),
        "{}",
        page.body
    );
    assert_eq!(
        vendor.post(&path, &status("IN_PROGRESS")).await.status,
        StatusCode::CONFLICT
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_customer_cancels_before_pickup_with_a_reason(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, order_id) = order(&app).await;

    let refused = customer
        .post(
            &format!("/orders/{order_id}/cancel"),
            &[("reason", "".into())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    customer
        .post(
            &format!("/orders/{order_id}/cancel"),
            &[("reason", "Away this week".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "CANCELLED");
    let note: String = sqlx::query_scalar(
        "SELECT note FROM order_status_history WHERE order_id = $1 AND to_status = 'CANCELLED'",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(note, "Away this week");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lists_filter_by_status_and_paginate(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let mut ids = Vec::new();
    for _ in 0..21 {
        ids.push(customer.create_request().await);
    }
    customer
        .post(&format!("/requests/{}/cancel", ids[0]), &[])
        .await;

    let first = customer.get("/requests").await;
    assert_eq!(first.body.matches("data-request-id=").count(), 20);
    assert!(
        first
            .body
            .contains(&format!(r#"data-request-id="{}""#, ids[20])),
        "newest first"
    );
    assert!(first.body.contains(r#"href="/requests?page=2""#));
    let second = customer.get("/requests?page=2").await;
    assert_eq!(second.body.matches("data-request-id=").count(), 1);
    let cancelled = customer.get("/requests?status=CANCELLED").await;
    assert_eq!(cancelled.body.matches("data-request-id=").count(), 1);
    assert!(cancelled.body.contains(r#"data-status="CANCELLED""#));
    assert_eq!(
        customer
            .get("/requests?status=nonsense&page=x")
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_expired_request_takes_no_offers_and_no_accept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let late = app.vendor("late@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    sqlx::query("UPDATE requests SET expires_at = now() - interval '1 minute' WHERE id = $1")
        .bind(request_id)
        .execute(&app.pool)
        .await
        .unwrap();

    assert!(
        !late
            .get("/board")
            .await
            .body
            .contains(&format!(r#"data-request-id="{request_id}""#))
    );
    assert_eq!(
        late.make_offer(request_id, "450").await.status,
        StatusCode::CONFLICT
    );
    let accept = customer.accept(offer_id, 1).await;
    assert_eq!(accept.status, StatusCode::CONFLICT);
    assert!(accept.body.contains("expired"));
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_board_filters_by_city_and_each_side_lists_its_orders(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let other_vendor = app.vendor("o@example.com").await;
    let in_kathmandu = customer.create_request().await;
    let mut fields: Vec<_> = request_fields()
        .into_iter()
        .filter(|(k, _)| *k != "city")
        .collect();
    fields.push(("city", "Pokhara".into()));
    let page = customer.post("/requests", &fields).await;
    let in_pokhara = id_after(page.location().unwrap(), "/requests/");

    let pokhara = vendor.get("/board?city=pokhara").await;
    assert!(
        pokhara
            .body
            .contains(&format!(r#"data-request-id="{in_pokhara}""#))
    );
    assert!(
        !pokhara
            .body
            .contains(&format!(r#"data-request-id="{in_kathmandu}""#))
    );

    vendor.make_offer(in_pokhara, "500").await;
    let offer_id = app.offer_id(in_pokhara, "v@example.com").await;
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    for browser in [&customer, &vendor] {
        let list = browser.get("/orders").await;
        assert!(list.body.contains(&format!(
            r#"data-order-id="{order_id}" data-status="CREATED""#
        )));
    }
    assert!(
        !other_vendor
            .get("/orders")
            .await
            .body
            .contains("data-order-id=")
    );
    assert!(
        !customer
            .get("/orders?status=COMPLETED")
            .await
            .body
            .contains("data-order-id=")
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_request_needs_a_city_and_suggests_nepals(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let form = customer.get("/requests/new").await;
    assert!(
        form.body.contains(r#"list="city-suggestions""#),
        "{}",
        form.body
    );
    assert!(form.body.contains(r#"<option value="Pokhara">"#));

    let mut fields = request_fields();
    fields.retain(|(name, _)| !matches!(*name, "city" | "area"));
    fields.push(("city", "  ".into()));
    fields.push(("area", "Baneshwor".into()));
    let refused = customer.post("/requests", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("Please enter the city"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"value="Baneshwor""#),
        "typed values kept"
    );
    assert_eq!(app.count("SELECT count(*) FROM requests").await, 0);
}
