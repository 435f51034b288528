//! Accessibility of forms and live regions: what a screen reader and a
//! phone user get from the HTML.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, offer_fields, request_fields, signup_fields};

/// The error summary at the top of a refused form: one box, focused on load,
/// with a link to each field in error.
fn assert_error_summary(body: &str, ids: &[&str]) {
    let start = body
        .find("data-error-summary")
        .unwrap_or_else(|| panic!("no error summary: {body}"));
    let summary = &body[body[..start].rfind('<').unwrap_or(0)..];
    let end = summary.find("</div>").unwrap_or(summary.len());
    let summary = &summary[..end];
    assert!(summary.contains(r#"role="alert""#), "{summary}");
    assert!(summary.contains(r#"tabindex="-1""#), "{summary}");
    assert!(summary.contains("autofocus"), "{summary}");
    assert!(
        summary.contains(&format!("Please fix {} thing", ids.len())),
        "{summary}"
    );
    for id in ids {
        assert!(
            summary.contains(&format!(r##"href="#{id}""##)),
            "no link to #{id}: {summary}"
        );
        assert!(body.contains(&format!(r#"id="{id}""#)), "no field #{id}");
    }
    let first_field = body
        .find(&format!(r#"id="{}""#, ids[0]))
        .unwrap_or(usize::MAX);
    assert!(start < first_field, "the summary comes before the fields");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a11y_refused_signup_carries_an_error_summary(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let mut fields = signup_fields("", "not-an-email", "customer");
    fields.retain(|(name, _)| *name != "phone");
    fields.push(("phone", "12".into()));
    let page = browser.signup(&fields).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert_error_summary(&page.body, &["name", "email", "phone"]);

    let fresh = browser.get("/signup").await;
    assert!(!fresh.body.contains("data-error-summary"), "{}", fresh.body);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a11y_refused_new_request_carries_an_error_summary(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let mut fields = request_fields();
    fields.retain(|(name, _)| !matches!(*name, "city" | "expires_in_hours"));
    fields.push(("city", String::new()));
    fields.push(("expires_in_hours", "900".into()));
    let page = customer.post("/requests", &fields).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert_error_summary(&page.body, &["city", "expires_in_hours"]);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a11y_refused_offer_carries_an_error_summary(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    let page = vendor
        .post(
            &format!("/requests/{request_id}/offers"),
            &offer_fields("not a price"),
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert_error_summary(&page.body, &["price"]);
}

/// The opening tag of the element with `id`.
fn tag_with_id<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id}: {body}"));
    let start = body[..at].rfind('<').unwrap_or(0);
    let end = at + body[at..].find('>').unwrap_or(0);
    &body[start..=end]
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a11y_live_updates_are_announced_to_screen_readers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;

    let request = customer
        .get_until(&format!("/requests/{request_id}"), |page| {
            page.body
                .contains(r#"1<span class="visually-hidden"> unread</span>"#)
        })
        .await;
    assert!(
        tag_with_id(&request.body, "offers").contains(r#"aria-live="polite""#),
        "{}",
        tag_with_id(&request.body, "offers")
    );
    let badge = tag_with_id(&request.body, "unread-count");
    assert!(badge.contains(r#"aria-live="polite""#), "{badge}");
    assert!(
        !badge.contains("aria-label"),
        "the count is real text: {badge}"
    );
    assert!(
        request
            .body
            .contains(r#"1<span class="visually-hidden"> unread</span>"#),
        "{}",
        request.body
    );

    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let accepted = customer.accept(offer_id, 1).await;
    let order = customer.get(accepted.location().unwrap()).await;
    let status = order
        .body
        .find(r#"class="status" data-order-id"#)
        .expect("the order status");
    let status_span = order.body[..status].rfind("<span").unwrap_or(0);
    let region = order.body[..status_span]
        .rfind("<span")
        .map(|at| &order.body[at..status_span])
        .unwrap_or_default();
    assert!(
        region.contains(r#"aria-live="polite""#) && region.matches('<').count() == 1,
        "the status sits in a live region: {region}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a11y_hints_are_linked_to_their_inputs(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let page = customer.get("/requests/new").await;
    assert!(
        tag_with_id(&page.body, "city").contains(r#"aria-describedby="city-hint""#),
        "{}",
        tag_with_id(&page.body, "city")
    );
    assert!(page.body.contains(r#"<p class="hint" id="city-hint">"#));
    assert!(
        tag_with_id(&page.body, "pickup_from").contains(r#"aria-describedby="pickup_from-hint""#),
        "the date pickers point at their Nepal-time hint"
    );

    let mut fields = request_fields();
    fields.retain(|(name, _)| *name != "city");
    fields.push(("city", String::new()));
    let refused = customer.post("/requests", &fields).await;
    assert!(
        tag_with_id(&refused.body, "city").contains(r#"aria-describedby="city-hint city-error""#),
        "{}",
        tag_with_id(&refused.body, "city")
    );
}
