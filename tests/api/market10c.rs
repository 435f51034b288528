//! Issue 10, items 9 and 10: offers a customer can compare (the laundry's
//! record, pickup against the window, sorting, cancel at the bottom) and the
//! order page as a tracker (steps, tel: links, delivered-not-confirmed).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp, id_after, local_in};

fn position(body: &str, needle: &str) -> usize {
    body.find(needle)
        .unwrap_or_else(|| panic!("{needle} not in page:\n{body}"))
}

/// The HTML of one offer card on a page.
fn card(body: &str, offer_id: i64) -> &str {
    let start = position(body, &format!(r#"id="offer-{offer_id}""#));
    let card = &body[start..];
    &card[..card.find("</article>").unwrap()]
}

/// An order between `customer` and the vendor signed up as `vendor_email`;
/// returns its id.
/// An offer with its own pickup time, `hours` from now.
async fn offer_with_pickup(vendor: &Browser, request_id: i64, price: &str, hours: i64) {
    let page = vendor
        .post(
            &format!("/requests/{request_id}/offers"),
            &[
                ("price", price.into()),
                ("pickup_at", local_in(hours)),
                ("delivery_at", local_in(hours + 48)),
                ("message", String::new()),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn offer_cards_show_the_laundrys_record_and_pickup_against_the_window(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let busy = app.vendor("busy@example.com").await;
    let new = app.vendor("new@example.com").await;
    // The busy laundry: 4 completed orders and 1 cancelled, 5 closed.
    for _ in 0..4 {
        app.delivered(&customer, &busy, "busy@example.com", "500")
            .await;
    }
    let cancelled = app.order(&customer, &busy, "busy@example.com", "500").await;
    customer
        .post(
            &format!("/orders/{cancelled}/cancel"),
            &[("reason", "Plans changed".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{cancelled}"));
    // Each took 26 hours from acceptance to completion.
    sqlx::query(
        "UPDATE orders SET created_at = completed_at - interval '26 hours'
         WHERE status = 'COMPLETED'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // The new laundry: one completed order, too few for rates.
    app.delivered(&customer, &new, "new@example.com", "500")
        .await;

    let request_id = customer.create_request().await;
    let mut live = customer.events(None).await;
    // The window is 3 to 6 hours from now.
    offer_with_pickup(&busy, request_id, "700", 8).await;
    offer_with_pickup(&new, request_id, "600", 4).await;
    let busy_offer = app.offer_id(request_id, "busy@example.com").await;
    let new_offer = app.offer_id(request_id, "new@example.com").await;

    let page = customer.get(&format!("/requests/{request_id}")).await;
    let busy_card = card(&page.body, busy_offer);
    assert!(busy_card.contains("4 completed orders"), "{busy_card}");
    assert!(
        busy_card.contains("80% completed of 5 closed"),
        "{busy_card}"
    );
    assert!(
        busy_card.contains("median turnaround 1 day 2 h"),
        "{busy_card}"
    );
    assert!(
        busy_card.contains("2 h after the pickup window"),
        "{busy_card}"
    );
    assert!(!busy_card.contains("not enough orders yet"));
    let new_card = card(&page.body, new_offer);
    assert!(new_card.contains("1 completed order ·"), "{new_card}");
    assert!(new_card.contains("not enough orders yet"), "{new_card}");
    assert!(!new_card.contains('%') && !new_card.contains("median"));
    assert!(new_card.contains("within the pickup window"), "{new_card}");
    assert!(
        position(busy_card, "offer-price") < position(busy_card, "<dl"),
        "the price comes first"
    );

    // The cards pushed live carry the same figures.
    let (mut busy_pushed, mut new_pushed) = (None, None);
    while busy_pushed.is_none() || new_pushed.is_none() {
        let event = live.next().await;
        if event.event != "offer_created" {
            continue;
        }
        if event.data.contains(&format!(r#"id="offer-{busy_offer}""#)) {
            busy_pushed = Some(event.data);
        } else if event.data.contains(&format!(r#"id="offer-{new_offer}""#)) {
            new_pushed = Some(event.data);
        }
    }
    let (busy_pushed, new_pushed) = (busy_pushed.unwrap(), new_pushed.unwrap());
    assert!(
        busy_pushed.contains("80% completed of 5 closed")
            && busy_pushed.contains("median turnaround 1 day 2 h")
            && busy_pushed.contains("2 h after the pickup window"),
        "{busy_pushed}"
    );
    assert!(
        new_pushed.contains("not enough orders yet")
            && new_pushed.contains("within the pickup window"),
        "{new_pushed}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn offers_sort_by_price_or_pickup_and_cancel_comes_after_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let early = app.vendor("early@example.com").await;
    let cheap = app.vendor("cheap@example.com").await;
    let request_id = customer.create_request().await;
    offer_with_pickup(&early, request_id, "900", 3).await;
    offer_with_pickup(&cheap, request_id, "400", 5).await;
    let early_offer = format!(
        r#"id="offer-{}""#,
        app.offer_id(request_id, "early@example.com").await
    );
    let cheap_offer = format!(
        r#"id="offer-{}""#,
        app.offer_id(request_id, "cheap@example.com").await
    );
    let path = format!("/requests/{request_id}");

    let by_price = customer.get(&path).await;
    assert!(position(&by_price.body, &cheap_offer) < position(&by_price.body, &early_offer));
    assert!(by_price.body.contains(&format!(
        r#"<a href="/requests/{request_id}?sort=pickup">pickup time</a>"#
    )));
    let by_pickup = customer.get(&format!("{path}?sort=pickup")).await;
    assert_eq!(by_pickup.status, StatusCode::OK);
    assert!(position(&by_pickup.body, &early_offer) < position(&by_pickup.body, &cheap_offer));
    assert!(by_pickup.body.contains(&format!(
        r#"<a href="/requests/{request_id}?sort=price">price</a>"#
    )));
    let unknown = customer.get(&format!("{path}?sort=%3Cscript%3E")).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(position(&unknown.body, &cheap_offer) < position(&unknown.body, &early_offer));

    // Cancel is a plain POST form with its token, after the offers, and
    // not a red button.
    let body = &by_price.body;
    let cancel = position(body, &format!(r#"action="/requests/{request_id}/cancel""#));
    assert!(cancel > position(body, &early_offer) && cancel > position(body, &cheap_offer));
    let form = &body[body[..cancel].rfind("<form").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(form.contains(r#"method="post""#) && form.contains(r#"name="csrf_token""#));
    assert!(
        form.contains("Cancel this request") && !form.contains("danger"),
        "{form}"
    );
    assert!(
        !early.get(&path).await.body.contains("/cancel"),
        "only the owner may cancel"
    );
    customer
        .post(&format!("{path}/cancel"), &[])
        .await
        .assert_redirect(&path);
    assert_eq!(app.status_of("requests", request_id).await, "CANCELLED");
}

/// The `data-step` of the one step marked current on an order page.
fn current_step(body: &str) -> &str {
    assert_eq!(body.matches(r#"aria-current="step""#).count(), 1, "{body}");
    let at = position(body, r#"aria-current="step""#);
    let li = &body[body[..at].rfind("<li").unwrap()..at];
    let step = &li[position(li, r#"data-step=""#) + 11..];
    &step[..step.find('"').unwrap()]
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_tracker_marks_the_current_step_of_each_status(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let order_id = app.order(&customer, &vendor, "v@example.com", "500").await;
    let path = format!("/orders/{order_id}");

    let page = customer.get(&path).await;
    assert_eq!(current_step(&page.body), "CREATED");
    assert!(page.body.contains(r#"<ol class="tracker""#));
    assert!(page.body.contains("Expected delivery"));
    assert!(
        page.body
            .contains(r#"<summary>Problem with this order?</summary>"#),
        "cancel is folded away"
    );
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(order_id, step).await;
        for viewer in [&customer, &vendor] {
            let page = viewer.get(&path).await;
            assert_eq!(current_step(&page.body), step);
        }
    }
    let page = vendor.get(&path).await;
    assert!(page.body.contains(">Mark as delivered</button>"));
    assert_eq!(
        page.body.matches(r#"class="primary big""#).count(),
        1,
        "one prominent action"
    );
    let page = customer.get(&path).await;
    let problem = position(&page.body, "Problem with this order?");
    assert!(
        position(&page.body, r#"id="dispute-reason""#) > problem,
        "the dispute box is behind Problem with this order?"
    );
    assert!(position(&page.body, "I received my laundry") < problem);
    assert!(!page.body.contains(r#"class="problem" open"#), "folded");
    let refused = customer
        .post(&format!("{path}/dispute"), &[("reason", " ".into())])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains(r#"class="problem" open"#),
        "a refused reason is shown unfolded, with its error"
    );
    assert!(refused.body.contains(r#"id="dispute-reason-error""#));

    customer
        .post(
            &format!("{path}/dispute"),
            &[("reason", "A shirt is missing".into())],
        )
        .await
        .assert_redirect(&path);
    let page = customer.get(&path).await;
    assert_eq!(current_step(&page.body), "DISPUTED");
    assert!(
        page.body
            .contains(r#"data-step="DELIVERING" data-state="done""#)
    );
    assert!(
        !page.body.contains(r#"data-step="COMPLETED""#),
        "steps it will not take are left out"
    );
    assert!(!page.body.contains("Expected delivery"));

    let other = app.order(&customer, &vendor, "v@example.com", "500").await;
    customer
        .post(
            &format!("/orders/{other}/cancel"),
            &[("reason", "Away".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{other}"));
    let page = vendor.get(&format!("/orders/{other}")).await;
    assert_eq!(current_step(&page.body), "CANCELLED");
    for viewer in [&customer, &vendor] {
        let page = viewer.get(&format!("/orders/{other}")).await;
        assert!(
            page.body.contains(&format!(
                r#"<details id="order-{other}-problem" class="problem" hidden>"#
            )),
            "nothing left to do about a cancelled order: {}",
            page.body
        );
    }
    assert!(
        page.body
            .contains(r#"data-step="CREATED" data-state="done""#)
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn phone_numbers_are_tel_links_for_the_parties_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let loser = app.vendor("l@example.com").await;
    for (email, phone) in [
        ("c@example.com", "+977 9841-000001"),
        ("v@example.com", "9851000002"),
        ("l@example.com", "9861000003"),
    ] {
        sqlx::query("UPDATE users SET phone = $2 WHERE email = $1")
            .bind(email)
            .bind(phone)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    loser.make_offer(request_id, "550").await;
    let request_path = format!("/requests/{request_id}");
    for viewer in [&customer, &vendor, &loser] {
        assert!(
            !viewer.get(&request_path).await.body.contains("tel:"),
            "no phone before there is an order"
        );
    }
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let order_id = id_after(
        customer.accept(offer_id, 1).await.location().unwrap(),
        "/orders/",
    );
    let path = format!("/orders/{order_id}");

    let seen = customer.get(&path).await.body;
    assert!(
        seen.contains(r#"<a href="tel:9851000002">9851000002</a>"#),
        "{seen}"
    );
    assert!(!seen.contains("tel:+9779841000001"), "not their own number");
    let seen = vendor.get(&path).await.body;
    assert!(
        seen.contains(r#"<a href="tel:+9779841000001">+977 9841-000001</a>"#),
        "{seen}"
    );
    assert!(!seen.contains("tel:9851000002"));
    assert_eq!(loser.get(&path).await.status, StatusCode::NOT_FOUND);
    let lost = loser.get(&request_path).await.body;
    assert!(!lost.contains("tel:") && !lost.contains("9841"), "{lost}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_delivery_the_customer_has_not_confirmed_asks_them_to(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let order_id = app
        .delivered(&customer, &vendor, "v@example.com", "500")
        .await;
    let path = format!("/orders/{order_id}");

    let page = customer.get(&path).await;
    assert!(
        page.body
            .contains(r#"data-status="COMPLETED">Delivered — confirm you received it</span>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(
        r#"<input type="hidden" name="status" value="COMPLETED">
      <button class="primary big" type="submit">Yes, I received my laundry</button>"#
    ));
    assert_eq!(current_step(&page.body), "COMPLETED");
    let page = vendor.get(&path).await;
    assert!(
        page.body
            .contains("Delivered — not yet confirmed by the customer")
    );
    assert!(!page.body.contains("Yes, I received"));

    let mut watching = vendor.events(None).await;
    customer.move_order(order_id, "COMPLETED").await;
    let received: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT received_at FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(received.is_some());
    let page = customer.get(&path).await;
    assert!(
        page.body
            .contains(r#"data-status="COMPLETED">Completed</span>"#)
    );
    assert!(
        !page.body.contains("confirm you received it") && !page.body.contains("Yes, I received")
    );
    // Earlier moves of this order may still be on their way; the
    // confirmation must arrive within the stream's wait.
    let confirmed = r#"data-status="COMPLETED">Completed</span>"#;
    let mut pushed = watching.next().await;
    while !(pushed.event == "order_status_updated" && pushed.data.contains(confirmed)) {
        pushed = watching.next().await;
    }
    let again = customer
        .post(&format!("{path}/status"), &[("status", "COMPLETED".into())])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let timeline = vendor.get(&path).await.body;
    assert!(
        timeline.contains(r#"<li data-status="RECEIVED">"#),
        "the timeline shows the confirmation: {timeline}"
    );
    let titles = app.notification_titles("v@example.com").await;
    assert!(
        titles
            .iter()
            .any(|t| t.ends_with(&format!("confirmed receiving order #{order_id}"))),
        "the laundry is told who confirmed: {titles:?}"
    );

    // A customer who confirms while out for delivery completes the order:
    // nothing more to confirm.
    let other = app.order(&customer, &vendor, "v@example.com", "500").await;
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(other, step).await;
    }
    customer.move_order(other, "COMPLETED").await;
    let page = customer.get(&format!("/orders/{other}")).await;
    assert!(!page.body.contains(r#"data-status="RECEIVED""#));
    assert!(
        page.body
            .contains(r#"data-status="COMPLETED">Completed</span>"#)
    );
}
