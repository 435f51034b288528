//! Commission as a setting with history (issue 12, item 1): the platform's
//! rate and laundries' negotiated rates, changed by an admin with a reason
//! and audited, snapshotted on each new order while orders already made keep
//! theirs.

use std::sync::Arc;

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp, id_after};

const VENDOR: &str = "v@example.com";
const OTHER_VENDOR: &str = "w@example.com";
const ADMIN: &str = "a@example.com";

/// An order's snapshot: (commission_bps, commission_paisa, price_paisa).
async fn snapshot(app: &TestApp, order_id: i64) -> (i32, i64, i64) {
    sqlx::query_as("SELECT commission_bps, commission_paisa, price_paisa FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .expect("order")
}

/// The platform's commission the ledger holds for an order's payments.
async fn commission_posted(app: &TestApp, order_id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(-sum(e.amount_paisa), 0)::bigint FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
         JOIN payments p ON t.source_type = 'payment' AND p.id = t.source_id
         WHERE p.order_id = $1 AND e.account = 'platform:commission'",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .expect("ledger")
}

/// (action, target_type, target_id, reason, before, after) of the audit log, oldest first.
async fn audit_rows(app: &TestApp) -> Vec<(String, String, i64, String, String, String)> {
    sqlx::query_as(
        "SELECT action, target_type, target_id, reason, before_status, after_status
         FROM audit_log ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit")
}

pub(crate) async fn user_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .expect("user")
}

async fn set_platform(admin: &Browser, rate: &str, reason: &str) -> crate::helpers::Page {
    admin
        .post(
            "/admin/commission",
            &[("rate", rate.into()), ("reason", reason.into())],
        )
        .await
}

async fn set_vendor(
    admin: &Browser,
    email: &str,
    rate: &str,
    reason: &str,
) -> crate::helpers::Page {
    admin
        .post(
            "/admin/commission/vendors",
            &[
                ("email", email.into()),
                ("rate", rate.into()),
                ("reason", reason.into()),
            ],
        )
        .await
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn commission_defaults_to_the_configured_rate(pool: PgPool) {
    let mut config = dhune::Config::for_tests();
    config.commission_bps = 1_250;
    let app = TestApp::spawn_with(pool, config).await;
    let admin = app.admin(ADMIN).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;

    let page = admin.get("/admin/commission").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(r#"data-platform-rate="1250">12.5%"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("the configured default"));
    assert!(
        admin
            .get("/admin")
            .await
            .body
            .contains(r#"href="/admin/commission""#)
    );

    let order_id = app.delivered(&customer, &vendor, VENDOR, "450").await;
    assert_eq!(snapshot(&app, order_id).await, (1_250, 5_625, 45_000));
    assert_eq!(commission_posted(&app, order_id).await, 5_625);
    assert_eq!(app.count("SELECT count(*) FROM commission_rates").await, 0);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn commission_change_applies_to_new_orders_and_old_orders_keep_theirs(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = app.admin(ADMIN).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;

    let before = app.order(&customer, &vendor, VENDOR, "123.45").await;
    assert_eq!(snapshot(&app, before).await, (1_000, 1_235, 12_345));

    let set = set_platform(&admin, "8.5", "Festival season promotion").await;
    set.assert_redirect("/admin/commission");
    let page = admin.get("/admin/commission").await;
    assert!(
        page.body
            .contains("commission is now 8.5% for orders created from now on"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"data-platform-rate="850">8.5%"#));
    assert!(page.body.contains("Festival season promotion"));
    assert!(page.body.contains(ADMIN));
    assert!(!page.body.contains("the configured default"));

    // 123.45 at 8.5% is 10.49325: 10.49.
    let after = app.order(&customer, &vendor, VENDOR, "123.45").await;
    assert_eq!(snapshot(&app, after).await, (850, 1_049, 12_345));
    // The order made before keeps its rate and commission, on the order and
    // in the books once it is paid.
    assert_eq!(snapshot(&app, before).await, (1_000, 1_235, 12_345));
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
        vendor.move_order(before, step).await;
        vendor.move_order(after, step).await;
    }
    assert_eq!(commission_posted(&app, before).await, 1_235);
    assert_eq!(commission_posted(&app, after).await, 1_049);

    // A second change: the history lists both, newest first.
    set_platform(&admin, "12", "Back to normal")
        .await
        .assert_redirect("/admin/commission");
    let third = app.order(&customer, &vendor, VENDOR, "1000").await;
    assert_eq!(snapshot(&app, third).await, (1_200, 12_000, 100_000));
    let page = admin.get("/admin/commission").await;
    let newest = page
        .body
        .find("Back to normal")
        .expect("second change listed");
    let older = page
        .body
        .find("Festival season promotion")
        .expect("first change listed");
    assert!(newest < older, "newest first");
    assert_eq!(snapshot(&app, after).await, (850, 1_049, 12_345));

    let rows: Vec<(Option<i64>, i32, String)> =
        sqlx::query_as("SELECT vendor_id, bps, reason FROM commission_rates ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            (None, 850, "Festival season promotion".to_owned()),
            (None, 1_200, "Back to normal".to_owned()),
        ]
    );
    let audit = audit_rows(&app).await;
    let changes: Vec<_> = audit
        .iter()
        .map(|(action, target, _, reason, before, after)| {
            (
                action.as_str(),
                target.as_str(),
                reason.as_str(),
                before.as_str(),
                after.as_str(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (
                "commission.platform",
                "commission_rate",
                "Festival season promotion",
                "10%",
                "8.5%"
            ),
            (
                "commission.platform",
                "commission_rate",
                "Back to normal",
                "8.5%",
                "12%"
            ),
        ]
    );
    let log = admin.get("/admin/audit?action=commission.platform").await;
    assert_eq!(log.body.matches("data-audit-id=").count(), 2);
    // The rates are history: a row cannot be changed or removed.
    assert!(
        sqlx::query("UPDATE commission_rates SET bps = 0")
            .execute(&app.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM commission_rates")
            .execute(&app.pool)
            .await
            .is_err()
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn commission_negotiated_rate_applies_only_to_that_laundry(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = app.admin(ADMIN).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let other = app.vendor(OTHER_VENDOR).await;
    let vendor_id = user_id(&app, VENDOR).await;

    let before = app.order(&customer, &vendor, VENDOR, "200").await;
    set_vendor(&admin, " V@Example.com ", "7.5", "Signed a yearly contract")
        .await
        .assert_redirect("/admin/commission");
    let page = admin.get("/admin/commission").await;
    assert!(
        page.body.contains("Sparkle Laundry now pays 7.5%"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!(r#"data-vendor-id="{vendor_id}" data-bps="750""#))
    );
    assert!(page.body.contains("Signed a yearly contract"));

    let theirs = app.delivered(&customer, &vendor, VENDOR, "200").await;
    let others = app.delivered(&customer, &other, OTHER_VENDOR, "200").await;
    assert_eq!(snapshot(&app, theirs).await, (750, 1_500, 20_000));
    assert_eq!(snapshot(&app, others).await, (1_000, 2_000, 20_000));
    assert_eq!(snapshot(&app, before).await, (1_000, 2_000, 20_000));

    // The negotiated rate wins over a later platform change.
    set_platform(&admin, "15", "Costs went up")
        .await
        .assert_redirect("/admin/commission");
    let theirs_later = app.order(&customer, &vendor, VENDOR, "200").await;
    let others_later = app.order(&customer, &other, OTHER_VENDOR, "200").await;
    assert_eq!(snapshot(&app, theirs_later).await.0, 750);
    assert_eq!(snapshot(&app, others_later).await.0, 1_500);

    // Ending it: the laundry pays the platform's rate again.
    set_vendor(&admin, VENDOR, "", "Contract ended")
        .await
        .assert_redirect("/admin/commission");
    let page = admin.get("/admin/commission").await;
    assert!(
        page.body
            .contains("rate again on orders created from now on"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-bps="));
    assert!(page.body.contains("Contract ended"));
    let ended = app.order(&customer, &vendor, VENDOR, "200").await;
    assert_eq!(snapshot(&app, ended).await.0, 1_500);
    assert_eq!(snapshot(&app, theirs_later).await.0, 750);
    // Nothing left to end.
    let again = set_vendor(&admin, VENDOR, " ", "Again").await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("no negotiated rate to end"));

    let audit: Vec<_> = audit_rows(&app)
        .await
        .into_iter()
        .filter(|row| row.0 == "commission.vendor")
        .map(|(_, target, id, reason, before, after)| (target, id, reason, before, after))
        .collect();
    let row = |reason: &str, before: &str, after: &str| {
        (
            "user".to_owned(),
            vendor_id,
            reason.to_owned(),
            before.to_owned(),
            after.to_owned(),
        )
    };
    assert_eq!(
        audit,
        [
            row("Signed a yearly contract", "platform rate", "7.5%"),
            row("Contract ended", "7.5%", "platform rate"),
        ]
    );
    // The laundry's account page shows what admins did to it.
    let account = admin.get(&format!("/admin/users/{vendor_id}")).await;
    assert!(
        account.body.contains("Signed a yearly contract"),
        "{}",
        account.body
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn commission_bad_input_is_refused_on_the_same_form(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = app.admin(ADMIN).await;
    app.vendor(VENDOR).await;

    for (rate, message) in [
        ("12.345", "Use at most two decimals"),
        ("-1", "cannot be below 0%"),
        ("100.5", "cannot be above 100%"),
        ("ten", "Enter the rate as a percentage"),
    ] {
        let page = set_platform(&admin, rate, "A reason").await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{rate}");
        assert!(page.body.contains(message), "{rate}: {}", page.body);
        assert!(page.body.contains(&format!(r#"name="rate" type="text" inputmode="decimal" autocomplete="off" maxlength="10" required value="{rate}""#)), "{rate} kept: {}", page.body);
        assert!(page.body.contains(r##"href="#platform-rate""##));
        assert!(page.body.contains(">A reason</textarea>"));
    }
    let page = set_platform(&admin, "9", "  ").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains(
            r#"<p class="field-error" id="platform-reason-error">This field is required.</p>"#
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"required value="9""#));

    let page = set_vendor(&admin, "nobody@example.com", "5", "Deal").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(r#"<p class="field-error" id="vendor-email-error">No laundry has an account with that email.</p>"#), "{}", page.body);
    assert!(page.body.contains(r#"value="nobody@example.com""#));
    // A customer's email is not a laundry's.
    app.customer("c@example.com").await;
    let page = set_vendor(&admin, "c@example.com", "5", "Deal").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = set_vendor(&admin, VENDOR, "5.555", "").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains(r#"id="vendor-rate-error">Use at most two decimals"#)
    );
    assert!(
        page.body
            .contains(r#"id="vendor-reason-error">This field is required."#)
    );
    assert!(page.body.contains(r#"value="5.555""#));
    assert!(page.body.contains(r#"value="v@example.com""#));

    assert_eq!(app.count("SELECT count(*) FROM commission_rates").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_log").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn commission_page_is_for_admins_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    for user in [&customer, &vendor] {
        assert_eq!(
            user.get("/admin/commission").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            set_platform(user, "0", "Free for me").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            set_vendor(user, VENDOR, "0", "Free for me").await.status,
            StatusCode::FORBIDDEN
        );
    }
    let anonymous = app.browser();
    let page = anonymous.get("/admin/commission").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().is_some_and(|to| to.starts_with("/login")),
        "{:?}",
        page.location()
    );
    assert_eq!(app.count("SELECT count(*) FROM commission_rates").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn commission_change_during_accepts_gives_each_order_one_rate(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = app.admin(ADMIN).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let prices = [
        "101.01", "202.02", "303.03", "404.04", "505.05", "606.06", "707.07", "808.08", "909.09",
        "1010.10",
    ];
    let mut offers = Vec::new();
    for price in prices {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, price).await;
        offers.push(app.offer_id(request_id, VENDOR).await);
    }
    // Both know their CSRF tokens before the race starts.
    customer.csrf_token().await;
    admin.get("/admin/commission").await;

    let customer = Arc::new(customer);
    let admin = Arc::new(admin);
    let mut accepts = Vec::new();
    for offer_id in offers {
        let customer = Arc::clone(&customer);
        accepts.push(tokio::spawn(async move {
            let page = customer.accept(offer_id, 1).await;
            id_after(page.location().expect("accepted"), "/orders/")
        }));
    }
    let change = {
        let admin = Arc::clone(&admin);
        tokio::spawn(async move { set_platform(&admin, "7.25", "Race").await })
    };
    let mut orders = Vec::new();
    for accept in accepts {
        orders.push(accept.await.expect("accept"));
    }
    change
        .await
        .expect("change")
        .assert_redirect("/admin/commission");

    for order_id in &orders {
        let (bps, commission, price) = snapshot(&app, *order_id).await;
        assert!(bps == 1_000 || bps == 725, "order {order_id}: {bps}");
        let expected = dhune::domain::money::Money::from_paisa(price)
            .commission(bps)
            .paisa();
        assert_eq!(commission, expected, "order {order_id}");
    }
    assert_eq!(orders.len(), 10);
    // Once the change is made, every new order takes it.
    let after = app.order(&customer, &vendor, VENDOR, "100").await;
    assert_eq!(snapshot(&app, after).await, (725, 725, 10_000));
    for order_id in orders.iter().take(3) {
        for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
            vendor.move_order(*order_id, step).await;
        }
        let (_, commission, _) = snapshot(&app, *order_id).await;
        assert_eq!(commission_posted(&app, *order_id).await, commission);
    }
    app.assert_books_balance().await;
}
