//! Admin actions: force-cancel, dispute resolution, suspension; each needs a
//! reason, is refused to others, and leaves an audit row.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp, id_after};

/// An order moved to PICKED_UP, with its customer and vendor.
async fn picked_up_order(app: &TestApp) -> (Browser, Browser, i64) {
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    vendor
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "PICKED_UP".into())],
        )
        .await;
    (customer, vendor, order_id)
}

/// The events about one order, as (kind, actor's email, audience emails).
async fn order_events(app: &TestApp, order_id: i64) -> Vec<(String, String, Vec<String>)> {
    sqlx::query_as(
        "SELECT e.kind, a.email,
                ARRAY(SELECT u.email FROM users u WHERE u.id = ANY(e.audience_users) ORDER BY u.email)
         FROM events e JOIN users a ON a.id = e.actor_id
         WHERE e.order_id = $1 AND e.kind IN ('order_cancelled', 'dispute_resolved')
         ORDER BY e.id",
    )
    .bind(order_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn audit_rows(
    app: &TestApp,
) -> Vec<(String, String, i64, String, Option<String>, Option<String>)> {
    sqlx::query_as("SELECT action, target_type, target_id, reason, before_status, after_status FROM audit_log ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_admin_force_cancels_an_order_with_a_reason_on_record(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, order_id) = picked_up_order(&app).await;
    let admin = app.admin("a@example.com").await;
    let path = format!("/admin/orders/{order_id}/cancel");

    assert_eq!(
        customer
            .post(&path, &[("reason", "please".into())])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refused = admin.post(&path, &[("reason", " ".into())]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-error-summary")
            && refused.body.contains(r##"href="#cancel-reason""##)
            && refused
                .body
                .contains(r#"aria-describedby="cancel-reason-error""#),
        "the refused reason is summed up and linked: {}",
        refused.body
    );
    assert!(audit_rows(&app).await.is_empty());

    admin
        .post(&path, &[("reason", "Laundry closed for good".into())])
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "CANCELLED");
    assert_eq!(
        audit_rows(&app).await,
        [(
            "order.force_cancel".into(),
            "order".into(),
            order_id,
            "Laundry closed for good".into(),
            Some("PICKED_UP".into()),
            Some("CANCELLED".into())
        )]
    );
    let parties = vec!["c@example.com".to_string(), "v@example.com".to_string()];
    assert_eq!(
        order_events(&app, order_id).await,
        [("order_cancelled".into(), "a@example.com".into(), parties)],
        "one event, from the admin, to both parties"
    );
    assert_eq!(
        admin
            .post(&path, &[("reason", "again".into())])
            .await
            .status,
        StatusCode::CONFLICT
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_admin_resolves_a_dispute(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, order_id) = picked_up_order(&app).await;
    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "Lost a sock".into())],
        )
        .await;
    let dispute_id: i64 = sqlx::query_scalar("SELECT id FROM disputes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let admin = app.admin("a@example.com").await;
    let path = format!("/admin/disputes/{dispute_id}/resolve");
    let page = admin.get(&format!("/orders/{order_id}")).await;
    assert!(
        page.body.contains(&format!(r#"action="{path}""#)),
        "the order page offers the resolution"
    );

    assert_eq!(
        vendor
            .post(
                &path,
                &[("outcome", "release".into()), ("note", "x".into())]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin
            .post(&path, &[("outcome", "release".into()), ("note", "".into())])
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin
            .post(&path, &[("outcome", "split".into()), ("note", "x".into())])
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    admin
        .post(
            &path,
            &[
                ("outcome", "release".into()),
                ("note", "Sock found in the van".into()),
            ],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert_eq!(app.status_of("orders", order_id).await, "COMPLETED");
    let (status, outcome, note): (String, String, String) =
        sqlx::query_as("SELECT status, outcome, resolution_note FROM disputes WHERE id = $1")
            .bind(dispute_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), outcome.as_str(), note.as_str()),
        ("RESOLVED", "RELEASE", "Sock found in the van")
    );
    let parties = vec!["c@example.com".to_string(), "v@example.com".to_string()];
    assert_eq!(
        order_events(&app, order_id).await,
        [("dispute_resolved".into(), "a@example.com".into(), parties)],
        "one event, from the admin, to both parties"
    );
    let rows = audit_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].2),
        ("dispute.resolve", dispute_id)
    );
    assert!(
        customer
            .get(&format!("/orders/{order_id}"))
            .await
            .body
            .contains("payment released to the laundry")
    );
    assert_eq!(
        admin
            .post(&path, &[("outcome", "refund".into()), ("note", "x".into())])
            .await
            .status,
        StatusCode::CONFLICT
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_suspended_vendor_is_signed_out_and_their_pending_offers_withdrawn(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let admin = app.admin("a@example.com").await;
    let vendor_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'v@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'a@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let suspend = format!("/admin/users/{vendor_id}/suspend");

    assert!(
        admin
            .get("/admin/users?q=v%40example")
            .await
            .body
            .contains(&format!(
                r#"data-user-id="{vendor_id}" data-status="ACTIVE""#
            ))
    );
    assert_eq!(
        customer
            .post(&suspend, &[("reason", "x".into())])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refused = admin.post(&suspend, &[("reason", "".into())]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Reason: This field is required."));
    assert!(
        refused.body.contains("data-error-summary")
            && refused
                .body
                .contains(&format!(r##"href="#reason-{vendor_id}""##)),
        "the refusal links to the reason box: {}",
        refused.body
    );
    assert_eq!(
        vendor.get("/board").await.status,
        StatusCode::OK,
        "nothing changed"
    );

    admin
        .post(&suspend, &[("reason", "Fake reviews".into())])
        .await
        .assert_redirect("/admin/users");
    assert_eq!(app.status_of("users", vendor_id).await, "SUSPENDED");
    assert_eq!(app.status_of("offers", offer_id).await, "WITHDRAWN");
    assert_eq!(
        vendor.get("/board").await.status,
        StatusCode::SEE_OTHER,
        "their session ended at once"
    );
    assert_eq!(
        admin
            .post(&suspend, &[("reason", "again".into())])
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        admin
            .post(
                &format!("/admin/users/{admin_id}/suspend"),
                &[("reason", "x".into())]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    admin
        .post(
            &format!("/admin/users/{vendor_id}/reinstate"),
            &[("reason", "Appeal upheld".into())],
        )
        .await
        .assert_redirect("/admin/users");
    assert_eq!(app.status_of("users", vendor_id).await, "ACTIVE");
    let actions: Vec<String> = audit_rows(&app).await.into_iter().map(|r| r.0).collect();
    assert_eq!(actions, ["user.suspend", "user.reinstate"]);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'user_suspended'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_admin_home_counts_today_and_queues_open_disputes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, order_id) = picked_up_order(&app).await;
    customer
        .post(
            &format!("/orders/{order_id}/dispute"),
            &[("reason", "Torn <b>shirt</b>".into())],
        )
        .await;
    let dispute_id: i64 = sqlx::query_scalar("SELECT id FROM disputes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let admin = app.admin("a@example.com").await;

    let home = admin.get("/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body
            .contains(r#"<span class="value">1</span><span class="label">requests posted</span>"#),
        "{}",
        home.body
    );
    assert!(
        home.body
            .contains(r#"<span class="value">1</span><span class="label">open disputes</span>"#)
    );
    assert!(home.body.contains(&format!(
        r#"data-dispute-id="{dispute_id}" data-status="OPEN""#
    )));
    assert!(
        home.body.contains("Torn &lt;b&gt;shirt&lt;/b&gt;")
            || home.body.contains("Torn &#60;b&#62;"),
        "escaped"
    );
    for path in ["/admin/disputes", "/admin/audit", "/admin/users"] {
        assert_eq!(admin.get(path).await.status, StatusCode::OK, "{path}");
        assert_eq!(
            vendor.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }

    admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[("outcome", "refund".into()), ("note", "Refunded".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    assert!(
        !admin
            .get("/admin/disputes?status=OPEN")
            .await
            .body
            .contains("data-dispute-id="),
        "the queue is empty"
    );
    assert!(
        admin
            .get("/admin/disputes?status=RESOLVED&q=torn")
            .await
            .body
            .contains(&format!(
                r#"data-dispute-id="{dispute_id}" data-status="RESOLVED""#
            ))
    );
    let audit = admin.get("/admin/audit?action=dispute.resolve").await;
    assert_eq!(audit.body.matches("data-audit-id=").count(), 1);
    assert!(audit.body.contains("Refunded") && audit.body.contains("a@example.com"));
    let order_link = format!(r#"href="/orders/{order_id}""#);
    assert!(
        audit.body.contains(&order_link),
        "the dispute links its order"
    );
    assert_eq!(
        admin
            .get("/admin/audit?action=user.suspend")
            .await
            .body
            .matches("data-audit-id=")
            .count(),
        0
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn admin_lists_filter_by_status_days_and_search(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, vendor, order_id) = picked_up_order(&app).await;
    let other = app.customer("other@example.com").await;
    let cancelled = other.create_request().await;
    other
        .post(&format!("/requests/{cancelled}/cancel"), &[])
        .await;
    let admin = app.admin("a@example.com").await;
    let today = time::OffsetDateTime::now_utc()
        .to_offset(dhune::domain::request::LOCAL_OFFSET)
        .date();
    let day = |d: time::Date| d.to_string();

    let count = |body: &str, marker: &str| body.matches(marker).count();
    let all = admin.get("/admin/requests").await;
    assert_eq!(count(&all.body, "data-request-id="), 2);
    let only = admin.get("/admin/requests?status=CANCELLED").await;
    assert_eq!(count(&only.body, "data-request-id="), 1);
    assert!(only.body.contains(&format!(
        r#"data-request-id="{cancelled}" data-status="CANCELLED""#
    )));
    assert_eq!(
        count(
            &admin.get("/admin/requests?q=other%40example").await.body,
            "data-request-id="
        ),
        1
    );
    let in_range = format!("/admin/requests?from={}&to={}", day(today), day(today));
    assert_eq!(
        count(&admin.get(&in_range).await.body, "data-request-id="),
        2
    );
    let tomorrow = format!("/admin/requests?from={}", day(today.next_day().unwrap()));
    assert_eq!(
        count(&admin.get(&tomorrow).await.body, "data-request-id="),
        0
    );
    let yesterday = format!("/admin/requests?to={}", day(today.previous_day().unwrap()));
    assert_eq!(
        count(&admin.get(&yesterday).await.body, "data-request-id="),
        0
    );
    assert_eq!(
        admin
            .get("/admin/requests?status=NOPE&from=soon&page=x")
            .await
            .status,
        StatusCode::OK
    );

    let offers = admin
        .get("/admin/offers?status=ACCEPTED&q=v%40example")
        .await;
    assert_eq!(count(&offers.body, "data-offer-id="), 1);
    let orders = admin.get(&format!("/admin/orders?q={order_id}")).await;
    assert!(orders.body.contains(&format!(
        r#"data-order-id="{order_id}" data-status="PICKED_UP""#
    )));
    assert_eq!(
        count(
            &admin.get("/admin/orders?status=COMPLETED").await.body,
            "data-order-id="
        ),
        0
    );
    assert_eq!(
        count(
            &admin
                .get(&format!("/admin/users?to={}", day(today)))
                .await
                .body,
            "data-user-id="
        ),
        4
    );
    assert_eq!(
        count(
            &admin.get(&tomorrow.replace("requests", "users")).await.body,
            "data-user-id="
        ),
        0
    );
    assert_eq!(
        count(
            &admin
                .get("/admin/disputes?from=2000-01-01&status=OPEN")
                .await
                .body,
            "data-dispute-id="
        ),
        0
    );
    for path in ["/admin/requests", "/admin/offers", "/admin/orders"] {
        assert_eq!(customer.get(path).await.status, StatusCode::FORBIDDEN);
        assert_eq!(vendor.get(path).await.status, StatusCode::FORBIDDEN);
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_admin_sees_one_account_with_what_was_done_to_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let admin = app.admin("a@example.com").await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'c@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    admin
        .post(
            &format!("/admin/users/{id}/suspend"),
            &[("reason", "Chargeback fraud".into())],
        )
        .await;

    let page = admin.get(&format!("/admin/users/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!(r#"data-user-id="{id}" data-status="SUSPENDED""#))
    );
    assert!(page.body.contains("Suspended a user") && page.body.contains("Chargeback fraud"));
    assert!(page.body.contains("/admin/orders?q=c%40example.com"));
    assert_eq!(
        admin.get("/admin/users/999999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        customer.get(&format!("/admin/users/{id}")).await.status,
        StatusCode::SEE_OTHER,
        "suspended: signed out"
    );
    let other = app.customer("o@example.com").await;
    assert_eq!(
        other.get(&format!("/admin/users/{id}")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_audit_log_filters_by_action_days_and_search(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _vendor, order_id) = picked_up_order(&app).await;
    app.customer("o@example.com").await;
    let admin = app.admin("a@example.com").await;
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'o@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    admin
        .post(
            &format!("/admin/users/{user_id}/suspend"),
            &[("reason", "Chargeback fraud".into())],
        )
        .await
        .assert_redirect("/admin/users");
    admin
        .post(
            &format!("/admin/orders/{order_id}/cancel"),
            &[("reason", "Laundry closed for good".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    let today = time::OffsetDateTime::now_utc()
        .to_offset(dhune::domain::request::LOCAL_OFFSET)
        .date();
    let rows = |body: String| body.matches("data-audit-id=").count();
    let list = |path: String| {
        let admin = &admin;
        async move { admin.get(&path).await.body }
    };

    let all = list("/admin/audit".into()).await;
    assert_eq!(rows(all.clone()), 2);
    assert!(all.contains(&format!(r#"href="/admin/users/{user_id}""#)));
    assert!(all.contains(&format!(r#"href="/orders/{order_id}""#)));
    assert!(all.contains(r#"name="action""#), "the filter is the action");

    let suspensions = list("/admin/audit?action=user.suspend".into()).await;
    assert_eq!(rows(suspensions.clone()), 1);
    assert!(suspensions.contains(r#"data-action="user.suspend""#));
    assert!(suspensions.contains(r#"<option value="user.suspend" selected>"#));
    assert_eq!(rows(list("/admin/audit?q=laundry+closed".into()).await), 1);
    assert_eq!(rows(list("/admin/audit?q=a%40example".into()).await), 2);
    assert_eq!(rows(list("/admin/audit?q=nothing+like+it".into()).await), 0);
    assert_eq!(rows(list(format!("/admin/audit?to={today}")).await), 2);
    let tomorrow = today.next_day().unwrap();
    assert_eq!(rows(list(format!("/admin/audit?from={tomorrow}")).await), 0);
    assert_eq!(
        rows(list("/admin/audit?action=order.force_cancel&q=chargeback".into()).await),
        0,
        "filters combine"
    );
    assert_eq!(
        admin
            .get("/admin/audit?action=drop+table&from=x")
            .await
            .status,
        StatusCode::OK,
        "unknown filters are ignored"
    );
    assert_eq!(
        customer.get("/admin/audit").await.status,
        StatusCode::FORBIDDEN
    );
}
