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
