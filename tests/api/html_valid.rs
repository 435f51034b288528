//! Every page is valid HTML (issue 10, item 8): the Nu HTML checker (vnu.jar,
//! from the npm registry; `scripts/test` fetches it) reads every page of the
//! demo each role can reach by link, the pages of refused forms and the
//! fragments the live stream pushes, in one run, and the test fails on any
//! error, naming its page.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, EventStream, TestApp, id_after, offer_fields, signup_fields};
use crate::live_pages::{PER_KIND, crawl_kinds};
use dhune::demo::{DEMO_LOGINS, DEMO_PASSWORD, seed_if_empty};

const SKIP: &str = "DHUNE_SKIP_HTML_CHECK";
/// How long a live stream stays quiet once it has sent everything.
const QUIET: Duration = Duration::from_millis(800);

/// The checker's jar, or `None` when the check is skipped on purpose
/// (`DHUNE_SKIP_HTML_CHECK=1`). Missing otherwise, the test fails: a check
/// that passes because it could not run would hide every error.
pub(crate) fn checker() -> Option<PathBuf> {
    if std::env::var(SKIP).is_ok_and(|v| v == "1") {
        // Straight to stderr, past the test harness's capture: seen even
        // when the test passes.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! HTML VALIDATION SKIPPED ({SKIP}=1): no page's HTML was checked !!!\n"
        );
        return None;
    }
    let jar = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/vnu-jar/build/dist/vnu.jar");
    assert!(
        jar.is_file(),
        "the Nu HTML checker is missing ({}): run scripts/test, or `npm ci --ignore-scripts` \
         (it needs Java 11 or later); {SKIP}=1 skips this check",
        jar.display()
    );
    Some(jar)
}

/// The pages to check: (what it is, HTML).
pub(crate) type Pages = Vec<(String, String)>;

/// The actions of the POST forms on a page.
fn post_actions(body: &str) -> Vec<String> {
    body.split("<form")
        .skip(1)
        .filter_map(|form| {
            let tag = &form[..form.find('>')?];
            if !tag.contains(r#"method="post""#) {
                return None;
            }
            let start = tag.find(r#"action=""#)? + r#"action=""#.len();
            let end = tag[start..].find('"')? + start;
            Some(tag[start..end].to_owned())
        })
        .collect()
}

/// Posts `fields` to `action` and keeps the page that refuses them.
async fn refused(
    pages: &mut Pages,
    who: &str,
    browser: &Browser,
    action: &str,
    fields: &[(&str, String)],
) {
    let page = browser.post(action, fields).await;
    assert!(
        page.status.is_client_error(),
        "{who}: POST {action} with {fields:?} was not refused: {} {}",
        page.status,
        page.body
    );
    pages.push((format!("{who}: POST {action} ({})", page.status), page.body));
}

/// The forms sent empty to see them refused, by action with ids as `N`.
const REFUSABLE: [&str; 9] = [
    "/requests",
    "/requests/N/offers",
    "/offers/N/update",
    "/orders/N/cancel",
    "/orders/N/dispute",
    "/admin/orders/N/cancel",
    "/admin/users/N/suspend",
    "/admin/disputes/N/resolve",
    "/admin/payouts/N/paid",
];

/// Every page one signed-in person reaches by link, then each kind of
/// their forms in `REFUSABLE` sent empty (the first of each kind found on
/// those pages); returns the kinds sent.
async fn pages_of(pages: &mut Pages, browser: &Browser, who: &str) -> Vec<String> {
    let found = crawl_kinds(browser, "/", 400, PER_KIND).await;
    assert!(found.visited > 5, "{who} reached {} pages", found.visited);
    assert!(found.visited < 400, "{who}'s crawl stopped at its bound");
    let mut actions: Vec<(String, String)> = Vec::new();
    for (path, body) in found.pages {
        for action in post_actions(&body) {
            let kind = action
                .split('/')
                .map(|part| {
                    if part.parse::<i64>().is_ok() {
                        "N"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            if REFUSABLE.contains(&kind.as_str()) && !actions.iter().any(|(k, _)| *k == kind) {
                actions.push((kind, action));
            }
        }
        pages.push((format!("{who}: GET {path}"), body));
    }
    for (_, action) in &actions {
        refused(pages, who, browser, action, &[]).await;
    }
    actions.into_iter().map(|(kind, _)| kind).collect()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn html10_every_demo_page_is_valid_html(pool: PgPool) {
    let Some(jar) = checker() else { return };
    seed_if_empty(&pool, 1000).await.unwrap();
    let app = TestApp::spawn(pool).await;
    app.seed_demo_payments().await;
    let mut pages = Pages::new();

    let visitor = app.browser();
    let found = crawl_kinds(&visitor, "/", 400, PER_KIND).await;
    assert!(
        found.visited > 2,
        "the visitor reached {} pages",
        found.visited
    );
    pages.extend(
        found
            .pages
            .into_iter()
            .map(|(path, body)| (format!("visitor: GET {path}"), body)),
    );
    let missing = visitor.get("/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    pages.push(("visitor: GET /no-such-page (404)".into(), missing.body));
    let page = visitor.login(DEMO_LOGINS[1].1, "not-the-password").await;
    assert!(page.status.is_client_error(), "{}", page.status);
    pages.push(("visitor: wrong password".into(), page.body));
    let empty = [("role", "vendor".to_owned())];
    refused(&mut pages, "visitor", &visitor, "/signup", &empty).await;
    // An email already registered and a phone number too short.
    let mut taken = signup_fields("Sita Again", DEMO_LOGINS[1].1, "customer");
    taken[2].1 = "12".into();
    refused(&mut pages, "visitor", &visitor, "/signup", &taken).await;

    let mut sent = Vec::new();
    for (_, email) in DEMO_LOGINS {
        let browser = app.browser();
        let login = browser.login(email, DEMO_PASSWORD).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{email}");
        sent.extend(pages_of(&mut pages, &browser, email).await);
    }
    for kind in REFUSABLE {
        assert!(
            sent.iter().any(|k| k == kind),
            "no form {kind} was found to refuse"
        );
    }

    pages.extend(live_fragments(&app).await);

    let mut errors = validate(&jar, &pages);
    errors.sort();
    assert!(
        errors.is_empty(),
        "the Nu HTML checker found {} errors on {} pages:\n{}",
        errors.len(),
        pages.len(),
        errors.join("\n")
    );
}

/// The fragments the live stream pushes as a request goes from posted to a
/// settled dispute, each event's as a document of its own (see [`document`]).
async fn live_fragments(app: &TestApp) -> Pages {
    let customer = app.customer("live-c@example.com").await;
    let winner = app.vendor("live-w@example.com").await;
    let loser = app.vendor("live-l@example.com").await;
    let admin = app.admin("live-a@example.com").await;
    let mut streams = [
        ("customer", customer.events(None).await),
        ("winning laundry", winner.events(None).await),
        ("losing laundry", loser.events(None).await),
        ("admin", admin.events(None).await),
    ];

    let mut fragments = Pages::new();

    let request_id = customer.create_request().await;
    // A board row is drawn when it is sent, and a laundry's board leaves out
    // the requests it has offered on: each row is read before the offers.
    for (who, stream) in &mut streams[1..3] {
        read_until(stream, who, "request_created", &mut fragments).await;
    }
    winner.make_offer(request_id, "500").await;
    loser.make_offer(request_id, "650").await;
    let offer_id = app.offer_id(request_id, "live-w@example.com").await;
    let update = winner
        .post(&format!("/offers/{offer_id}/update"), &offer_fields("450"))
        .await;
    assert_eq!(update.status, StatusCode::SEE_OTHER, "{}", update.body);
    let version = app
        .count(&format!(
            "SELECT version::bigint FROM offers WHERE id = {offer_id}"
        ))
        .await;
    let accepted = customer.accept(offer_id, version as i32).await;
    let order_id = id_after(accepted.location().expect("to the order"), "/orders/");
    let order = format!("/orders/{order_id}");
    for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
        let moved = winner
            .post(&format!("{order}/status"), &[("status", step.into())])
            .await;
        assert_eq!(
            moved.status,
            StatusCode::SEE_OTHER,
            "{step}: {}",
            moved.body
        );
    }
    let disputed = customer
        .post(
            &format!("{order}/dispute"),
            &[("reason", "A shirt is missing.".into())],
        )
        .await;
    assert_eq!(disputed.status, StatusCode::SEE_OTHER, "{}", disputed.body);
    let dispute_id = app
        .count(&format!(
            "SELECT id FROM disputes WHERE order_id = {order_id}"
        ))
        .await;
    let resolved = admin
        .post(
            &format!("/admin/disputes/{dispute_id}/resolve"),
            &[("outcome", "refund".into()), ("note", "Refunded.".into())],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.body);
    let cancelled = customer.create_request().await;
    customer
        .post(&format!("/requests/{cancelled}/cancel"), &[])
        .await
        .assert_redirect(&format!("/requests/{cancelled}"));

    for (who, stream) in &mut streams {
        read_until(stream, who, "", &mut fragments).await;
    }
    let kinds: Vec<&str> = fragments.iter().map(|(what, _)| what.as_str()).collect();
    for kind in [
        "request_created",
        "offer_created",
        "offer_updated",
        "offer_accepted",
        "offer_rejected",
        "order_status_updated",
        "dispute_opened",
        "dispute_resolved",
        "request_cancelled",
    ] {
        assert!(
            kinds
                .iter()
                .any(|k| k.starts_with(&format!("live {kind} "))),
            "no {kind} fragment among {kinds:#?}"
        );
    }
    assert!(
        fragments.iter().any(|(what, html)| what
            .starts_with("live request_created to the winning")
            && html.contains(r#"<article class="card request-card is-new""#)),
        "a board card is among the fragments"
    );
    fragments
}

/// Reads the events of `stream` into `fragments` up to and with one of
/// `kind`, or all until it goes quiet when `kind` is empty.
async fn read_until(stream: &mut EventStream, who: &str, kind: &str, fragments: &mut Pages) {
    loop {
        let event = if kind.is_empty() {
            match stream.next_within(QUIET).await {
                Some(event) => event,
                None => return,
            }
        } else {
            stream.next().await
        };
        let what = format!("live {} to the {who} (event {})", event.event, event.id);
        fragments.push((what, document(&event.data)));
        if event.event == kind {
            return;
        }
    }
}

/// A pushed fragment as a page the checker reads: each of its top-level
/// elements (htmx swaps each into its place) in the parent it goes into,
/// a table row in a table, a list item in a list.
fn document(fragment: &str) -> String {
    let mut body = String::new();
    for part in top_level(fragment) {
        let wrapped = if part.starts_with("<tr") {
            format!("<table><tbody>{part}</tbody></table>")
        } else if part.starts_with("<li") {
            format!("<ul>{part}</ul>")
        } else {
            part.to_owned()
        };
        body.push_str(&wrapped);
        body.push('\n');
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Live fragment</title></head>\n<body>\n{body}</body></html>\n"
    )
}

/// The top-level elements of an HTML fragment (askama escapes every `<` in
/// text and attributes, so each `<` starts a tag).
fn top_level(fragment: &str) -> Vec<&str> {
    const VOID: [&str; 6] = ["input", "br", "img", "hr", "meta", "link"];
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut at = 0;
    while let Some(open) = fragment[at..].find('<') {
        let open = at + open;
        let close = fragment[open..]
            .find('>')
            .map_or(fragment.len(), |c| open + c + 1);
        let tag = &fragment[open + 1..close - 1];
        if depth == 0 {
            start = open;
        }
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
        } else {
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("");
            if !VOID.contains(&name.to_ascii_lowercase().as_str()) && !tag.ends_with('/') {
                depth += 1;
            }
        }
        if depth == 0 {
            parts.push(&fragment[start..close]);
        }
        at = close;
    }
    parts
}

/// Runs the checker once on all pages; its errors, each with its page.
pub(crate) fn validate(jar: &Path, pages: &[(String, String)]) -> Vec<String> {
    // A folder of its own per call: tests run at once in one process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dhune-html-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = pages
        .iter()
        .enumerate()
        .map(|(i, (_, body))| {
            let file = dir.join(format!("page-{i}.html"));
            std::fs::write(&file, body).unwrap();
            file
        })
        .collect();
    let output = Command::new("java")
        .args(["-jar"])
        .arg(jar)
        .args(["--errors-only", "--format", "json", "--stdout"])
        .args(&files)
        .output()
        .expect("java runs (the Nu HTML checker needs Java 11 or later)");
    std::fs::remove_dir_all(&dir).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the checker's report is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let messages = report["messages"].as_array().expect("messages");
    messages
        .iter()
        .map(|m| {
            let url = m["url"].as_str().unwrap_or("");
            let page = url
                .rsplit_once("page-")
                .and_then(|(_, tail)| tail.strip_suffix(".html")?.parse::<usize>().ok())
                .map_or(url, |i| pages[i].0.as_str());
            format!(
                "{page}, line {}: {} [{}]",
                m["lastLine"],
                m["message"].as_str().unwrap_or(""),
                m["extract"].as_str().unwrap_or("").replace('\n', " ")
            )
        })
        .collect()
}
