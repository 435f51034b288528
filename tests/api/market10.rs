//! Issue 10, items 13–15: my requests lead to their orders, notifications
//! say what happened and are grouped by day, and the small page fixes.

use sqlx::PgPool;

use crate::helpers::{TestApp, id_after};

fn position(body: &str, needle: &str) -> usize {
    body.find(needle)
        .unwrap_or_else(|| panic!("{needle} not in page:\n{body}"))
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn my_requests_put_open_ones_first_and_link_accepted_ones_to_their_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let open_older = customer.create_request().await;
    let accepted = customer.create_request().await;
    vendor.make_offer(accepted, "450").await;
    let offer_id = app.offer_id(accepted, "v@example.com").await;
    let order_id = id_after(
        customer.accept(offer_id, 1).await.location().unwrap(),
        "/orders/",
    );
    let open_newer = customer.create_request().await;

    let page = customer.get("/requests").await;

    let newer = position(&page.body, &format!(r#"id="request-row-{open_newer}""#));
    let older = position(&page.body, &format!(r#"id="request-row-{open_older}""#));
    let done = position(&page.body, &format!(r#"id="request-row-{accepted}""#));
    assert!(newer < older && older < done, "open first, newest first");
    let row = &page.body[done..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(&format!(
            r#"<a href="/orders/{order_id}">Order #{order_id}</a>"#
        )),
        "{row}"
    );
}

async fn titles_of(app: &TestApp, email: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT n.title FROM notifications n JOIN users u ON u.id = n.user_id WHERE u.email = $1 ORDER BY n.id",
    )
    .bind(email)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn notification_titles_say_who_did_what_at_each_order_step(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "450").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let order_id = id_after(
        customer.accept(offer_id, 1).await.location().unwrap(),
        "/orders/",
    );
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
        vendor
            .post(
                &format!("/orders/{order_id}/status"),
                &[("status", step.into())],
            )
            .await
            .assert_redirect(&format!("/orders/{order_id}"));
    }
    let second = customer.create_request().await;
    vendor.make_offer(second, "1250.5").await;
    let offer_id = app.offer_id(second, "v@example.com").await;
    let second_order = id_after(
        customer.accept(offer_id, 1).await.location().unwrap(),
        "/orders/",
    );
    customer
        .post(
            &format!("/orders/{second_order}/cancel"),
            &[("reason", "Plans changed".into())],
        )
        .await;

    assert_eq!(
        titles_of(&app, "c@example.com").await,
        [
            format!("Sparkle Laundry offered Rs 450.00 on your request #{request_id}"),
            format!("Sparkle Laundry picked up order #{order_id}"),
            format!("Sparkle Laundry is washing order #{order_id}"),
            format!("Sparkle Laundry is delivering order #{order_id}"),
            format!("Order #{order_id} was delivered"),
            format!("Sparkle Laundry offered Rs 1,250.50 on your request #{second}"),
        ]
    );
    assert_eq!(
        titles_of(&app, "v@example.com").await,
        [
            format!("Sita Sharma accepted your offer: order #{order_id}"),
            format!("Sita Sharma accepted your offer: order #{second_order}"),
            format!("Sita Sharma cancelled order #{second_order}"),
        ]
    );
}
