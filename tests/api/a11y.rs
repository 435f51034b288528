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
