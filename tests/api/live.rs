//! Live events over SSE: across instances, replayed after a disconnect,
//! never skipped when they commit late, and only to their audience.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, offer_fields};

const QUIET: Duration = Duration::from_millis(800);

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_action_on_one_instance_reaches_clients_of_another(pool: PgPool) {
    let one = TestApp::spawn(pool.clone()).await;
    let two = TestApp::spawn(pool).await;
    let customer = one.customer("c@example.com").await;
    let vendor_on_two = two.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    // From the start of the feed, so the sequence does not depend on how far
    // the relay had read when the stream opened.
    let mut stream = customer.events(Some("0")).await;
    assert_eq!(stream.next().await.event, "request_created");

    vendor_on_two
        .make_offer(request_id, "500")
        .await
        .assert_redirect(&format!("/requests/{request_id}"));

    let event = stream.next().await;
    assert_eq!(event.event, "offer_created");
    // The same offer card the request page draws (appended to its offers).
    assert!(
        event
            .data
            .contains(r#"<article class="card offer" id="offer-"#),
        "{}",
        event.data
    );
    let article = &event.data[event.data.find("<article").unwrap()..];
    assert!(
        !article[..article.find('>').unwrap()].contains("data-hx-swap-oob"),
        "a new card is appended, not swapped out of band"
    );
    assert!(event.data.contains(r#"data-status="PENDING""#));
    assert!(event.data.contains("Rs 500.00") && event.data.contains("Accept this offer"));
    assert!(!event.id.is_empty());
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_reconnecting_client_gets_every_event_it_missed_in_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let mut stream = vendor.events(Some("0")).await;
    let first = customer.create_request().await;
    let seen = stream.next().await;
    assert_eq!(seen.event, "request_created");
    assert!(seen.data.contains(&format!("#{first}")));
    drop(stream);

    let missed = [
        customer.create_request().await,
        customer.create_request().await,
    ];
    let mut resumed = vendor.events(Some(&seen.id)).await;
    let mut ids = vec![seen.id.clone()];
    for request_id in missed {
        let event = resumed.next().await;
        assert_eq!(event.event, "request_created");
        assert!(
            event.data.contains(&format!("#{request_id}")),
            "{}",
            event.data
        );
        ids.push(event.id);
    }
    assert!(resumed.next_within(QUIET).await.is_none(), "nothing twice");

    let by_query = vendor
        .client
        .get(vendor.url(&format!("/events?last_event_id={}", seen.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::OK);
    let positions: Vec<i64> = ids.iter().map(|id| id.parse().unwrap()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "ids rise: {ids:?}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_event_that_commits_late_is_delivered_first_and_replayed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    let customer_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'c@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut stream = customer.events(Some("0")).await;
    assert_eq!(stream.next().await.event, "request_created");

    // A transaction writes an event, behind the commit fence as every event
    // writer does, and stays open ...
    let mut slow = app.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)::text")
        .bind(dhune::market::feed::FENCE)
        .execute(&mut *slow)
        .await
        .unwrap();
    sqlx::query("INSERT INTO events (kind, request_id, audience_users) VALUES ('request_cancelled', $1, $2)")
        .bind(request_id)
        .bind(vec![customer_id])
        .execute(&mut *slow)
        .await
        .unwrap();
    // ... while a later one commits.
    vendor
        .make_offer(request_id, "500")
        .await
        .assert_redirect(&format!("/requests/{request_id}"));
    assert!(
        stream.next_within(QUIET).await.is_none(),
        "the later event waits for the earlier transaction"
    );

    slow.commit().await.unwrap();
    let late = stream.next().await;
    let later = stream.next().await;
    assert_eq!(
        (late.event.as_str(), later.event.as_str()),
        ("request_cancelled", "offer_created")
    );

    // A client that saw neither gets both, in the same order.
    let request_created: String = {
        let mut replay = customer.events(Some("0")).await;
        let first = replay.next().await;
        assert_eq!(first.event, "request_created");
        assert_eq!(replay.next().await.id, late.id);
        assert_eq!(replay.next().await.id, later.id);
        first.id
    };
    assert!(!request_created.is_empty());
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn strangers_and_uninvolved_vendors_receive_nothing_about_a_deal(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let stranger = app.customer("s@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let bystander = app.vendor("b@example.com").await;
    let request_id = customer.create_request().await;
    let mut stranger_stream = stranger.events(Some("0")).await;
    let mut bystander_stream = bystander.events(Some("0")).await;
    let mut vendor_stream = vendor.events(Some("0")).await;
    assert_eq!(
        vendor_stream.next().await.event,
        "request_created",
        "every vendor hears of new requests"
    );
    assert_eq!(bystander_stream.next().await.event, "request_created");

    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    vendor
        .post(&format!("/offers/{offer_id}/update"), &offer_fields("450"))
        .await;
    customer.accept(offer_id, 2).await;

    assert_eq!(vendor_stream.next().await.event, "offer_created");
    assert_eq!(vendor_stream.next().await.event, "offer_updated");
    assert_eq!(vendor_stream.next().await.event, "offer_accepted");
    assert_eq!(vendor_stream.next().await.event, "request_closed");
    assert_eq!(vendor_stream.next().await.event, "order_created");
    assert!(
        stranger_stream.next_within(QUIET).await.is_none(),
        "a stranger hears nothing"
    );
    let closed = bystander_stream.next().await;
    assert_eq!(
        closed.event, "request_closed",
        "other vendors only learn the request left the board"
    );
    assert_eq!(
        closed.data,
        format!(r#"<div id="request-row-{request_id}" data-hx-swap-oob="delete"></div>"#)
    );
    assert!(
        bystander_stream.next_within(QUIET).await.is_none(),
        "and nothing of the deal"
    );

    let anonymous = app
        .browser()
        .client
        .get(app.browser().url("/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::SEE_OTHER,
        "signed-in users only"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn pushed_fragments_are_the_records_own_partials_for_each_viewer(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let mut board = vendor.events(Some("0")).await;
    let request_id = customer.create_request().await;

    let row = board.next().await;
    assert_eq!(row.event, "request_created");
    assert!(row.data.contains(&format!(r#"<article class="card request-card is-new" id="request-row-{request_id}" data-request-id="{request_id}" data-status="OPEN">"#)), "{}", row.data);
    assert!(
        row.data.contains("Tinkune") && !row.data.contains("House 7"),
        "the area, never the address"
    );

    vendor.make_offer(request_id, "500").await;
    let own = board.next().await;
    assert_eq!(own.event, "offer_created");
    assert!(
        own.data.contains(&format!(
            r#"<div id="request-row-{request_id}" data-hx-swap-oob="delete">"#
        )),
        "the row leaves my board"
    );

    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let loser = app.vendor("l@example.com").await;
    loser.make_offer(request_id, "650").await;
    let mut losing = loser.events(Some(&own.id)).await;
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = crate::helpers::id_after(accepted.location().unwrap(), "/orders/");
    let mut not_chosen = losing.next().await;
    while not_chosen.event != "offer_rejected" {
        not_chosen = losing.next().await;
    }
    assert!(
        not_chosen
            .data
            .contains(r#"data-hx-swap-oob="true" data-offer-id="#),
        "{}",
        not_chosen.data
    );
    assert!(
        not_chosen.data.contains(r#"data-status="REJECTED""#)
            && not_chosen.data.contains("Not chosen")
    );
    let mut watching = customer.events(Some(&own.id)).await;
    vendor
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", "PICKED_UP".into())],
        )
        .await;
    let mut last = watching.next().await;
    while last.event != "order_status_updated" {
        last = watching.next().await;
    }
    assert!(last.data.contains(&format!(r#"<span id="order-{order_id}-status" data-hx-swap-oob="true" class="status" data-order-id="{order_id}" data-status="PICKED_UP">"#)), "{}", last.data);
    assert!(last.data.contains("Picked up"), "the timeline moved");
    assert!(
        !last
            .data
            .contains(&format!(r#"<section id="order-{order_id}""#)),
        "the status, dispute, actions and timeline are swapped, never the whole order: {}",
        last.data
    );
    let forms: Vec<&str> = last
        .data
        .split("<form")
        .skip(1)
        .map(|form| &form[..form.find('>').unwrap()])
        .collect();
    assert!(!forms.is_empty());
    for form in forms {
        assert!(
            form.contains(" data-hx-preserve")
                && form.contains(&format!(r#"id="order-{order_id}-"#)),
            "a form the viewer may be typing in is kept as it is: {form}"
        );
    }
    let token = customer.csrf_token().await;
    assert!(
        last.data.contains(&token) && last.data.contains("Open a dispute"),
        "the customer's own actions, with their token"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_relay_survives_its_database_connections_being_dropped(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let mut stream = vendor.events(Some("0")).await;
    let first = customer.create_request().await;
    assert!(stream.next().await.data.contains(&format!("#{first}")));

    // Every other connection to this database is cut, the relay's included.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let mut second = None;
    for _ in 0..20 {
        let page = customer
            .post("/requests", &crate::helpers::request_fields())
            .await;
        if page.status == StatusCode::SEE_OTHER {
            second = Some(crate::helpers::id_after(
                page.location().unwrap(),
                "/requests/",
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = second.expect("the app recovers its connections");

    let event = stream.next().await;
    assert!(
        event.data.contains(&format!("#{second}")),
        "resumed with no gap: {}",
        event.data
    );
    assert!(
        stream.next_within(QUIET).await.is_none(),
        "and no duplicate"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn text_in_pushed_fragments_is_escaped(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    let mut stream = customer.events(Some("0")).await;
    assert_eq!(stream.next().await.event, "request_created");

    let mut fields = offer_fields("500");
    fields.retain(|(k, _)| *k != "message");
    fields.push(("message", "<script>alert('x')</script> & more".into()));
    vendor
        .post(&format!("/requests/{request_id}/offers"), &fields)
        .await;

    let event = stream.next().await;
    assert_eq!(event.event, "offer_created");
    assert!(!event.data.contains("<script>"), "{}", event.data);
    assert!(
        event.data.contains("&lt;script&gt;") || event.data.contains("&#60;script&#62;"),
        "{}",
        event.data
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_open_request_page_switches_to_order_created_on_accept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let mut stream = customer.events(Some("0")).await;
    while stream.next().await.event != "offer_created" {}

    let accepted = customer.accept(offer_id, 1).await;
    let order_id = crate::helpers::id_after(accepted.location().unwrap(), "/orders/");

    let event = stream.next().await;
    assert_eq!(event.event, "offer_accepted");
    assert!(
        event.data.contains(&format!(
            r#"<section id="request-{request_id}" data-hx-swap-oob="true" data-request-id="{request_id}" data-status="ORDER_CREATED">"#
        )),
        "{}",
        event.data
    );
    assert!(event.data.contains(&format!("Follow order #{order_id}")));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn event_streams_tell_a_reverse_proxy_not_to_buffer_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    // `events` checks the stream's headers, `X-Accel-Buffering: no` among them.
    let mut stream = customer.events(None).await;
    customer.create_request().await;
    assert_eq!(stream.next().await.event, "request_created");
}
