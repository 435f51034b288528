//! Live fan-out stays cheap: a stream is handed and sent only what changes
//! its page, and what several streams of one viewer need is read once per
//! event.

use std::time::Duration;

use dhune::domain::account::Role;
use dhune::events::relay::{Delivery, StreamSlot, Viewer};
use sqlx::PgPool;

use crate::helpers::{Browser, EventStream, Statements, TestApp, id_after, request_fields};

const QUIET: Duration = Duration::from_millis(800);

/// A request posted in `city`.
async fn request_in(customer: &Browser, city: &str) -> i64 {
    let mut fields = request_fields();
    for (name, value) in &mut fields {
        if *name == "city" {
            *value = city.into();
        }
    }
    let page = customer.post("/requests", &fields).await;
    id_after(page.location().expect("the request"), "/requests/")
}

/// The stream a page opens, as its `data-sse-connect` names it.
async fn stream_of(browser: &Browser, path: &str) -> (EventStream, String) {
    let page = browser.get(path).await;
    let marker = r#"data-sse-connect=""#;
    let start = page.body.find(marker).expect("a live page") + marker.len();
    let url = page.body[start..start + page.body[start..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    (browser.events_at(&url).await, url)
}

/// The value of `name` in a stream URL's query.
fn query_value(url: &str, name: &str) -> String {
    url.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap()
        .to_owned()
}

/// The next event of `kind`, skipping others.
async fn next_of(stream: &mut EventStream, kind: &str) -> crate::helpers::SseEvent {
    loop {
        let event = stream.next().await;
        if event.event == kind {
            return event;
        }
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_board_is_told_only_of_requests_closing_on_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let offering = app.vendor("o@example.com").await;
    let looking = app.vendor("v@example.com").await;
    // Streams opened before the relay passed the new requests on would be
    // told of them; this one sees when it has.
    let mut relayed = offering.events(None).await;
    let on_board = request_in(&customer, "Kathmandu").await;
    let off_board = request_in(&customer, "Pokhara").await;
    next_of(&mut relayed, "request_created").await;
    next_of(&mut relayed, "request_created").await;
    let (mut board, url) = stream_of(&looking, "/board?city=Kathmandu").await;
    assert!(
        url.contains(&format!("&rows={on_board}&")),
        "the board names the rows it shows: {url}"
    );
    // A page that is no board (here: the vendor's offers) draws no rows.
    let mut elsewhere = looking.events(None).await;

    for id in [off_board, on_board] {
        offering.make_offer(id, "500").await;
        let offer_id = app.offer_id(id, "o@example.com").await;
        let accepted = customer.accept(offer_id, 1).await;
        assert!(
            accepted
                .location()
                .is_some_and(|to| to.starts_with("/orders/")),
            "{}",
            accepted.body
        );
    }

    let closed = board.next().await;
    assert_eq!(closed.event, "request_closed", "{closed:?}");
    assert_eq!(
        closed.data,
        format!(r#"<div id="request-row-{on_board}" data-hx-swap-oob="delete"></div>"#),
        "the request on the board leaves it; the one off it sends nothing"
    );
    assert!(board.next_within(QUIET).await.is_none(), "and nothing else");
    assert!(
        elsewhere.next_within(QUIET).await.is_none(),
        "a stream that drew no rows is told of no closing"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_board_drawn_before_the_relay_passed_its_request_on_shows_the_row_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let shown = customer.create_request().await;
    let (_, url) = stream_of(&vendor, "/board").await;
    assert!(url.contains(&format!("&rows={shown}")), "{url}");
    // As a page drawn just before the relay passed the request on: its
    // stream starts before the request's event.
    let drawn = query_value(&url, "drawn");
    let early = url
        .replacen(&format!("last_event_id={drawn}"), "last_event_id=0", 1)
        .replacen(&format!("drawn={drawn}"), "drawn=0", 1);
    let mut stream = vendor.events_at(&early).await;
    let added = customer.create_request().await;
    let row = stream.next().await;
    assert_eq!(row.event, "request_created");
    assert!(
        row.data.contains(&format!(r#"id="request-row-{added}""#)),
        "the row already on the board is not sent again: {row:?}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_reopened_board_stream_still_removes_the_rows_added_live(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let (mut first, url) = stream_of(&vendor, "/board").await;
    let added = customer.create_request().await;
    let row = first.next().await;
    assert_eq!(row.event, "request_created");
    assert!(row.data.contains(&format!(r#"id="request-row-{added}""#)));
    drop(first);

    // The page is shown again: its stream reopens from the last event it
    // received (static/live.js keeps `last_event_id` up to date).
    let drawn = query_value(&url, "last_event_id");
    let reopened_url = url.replacen(
        &format!("last_event_id={drawn}"),
        &format!("last_event_id={}", row.id),
        1,
    );
    let mut reopened = vendor.events_at(&reopened_url).await;
    customer
        .post(&format!("/requests/{added}/cancel"), &[])
        .await;
    let cancelled = reopened.next().await;
    assert_eq!(cancelled.event, "request_cancelled");
    assert_eq!(
        cancelled.data,
        format!(r#"<div id="request-row-{added}" data-hx-swap-oob="delete"></div>"#)
    );
}

/// The reads a live stream makes for a viewer: the request (an offer's
/// card and the request's summary), the order's parts, the unread count.
/// No page or accept in these tests runs them.
fn stream_reads(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|sql| {
            sql.contains("u.name AS customer_name")
                || sql.contains("c.name AS customer_name, c.phone AS customer_phone")
                || sql.contains(r#"count(*) AS "count!" FROM notifications"#)
        })
        .count()
}

/// A request with offers from `winner` and `loser`; accepts the winner's
/// while `streams` streams of each of the three are open, and reads what
/// each stream is sent. Returns the statements run meanwhile.
async fn accept_watched_by(
    app: &TestApp,
    statements: &Statements,
    (customer, winner, loser): (&Browser, &Browser, &Browser),
    streams: usize,
) -> Vec<String> {
    // The streams below open once the relay has passed the offers on;
    // a stream opened before would read them itself.
    let mut relayed = customer.events(None).await;
    let request_id = customer.create_request().await;
    winner.make_offer(request_id, "500").await;
    loser.make_offer(request_id, "650").await;
    next_of(&mut relayed, "offer_created").await;
    next_of(&mut relayed, "offer_created").await;
    drop(relayed);
    let offer_id = app.offer_id(request_id, "w@example.com").await;
    let mut watching = Vec::new();
    for browser in [customer, winner, loser] {
        for _ in 0..streams {
            watching.push(browser.events(None).await);
        }
    }
    statements.take();
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    for (n, stream) in watching.iter_mut().enumerate() {
        match n / streams {
            0 => {
                let event = next_of(stream, "offer_accepted").await;
                assert!(event.data.contains(&format!("Follow order #{order_id}")));
                next_of(stream, "order_created").await;
            }
            1 => {
                let event = next_of(stream, "offer_accepted").await;
                assert!(
                    event.data.contains(&format!("go to order #{order_id}")),
                    "{}",
                    event.data
                );
                assert!(event.data.contains(r#"id="unread-count""#));
                next_of(stream, "order_created").await;
            }
            _ => {
                let event = next_of(stream, "offer_rejected").await;
                assert!(event.data.contains("Another laundry was chosen"));
                assert!(event.data.contains(r#"id="unread-count""#));
            }
        }
    }
    statements.take()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn each_viewer_reads_an_event_once_however_many_streams_they_have(pool: PgPool) {
    let (statements, _recording) = Statements::record();
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let winner = app.vendor("w@example.com").await;
    let loser = app.vendor("l@example.com").await;
    let parties = (&customer, &winner, &loser);

    let one_each = stream_reads(&accept_watched_by(&app, &statements, parties, 1).await);
    let four_each = stream_reads(&accept_watched_by(&app, &statements, parties, 4).await);
    assert!(one_each > 0, "the streams read their records");
    assert_eq!(
        four_each, one_each,
        "four streams of each viewer read what one does"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_viewers_unread_count_is_read_once_for_the_events_handed_on_together(pool: PgPool) {
    let (statements, _recording) = Statements::record();
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    // The streams below open once the relay has passed the offers on.
    let mut relayed = customer.events(None).await;
    let mut requests = Vec::new();
    for _ in 0..3 {
        let id = customer.create_request().await;
        vendor.make_offer(id, "500").await;
        requests.push(id);
    }
    for _ in &requests {
        next_of(&mut relayed, "offer_created").await;
    }
    drop(relayed);
    let mut watching = vec![
        customer.events(None).await,
        vendor.events(None).await,
        vendor.events(None).await,
    ];
    statements.take();

    // One sweep expires the three offers in one transaction: three events,
    // each notifying the customer and the laundry, handed on together.
    sqlx::query("UPDATE offers SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    dhune::market::sweeps::expire_offers(&pool).await.unwrap();
    for stream in &mut watching {
        for _ in &requests {
            let event = next_of(stream, "offer_expired").await;
            assert!(
                event.data.contains(r#"id="unread-count""#),
                "{}",
                event.data
            );
        }
    }
    let ran = statements.take();
    let counts = ran
        .iter()
        .filter(|sql| sql.contains(r#"count(*) AS "count!" FROM notifications"#))
        .count();
    assert_eq!(counts, 2, "one count for each viewer: {ran:#?}");
}

/// What the hub handed a stream until it went quiet: each event's kind and
/// request.
async fn handed(slot: &StreamSlot) -> Vec<(String, Option<i64>)> {
    let mut seen = Vec::new();
    while let Ok(delivery) = tokio::time::timeout(QUIET, slot.next()).await {
        match delivery {
            Delivery::Event(live) => {
                seen.push((live.event.kind.to_string(), live.event.request_id));
            }
            Delivery::Lagged | Delivery::Replaced => panic!("the stream lagged or was replaced"),
        }
    }
    seen
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_event_is_handed_only_to_the_streams_whose_page_it_may_change(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    app.customer("d@example.com").await;
    let winner = app.vendor("w@example.com").await;
    let loser = app.vendor("l@example.com").await;
    app.vendor("k@example.com").await;
    app.vendor("p@example.com").await;
    app.admin("a@example.com").await;
    let on_board = request_in(&customer, "Kathmandu").await;

    // The hub of another instance on the same database, and streams of
    // each of these users, as `GET /events` opens them.
    let live = dhune::events::relay::start(pool.clone()).await.unwrap();
    let open = |email: &'static str, role: Role, city: Option<&str>, rows: &[i64]| {
        let (live, pool, city, rows) = (
            live.clone(),
            pool.clone(),
            city.map(str::to_owned),
            rows.to_vec(),
        );
        async move {
            let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(email)
                .fetch_one(&pool)
                .await
                .unwrap();
            let slot = live.open_stream(Viewer {
                user_id,
                role,
                city,
            });
            if role == Role::Vendor {
                slot.show_rows(&rows);
            }
            slot
        }
    };
    let customers = open("c@example.com", Role::Customer, None, &[]).await;
    let bystander = open("d@example.com", Role::Customer, None, &[]).await;
    let winners = open("w@example.com", Role::Vendor, None, &[]).await;
    let losers = open("l@example.com", Role::Vendor, None, &[]).await;
    let kathmandu = open(
        "k@example.com",
        Role::Vendor,
        Some("kathmandu"),
        &[on_board],
    )
    .await;
    let pokhara = open("p@example.com", Role::Vendor, Some("pokhara"), &[]).await;
    let admins = open("a@example.com", Role::Admin, None, &[]).await;

    let request = request_in(&customer, "Kathmandu").await;
    winner.make_offer(request, "500").await;
    loser.make_offer(request, "650").await;
    let offer = app.offer_id(request, "w@example.com").await;
    customer.accept(offer, 1).await;
    customer
        .post(&format!("/requests/{on_board}/cancel"), &[])
        .await;

    let of = |kinds: &[(&str, i64)]| -> Vec<(String, Option<i64>)> {
        kinds
            .iter()
            .map(|(kind, id)| ((*kind).to_owned(), Some(*id)))
            .collect()
    };
    assert_eq!(
        handed(&customers).await,
        of(&[
            ("request_created", request),
            ("offer_created", request),
            ("offer_created", request),
            ("offer_accepted", request),
            ("offer_rejected", request),
            ("order_created", request),
            ("request_cancelled", on_board),
        ]),
        "the customer: every event naming them"
    );
    assert_eq!(
        handed(&winners).await,
        of(&[
            ("request_created", request),
            ("offer_created", request),
            ("offer_accepted", request),
            ("request_closed", request),
            ("order_created", request),
        ]),
        "the winner: the new request, its own offer and its outcome, the \
         closing of a row it was handed; not the other offer, nor the closing \
         of a request it never had a row for"
    );
    assert_eq!(
        handed(&losers).await,
        of(&[
            ("request_created", request),
            ("offer_created", request),
            ("offer_rejected", request),
            ("request_closed", request),
        ]),
        "the loser"
    );
    assert_eq!(
        handed(&kathmandu).await,
        of(&[
            ("request_created", request),
            ("request_closed", request),
            ("request_cancelled", on_board),
        ]),
        "a Kathmandu board: the rows it shows"
    );
    assert_eq!(
        handed(&pokhara).await,
        of(&[]),
        "a Pokhara board: nothing happened on it"
    );
    assert_eq!(
        handed(&bystander).await,
        of(&[]),
        "another customer: nothing"
    );
    assert_eq!(
        handed(&admins).await,
        of(&[
            ("request_created", request),
            ("offer_created", request),
            ("offer_created", request),
            ("offer_accepted", request),
            ("offer_rejected", request),
            ("request_closed", request),
            ("order_created", request),
            ("request_cancelled", on_board),
        ]),
        "an admin: everything"
    );
}
