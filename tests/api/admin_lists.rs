//! The admin's long lists (orders, requests, offers) link to their next
//! and previous pages by the row at the page's edge (keyset pagination):
//! walked either way they show every row once, in the list's order, and a
//! bare page number (a bookmark) still shows that page.

use dhune::market::generate::{GENERATED_ADMIN, GENERATED_PASSWORD, Plan, generate};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::TestApp;
use crate::stats::unescape;

/// The ids in the list's first column (`#123`), top to bottom.
fn ids(body: &str, label: &str) -> Vec<i64> {
    let cell = format!(r#"<td data-label="{label}">"#);
    body.match_indices(&cell)
        .map(|(at, _)| {
            let rest = &body[at + cell.len()..];
            let digits: String = rest[rest.find('#').expect("an id") + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().expect("a numeric id")
        })
        .collect()
}

/// The address of the page's `rel` ("next" or "prev") link.
fn link(body: &str, rel: &str) -> Option<String> {
    let end = body.find(&format!(r#"" rel="{rel}""#))?;
    let start = body[..end].rfind(r#"href=""#)? + r#"href=""#.len();
    Some(unescape(&body[start..end]))
}

#[sqlx::test]
async fn long_admin_lists_walk_by_rows_both_ways(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let plan = Plan {
        customers: 12,
        vendors: 3,
        orders: 55,
        weeks: 6,
        seed: 11,
        commission_bps: 1000,
        auto_complete_hours: 48,
        unpaid_cancel_hours: 24,
        batch: 100,
    };
    generate(&pool, &plan, |_| {}).await.expect("generate");
    let admin = app.browser();
    let login = admin.login(GENERATED_ADMIN, GENERATED_PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);

    for (path, table, label, status) in [
        ("/admin/orders", "orders", "Order", "COMPLETED"),
        ("/admin/requests", "requests", "Request", "ORDER_CREATED"),
        ("/admin/offers", "offers", "Offer", "REJECTED"),
    ] {
        for filter in ["", status] {
            let expected: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT id FROM {table} WHERE $1 = '' OR status = $1
                 ORDER BY created_at DESC, id DESC"
            ))
            .bind(filter)
            .fetch_all(&pool)
            .await
            .expect("ids");
            assert!(
                expected.len() > 40,
                "{table} {filter}: three pages at least"
            );
            let first = if filter.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?status={filter}")
            };

            // Forward by the Next links: every row once, in order.
            let mut pages = vec![first];
            let mut shown: Vec<Vec<i64>> = Vec::new();
            loop {
                let url = pages.last().expect("a page").clone();
                let page = admin.get(&url).await;
                assert_eq!(page.status, StatusCode::OK, "{url}");
                shown.push(ids(&page.body, label));
                match link(&page.body, "next") {
                    Some(next) => {
                        assert!(next.contains("&after="), "{next}: by the row");
                        assert!(
                            filter.is_empty() || next.contains(&format!("status={filter}")),
                            "{next} keeps the filter"
                        );
                        pages.push(next);
                    }
                    None => break,
                }
            }
            assert_eq!(shown.concat(), expected, "{url}: forward", url = pages[0]);
            assert!(shown.iter().all(|rows| rows.len() <= 20));

            // Back by the Previous links from the last page: the same pages.
            let mut at = pages.len() - 1;
            let mut url = pages[at].clone();
            loop {
                let page = admin.get(&url).await;
                assert_eq!(ids(&page.body, label), shown[at], "{url}: back");
                assert!(
                    page.body.contains(&format!(
                        r#"<span aria-current="page">Page {}</span>"#,
                        at + 1
                    )),
                    "{url} is page {}",
                    at + 1
                );
                match link(&page.body, "prev") {
                    Some(prev) => {
                        assert!(prev.contains("&before="), "{prev}: by the row");
                        at -= 1;
                        url = prev;
                    }
                    None => break,
                }
            }
            assert_eq!(at, 0, "back to the first page");

            // A bare page number shows the page the links led to.
            let sep = if filter.is_empty() { '?' } else { '&' };
            let bookmark = admin.get(&format!("{}{sep}page=2", pages[0])).await;
            assert_eq!(ids(&bookmark.body, label), shown[1]);
        }
    }
}
