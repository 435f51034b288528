//! Hostile input on every form: 4xx, nothing written, what was typed shown
//! back escaped.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, local_in, offer_fields, request_fields};

fn with(
    fields: &[(&'static str, String)],
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let mut fields: Vec<_> = fields.iter().filter(|(k, _)| *k != name).cloned().collect();
    fields.push((name, value.to_owned()));
    fields
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn bad_requests_are_refused_with_the_form_kept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let base = request_fields();
    let huge = "x".repeat(100 * 1024);
    let cases: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        ("negative quantity", with(&base, "qty_wash_fold", "-3")),
        ("decimal quantity", with(&base, "qty_wash_fold", "2.5")),
        ("non-numeric quantity", with(&base, "qty_wash_fold", "six")),
        (
            "huge quantity",
            with(&base, "qty_wash_fold", "99999999999999999999"),
        ),
        (
            "over the household limit",
            with(&base, "qty_wash_fold", "101"),
        ),
        (
            "no services",
            with(&with(&base, "qty_wash_fold", "0"), "qty_dry_clean", ""),
        ),
        ("unknown service", with(&base, "qty_gold_plating", "1")),
        ("empty address", with(&base, "pickup_address", "  ")),
        ("100 KB address", with(&base, "pickup_address", &huge)),
        ("100 KB notes", with(&base, "notes", &huge)),
        (
            "NUL in the address",
            with(&base, "pickup_address", "House\u{0}7"),
        ),
        (
            "pickup in the past",
            with(&base, "pickup_from", &local_in(-2)),
        ),
        (
            "window in the wrong order",
            with(&base, "pickup_to", &local_in(1)),
        ),
        ("not a date", with(&base, "pickup_from", "tomorrow morning")),
        ("expiry too short", with(&base, "expires_in_hours", "0")),
        ("expiry too long", with(&base, "expires_in_hours", "169")),
        (
            "expiry not a number",
            with(&base, "expires_in_hours", "1e3"),
        ),
    ];
    for (what, fields) in cases {
        let page = customer.post("/requests", &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert!(
            page.body.contains("field-error"),
            "{what}: the message is next to the field"
        );
        assert!(
            page.body.contains(r#"value="Kathmandu""#),
            "{what}: what was typed is kept"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM requests").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sql_and_html_in_text_fields_are_stored_as_text_and_shown_escaped(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let fields = with(
        &with(
            &request_fields(),
            "notes",
            "'); DROP TABLE requests; -- <script>alert(1)</script>",
        ),
        "area",
        "<img src=x onerror=alert(1)>",
    );

    let page = customer.post("/requests", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let shown = customer.get(page.location().unwrap()).await;

    assert!(
        !shown.body.contains("<script>alert(1)</script>") && !shown.body.contains("<img src=x")
    );
    assert!(
        shown.body.contains("DROP TABLE requests"),
        "stored and shown as text"
    );
    assert_eq!(app.count("SELECT count(*) FROM requests").await, 1);

    let refused = customer
        .post("/requests", &with(&fields, "qty_wash_fold", "-1"))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !refused.body.contains("<img src=x"),
        "re-rendered values are escaped too"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn bad_offers_are_refused_with_the_form_kept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    let base = offer_fields("500");
    let huge = "y".repeat(100 * 1024);
    let cases: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        ("negative price", with(&base, "price", "-5")),
        ("zero price", with(&base, "price", "0")),
        ("non-numeric price", with(&base, "price", "five hundred")),
        ("three decimals", with(&base, "price", "4.505")),
        ("absurd price", with(&base, "price", "99999999999999")),
        ("exponent price", with(&base, "price", "1e3")),
        (
            "pickup in the past",
            with(&base, "pickup_at", &local_in(-1)),
        ),
        (
            "delivery before pickup",
            with(&base, "delivery_at", &local_in(2)),
        ),
        ("100 KB message", with(&base, "message", &huge)),
        ("NUL in the message", with(&base, "message", "hi\u{0}there")),
    ];
    for (what, fields) in cases {
        let page = vendor
            .post(&format!("/requests/{request_id}/offers"), &fields)
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            page.status
        );
        assert!(page.body.contains("field-error"), "{what}");
    }
    let page = vendor
        .post(
            &format!("/requests/{request_id}/offers"),
            &with(&base, "price", "-5"),
        )
        .await;
    assert!(
        page.body.contains(r#"value="-5""#),
        "the typed price is kept"
    );
    assert_eq!(app.count("SELECT count(*) FROM offers").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_form_larger_than_the_limit_is_refused_without_a_crash(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let page = customer
        .post(
            "/requests",
            &with(&request_fields(), "notes", &"z".repeat(400 * 1024)),
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("SELECT count(*) FROM requests").await, 0);
}
