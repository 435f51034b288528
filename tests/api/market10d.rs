//! Issue 10, items 11 and 12: the board as a laundry works it (cards with
//! the notes, the area, the services, the pickup window, when it closes and
//! the offers; newest or soonest pickup first) and times as people read
//! them on the lists.

use reqwest::StatusCode;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use crate::helpers::{Browser, TestApp, id_after, local_in, request_fields};
use dhune::domain::request::LOCAL_OFFSET;

/// Posts a request with these fields changed; returns its id.
async fn post_request(customer: &Browser, changes: &[(&str, String)]) -> i64 {
    let mut fields = request_fields();
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.clone(),
            None => fields.push((name, value.clone())),
        }
    }
    let page = customer.post("/requests", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    id_after(page.location().unwrap(), "/requests/")
}

/// Where `needle` is in `body`; fails the test when it is not.
fn position(body: &str, needle: &str) -> usize {
    body.find(needle)
        .unwrap_or_else(|| panic!("{needle} not in page:\n{body}"))
}

/// The card of request `id` in a page or an event.
fn card(body: &str, id: i64) -> &str {
    let start = body[..position(body, &format!(r#"id="request-row-{id}""#))]
        .rfind("<article")
        .expect("the card is an article");
    let end = start + position(&body[start..], "</article>") + "</article>".len();
    &body[start..end]
}

/// The page with its `&` escapes read back, to compare addresses.
fn unescaped(body: &str) -> String {
    body.replace("&#38;", "&").replace("&amp;", "&")
}

/// Tomorrow in Nepal at `hour`:00, as a `datetime-local` value.
fn tomorrow_at(hour: u8) -> (String, String) {
    let tomorrow = (OffsetDateTime::now_utc().to_offset(LOCAL_OFFSET) + Duration::days(1)).date();
    (
        format!("{tomorrow}T{hour:02}:00"),
        format!("{tomorrow}T{hour:02}:00:00+05:45"),
    )
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn board_cards_show_area_services_notes_pickup_window_closing_and_offers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let other = app.vendor("o@example.com").await;
    let notes = format!(
        "Two silk saris, wash by hand please. {} The END OF THE NOTES is private.",
        "Then press them and fold them along the old creases. ".repeat(3)
    );
    let (from, from_iso) = tomorrow_at(10);
    let (to, _) = tomorrow_at(13);
    let id = post_request(
        &customer,
        &[
            ("notes", notes),
            ("area", "Boudha".into()),
            ("pickup_from", from),
            ("pickup_to", to),
        ],
    )
    .await;
    other.make_offer(id, "500").await;

    let board = vendor.get("/board").await;
    assert_eq!(board.status, StatusCode::OK);
    assert!(
        !board.body.contains("<table") && !board.body.contains("<td"),
        "cards, not a table"
    );
    assert!(
        !board.body.contains(r#"class="status""#) && !board.body.contains(">Open<"),
        "no status that always says Open"
    );
    let card = card(&board.body, id);
    assert!(
        card.starts_with(&format!(
            r#"<article class="card request-card" id="request-row-{id}" data-request-id="{id}""#
        )),
        "{card}"
    );
    assert!(
        card.contains(&format!(
            r#"<a class="card-link" href="/requests/{id}">Boudha, Kathmandu</a>"#
        )),
        "the area leads to the request: {card}"
    );
    assert!(
        card.contains("Wash &#38; fold 6 kg") || card.contains("Wash &amp; fold 6 kg"),
        "{card}"
    );
    assert!(card.contains("Dry clean 2 pieces"), "{card}");
    assert!(
        card.contains(&format!(r#"Pickup <time datetime="{from_iso}" title="#))
            && card.contains(">tomorrow 10:00–13:00</time>"),
        "the pickup window as people read it: {card}"
    );
    assert!(
        card.contains(
            r#"<p class="request-notes">Two silk saris, wash by hand please. Then press"#
        ),
        "the notes previewed: {card}"
    );
    assert!(card.contains("…</p>"), "a long note is cut: {card}");
    assert!(!card.contains("END OF THE NOTES"), "{card}");
    assert!(
        card.contains("posted <time datetime=") && card.contains(">just now</time>"),
        "{card}"
    );
    assert!(
        card.contains("closes <time datetime=") && card.contains(">in 23 h</time>"),
        "how long it stays open: {card}"
    );
    assert!(card.contains("1 offer</span>"), "{card}");
    assert_eq!(
        card.matches("<time ").count(),
        card.matches("<time datetime=\"").count(),
        "every time carries its datetime"
    );
    assert!(card.matches(" title=\"").count() >= 3, "{card}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn board_sorts_by_newest_or_soonest_pickup(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    // Posted in this order, picked up in another.
    let later = post_request(
        &customer,
        &[("pickup_from", local_in(30)), ("pickup_to", local_in(33))],
    )
    .await;
    let soonest = post_request(
        &customer,
        &[("pickup_from", local_in(5)), ("pickup_to", local_in(8))],
    )
    .await;
    let latest = post_request(
        &customer,
        &[("pickup_from", local_in(50)), ("pickup_to", local_in(53))],
    )
    .await;
    let order = |body: &str| {
        let mut ids = [later, soonest, latest];
        ids.sort_by_key(|id| position(body, &format!(r#"id="request-row-{id}""#)));
        ids
    };

    for path in ["/board", "/board?sort=newest", "/board?sort=bogus"] {
        let page = vendor.get(path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(order(&page.body), [latest, soonest, later], "{path}");
        assert!(page.body.contains(r#"<option value="newest" selected>"#));
    }
    let by_pickup = vendor.get("/board?sort=pickup").await;
    assert_eq!(order(&by_pickup.body), [soonest, later, latest]);
    assert!(
        by_pickup
            .body
            .contains(r#"<option value="pickup" selected>Pickup time</option>"#),
        "{}",
        by_pickup.body
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_sort_and_the_city_are_kept_across_pages_and_only_page_one_takes_live_rows(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    customer.create_request().await;
    // 21 more in Pokhara: the later one is posted, the sooner it is picked
    // up, so the first posted is the last by pickup time, alone on page two.
    sqlx::query(
        "INSERT INTO requests (customer_id, pickup_address, city, area, pickup_from,
                               pickup_to, expires_at, created_at)
         SELECT u.id, 'Lakeside Road', 'Pokhara', 'Lakeside',
                now() + make_interval(hours => 60 - n), now() + make_interval(hours => 63 - n),
                now() + interval '1 day', now() - make_interval(mins => 30 - n)
         FROM users u, generate_series(1, 21) AS n WHERE u.email = 'c@example.com'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let last_by_pickup: i64 = sqlx::query_scalar(
        "SELECT id FROM requests WHERE city = 'Pokhara' ORDER BY pickup_from DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let newest: i64 = sqlx::query_scalar(
        "SELECT id FROM requests WHERE city = 'Pokhara' ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();

    let first = vendor.get("/board?city=Pokhara&sort=pickup").await;
    let body = unescaped(&first.body);
    assert!(
        body.contains(r#"href="/board?city=Pokhara&sort=pickup&page=2" rel="next""#),
        "the next page keeps the city and the sort: {body}"
    );
    assert!(
        body.contains(r#"data-sse-connect="/events?last_event_id="#)
            && body.contains("&city=Pokhara\""),
        "the stream keeps the city: {body}"
    );
    assert!(
        body.contains(r#"id="board-rows" class="cards request-cards" data-sse-swap="request_created" data-hx-swap="afterbegin""#),
        "page one takes new requests at its top: {body}"
    );
    assert!(body.contains(&format!(r#"id="request-row-{newest}""#)));
    assert!(!body.contains(&format!(r#"id="request-row-{last_by_pickup}""#)));

    let second = vendor.get("/board?city=Pokhara&sort=pickup&page=2").await;
    let body = unescaped(&second.body);
    assert_eq!(body.matches("<article ").count(), 1, "{body}");
    assert!(
        body.contains(&format!(r#"id="request-row-{last_by_pickup}""#)),
        "the last by pickup time: {body}"
    );
    assert!(
        body.contains(r#"href="/board?city=Pokhara&sort=pickup&page=1" rel="prev""#),
        "{body}"
    );
    assert!(
        !body.contains(r#"data-sse-swap="request_created""#),
        "a later page draws no new requests (they belong on page one): {body}"
    );
    assert!(
        body.contains(
            r#"data-sse-swap="request_cancelled,request_expired,request_closed,offer_created""#
        ),
        "closed requests still leave every page"
    );

    let newest_first = unescaped(&vendor.get("/board?city=Pokhara").await.body);
    assert!(
        newest_first.contains(r#"href="/board?city=Pokhara&page=2" rel="next""#),
        "the default sort stays out of the address: {newest_first}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_live_new_request_arrives_as_the_boards_own_card_marked_new(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let board = vendor.get("/board?sort=pickup").await;
    let head = board
        .body
        .split("/events?last_event_id=")
        .nth(1)
        .and_then(|rest| rest.split(['&', '"']).next())
        .expect("the board opens its stream")
        .to_owned();
    let mut stream = vendor
        .events_at(&format!("/events?last_event_id={head}"))
        .await;

    let id = post_request(
        &customer,
        &[("notes", "Ring twice, the dog is friendly.".into())],
    )
    .await;
    let event = stream.next().await;
    assert_eq!(event.event, "request_created");
    let live = card(&event.data, id);
    assert!(
        live.starts_with(&format!(
            r#"<article class="card request-card is-new" id="request-row-{id}""#
        )),
        "{live}"
    );
    assert!(
        live.contains(r#"<span class="badge new-badge">New</span>"#),
        "{live}"
    );
    assert!(
        event
            .data
            .contains(r#"<p id="board-empty" data-hx-swap-oob="delete"></p>"#)
    );

    let reloaded = vendor.get("/board?sort=pickup").await;
    let drawn = card(&reloaded.body, id);
    // An event's data lines arrive joined, without their line breaks.
    assert_eq!(
        live.replace(" is-new", "")
            .replace(r#" <span class="badge new-badge">New</span>"#, ""),
        drawn.replace('\n', ""),
        "the live card is the board's card, marked new"
    );
    assert!(drawn.contains("Ring twice, the dog is friendly."));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn my_requests_are_cards_with_times_people_read(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let (from, from_iso) = tomorrow_at(10);
    let (to, _) = tomorrow_at(13);
    let id = post_request(&customer, &[("pickup_from", from), ("pickup_to", to)]).await;

    let page = customer.get("/requests").await;
    assert!(!page.body.contains("<td"), "cards, not a table");
    let card = card(&page.body, id);
    assert!(
        card.contains(r#"<span class="status" data-status="OPEN">Open</span>"#),
        "{card}"
    );
    assert!(
        card.contains(&format!(r#"<time datetime="{from_iso}""#))
            && card.contains(">tomorrow 10:00–13:00</time>"),
        "{card}"
    );
    assert!(card.contains(">just now</time>") && card.contains(">in 23 h</time>"));
    assert!(card.contains("No offers yet"), "{card}");
    assert!(card.contains("Ring the bell twice"), "{card}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lists_print_times_in_time_elements_and_the_form_says_nepal_time(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let admin = app.admin("a@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    customer.accept(offer_id, 1).await;

    let pages = [
        (&vendor, "/offers"),
        (&vendor, "/orders"),
        (&customer, "/orders"),
        (&admin, "/admin/requests"),
        (&admin, "/admin/offers"),
        (&admin, "/admin/orders"),
    ];
    for (browser, path) in pages {
        let body = browser.get(path).await.body;
        let times = body.matches("<time").count();
        assert!(times > 0, "{path} prints its times in <time>: {body}");
        assert_eq!(
            body.matches("<time datetime=\"").count(),
            times,
            "{path}: every time has its datetime"
        );
        assert!(body.matches(" title=\"").count() >= times, "{path}");
    }

    let form = customer.get("/requests/new").await.body;
    for field in ["pickup_from", "pickup_to"] {
        assert!(
            form.contains(&format!(r#"aria-describedby="{field}-hint""#)),
            "{field}: {form}"
        );
        let hint = &form[position(&form, &format!(r#"id="{field}-hint""#))..];
        assert!(
            hint[..hint.find("</p>").unwrap()].contains("Nepal time (UTC+05:45); it is ")
                && hint.contains(" in Nepal now."),
            "{hint}"
        );
    }
}
