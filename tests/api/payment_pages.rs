//! The read side of payments: the order page's payment section for each
//! side, and the admin's payments list (filters, totals) and payment page.
//! Payments, their events and refunds are written here with SQL, as the
//! payment operations would leave them; the ledger is left empty.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp};

/// The text of a `data-figure` of the payment section (tags removed).
fn figure(body: &str, name: &str) -> String {
    let start = format!(r#"data-figure="{name}">"#);
    let at = body
        .find(&start)
        .unwrap_or_else(|| panic!("no figure {name}"))
        + start.len();
    let end = at + body[at..].find("</dd>").expect("end of figure");
    let mut text = String::new();
    let mut in_tag = false;
    for c in body[at..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_owned()
}

/// The value of `data-{name}="…"` on the totals row.
fn total(body: &str, name: &str) -> i64 {
    let row = &body[body.find("data-totals").expect("totals row")..];
    let start = format!(r#"data-{name}=""#);
    let at = row.find(&start).expect("total") + start.len();
    row[at..at + row[at..].find('"').expect("quote")]
        .parse()
        .expect("a number")
}

fn rows(body: &str) -> usize {
    body.matches("<tr data-payment-id=").count()
}

async fn sql(app: &TestApp, query: &str) {
    sqlx::query(query).execute(&app.pool).await.expect(query);
}

/// A payment row as the operations would leave it, `age_days` old.
#[allow(clippy::too_many_arguments)]
async fn payment(
    app: &TestApp,
    order_id: i64,
    method: &str,
    status: &str,
    amount: i64,
    refunded: i64,
    reference: &str,
    age_days: i32,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO payments (order_id, method, provider, status, amount_paisa, refunded_paisa,
                               reference, provider_ref, created_at)
         VALUES ($1, $2, CASE WHEN $2 = 'online' THEN 'sandbox' END, $3, $4, $5, $6,
                 CASE WHEN $2 = 'online' THEN 'pidx-' || $6 END, now() - make_interval(days => $7))
         RETURNING id",
    )
    .bind(order_id)
    .bind(method)
    .bind(status)
    .bind(amount)
    .bind(refunded)
    .bind(reference)
    .bind(age_days)
    .fetch_one(&app.pool)
    .await
    .expect("payment")
}

async fn event(app: &TestApp, payment_id: i64, kind: &str) {
    sqlx::query("INSERT INTO payment_events (payment_id, kind, detail) VALUES ($1, $2, '{\"by\": \"test\"}')")
        .bind(payment_id)
        .bind(kind)
        .execute(&app.pool)
        .await
        .expect("event");
}

async fn refund(app: &TestApp, payment_id: i64, amount: i64, status: &str, reason: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO refunds (payment_id, amount_paisa, status, reason) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(payment_id)
    .bind(amount)
    .bind(status)
    .bind(reason)
    .fetch_one(&app.pool)
    .await
    .expect("refund")
}

async fn online(app: &TestApp, order_id: i64) {
    sql(
        app,
        &format!("UPDATE orders SET payment_method = 'online' WHERE id = {order_id}"),
    )
    .await;
}

struct Parties {
    customer: Browser,
    vendor: Browser,
    admin: Browser,
}

async fn parties(app: &TestApp) -> Parties {
    Parties {
        customer: app.customer("c@example.com").await,
        vendor: app.vendor("v@example.com").await,
        admin: app.admin("a@example.com").await,
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn both_sides_see_what_a_partly_refunded_payment_paid_and_gave_back(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let order_id = app
        .order(&p.customer, &p.vendor, "v@example.com", "500")
        .await;
    online(&app, order_id).await;
    let failed = payment(&app, order_id, "online", "FAILED", 50_000, 0, "ref-a", 0).await;
    event(&app, failed, "payment_failed").await;
    let paid = payment(
        &app,
        order_id,
        "online",
        "PARTIALLY_REFUNDED",
        50_000,
        12_050,
        "ref-b",
        0,
    )
    .await;
    event(&app, paid, "initiated").await;
    event(&app, paid, "callback_received").await;
    let done = refund(&app, paid, 12_050, "SUCCEEDED", "Two shirts came back torn").await;
    let refused = refund(&app, paid, 1_000, "FAILED", "Missing sock").await;

    let path = format!("/orders/{order_id}");
    for viewer in [&p.customer, &p.vendor] {
        let page = viewer.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        assert_eq!(figure(body, "method"), "Online — Sandbox (test payments)");
        assert_eq!(figure(body, "due"), "Rs 500.00");
        assert_eq!(figure(body, "paid"), "Rs 500.00");
        assert_eq!(figure(body, "refunded"), "Rs 120.50");
        assert_eq!(figure(body, "owed"), "Rs 0.00");
        // Newest attempt first, each with its status and timeline.
        let newer = body
            .find(&format!(
                r#"data-payment-id="{paid}" data-status="PARTIALLY_REFUNDED""#
            ))
            .expect("the paid attempt");
        let older = body
            .find(&format!(
                r#"data-payment-id="{failed}" data-status="FAILED""#
            ))
            .expect("the failed attempt");
        assert!(newer < older);
        assert!(body.contains("Callback received") && body.contains("<time datetime="));
        assert!(body.contains(&format!(
            r#"data-refund-id="{done}" data-status="SUCCEEDED""#
        )));
        assert!(body.contains(&format!(
            r#"data-refund-id="{refused}" data-status="FAILED""#
        )));
        assert!(body.contains("Two shirts came back torn"));
        // Paid: nothing to pay, no method to switch, no admin actions.
        assert!(!body.contains("/pay\""), "{body}");
        assert!(!body.contains("/payment-method\""));
        assert!(!body.contains("/admin/payments/"));
        assert!(!body.contains("Retry refund"));
        assert!(!body.contains("Waiting for the customer's payment"));
    }

    let admin = p.admin.get(&path).await.body;
    assert!(admin.contains(&format!(
        r#"method="post" action="/admin/payments/{paid}/refund""#
    )));
    assert!(!admin.contains(&format!("/admin/payments/{failed}/refund")));
    // What is left: 500.00 less the 120.50 refunded (the failed one does not count).
    assert!(admin.contains("at most Rs 379.50"));
    assert!(admin.contains(r#"name="amount" type="text" inputmode="decimal""#));
    assert!(admin.contains(&format!(
        r#"method="post" action="/admin/refunds/{refused}/retry""#
    )));
    assert!(!admin.contains(&format!("/admin/refunds/{done}/retry")));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn only_the_customer_of_an_unpaid_online_order_is_asked_to_pay(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let other = app.customer("other@example.com").await;
    let order_id = app
        .order(&p.customer, &p.vendor, "v@example.com", "450.50")
        .await;
    online(&app, order_id).await;
    let path = format!("/orders/{order_id}");
    let pay_form = format!(
        r#"<form id="order-{order_id}-pay" class="inline pay-form" method="post" action="/orders/{order_id}/pay">"#
    );

    let customer = p.customer.get(&path).await.body;
    assert!(customer.contains(&pay_form), "{customer}");
    assert!(customer.contains("Pay Rs 450.50 with Sandbox (test payments)"));
    assert_eq!(figure(&customer, "owed"), "Rs 450.50");
    assert_eq!(figure(&customer, "paid"), "Rs 0.00");
    let switch = &customer[customer
        .find(&format!(r#"action="/orders/{order_id}/payment-method""#))
        .expect("the method form")..];
    assert!(switch.contains(r#"name="payment_method" value="online" checked"#));
    assert!(switch.contains(r#"name="payment_method" value="cod">"#));
    assert!(switch.contains("Change payment method"));

    let vendor = p.vendor.get(&path).await.body;
    assert!(!vendor.contains("/pay\""));
    assert!(!vendor.contains("/payment-method\""));
    assert!(vendor.contains(
        "Waiting for the customer's payment — you can mark it picked up once it is paid."
    ));
    let admin = p.admin.get(&path).await.body;
    assert!(!admin.contains("/pay\"") && !admin.contains("/payment-method\""));

    // Another customer does not learn the order (or its payment) exists.
    assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND);

    // A pending attempt leaves the order unpaid: still payable.
    let pending = payment(&app, order_id, "online", "PENDING", 45_050, 0, "ref-p", 0).await;
    let customer = p.customer.get(&path).await.body;
    assert!(customer.contains(&pay_form));
    assert!(customer.contains(&format!(
        r#"data-payment-id="{pending}" data-status="PENDING""#
    )));

    // Cancelled: nothing owed, nothing to pay.
    sql(
        &app,
        &format!("UPDATE payments SET status = 'CANCELLED' WHERE id = {pending}"),
    )
    .await;
    p.customer
        .post(
            &format!("/orders/{order_id}/cancel"),
            &[("reason", "Plans changed".into())],
        )
        .await
        .assert_redirect(&path);
    let customer = p.customer.get(&path).await.body;
    assert!(!customer.contains(&pay_form));
    assert_eq!(figure(&customer, "owed"), "Rs 0.00");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_cash_order_tells_each_side_about_the_cash(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let order_id = app
        .order(&p.customer, &p.vendor, "v@example.com", "500")
        .await;
    let path = format!("/orders/{order_id}");
    let customer = p.customer.get(&path).await.body;
    assert_eq!(figure(&customer, "method"), "Cash on delivery");
    assert!(customer.contains("Pay the laundry Rs 500.00 in cash on delivery."));
    assert!(!customer.contains("/pay\""));
    assert!(customer.contains(r#"name="payment_method" value="cod" checked"#));
    let vendor = p.vendor.get(&path).await.body;
    assert!(vendor.contains("Collect Rs 500.00 in cash on delivery."));
    assert!(!vendor.contains("Waiting for the customer's payment"));
    assert!(!vendor.contains("Collected in cash"));

    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
        p.vendor.move_order(order_id, step).await;
    }
    // Completing the order records the cash as collected.
    let cash: i64 = sqlx::query_scalar(
        "SELECT id FROM payments WHERE order_id = $1 AND method = 'cod' AND status = 'SUCCEEDED'",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .expect("the cash payment");
    for viewer in [&p.customer, &p.vendor] {
        let body = viewer.get(&path).await.body;
        assert!(body.contains("Collected in cash"), "{body}");
        assert!(!body.contains("in cash on delivery."));
        assert!(!body.contains("/payment-method\""));
        assert_eq!(figure(&body, "paid"), "Rs 500.00");
        assert_eq!(figure(&body, "owed"), "Rs 0.00");
        assert!(body.contains(&format!(
            r#"data-payment-id="{cash}" data-status="SUCCEEDED""#
        )));
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_admin_filters_payments_and_sees_the_totals_of_what_matches(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let rita = app.customer("rita@example.com").await;
    let mut ids = Vec::new();
    for (buyer, price) in [
        (&p.customer, "500"),
        (&p.customer, "300"),
        (&rita, "250.75"),
    ] {
        ids.push(app.order(buyer, &p.vendor, "v@example.com", price).await);
    }
    payment(
        &app,
        ids[0],
        "online",
        "FAILED",
        50_000,
        0,
        "ref-old-fail",
        40,
    )
    .await;
    payment(
        &app,
        ids[0],
        "online",
        "PARTIALLY_REFUNDED",
        50_000,
        10_001,
        "ref-part",
        3,
    )
    .await;
    payment(&app, ids[1], "cod", "SUCCEEDED", 30_000, 0, "cod-two", 0).await;
    payment(
        &app, ids[2], "online", "REFUNDED", 25_075, 25_075, "ref-rita", 10,
    )
    .await;

    let check = |query: &'static str, filter: &'static str| {
        let app = &app;
        let admin = &p.admin;
        async move {
            let body = admin.get(&format!("/admin/payments{query}")).await.body;
            let (count, amount, refunded): (i64, i64, i64) = sqlx::query_as(&format!(
                "SELECT count(*), coalesce(sum(p.amount_paisa), 0)::bigint,
                        coalesce(sum(p.refunded_paisa), 0)::bigint
                 FROM payments p JOIN orders o ON o.id = p.order_id
                      JOIN users c ON c.id = o.customer_id WHERE {filter}"
            ))
            .fetch_one(&app.pool)
            .await
            .expect("sums");
            assert_eq!(rows(&body) as i64, count, "{query}");
            assert_eq!(total(&body, "count"), count, "{query}");
            assert_eq!(total(&body, "amount-paisa"), amount, "{query}");
            assert_eq!(total(&body, "refunded-paisa"), refunded, "{query}");
            assert_eq!(total(&body, "net-paisa"), amount - refunded, "{query}");
            count
        }
    };
    assert_eq!(check("", "true").await, 4);
    assert_eq!(
        check("?status=SUCCEEDED", "p.status = 'SUCCEEDED'").await,
        1
    );
    assert_eq!(check("?status=FAILED", "p.status = 'FAILED'").await, 1);
    assert_eq!(check("?method=cod", "p.method = 'cod'").await, 1);
    assert_eq!(check("?method=online", "p.method = 'online'").await, 3);
    assert_eq!(
        check("?days=7", "p.created_at >= now() - interval '7 days'").await,
        2
    );
    assert_eq!(
        check("?days=30", "p.created_at >= now() - interval '30 days'").await,
        3
    );
    assert_eq!(check("?days=all", "true").await, 4);
    assert_eq!(
        check("?q=rita%40example", "c.email = 'rita@example.com'").await,
        1
    );
    assert_eq!(check("?q=ref-part", "p.reference = 'ref-part'").await, 1);
    assert_eq!(
        check(
            "?q=sparkle&method=online&days=30",
            "p.method = 'online' AND p.created_at >= now() - interval '30 days'"
        )
        .await,
        2
    );
    // Unknown filter values are no filter.
    assert_eq!(check("?status=PAID&method=card&days=9", "true").await, 4);
    // Waiting for an admin: a refund that failed or must be made by hand, or
    // a payment Dhune would not capture.
    let cod = app
        .count("SELECT id FROM payments WHERE reference = 'cod-two'")
        .await;
    let part = app
        .count("SELECT id FROM payments WHERE reference = 'ref-part'")
        .await;
    let failed = app
        .count("SELECT id FROM payments WHERE reference = 'ref-old-fail'")
        .await;
    refund(&app, cod, 5_000, "MANUAL_ACTION_NEEDED", "By hand").await;
    event(&app, failed, "needs_attention").await;
    assert_eq!(
        check("?attention=1", format!("p.id IN ({cod}, {failed})").leak()).await,
        2
    );
    refund(&app, part, 1_000, "FAILED", "Refused").await;
    assert_eq!(
        check(
            "?attention=1&method=online",
            format!("p.id IN ({part}, {failed})").leak()
        )
        .await,
        2
    );
    let form = p.admin.get("/admin/payments?attention=1").await.body;
    assert!(form.contains(r#"name="attention" value="1" checked"#));
    let by_order = p
        .admin
        .get(&format!("/admin/payments?q={}", ids[1]))
        .await
        .body;
    assert!(by_order.contains(r#"data-status="SUCCEEDED""#));
    assert_eq!(rows(&by_order), 1);
    let form = p
        .admin
        .get("/admin/payments?status=REFUNDED&method=online")
        .await
        .body;
    assert!(form.contains(r#"<option value="REFUNDED" selected>"#));
    assert!(form.contains(r#"<option value="online" selected>"#));

    // Pages of 20, the totals over all of them, the filters kept in the links.
    sql(
        &app,
        &format!(
            "INSERT INTO payments (order_id, method, provider, status, amount_paisa, reference)
             SELECT {}, 'online', 'sandbox', 'FAILED', 100 * n, 'bulk-' || n
             FROM generate_series(1, 21) n",
            ids[2]
        ),
    )
    .await;
    let first = p.admin.get("/admin/payments?status=FAILED").await.body;
    assert_eq!(rows(&first), 20);
    assert_eq!(total(&first, "count"), 22);
    assert!(
        first.contains(r#"href="/admin/payments?status=FAILED&#38;page=2" rel="next""#),
        "{first}"
    );
    let second = p
        .admin
        .get("/admin/payments?status=FAILED&page=2")
        .await
        .body;
    assert_eq!(rows(&second), 2);
    assert_eq!(total(&second, "count"), 22);
    assert_eq!(total(&second, "amount-paisa"), 50_000 + 23_100);

    // Linked from the admin's navigation and home.
    let home = p.admin.get("/admin").await.body;
    assert!(home.contains(r#"<a class="button" href="/admin/payments">Payments</a>"#));
    assert!(home.contains(r#"<li><a href="/admin/payments">Payments</a></li>"#));

    for outsider in [&p.customer, &p.vendor] {
        assert_eq!(
            outsider.get("/admin/payments").await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_payment_page_shows_its_order_events_refunds_and_no_ledger_yet(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let order_id = app
        .order(&p.customer, &p.vendor, "v@example.com", "800")
        .await;
    online(&app, order_id).await;
    let id = payment(
        &app,
        order_id,
        "online",
        "SUCCEEDED",
        80_000,
        0,
        "ref-page",
        0,
    )
    .await;
    event(&app, id, "initiated").await;
    event(&app, id, "lookup_completed").await;
    let manual = refund(
        &app,
        id,
        20_000,
        "MANUAL_ACTION_NEEDED",
        "Stain not removed",
    )
    .await;
    let failed = refund(&app, id, 5_000, "FAILED", "Late delivery").await;

    let page = p.admin.get(&format!("/admin/payments/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains(&format!(
        r#"data-payment-id="{id}" data-status="SUCCEEDED""#
    )));
    assert!(body.contains(&format!(r#"<a href="/orders/{order_id}">#{order_id}</a>"#)));
    assert!(body.contains("Sita Sharma") && body.contains("Sparkle Laundry"));
    assert!(body.contains("Lookup completed") && body.contains(r#"<pre class="event-detail">"#));
    assert!(body.contains(&format!(
        r#"data-refund-id="{manual}" data-status="MANUAL_ACTION_NEEDED""#
    )));
    assert!(body.contains("Stain not removed"));
    assert!(body.contains("No ledger transaction yet."));
    assert_eq!(figure(body, "refundable"), "Rs 600.00");
    assert!(body.contains(&format!(r#"action="/admin/payments/{id}/refund""#)));
    assert!(body.contains(&format!(r#"action="/admin/refunds/{failed}/retry""#)));
    let done = &body[body
        .find(&format!(r#"action="/admin/refunds/{manual}/done""#))
        .expect("the manual refund's form")..];
    assert!(done.contains(&format!(
        r#"<label for="refund-reference-{manual}">Transfer reference</label>"#
    )));
    assert!(done.contains(r#"name="reference""#) && done.contains("Mark refunded"));

    assert_eq!(
        p.admin.get("/admin/payments/999999").await.status,
        StatusCode::NOT_FOUND
    );
    for outsider in [&p.customer, &p.vendor] {
        assert_eq!(
            outsider.get(&format!("/admin/payments/{id}")).await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_payment_pages_are_valid_html_with_every_form_on_them(pool: PgPool) {
    let Some(jar) = crate::html_valid::checker() else {
        return;
    };
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let unpaid = app
        .order(&p.customer, &p.vendor, "v@example.com", "450.50")
        .await;
    online(&app, unpaid).await;
    let paid_order = app
        .order(&p.customer, &p.vendor, "v@example.com", "500")
        .await;
    online(&app, paid_order).await;
    let failed = payment(&app, paid_order, "online", "FAILED", 50_000, 0, "ref-f", 0).await;
    event(&app, failed, "payment_failed").await;
    let paid = payment(
        &app,
        paid_order,
        "online",
        "PARTIALLY_REFUNDED",
        50_000,
        10_000,
        "ref-v",
        0,
    )
    .await;
    event(&app, paid, "initiated").await;
    refund(&app, paid, 10_000, "SUCCEEDED", "Torn shirt").await;
    refund(&app, paid, 2_000, "FAILED", "Late").await;
    refund(&app, paid, 3_000, "MANUAL_ACTION_NEEDED", "Lost sock").await;
    let cash = app
        .order(&p.customer, &p.vendor, "v@example.com", "300")
        .await;

    let mut pages = Vec::new();
    for (who, browser) in [
        ("customer", &p.customer),
        ("vendor", &p.vendor),
        ("admin", &p.admin),
    ] {
        for order in [unpaid, paid_order, cash] {
            let path = format!("/orders/{order}");
            let page = browser.get(&path).await;
            assert_eq!(page.status, StatusCode::OK);
            pages.push((format!("{who}: GET {path}"), page.body));
        }
    }
    for path in [
        "/admin/payments".to_owned(),
        "/admin/payments?status=FAILED&method=online&days=7&q=ref".to_owned(),
        format!("/admin/payments/{paid}"),
        format!("/admin/payments/{failed}"),
    ] {
        let page = p.admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        pages.push((format!("admin: GET {path}"), page.body));
    }
    let errors = crate::html_valid::validate(&jar, &pages);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_payment_section_follows_payment_events_live(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let order_id = app
        .order(&p.customer, &p.vendor, "v@example.com", "500")
        .await;
    online(&app, order_id).await;
    let page = p.customer.get(&format!("/orders/{order_id}")).await.body;
    assert!(page.contains("payment_succeeded,payment_failed,payment_refunded\""));
    let mut watching = p.customer.events(None).await;
    let mut admin_watching = p.admin.events(None).await;

    // What the confirm operation leaves: the payment paid, and its event.
    let mut tx = app.pool.begin().await.expect("begin");
    let paid: i64 = sqlx::query_scalar(
        "INSERT INTO payments (order_id, method, provider, status, amount_paisa, reference)
         VALUES ($1, 'online', 'sandbox', 'SUCCEEDED', 50000, 'ref-live') RETURNING id",
    )
    .bind(order_id)
    .fetch_one(&mut *tx)
    .await
    .expect("payment");
    sqlx::query(
        "WITH fence AS (SELECT pg_advisory_xact_lock_shared($2)::text)
         INSERT INTO events (kind, order_id, audience_users)
         SELECT 'payment_succeeded', o.id, ARRAY[o.customer_id, o.vendor_id]
         FROM orders o, fence WHERE o.id = $1",
    )
    .bind(order_id)
    .bind(dhune::market::feed::FENCE)
    .execute(&mut *tx)
    .await
    .expect("event");
    tx.commit().await.expect("commit");

    let mut pushed = watching.next().await;
    while pushed.event != "payment_succeeded" {
        pushed = watching.next().await;
    }
    let data = &pushed.data;
    assert!(
        data.contains(&format!(
            r#"<section id="order-{order_id}-payment" data-hx-swap-oob="true""#
        )),
        "{data}"
    );
    assert!(data.contains(&format!(
        r#"data-payment-id="{paid}" data-status="SUCCEEDED""#
    )));
    assert_eq!(figure(data, "paid"), "Rs 500.00");
    assert_eq!(figure(data, "owed"), "Rs 0.00");
    assert!(!data.contains(&format!("/orders/{order_id}/pay\"")));

    // The admin's copy carries the refund form, kept as typed across updates.
    let mut pushed = admin_watching.next().await;
    while pushed.event != "payment_succeeded" {
        pushed = admin_watching.next().await;
    }
    let data = &pushed.data;
    assert!(
        data.contains(&format!(r#"action="/admin/payments/{paid}/refund""#)),
        "{data}"
    );
    for form in data.split("<form").skip(1) {
        let tag = &form[..form.find('>').expect("tag end")];
        assert!(
            tag.contains(" data-hx-preserve") && tag.contains(&format!(r#"id="order-{order_id}-"#)),
            "{tag}"
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_refund_made_through_the_forms_shows_on_every_page_with_its_ledger(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let order_id = app
        .delivered(&p.customer, &p.vendor, "v@example.com", "500")
        .await;
    let cash: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .expect("the cash payment");
    let order_path = format!("/orders/{order_id}");
    let payment_path = format!("/admin/payments/{cash}");

    // The admin refunds part of it with the form on the order page; paid in
    // cash, it waits for the laundry to hand the money back.
    let admin = p.admin.get(&order_path).await.body;
    let action = format!("/admin/payments/{cash}/refund");
    assert!(admin.contains(&format!(r#"action="{action}""#)));
    p.admin
        .post(
            &action,
            &[
                ("amount", "120.50".into()),
                ("reason", "Two shirts came back torn".into()),
            ],
        )
        .await
        .assert_redirect(&order_path);
    let refund_id: i64 = sqlx::query_scalar("SELECT id FROM refunds WHERE payment_id = $1")
        .bind(cash)
        .fetch_one(&app.pool)
        .await
        .expect("the refund");
    let admin = p.admin.get(&order_path).await.body;
    assert!(admin.contains(&format!(
        r#"data-refund-id="{refund_id}" data-status="MANUAL_ACTION_NEEDED""#
    )));
    let done = format!("/admin/refunds/{refund_id}/done");
    assert!(admin.contains(&format!(r#"action="{done}""#)));
    assert!(admin.contains("at most Rs 379.50"));
    let page = p.admin.get(&payment_path).await.body;
    assert!(page.contains(&format!(r#"action="{done}""#)));
    assert_eq!(
        page.matches("data-ledger-transaction-id=").count(),
        1,
        "the capture only"
    );

    p.admin
        .post(&done, &[("reference", "Cash handed back, slip 42".into())])
        .await
        .assert_redirect(&order_path);
    for viewer in [&p.customer, &p.vendor, &p.admin] {
        let body = viewer.get(&order_path).await.body;
        assert_eq!(figure(&body, "paid"), "Rs 500.00");
        assert_eq!(figure(&body, "refunded"), "Rs 120.50");
        assert_eq!(figure(&body, "owed"), "Rs 0.00");
        assert!(body.contains(&format!(
            r#"data-refund-id="{refund_id}" data-status="SUCCEEDED""#
        )));
        assert!(body.contains(&format!(
            r#"data-payment-id="{cash}" data-status="PARTIALLY_REFUNDED""#
        )));
        assert!(body.contains("Two shirts came back torn"));
        assert!(!body.contains(&format!(r#"action="{done}""#)));
    }

    // The payment's page: the capture and the refund in the ledger, entries
    // as the database holds them.
    let page = p.admin.get(&payment_path).await.body;
    assert!(!page.contains("No ledger transaction yet."));
    let ledger: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT t.id, e.account, e.amount_paisa FROM ledger_transactions t
         JOIN ledger_entries e ON e.transaction_id = t.id
         WHERE (t.kind = 'capture' AND t.source_id = $1) OR (t.kind = 'refund' AND t.source_id = $2)
         ORDER BY e.id",
    )
    .bind(cash)
    .bind(refund_id)
    .fetch_all(&app.pool)
    .await
    .expect("ledger");
    assert!(ledger.len() >= 4, "{ledger:?}");
    assert_eq!(page.matches("data-ledger-transaction-id=").count(), 2);
    for (id, account, amount) in &ledger {
        assert!(page.contains(&format!(r#"data-ledger-transaction-id="{id}""#)));
        let line = format!(
            r#"<code>{account}</code></td><td data-label="Amount" class="num">{}</td>"#,
            dhune::domain::money::Money::from_paisa(*amount)
        );
        assert!(page.contains(&line), "{line}");
    }
    let list = p
        .admin
        .get("/admin/payments?status=PARTIALLY_REFUNDED")
        .await
        .body;
    assert!(list.contains(&format!(
        r#"data-payment-id="{cash}" data-status="PARTIALLY_REFUNDED""#
    )));
    assert_eq!(total(&list, "refunded-paisa"), 12_050);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_online_payment_through_the_sandbox_and_a_refund_show_on_the_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let p = parties(&app).await;
    let order_id = app
        .order_paying(&p.customer, &p.vendor, "v@example.com", "850.50", "online")
        .await;
    let order_path = format!("/orders/{order_id}");
    let base = format!("http://{}", app.addr);

    // The customer presses the Pay button the page shows.
    let page = p.customer.get(&order_path).await.body;
    let action = format!("/orders/{order_id}/pay");
    assert!(page.contains(&format!(r#"action="{action}""#)));
    assert!(page.contains("Pay Rs 850.50 with Sandbox (test payments)"));
    let to_sandbox = p.customer.post(&action, &[]).await;
    assert_eq!(
        to_sandbox.status,
        StatusCode::SEE_OTHER,
        "{}",
        to_sandbox.body
    );
    let sandbox = to_sandbox
        .location()
        .expect("to the sandbox")
        .replace(&base, "");
    let back = p
        .customer
        .post_raw(
            &sandbox,
            &[("action", "pay".into()), ("callback", "none".into())],
            &[],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let back = back.location().expect("back").replace(&base, "");
    p.customer.get(&back).await.assert_redirect(&order_path);

    let paid: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .expect("the payment");
    for viewer in [&p.customer, &p.vendor] {
        let body = viewer.get(&order_path).await.body;
        assert_eq!(figure(&body, "method"), "Online — Sandbox (test payments)");
        assert_eq!(figure(&body, "paid"), "Rs 850.50");
        assert_eq!(figure(&body, "owed"), "Rs 0.00");
        assert!(body.contains(&format!(
            r#"data-payment-id="{paid}" data-status="SUCCEEDED""#
        )));
        assert!(
            body.contains(r#"<li data-kind="initiated"><strong>Payment started</strong>"#),
            "its timeline"
        );
        assert!(body.contains(r#"<li data-kind="succeeded"><strong>Paid</strong>"#));
        assert!(!body.contains(&format!(r#"action="{action}""#)));
        assert!(!body.contains("Waiting for the customer's payment"));
    }

    // The admin refunds part of it from the order page; the sandbox gives it back.
    let refund = format!("/admin/payments/{paid}/refund");
    assert!(
        p.admin
            .get(&order_path)
            .await
            .body
            .contains(&format!(r#"action="{refund}""#))
    );
    p.admin
        .post(
            &refund,
            &[
                ("amount", "100.25".into()),
                ("reason", "A button came off".into()),
            ],
        )
        .await
        .assert_redirect(&order_path);
    let (refund_id, status): (i64, String) =
        sqlx::query_as("SELECT id, status FROM refunds WHERE payment_id = $1")
            .bind(paid)
            .fetch_one(&app.pool)
            .await
            .expect("the refund");
    assert_eq!(status, "SUCCEEDED");
    for viewer in [&p.customer, &p.vendor, &p.admin] {
        let body = viewer.get(&order_path).await.body;
        assert_eq!(figure(&body, "refunded"), "Rs 100.25");
        assert!(body.contains(&format!(
            r#"data-refund-id="{refund_id}" data-status="SUCCEEDED""#
        )));
        assert!(body.contains(&format!(
            r#"data-payment-id="{paid}" data-status="PARTIALLY_REFUNDED""#
        )));
    }
    let list = p
        .admin
        .get("/admin/payments?method=online&status=PARTIALLY_REFUNDED")
        .await
        .body;
    assert_eq!(rows(&list), 1);
    assert_eq!(total(&list, "net-paisa"), 85_050 - 10_025);
    let page = p.admin.get(&format!("/admin/payments/{paid}")).await.body;
    assert_eq!(page.matches("data-ledger-transaction-id=").count(), 2);
    assert!(page.contains(
        r#"<code>provider:sandbox</code></td><td data-label="Amount" class="num">Rs 850.50</td>"#
    ));
    assert!(page.contains(
        r#"<code>provider:sandbox</code></td><td data-label="Amount" class="num">-Rs 100.25</td>"#
    ));
    app.assert_books_balance().await;
}
