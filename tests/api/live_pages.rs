//! Live pages that never go stale (issue 10, items 1 and 4): a vendor's
//! request page switches when an offer is accepted, no link leads to a
//! 404/403 for the person shown it, and a filtered board's live rows keep
//! to its filter.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp, id_after, request_fields};
use dhune::demo::{DEMO_LOGINS, DEMO_PASSWORD, seed_if_empty};

const QUIET: Duration = Duration::from_millis(800);

/// The next event of this kind on the stream, skipping others.
async fn next_of(stream: &mut crate::helpers::EventStream, kind: &str) -> String {
    loop {
        let event = stream.next().await;
        if event.event == kind {
            return event.data;
        }
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live10_vendor_request_pages_switch_to_the_outcome_on_accept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let winner = app.vendor("w@example.com").await;
    let loser = app.vendor("l@example.com").await;
    let request_id = customer.create_request().await;
    winner.make_offer(request_id, "500").await;
    loser.make_offer(request_id, "650").await;
    let offer_id = app.offer_id(request_id, "w@example.com").await;
    let losing_offer = app.offer_id(request_id, "l@example.com").await;
    // Both vendors have the request page open, with its forms.
    for (vendor, offer) in [(&winner, offer_id), (&loser, losing_offer)] {
        let page = vendor.get(&format!("/requests/{request_id}")).await;
        assert!(page.body.contains(&format!("/offers/{offer}/update")));
        assert!(
            page.body
                .contains(&format!(r#"id="offer-forms-{request_id}""#)),
            "{}",
            page.body
        );
    }
    let mut winning = winner.events(None).await;
    let mut losing = loser.events(None).await;

    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");

    let pushed = next_of(&mut winning, "offer_accepted").await;
    assert!(
        pushed.contains(&format!(
            r#"<section id="request-{request_id}" data-hx-swap-oob="true""#
        )),
        "{pushed}"
    );
    assert!(
        pushed.contains(&format!(
            r#"Your offer was accepted — <a href="/orders/{order_id}">go to order #{order_id}</a>"#
        )),
        "{pushed}"
    );
    assert!(
        pushed.contains(&format!(
            r#"id="offer-forms-{request_id}" data-hx-swap-oob="true""#
        )),
        "the forms' place is swapped: {pushed}"
    );
    assert!(
        !pushed.contains("/update") && !pushed.contains("/withdraw"),
        "{pushed}"
    );

    let pushed = next_of(&mut losing, "offer_rejected").await;
    assert!(pushed.contains("Another laundry was chosen"), "{pushed}");
    assert!(
        pushed.contains(&format!(
            r#"id="offer-forms-{request_id}" data-hx-swap-oob="true""#
        )),
        "{pushed}"
    );
    assert!(
        !pushed.contains("/update") && !pushed.contains("/withdraw"),
        "{pushed}"
    );
    assert!(!pushed.contains(&format!("/orders/{order_id}")), "{pushed}");

    // Loaded afterwards: the winner reads it with the way to the order ...
    let page = winner.get(&format!("/requests/{request_id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!(
        r#"<a href="/orders/{order_id}">go to order #{order_id}</a>"#
    )));
    assert!(!page.body.contains("Update my offer") && !page.body.contains("Withdraw my offer"));
    assert!(
        !page.body.contains("House 7"),
        "the address stays on the order page"
    );
    // ... and the loser sees their offer not chosen, without forms.
    let page = loser.get(&format!("/requests/{request_id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Another laundry was chosen"));
    assert!(page.body.contains("Not chosen"));
    assert!(
        !page.body.contains("<form class=\"stack\""),
        "no offer form"
    );
    assert!(!page.body.contains(&format!("/orders/{order_id}")));
    // A vendor who never offered still learns nothing of a closed request.
    let stranger = app.vendor("s@example.com").await;
    let page = stranger.get(&format!("/requests/{request_id}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

/// One tag's attributes, with entities decoded.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        if end == 0 {
            return out;
        }
        let name = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, tail) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = after[1..].find(q).map_or(after.len(), |i| i + 1);
                    (&after[1..close], after.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let close = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..close], &after[close..])
                }
            };
            rest = tail;
            decode(value)
        } else {
            String::new()
        };
        out.push((name, value));
    }
}

fn decode(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The links of a page: every `<a href>`, and every GET form submitted
/// with the values it is drawn with.
fn links(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    // The GET form being read: its action and fields.
    let mut form: Option<(String, Vec<(String, String)>)> = None;
    let mut select: Option<(String, Option<String>)> = None;
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '/' && !tag.starts_with('/'))
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        let attrs = attributes(&tag[name_end..]);
        match name.as_str() {
            "a" => found.extend(attr(&attrs, "href").map(str::to_owned)),
            "form" => {
                let method = attr(&attrs, "method").unwrap_or("get");
                form = method
                    .eq_ignore_ascii_case("get")
                    .then(|| (attr(&attrs, "action").unwrap_or("").to_owned(), Vec::new()));
            }
            "input" => {
                let kind = attr(&attrs, "type").unwrap_or("text").to_ascii_lowercase();
                let checkable = kind == "checkbox" || kind == "radio";
                if let (Some((_, fields)), Some(field)) = (form.as_mut(), attr(&attrs, "name"))
                    && kind != "submit"
                    && (!checkable || attr(&attrs, "checked").is_some())
                {
                    let value = attr(&attrs, "value").unwrap_or(if checkable { "on" } else { "" });
                    fields.push((field.to_owned(), value.to_owned()));
                }
            }
            "select" => select = attr(&attrs, "name").map(|n| (n.to_owned(), None)),
            "option" => {
                if let Some((_, chosen)) = select.as_mut() {
                    let value = attr(&attrs, "value").unwrap_or("").to_owned();
                    if chosen.is_none() || attr(&attrs, "selected").is_some() {
                        *chosen = Some(value);
                    }
                }
            }
            "/select" => {
                if let (Some((_, fields)), Some((field, Some(value)))) =
                    (form.as_mut(), select.take())
                {
                    fields.push((field, value));
                }
            }
            "/form" => {
                if let Some((action, fields)) = form.take() {
                    let query = serde_urlencoded::to_string(&fields).unwrap();
                    found.push(format!("{action}?{query}"));
                }
            }
            _ => {}
        }
    }
    found
}

/// What a crawl saw: how many URLs it fetched, the HTML pages it read (path
/// and body, each once), and the links that lead to a 4xx or 5xx, each with the
/// page that held it.
pub struct Crawl {
    pub visited: usize,
    pub pages: Vec<(String, String)>,
    pub broken: Vec<String>,
}

/// Every page reachable from where `browser` lands, breadth first, at most
/// `bound` URLs.
pub async fn crawl(browser: &Browser, start: &str, bound: usize) -> Crawl {
    crawl_kinds(browser, start, bound, usize::MAX).await
}

/// What kind of page a URL is: its path with ids as `N`, and the names of
/// its query's fields (`/orders/N`, `/admin/orders?page`).
fn kind(url: &Url) -> String {
    let path: Vec<&str> = url
        .path()
        .split('/')
        .map(|part| {
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                "N"
            } else {
                part
            }
        })
        .collect();
    let mut fields: Vec<String> = url
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect();
    fields.sort();
    format!("{}?{}", path.join("/"), fields.join("&"))
}

/// [`crawl`], following at most `per_kind` links to each kind of page
/// (the first found, breadth first): every kind of page of a demo with
/// months of history, without every one of its orders.
pub async fn crawl_kinds(browser: &Browser, start: &str, bound: usize, per_kind: usize) -> Crawl {
    let base = Url::parse(&browser.base).unwrap();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([(start.to_owned(), "(start)".to_owned())]);
    seen.insert(start.to_owned());
    let mut broken = Vec::new();
    let mut pages = Vec::new();
    let mut visited = 0;
    while let Some((path, from)) = queue.pop_front() {
        if visited == bound {
            break;
        }
        visited += 1;
        let page = browser.get(&path).await;
        let here = base.join(&path).unwrap();
        let mut next = Vec::new();
        if page.status.is_redirection() {
            next.extend(page.location().map(str::to_owned));
        } else if page.status.is_client_error() || page.status.is_server_error() {
            broken.push(format!("{} {path} (linked from {from})", page.status));
            continue;
        } else {
            next = links(&page.body);
            let html = page.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if html.is_some_and(|v| v.starts_with("text/html")) {
                pages.push((path.clone(), page.body));
            }
        }
        for link in next {
            let Ok(mut url) = here.join(&link) else {
                broken.push(format!("bad link {link:?} on {path}"));
                continue;
            };
            url.set_fragment(None);
            if url.origin() != base.origin() {
                continue;
            }
            let target = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            };
            let skipped = ["/logout", "/events", "/static"]
                .iter()
                .any(|skip| url.path() == *skip || url.path().starts_with(&format!("{skip}/")));
            if skipped || seen.contains(&target) {
                continue;
            }
            let taken = kinds.entry(kind(&url)).or_default();
            if *taken < per_kind {
                *taken += 1;
                seen.insert(target.clone());
                queue.push_back((target, path.clone()));
            }
        }
    }
    Crawl {
        visited,
        pages,
        broken,
    }
}

/// How many pages of one kind a crawl of the demo follows: more than
/// today's orders (every status), well short of the history's.
pub const PER_KIND: usize = 25;

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live10_no_link_on_any_demo_page_leads_to_an_error(pool: PgPool) {
    seed_if_empty(&pool, 1000).await.unwrap();
    let app = TestApp::spawn(pool).await;
    app.seed_demo_payments().await;
    let mut broken = Vec::new();
    let anonymous = app.browser();
    let mut found = crawl_kinds(&anonymous, "/", 400, PER_KIND).await;
    assert!(
        found.visited > 2,
        "the visitor reached {} pages",
        found.visited
    );
    broken.append(&mut found.broken);
    for (_, email) in DEMO_LOGINS {
        let browser = app.browser();
        let login = browser.login(email, DEMO_PASSWORD).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{email}");
        let found = crawl_kinds(&browser, "/", 400, PER_KIND).await;
        assert!(found.visited > 5, "{email} reached {} pages", found.visited);
        assert!(found.visited < 400, "{email}'s crawl stopped at its bound");
        broken.extend(found.broken.into_iter().map(|b| format!("{email}: {b}")));
    }
    assert!(
        broken.is_empty(),
        "links that lead nowhere:\n{}",
        broken.join("\n")
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live10_offer_notes_written_before_lead_to_the_request(pool: PgPool) {
    seed_if_empty(&pool, 1000).await.unwrap();
    // Notes as they were written before: to the vendors' own list.
    let old = sqlx::query(
        "UPDATE notifications n SET link = '/offers' FROM events e
         WHERE e.id = n.event_id AND e.kind IN ('offer_rejected', 'offer_expired')",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(old > 0, "the demo has such notes");
    sqlx::raw_sql(include_str!(
        "../../migrations/20261125000005_offer_note_links.sql"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let app = TestApp::spawn(pool).await;
    for (_, email) in DEMO_LOGINS {
        let browser = app.browser();
        browser.login(email, DEMO_PASSWORD).await;
        let broken = crawl(&browser, "/notifications", 60).await.broken;
        assert!(broken.is_empty(), "{email}: {}", broken.join("\n"));
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live10_a_city_board_stream_gets_only_that_citys_new_requests(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;

    let board = vendor.get("/board?city=Pokhara").await;
    assert!(board.body.contains(r#"id="board-empty""#), "{}", board.body);
    let head = board
        .body
        .split("/events?last_event_id=")
        .nth(1)
        .and_then(|rest| rest.split(['&', '"']).next())
        .expect("the board opens its stream")
        .to_owned();
    assert!(
        board.body.contains(&format!(
            r#"data-sse-connect="/events?last_event_id={head}&#38;drawn={head}&#38;rows=&#38;city=Pokhara""#
        )) || board.body.contains(&format!(
            r#"data-sse-connect="/events?last_event_id={head}&amp;drawn={head}&amp;rows=&amp;city=Pokhara""#
        )),
        "the board passes its filter (and its rows: none) to the stream: {}",
        board.body
    );
    let mut pokhara_board = vendor
        .events_at(&format!("/events?last_event_id={head}&city=pokhara"))
        .await;
    let other = app.vendor("o@example.com").await;
    let mut whole_board = other.events(Some(&head)).await;

    let kathmandu = customer.create_request().await;
    let mut fields = request_fields();
    for (name, value) in &mut fields {
        if *name == "city" {
            *value = "Pokhara".into();
        }
    }
    let page = customer.post("/requests", &fields).await;
    let pokhara = id_after(page.location().unwrap(), "/requests/");

    // The Kathmandu request sends nothing to the Pokhara board (no row, no
    // notice, no frame) ...
    // ... the Pokhara one its row.
    let row = pokhara_board.next().await;
    assert_eq!(row.event, "request_created");
    assert!(
        row.data.contains(&format!(
            r#"id="request-row-{pokhara}" data-request-id="{pokhara}""#
        )),
        "{}",
        row.data
    );
    assert!(
        row.data
            .contains(r#"<p id="board-empty" data-hx-swap-oob="delete"></p>"#),
        "the empty message goes: {}",
        row.data
    );
    while let Some(event) = pokhara_board.next_within(QUIET).await {
        assert!(
            !event.data.contains(&format!("#{kathmandu}")),
            "{}",
            event.data
        );
    }
    // An unfiltered board gets both.
    let first = next_of(&mut whole_board, "request_created").await;
    let second = next_of(&mut whole_board, "request_created").await;
    assert!(
        first.contains(&format!(
            r#"id="request-row-{kathmandu}" data-request-id="{kathmandu}""#
        )),
        "{first}"
    );
    assert!(
        second.contains(&format!(
            r#"id="request-row-{pokhara}" data-request-id="{pokhara}""#
        )),
        "{second}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live10_live_board_and_request_page_in_a_real_browser(pool: PgPool) {
    use fantoccini::Locator;

    use crate::browser::{browser, driver, log_in};

    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let everywhere_http = app.vendor("a@example.com").await;
    app.vendor("p@example.com").await;
    let base = format!("http://{}", app.addr);
    let driver = driver();
    let everywhere = browser(&driver).await;
    let pokhara = browser(&driver).await;
    log_in(&everywhere, &base, "a@example.com").await;
    log_in(&pokhara, &base, "p@example.com").await;
    everywhere.goto(&format!("{base}/board")).await.unwrap();
    pokhara
        .goto(&format!("{base}/board?city=Pokhara"))
        .await
        .unwrap();
    for page in [&everywhere, &pokhara] {
        page.wait()
            .for_element(Locator::Id("board-empty"))
            .await
            .expect("an empty board says so");
    }
    let wait = Duration::from_secs(10);

    let kathmandu = customer.create_request().await;
    everywhere
        .wait()
        .at_most(wait)
        .for_element(Locator::Css(&format!(
            r#"#board-rows article[data-request-id="{kathmandu}"]"#
        )))
        .await
        .expect("the new request appears on the unfiltered board");
    assert!(
        everywhere.find(Locator::Id("board-empty")).await.is_err(),
        "the empty message went"
    );
    let mut fields = request_fields();
    for (name, value) in &mut fields {
        if *name == "city" {
            *value = "Pokhara".into();
        }
    }
    let in_pokhara = id_after(
        customer
            .post("/requests", &fields)
            .await
            .location()
            .unwrap(),
        "/requests/",
    );
    pokhara
        .wait()
        .at_most(wait)
        .for_element(Locator::Css(&format!(
            r#"#board-rows article[data-request-id="{in_pokhara}"]"#
        )))
        .await
        .expect("the Pokhara request appears on the Pokhara board");
    // Events arrive in order: the Kathmandu one came first, and drew nothing.
    let rows = pokhara
        .find_all(Locator::Css("#board-rows article"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only Pokhara's row");
    assert!(pokhara.find(Locator::Id("board-empty")).await.is_err());

    // The vendor offers and keeps the request page open; the customer accepts.
    everywhere_http.make_offer(kathmandu, "500").await;
    let offer_id = app.offer_id(kathmandu, "a@example.com").await;
    everywhere
        .goto(&format!("{base}/requests/{kathmandu}"))
        .await
        .unwrap();
    everywhere
        .wait()
        .for_element(Locator::Css(&format!(
            r#"form[action="/offers/{offer_id}/update"]"#
        )))
        .await
        .unwrap();
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    everywhere
        .wait()
        .at_most(wait)
        .for_element(Locator::Css(&format!(
            r#"#request-{kathmandu} a[href="/orders/{order_id}"]"#
        )))
        .await
        .expect("the page switches to the order");
    assert!(
        everywhere
            .find(Locator::Css(&format!(r#"#offer-forms-{kathmandu} form"#)))
            .await
            .is_err(),
        "the forms are gone"
    );
    everywhere.close().await.unwrap();
    pokhara.close().await.unwrap();
}
