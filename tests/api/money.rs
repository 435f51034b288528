//! Payments and refunds as users meet them (issue 11): cash on delivery,
//! the online flow through the sandbox provider, refunds, and the sweeps,
//! with `dhune ledger check` after each test that moves money.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::helpers::TestApp;

const VENDOR: &str = "v@example.com";

async fn count(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_cash_is_collected_when_the_order_completes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app.delivered(&customer, &vendor, VENDOR, "1234.56").await;

    let (method, status, amount): (String, String, i64) =
        sqlx::query_as("SELECT method, status, amount_paisa FROM payments WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (method.as_str(), status.as_str(), amount),
        ("cod", "SUCCEEDED", 123_456)
    );
    // The laundry holds the cash and owes the platform its 10% commission.
    let entries: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.account, e.amount_paisa FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
         JOIN payments p ON p.id = t.source_id AND t.kind = 'capture'
         WHERE p.order_id = $1 ORDER BY e.account",
    )
    .bind(order_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let vendor_id: i64 = count(&app, "SELECT vendor_id FROM orders WHERE id = $1", order_id).await;
    assert_eq!(
        entries,
        vec![
            ("platform:commission".to_owned(), -12_346),
            (format!("vendor:{vendor_id}:payable"), 12_346),
        ]
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_the_auto_complete_sweep_collects_cash_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app.order(&customer, &vendor, VENDOR, "500").await;
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(order_id, step).await;
    }
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                dhune::market::sweeps::auto_complete_orders(&pool, time::Duration::ZERO).await
            })
        })
        .collect();
    let mut completed = 0;
    for sweep in sweeps {
        completed += sweep.await.unwrap().unwrap();
    }
    assert_eq!(completed, 1);
    let sql = "SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'SUCCEEDED'";
    assert_eq!(count(&app, sql, order_id).await, 1);
    assert_eq!(
        count(&app, "SELECT count(*) FROM ledger_transactions", 0).await,
        1
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_the_accept_step_asks_how_to_pay(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "700").await;
    let offer_id = app.offer_id(request_id, VENDOR).await;

    let confirm = customer.get(&format!("/offers/{offer_id}/accept")).await;
    assert!(
        confirm.body.contains("How will you pay?"),
        "{}",
        confirm.body
    );
    assert!(
        confirm
            .body
            .contains("Online now with Sandbox (test payments)")
    );
    assert!(confirm.body.contains(r#"value="cod""#));

    let refused = customer.accept_paying(offer_id, "bitcoin").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("Choose how you will pay"),
        "{}",
        refused.body
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM orders WHERE request_id = $1",
            request_id
        )
        .await,
        0
    );

    let accepted = customer.accept_paying(offer_id, "online").await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
    let method: String =
        sqlx::query_scalar("SELECT payment_method FROM orders WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(method, "online");

    // Without the field the order is paid in cash (DESIGN.md).
    let other = app.order(&customer, &vendor, VENDOR, "300").await;
    let method: String = sqlx::query_scalar("SELECT payment_method FROM orders WHERE id = $1")
        .bind(other)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(method, "cod");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_an_unpaid_online_order_cannot_be_picked_up(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app
        .order_paying(&customer, &vendor, VENDOR, "450", "online")
        .await;

    let page = vendor.get(&format!("/orders/{order_id}")).await;
    assert!(!page.body.contains(r#"value="PICKED_UP""#), "{}", page.body);
    let refused = vendor
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "PICKED_UP".into())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("Waiting for the customer"),
        "{}",
        refused.body
    );
    assert_eq!(app.status_of("orders", order_id).await, "CREATED");

    // Switched to cash, the laundry may pick it up.
    customer
        .post(
            &format!("/orders/{order_id}/payment-method"),
            &[("payment_method", "cod".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    vendor.move_order(order_id, "PICKED_UP").await;
    // Once picked up, the method stays.
    let late = customer
        .post(
            &format!("/orders/{order_id}/payment-method"),
            &[("payment_method", "online".into())],
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_a_partial_dispute_on_a_cash_order_is_given_back_by_hand(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let order_id = app.order(&customer, &vendor, VENDOR, "1000").await;
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(order_id, step).await;
    }
    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "Two shirts came back torn.".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let dispute_id: i64 = count(
        &app,
        "SELECT id FROM disputes WHERE order_id = $1",
        order_id,
    )
    .await;

    let bad = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("refund_amount", "0".into()),
                ("note", "Half".into()),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    // The order page again, with what the admin typed and the error by its
    // field.
    assert!(
        bad.body.contains(r#"value="partial" checked"#),
        "{}",
        bad.body
    );
    assert!(bad.body.contains(r#"name="refund_amount" inputmode="decimal" autocomplete="off" value="0" aria-invalid="true""#));
    assert!(bad.body.contains(r#"id="resolve-amount-error""#));
    assert!(bad.body.contains(">Half</textarea>"));
    let no_outcome = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[("refund_amount", "".into()), ("note", "Undecided".into())],
        )
        .await;
    assert_eq!(no_outcome.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_outcome.body.contains(r#"id="resolve-outcome-error""#));
    assert!(no_outcome.body.contains(">Undecided</textarea>"));
    let too_much = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("refund_amount", "1000.01".into()),
                ("note", "More".into()),
            ],
        )
        .await;
    assert_eq!(
        too_much.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_much.body
    );
    assert_eq!(app.status_of("disputes", dispute_id).await, "OPEN");

    admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("refund_amount", "333.33".into()),
                ("note", "Two shirts of six were torn.".into()),
            ],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "COMPLETED");
    let (refund_id, status, amount): (i64, String, i64) = sqlx::query_as(
        "SELECT r.id, r.status, r.amount_paisa FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE p.order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), amount), ("MANUAL_ACTION_NEEDED", 33_333));
    app.assert_books_balance().await;

    let blank = admin
        .post(
            &format!("/admin/refunds/{refund_id}/done"),
            &[("reference", " ".into())],
        )
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    admin
        .post(
            &format!("/admin/refunds/{refund_id}/done"),
            &[("reference", "Cash handed back 26 Nov".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("refunds", refund_id).await, "SUCCEEDED");
    let (status, refunded): (String, i64) =
        sqlx::query_as("SELECT status, refunded_paisa FROM payments WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), refunded), ("PARTIALLY_REFUNDED", 33_333));
    let again = admin
        .post(
            &format!("/admin/refunds/{refund_id}/done"),
            &[("reference", "again".into())],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let audit = count(
        &app,
        "SELECT count(*) FROM audit_log WHERE action = 'refund.done' AND target_id = $1",
        refund_id,
    )
    .await;
    assert_eq!(audit, 1);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_unpaid_online_orders_are_cancelled_once_by_racing_sweeps(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let mut unpaid = Vec::new();
    for _ in 0..5 {
        unpaid.push(
            app.order_paying(&customer, &vendor, VENDOR, "200", "online")
                .await,
        );
    }
    let recent = app
        .order_paying(&customer, &vendor, VENDOR, "200", "online")
        .await;
    let cash = app.order(&customer, &vendor, VENDOR, "200").await;
    sqlx::query(
        "UPDATE orders SET created_at = now() - interval '25 hours' WHERE id = ANY($1) OR id = $2",
    )
    .bind(&unpaid)
    .bind(cash)
    .execute(&app.pool)
    .await
    .unwrap();

    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                dhune::market::sweeps::cancel_unpaid_orders(&pool, time::Duration::hours(24)).await
            })
        })
        .collect();
    let mut cancelled = 0;
    for sweep in sweeps {
        cancelled += sweep.await.unwrap().unwrap();
    }
    assert_eq!(cancelled, 5);
    for id in &unpaid {
        assert_eq!(app.status_of("orders", *id).await, "CANCELLED");
        let events = count(
            &app,
            "SELECT count(*) FROM events WHERE kind = 'order_cancelled' AND order_id = $1",
            *id,
        )
        .await;
        assert_eq!(events, 1);
    }
    assert_eq!(app.status_of("orders", recent).await, "CREATED");
    assert_eq!(app.status_of("orders", cash).await, "CREATED");
    let titles = app.notification_titles("c@example.com").await;
    assert!(
        titles.iter().any(|t| t.contains("Dhune cancelled order")),
        "{titles:?}"
    );
}

// --- Online, through the sandbox provider ----------------------------------

use dhune::config::SANDBOX_SECRET;
use dhune::gateways::payments::signature;

use crate::helpers::{Browser, Page};

/// The local path of an absolute URL on the app.
fn local(app: &TestApp, url: &str) -> String {
    let base = format!("http://{}", app.addr);
    url.strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not on {base}"))
        .to_owned()
}

/// The customer presses Pay on the order page: the sandbox's page path.
async fn start_paying(app: &TestApp, customer: &Browser, order_id: i64) -> String {
    let page = customer.post(&format!("/orders/{order_id}/pay"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    local(app, page.location().expect("location"))
}

/// On the sandbox page, presses `action` with `choices`: the path the
/// provider sends the browser back to.
async fn press(
    app: &TestApp,
    customer: &Browser,
    sandbox: &str,
    action: &str,
    choices: &[(&str, &str)],
) -> String {
    let mut fields = vec![("action", action.to_owned())];
    fields.extend(choices.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let page = customer.post_raw(sandbox, &fields, &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    local(app, page.location().expect("location"))
}

/// An online order of `price` rupees: (customer, vendor, admin, order id).
async fn online_order(app: &TestApp, price: &str) -> (Browser, Browser, Browser, i64) {
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let order_id = app
        .order_paying(&customer, &vendor, VENDOR, price, "online")
        .await;
    (customer, vendor, admin, order_id)
}

/// Pays an order through the sandbox with no callback and comes back.
async fn pay(app: &TestApp, customer: &Browser, order_id: i64) -> Page {
    let sandbox = start_paying(app, customer, order_id).await;
    let back = press(app, customer, &sandbox, "pay", &[("callback", "none")]).await;
    customer.get(&back).await
}

async fn payment_of(app: &TestApp, order_id: i64) -> (i64, String, String) {
    sqlx::query_as(
        "SELECT id, reference, status FROM payments WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .expect("payment")
}

/// Ledger transactions and `kind` events of an order's payments.
async fn moved(app: &TestApp, order_id: i64, kind: &str) -> (i64, i64) {
    let transactions = count(
        app,
        "SELECT count(*) FROM ledger_transactions t WHERE
           (t.kind = 'capture' AND t.source_id IN (SELECT id FROM payments WHERE order_id = $1))
           OR (t.kind = 'refund' AND t.source_id IN (SELECT r.id FROM refunds r
               JOIN payments p ON p.id = r.payment_id WHERE p.order_id = $1))",
        order_id,
    )
    .await;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE order_id = $1 AND kind = $2")
            .bind(order_id)
            .bind(kind)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    (transactions, events)
}

/// A callback as the sandbox signs it.
fn signed_callback(body: &serde_json::Value, secret: &str, t: i64) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(body).unwrap();
    let header = signature::sign(secret.as_bytes(), t, &body);
    (body, header)
}

async fn post_callback(app: &TestApp, body: Vec<u8>, header: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("http://{}/payments/callback/sandbox", app.addr))
        .header("content-type", "application/json")
        .header("Dhune-Signature", header)
        .body(body)
        .send()
        .await
        .expect("callback")
        .status()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_browser_without_javascript_pays_through_the_sandbox(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, _admin, order_id) = online_order(&app, "850.50").await;

    let sandbox = start_paying(&app, &customer, order_id).await;
    assert!(sandbox.starts_with("/sandbox/pay/"), "{sandbox}");
    let page = customer.get(&sandbox).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Rs 850.50"), "{}", page.body);
    let back = press(&app, &customer, &sandbox, "pay", &[("callback", "none")]).await;
    assert!(back.starts_with("/payments/"), "{back}");
    let landed = customer.get(&back).await;
    landed.assert_redirect(&format!("/orders/{order_id}"));
    let order = customer.get(&format!("/orders/{order_id}")).await;
    assert!(
        order.body.contains("your payment is received"),
        "{}",
        order.body
    );

    let (_, _, status) = payment_of(&app, order_id).await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(moved(&app, order_id, "payment_succeeded").await, (1, 1));
    // Paid, the laundry may pick it up now.
    vendor.move_order(order_id, "PICKED_UP").await;
    let titles = app.notification_titles(VENDOR).await;
    assert!(
        titles
            .iter()
            .any(|t| t == &format!("Payment of Rs 850.50 received for order #{order_id}")),
        "{titles:?}"
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_cancelled_or_abandoned_payment_can_be_tried_again(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, _admin, order_id) = online_order(&app, "400").await;
    let sandbox = start_paying(&app, &customer, order_id).await;
    // Pressing Pay again while the first is open goes back to the same page.
    assert_eq!(start_paying(&app, &customer, order_id).await, sandbox);
    let back = press(&app, &customer, &sandbox, "cancel", &[("callback", "none")]).await;
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (first, _, status) = payment_of(&app, order_id).await;
    assert_eq!(status, "CANCELLED");
    assert_eq!(moved(&app, order_id, "payment_failed").await, (0, 1));

    let landed = pay(&app, &customer, order_id).await;
    landed.assert_redirect(&format!("/orders/{order_id}"));
    let (second, _, status) = payment_of(&app, order_id).await;
    assert_ne!(first, second);
    assert_eq!(status, "SUCCEEDED");
    let again = customer.post(&format!("/orders/{order_id}/pay"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_callbacks_twice_before_the_return_and_late_move_money_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, _admin, order_id) = online_order(&app, "600").await;

    // Twice, then the browser: one capture, one event.
    let sandbox = start_paying(&app, &customer, order_id).await;
    let back = press(&app, &customer, &sandbox, "pay", &[("callback", "twice")]).await;
    for _ in 0..100 {
        if payment_of(&app, order_id).await.2 == "SUCCEEDED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (payment_id, _, status) = payment_of(&app, order_id).await;
    assert_eq!(status, "SUCCEEDED");
    let callbacks = count(
        &app,
        "SELECT count(*) FROM payment_events WHERE payment_id = $1 AND kind = 'callback'",
        payment_id,
    )
    .await;
    assert_eq!(callbacks, 2);
    assert_eq!(moved(&app, order_id, "payment_succeeded").await, (1, 1));

    // Before the browser returns: paid by the time the browser is back.
    let other = app
        .order_paying(
            &customer,
            &app.vendor("w@example.com").await,
            "w@example.com",
            "700",
            "online",
        )
        .await;
    let sandbox = start_paying(&app, &customer, other).await;
    let back = press(&app, &customer, &sandbox, "pay", &[("callback", "before")]).await;
    assert_eq!(payment_of(&app, other).await.2, "SUCCEEDED");
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{other}"));
    assert_eq!(moved(&app, other, "payment_succeeded").await, (1, 1));

    // Late: left pending, expired by the sweep at the provider's expiry,
    // then paid after all; the callback records it once.
    let late = app
        .order_paying(
            &customer,
            &app.vendor("x@example.com").await,
            "x@example.com",
            "800",
            "online",
        )
        .await;
    let sandbox = start_paying(&app, &customer, late).await;
    press(
        &app,
        &customer,
        &sandbox,
        "pending",
        &[("callback", "none")],
    )
    .await;
    let (late_payment, _, _) = payment_of(&app, late).await;
    sqlx::query("UPDATE payments SET expires_at = now() - interval '1 minute', updated_at = now() - interval '1 hour' WHERE id = $1")
        .bind(late_payment)
        .execute(&app.pool)
        .await
        .unwrap();
    let gateway = dhune::gateways::payments::build(&app_config(&app)).unwrap();
    let changed =
        dhune::market::payments::recheck_pending(&app.pool, &*gateway, time::Duration::minutes(2))
            .await
            .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(app.status_of("payments", late_payment).await, "EXPIRED");
    assert_eq!(moved(&app, late, "payment_failed").await, (0, 1));
    press(&app, &customer, &sandbox, "pay", &[("callback", "before")]).await;
    assert_eq!(app.status_of("payments", late_payment).await, "SUCCEEDED");
    assert_eq!(moved(&app, late, "payment_succeeded").await, (1, 1));
    app.assert_books_balance().await;
}

fn app_config(app: &TestApp) -> dhune::Config {
    let mut config = dhune::Config::for_tests();
    config.public_url = format!("http://{}", app.addr);
    config
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_twenty_returns_and_callbacks_at_once_capture_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, _admin, order_id) = online_order(&app, "999.99").await;
    let sandbox = start_paying(&app, &customer, order_id).await;
    let back = press(&app, &customer, &sandbox, "pay", &[("callback", "none")]).await;
    let (_, reference, _) = payment_of(&app, order_id).await;
    let pidx = sandbox.trim_start_matches("/sandbox/pay/").to_owned();
    let body = serde_json::json!({
        "reference": reference, "pidx": pidx, "status": "Completed",
        "amount_paisa": 99_999, "transaction_id": "T-1",
    });
    let (body, header) = signed_callback(&body, SANDBOX_SECRET, now());

    let mut tasks = Vec::new();
    for n in 0..20 {
        let (app_addr, body, header, back) = (app.addr, body.clone(), header.clone(), back.clone());
        let customer = customer.clone();
        tasks.push(tokio::spawn(async move {
            if n % 2 == 0 {
                let status = reqwest::Client::new()
                    .post(format!("http://{app_addr}/payments/callback/sandbox"))
                    .header("Dhune-Signature", header)
                    .body(body)
                    .send()
                    .await
                    .expect("callback")
                    .status();
                assert_eq!(status, StatusCode::OK);
            } else {
                let page = customer.get(&back).await;
                assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(payment_of(&app, order_id).await.2, "SUCCEEDED");
    assert_eq!(moved(&app, order_id, "payment_succeeded").await, (1, 1));
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_forged_or_wrong_confirmations_are_refused_and_change_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, _admin, order_id) = online_order(&app, "500").await;
    let sandbox = start_paying(&app, &customer, order_id).await;
    let back = press(&app, &customer, &sandbox, "pay", &[("callback", "none")]).await;
    let (payment_id, reference, _) = payment_of(&app, order_id).await;
    let pidx = sandbox.trim_start_matches("/sandbox/pay/").to_owned();
    let body = |reference: &str, amount: i64| {
        serde_json::json!({
            "reference": reference, "pidx": pidx, "status": "Completed",
            "amount_paisa": amount, "transaction_id": "T-1",
        })
    };
    let events_before = count(
        &app,
        "SELECT count(*) FROM payment_events WHERE payment_id = $1",
        payment_id,
    )
    .await;

    let cases = [
        (
            "wrong secret",
            signed_callback(&body(&reference, 50_000), "not-the-secret", now()),
        ),
        (
            "stale",
            signed_callback(&body(&reference, 50_000), SANDBOX_SECRET, now() - 301),
        ),
        (
            "unknown reference",
            signed_callback(&body("DH-999-nothing", 50_000), SANDBOX_SECRET, now()),
        ),
        (
            "tampered amount",
            signed_callback(&body(&reference, 5_000), SANDBOX_SECRET, now()),
        ),
    ];
    for (what, (body, header)) in cases {
        assert_eq!(
            post_callback(&app, body, &header).await,
            StatusCode::BAD_REQUEST,
            "{what}"
        );
    }
    // The browser's return with its amount changed no longer verifies.
    let tampered = back.replace("amount_paisa=50000", "amount_paisa=5000");
    assert_ne!(tampered, back);
    let refused = customer.get(&tampered).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    // Another payment's return path with this return's parameters.
    let elsewhere = back.replacen(
        &format!("/payments/{payment_id}/"),
        &format!("/payments/{}/", payment_id + 1),
        1,
    );
    assert_eq!(customer.get(&elsewhere).await.status, StatusCode::NOT_FOUND);

    assert_eq!(app.status_of("payments", payment_id).await, "PENDING");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM payment_events WHERE payment_id = $1",
            payment_id
        )
        .await,
        events_before
    );
    assert_eq!(moved(&app, order_id, "payment_succeeded").await, (0, 0));
    // The real return still works afterwards.
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("payments", payment_id).await, "SUCCEEDED");
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_paid_order_cancelled_is_refunded_in_full(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, _admin, order_id) = online_order(&app, "720").await;
    pay(&app, &customer, order_id)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    customer
        .post(
            &format!("/orders/{order_id}/cancel"),
            &[("reason", "Plans changed".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (payment_id, _, status) = payment_of(&app, order_id).await;
    assert_eq!(status, "REFUNDED");
    let refund: (String, i64) =
        sqlx::query_as("SELECT status, amount_paisa FROM refunds WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(refund, ("SUCCEEDED".to_owned(), 72_000));
    assert_eq!(moved(&app, order_id, "payment_refunded").await, (2, 1));
    let titles = app.notification_titles("c@example.com").await;
    assert!(
        titles.iter().any(|t| t.contains("Rs 720.00 refunded")),
        "{titles:?}"
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_partial_refunds_add_up_to_the_paisa_and_never_exceed_the_payment(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, admin, order_id) = online_order(&app, "1000.01").await;
    pay(&app, &customer, order_id)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (payment_id, _, _) = payment_of(&app, order_id).await;
    let refund = |amount: &str| {
        let admin = admin.clone();
        let amount = amount.to_owned();
        async move {
            admin
                .post(
                    &format!("/admin/payments/{payment_id}/refund"),
                    &[("amount", amount), ("reason", "Goodwill".into())],
                )
                .await
        }
    };
    refund("333.33")
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    refund("333.33")
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(
        app.status_of("payments", payment_id).await,
        "PARTIALLY_REFUNDED"
    );
    let over = refund("333.36").await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        over.body
    );
    assert!(
        over.body.contains("At most Rs 333.35 is left to refund"),
        "{}",
        over.body
    );
    // Refused on the same form, with what was typed kept.
    assert!(
        over.body.contains(r#"value="333.36" aria-invalid="true""#),
        "{}",
        over.body
    );
    assert!(over.body.contains(">Goodwill</textarea>"), "{}", over.body);
    let blank = admin
        .post(
            &format!("/admin/payments/{payment_id}/refund"),
            &[("amount", "1".into()), ("reason", "".into())],
        )
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    refund("333.35")
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (status, refunded): (String, i64) =
        sqlx::query_as("SELECT status, refunded_paisa FROM payments WHERE id = $1")
            .bind(payment_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), refunded), ("REFUNDED", 100_001));
    // Commission: the rate on what the customer finally paid, which is 0.
    let commission: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(amount_paisa), 0)::bigint FROM ledger_entries WHERE account = 'platform:commission'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(commission, 0);
    let audit = count(
        &app,
        "SELECT count(*) FROM audit_log WHERE action = 'payment.refund' AND target_id = $1",
        payment_id,
    )
    .await;
    assert_eq!(audit, 3);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_racing_refunds_never_exceed_the_capture(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, admin, order_id) = online_order(&app, "1000").await;
    pay(&app, &customer, order_id)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (payment_id, _, _) = payment_of(&app, order_id).await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let admin = admin.clone();
            tokio::spawn(async move {
                admin
                    .post(
                        &format!("/admin/payments/{payment_id}/refund"),
                        &[("amount", "150".into()), ("reason", "Race".into())],
                    )
                    .await
                    .status
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        let status = task.await.unwrap();
        assert!(
            status == StatusCode::SEE_OTHER || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{status}"
        );
        done += usize::from(status == StatusCode::SEE_OTHER);
    }
    assert_eq!(done, 6);
    let refunded: i64 = sqlx::query_scalar("SELECT refunded_paisa FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(refunded, 90_000);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_refund_the_provider_refuses_stays_failed_until_retried(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, admin, order_id) = online_order(&app, "500").await;
    let sandbox = start_paying(&app, &customer, order_id).await;
    let back = press(
        &app,
        &customer,
        &sandbox,
        "pay",
        &[("callback", "none"), ("failing_refunds", "on")],
    )
    .await;
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (payment_id, _, _) = payment_of(&app, order_id).await;
    admin
        .post(
            &format!("/admin/payments/{payment_id}/refund"),
            &[("amount", "200".into()), ("reason", "Late".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let refund_id: i64 = count(
        &app,
        "SELECT id FROM refunds WHERE payment_id = $1",
        payment_id,
    )
    .await;
    assert_eq!(app.status_of("refunds", refund_id).await, "FAILED");
    assert_eq!(app.status_of("payments", payment_id).await, "SUCCEEDED");
    app.assert_books_balance().await;

    customer
        .post_raw(
            &format!("{sandbox}/refunds-mode"),
            &[("failing_refunds", "off".into())],
            &[],
        )
        .await;
    admin
        .post(&format!("/admin/refunds/{refund_id}/retry"), &[])
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("refunds", refund_id).await, "SUCCEEDED");
    assert_eq!(
        app.status_of("payments", payment_id).await,
        "PARTIALLY_REFUNDED"
    );
    let again = admin
        .post(&format!("/admin/refunds/{refund_id}/retry"), &[])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_partial_dispute_refunds_that_part_and_completes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, admin, order_id) = online_order(&app, "900").await;
    pay(&app, &customer, order_id)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING"] {
        vendor.move_order(order_id, step).await;
    }
    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "A sock is missing".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let dispute_id: i64 = count(
        &app,
        "SELECT id FROM disputes WHERE order_id = $1",
        order_id,
    )
    .await;
    admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[
                ("outcome", "partial".into()),
                ("refund_amount", "100.50".into()),
                ("note", "One sock".into()),
            ],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "COMPLETED");
    let (payment_id, _, status) = payment_of(&app, order_id).await;
    assert_eq!(status, "PARTIALLY_REFUNDED");
    let refunded: i64 = sqlx::query_scalar("SELECT refunded_paisa FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(refunded, 10_050);
    let outcome: (String, i64) =
        sqlx::query_as("SELECT outcome, refund_paisa FROM disputes WHERE id = $1")
            .bind(dispute_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(outcome, ("PARTIAL".to_owned(), 10_050));
    // An online order completing collects no cash.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM payments WHERE order_id = $1",
            order_id
        )
        .await,
        1
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_cancel_racing_the_payment_ends_refunded(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    for round in 0..6 {
        let order_id = app
            .order_paying(&customer, &vendor, VENDOR, "300", "online")
            .await;
        let sandbox = start_paying(&app, &customer, order_id).await;
        let back = press(&app, &customer, &sandbox, "pay", &[("callback", "none")]).await;
        let (c1, c2) = (customer.clone(), customer.clone());
        let returning = tokio::spawn(async move { c1.get(&back).await.status });
        let cancelling = tokio::spawn(async move {
            c2.post(
                &format!("/orders/{order_id}/cancel"),
                &[("reason", "Changed my mind".into())],
            )
            .await
            .status
        });
        assert_eq!(
            returning.await.unwrap(),
            StatusCode::SEE_OTHER,
            "round {round}"
        );
        assert_eq!(
            cancelling.await.unwrap(),
            StatusCode::SEE_OTHER,
            "round {round}"
        );
        assert_eq!(app.status_of("orders", order_id).await, "CANCELLED");
        // Paid before or after the cancel, the money went back.
        assert_eq!(
            payment_of(&app, order_id).await.2,
            "REFUNDED",
            "round {round}"
        );
        assert_eq!(
            moved(&app, order_id, "payment_refunded").await,
            (2, 1),
            "round {round}"
        );
    }
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_the_unpaid_sweep_racing_a_late_payment_leaves_no_money_behind(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let mut returns = Vec::new();
    for _ in 0..8 {
        let order_id = app
            .order_paying(&customer, &vendor, VENDOR, "250", "online")
            .await;
        let sandbox = start_paying(&app, &customer, order_id).await;
        let back = press(&app, &customer, &sandbox, "pay", &[("callback", "none")]).await;
        returns.push((order_id, back));
    }
    sqlx::query("UPDATE orders SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    // Each browser comes back while two sweepers cancel unpaid orders.
    let mut tasks = Vec::new();
    for (_, back) in &returns {
        let (customer, back) = (customer.clone(), back.clone());
        tasks.push(tokio::spawn(async move {
            assert_eq!(customer.get(&back).await.status, StatusCode::SEE_OTHER);
        }));
    }
    for _ in 0..2 {
        let pool = app.pool.clone();
        tasks.push(tokio::spawn(async move {
            dhune::market::sweeps::cancel_unpaid_orders(&pool, time::Duration::hours(24))
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for (order_id, _) in &returns {
        let order = app.status_of("orders", *order_id).await;
        let payment = payment_of(&app, *order_id).await.2;
        // Paid first: the sweep leaves it. Cancelled first: the late
        // payment is captured and given back at once.
        match order.as_str() {
            "CREATED" => assert_eq!(payment, "SUCCEEDED"),
            "CANCELLED" => {
                assert_eq!(payment, "REFUNDED");
                assert_eq!(moved(&app, *order_id, "payment_refunded").await, (2, 1));
            }
            other => panic!("order {order_id} is {other}"),
        }
        assert_eq!(moved(&app, *order_id, "payment_succeeded").await.1, 1);
    }
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_esewa_payments_start_on_a_page_with_the_signed_form_and_a_button(pool: PgPool) {
    let mut config = dhune::Config::for_tests();
    config.payments.provider = dhune::gateways::payments::Provider::Esewa;
    let app = TestApp::spawn_with(pool, config).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let order_id = app
        .order_paying(&customer, &vendor, VENDOR, "110", "online")
        .await;
    let order = customer.get(&format!("/orders/{order_id}")).await;
    assert!(
        order.body.contains("Pay Rs 110.00 with eSewa"),
        "{}",
        order.body
    );

    let page = customer.post(&format!("/orders/{order_id}/pay"), &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(r#"action="https://rc-epay.esewa.com.np/api/epay/main/v2/form""#),
        "{}",
        page.body
    );
    for field in [
        r#"name="total_amount" value="110""#,
        r#"name="product_code" value="EPAYTEST""#,
        r#"name="signed_field_names" value="total_amount,transaction_uuid,product_code""#,
        r#"name="signature""#,
        r#"<button class="primary" type="submit">Continue to eSewa</button>"#,
    ] {
        assert!(page.body.contains(field), "{field} in {}", page.body);
    }
    let (_, reference, status) = payment_of(&app, order_id).await;
    assert_eq!(status, "PENDING");
    assert!(
        page.body
            .contains(&format!(r#"name="transaction_uuid" value="{reference}""#))
    );
    // eSewa sends no callbacks Dhune takes.
    let (body, header) = signed_callback(&serde_json::json!({}), SANDBOX_SECRET, now());
    assert_eq!(
        reqwest::Client::new()
            .post(format!("http://{}/payments/callback/esewa", app.addr))
            .header("Dhune-Signature", header)
            .body(body)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_online_a_payment_the_provider_never_started_does_not_block_paying(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, _admin, order_id) = online_order(&app, "300").await;
    // Dhune stopped after writing the payment and before the provider
    // answered the start, eleven minutes ago.
    let stuck: i64 = sqlx::query_scalar(
        "INSERT INTO payments (order_id, method, provider, amount_paisa, reference, created_at)
         VALUES ($1, 'online', 'sandbox', 30000, 'DH-stuck-1', now() - interval '11 minutes')
         RETURNING id",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let sandbox = start_paying(&app, &customer, order_id).await;
    assert!(sandbox.starts_with("/sandbox/pay/"), "{sandbox}");
    assert_eq!(app.status_of("payments", stuck).await, "FAILED");
    assert_eq!(moved(&app, order_id, "payment_failed").await, (0, 1));
    let back = press(&app, &customer, &sandbox, "pay", &[("callback", "none")]).await;
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(payment_of(&app, order_id).await.2, "SUCCEEDED");
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn money_a_refund_form_sent_twice_refunds_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, admin, order_id) = online_order(&app, "1000").await;
    pay(&app, &customer, order_id)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let (payment_id, _, _) = payment_of(&app, order_id).await;
    // The form carries its own key; each drawing of the page a new one.
    let page = admin.get(&format!("/orders/{order_id}")).await.body;
    let key_of = |body: &str| -> String {
        let at = body.find(r#"name="key" value=""#).expect("key field") + 18;
        body[at..at + 32].to_owned()
    };
    let key = key_of(&page);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    assert_ne!(
        key_of(&admin.get(&format!("/orders/{order_id}")).await.body),
        key
    );

    // A double click: the same form, at once, many times.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (admin, key) = (admin.clone(), key.clone());
            tokio::spawn(async move {
                admin
                    .post(
                        &format!("/admin/payments/{payment_id}/refund"),
                        &[
                            ("amount", "100".into()),
                            ("reason", "Double click".into()),
                            ("key", key),
                        ],
                    )
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::SEE_OTHER);
    }
    let refunds = count(
        &app,
        "SELECT count(*) FROM refunds WHERE payment_id = $1",
        payment_id,
    )
    .await;
    assert_eq!(refunds, 1, "one refund for one form");
    // Sent again later: still the one refund.
    admin
        .post(
            &format!("/admin/payments/{payment_id}/refund"),
            &[
                ("amount", "100".into()),
                ("reason", "Double click".into()),
                ("key", key.clone()),
            ],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    // Another form (another key) is another refund.
    let other = key_of(&admin.get(&format!("/orders/{order_id}")).await.body);
    admin
        .post(
            &format!("/admin/payments/{payment_id}/refund"),
            &[
                ("amount", "50".into()),
                ("reason", "Second thought".into()),
                ("key", other),
            ],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let refunded: i64 = sqlx::query_scalar("SELECT refunded_paisa FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(refunded, 15_000);
    app.assert_books_balance().await;
}
