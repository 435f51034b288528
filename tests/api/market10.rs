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
    let row = &row[..row.find("</article>").unwrap()];
    assert!(
        row.contains(&format!(
            r#"<a class="button" href="/orders/{order_id}">Go to order #{order_id}</a>"#
        )),
        "{row}"
    );
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
        app.notification_titles("c@example.com").await,
        [
            format!("Sparkle Laundry offered Rs 450.00 on your request #{request_id}"),
            format!("Sparkle Laundry picked up order #{order_id}"),
            format!("Sparkle Laundry is washing order #{order_id}"),
            format!("Sparkle Laundry is delivering order #{order_id}"),
            format!("Sparkle Laundry marked order #{order_id} delivered"),
            format!("Sparkle Laundry offered Rs 1,250.50 on your request #{second}"),
        ]
    );
    assert_eq!(
        app.notification_titles("v@example.com").await,
        [
            format!("Sita Sharma accepted your offer: order #{order_id}"),
            format!("Sita Sharma accepted your offer: order #{second_order}"),
            format!("Sita Sharma cancelled order #{second_order}"),
        ]
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn notifications_are_grouped_under_today_yesterday_and_dates_in_nepal_time(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let mut requests = Vec::new();
    for price in ["300", "400", "500", "600"] {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, price).await;
        requests.push(request_id);
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM notifications ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    // 18:30 UTC on 4 January is 00:15 on 5 January in Nepal.
    for (id, at) in [
        (ids[0], "2026-01-04 18:00:00+00"),
        (ids[1], "2026-01-04 18:30:00+00"),
    ] {
        sqlx::query("UPDATE notifications SET created_at = $2::timestamptz WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE notifications SET created_at = now() - interval '1 day' WHERE id = $1")
        .bind(ids[2])
        .execute(&app.pool)
        .await
        .unwrap();

    let body = customer.get("/notifications").await.body;

    let heading = |text: &str| position(&body, &format!("<h2>{text}</h2>"));
    let note = |i: usize| position(&body, &format!(r#"data-notification-id="{}""#, ids[i]));
    assert!(heading("Today") < note(3), "{body}");
    assert!(note(3) < heading("Yesterday") && heading("Yesterday") < note(2));
    assert!(note(2) < heading("5 January 2026") && heading("5 January 2026") < note(1));
    assert!(note(1) < heading("4 January 2026") && heading("4 January 2026") < note(0));
    assert_eq!(body.matches("<h2>").count(), 4, "{body}");
}

/// The opening tag of the element whose attributes include `marker`.
fn tag_with<'a>(body: &'a str, marker: &str) -> &'a str {
    let at = position(body, marker);
    let start = body[..at].rfind('<').unwrap();
    let end = at + body[at..].find('>').unwrap();
    &body[start..=end]
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn small_page_fixes_price_keypad_description_favicon(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;

    let page = vendor.get(&format!("/requests/{request_id}")).await;
    let price = tag_with(&page.body, r#"name="price""#);
    assert!(price.contains(r#"inputmode="decimal""#), "{price}");

    let home = app.browser().get("/").await.body;
    let description = tag_with(&home, r#"name="description""#);
    assert!(description.contains(r#"content="Dhune"#), "{description}");
    let icon = tag_with(&home, r#"rel="icon""#);
    assert!(icon.contains(r#"href="/static/favicon.svg?v="#), "{icon}");
    assert!(icon.contains(r#"type="image/svg+xml""#), "{icon}");
    let icon = reqwest::get(app.browser().url("/static/favicon.svg"))
        .await
        .unwrap();
    assert_eq!(icon.status(), reqwest::StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().await.unwrap().starts_with("<svg"));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_dispute_form_preselects_no_outcome_and_user_rows_hold_no_suspend_form(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let order_id = id_after(
        customer.accept(offer_id, 1).await.location().unwrap(),
        "/orders/",
    );
    vendor
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "PICKED_UP".into())],
        )
        .await;
    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "Lost a sock".into())],
        )
        .await;
    let admin = app.admin("a@example.com").await;

    let page = admin.get(&format!("/orders/{order_id}")).await.body;
    for value in ["release", "refund"] {
        let radio = tag_with(&page, &format!(r#"value="{value}""#));
        assert!(!radio.contains("checked"), "{radio}");
    }
    assert!(tag_with(&page, r#"value="release""#).contains("required"));
    let dispute_id: i64 = sqlx::query_scalar("SELECT id FROM disputes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let refused = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[("note", "Checked the photos".into())],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert_eq!(app.status_of("disputes", dispute_id).await, "OPEN");

    let users = admin.get("/admin/users").await.body;
    assert!(!users.contains("/suspend"), "{users}");
    assert!(!users.contains(r#"name="reason""#), "{users}");
    let vendor_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'v@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(users.contains(&format!(r#"<a href="/admin/users/{vendor_id}">"#)));
    let user = admin.get(&format!("/admin/users/{vendor_id}")).await.body;
    assert!(user.contains(&format!(r#"action="/admin/users/{vendor_id}/suspend""#)));
}
