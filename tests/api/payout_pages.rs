//! The payout pages (issue 12, items 3 and 4): a laundry's statements, one
//! statement with its lines, totals and CSV, the admin's list with its
//! filters and totals, and marking a statement paid. Statements are made
//! as in `statements.rs`: orders paid and refunded over HTTP, then the
//! sweep's `issue_statements` at a `now` weeks ahead.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, Page, TestApp};
use crate::statements::{issue, later, paid_online, refund};

const VENDOR: &str = "v@example.com";
const OTHER: &str = "w@example.com";

/// Two laundries' statements: the first laundry's week of online, cash and
/// refunded orders (`first`), a clawback the week after (`clawback`, a
/// negative net), and a statement carrying it (`carrying`), with one more
/// order not yet on a statement; the other laundry's cash week (`other`,
/// negative).
struct World {
    customer: Browser,
    vendor: Browser,
    other_vendor: Browser,
    admin: Browser,
    first: i64,
    clawback: i64,
    carrying: i64,
    other: i64,
    online_order: i64,
}

async fn world(app: &TestApp) -> World {
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let other_vendor = app.vendor(OTHER).await;
    let admin = app.admin("admin@example.com").await;
    sqlx::query(
        "UPDATE vendors SET business_name = 'Himal Wash'
         WHERE user_id = (SELECT id FROM users WHERE email = $1)",
    )
    .bind(OTHER)
    .execute(&app.pool)
    .await
    .expect("rename");
    let online_order = paid_online(app, &customer, &vendor, "1000").await;
    app.delivered(&customer, &vendor, VENDOR, "500").await;
    let refunded = paid_online(app, &customer, &vendor, "500").await;
    refund(app, &admin, refunded, "100").await;
    app.delivered(&customer, &other_vendor, OTHER, "1000").await;
    assert_eq!(issue(app, later(8)).await, 2);
    refund(app, &admin, online_order, "200").await;
    assert_eq!(issue(app, later(15)).await, 1);
    paid_online(app, &customer, &vendor, "2000").await;
    assert_eq!(issue(app, later(22)).await, 1);
    // This week's: on no statement yet.
    paid_online(app, &customer, &vendor, "300").await;
    let ids = |email: &'static str| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT s.id FROM payout_statements s JOIN users u ON u.id = s.vendor_id
             WHERE u.email = $1 ORDER BY s.period_start",
        )
        .bind(email)
        .fetch_all(&app.pool)
        .await
        .expect("statements")
    };
    let mine = ids(VENDOR).await;
    let theirs = ids(OTHER).await;
    assert_eq!((mine.len(), theirs.len()), (3, 1));
    World {
        customer,
        vendor,
        other_vendor,
        admin,
        first: mine[0],
        clawback: mine[1],
        carrying: mine[2],
        other: theirs[0],
        online_order,
    }
}

/// The visible text of some HTML: tags removed, entities of the figures
/// read, whitespace collapsed.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#35;", "#")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Paisa of an amount as the page shows it: `Rs 1,250.50`, `-Rs 5.00`.
fn shown_paisa(shown: &str) -> i64 {
    let (sign, rest) = match shown.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, shown),
    };
    let digits = rest
        .strip_prefix("Rs ")
        .unwrap_or_else(|| panic!("{shown:?} is not an amount"))
        .replace(',', "");
    sign * decimal_paisa(&digits)
}

/// Paisa of a plain decimal with exactly two places: `1250.50`, `-5.00`.
fn decimal_paisa(decimal: &str) -> i64 {
    let (sign, rest) = match decimal.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, decimal),
    };
    let (rupees, paisa) = rest
        .split_once('.')
        .unwrap_or_else(|| panic!("{decimal:?} has no decimals"));
    assert_eq!(paisa.len(), 2, "{decimal:?}: two decimals");
    sign * (rupees.parse::<i64>().expect("rupees") * 100 + paisa.parse::<i64>().expect("paisa"))
}

/// The elements opened by `<tr {marker}`, each up to its `</tr>`.
fn rows<'a>(body: &'a str, marker: &str) -> Vec<&'a str> {
    body.split(&format!("<tr {marker}"))
        .skip(1)
        .map(|row| &row[..row.find("</tr>").expect("end of row")])
        .collect()
}

/// The cells (`<td`) of a row, as text.
fn cells(row: &str) -> Vec<String> {
    row.split("<td")
        .skip(1)
        .map(|cell| {
            text(&format!(
                "<td{}",
                &cell[..cell.find("</td>").expect("cell")]
            ))
        })
        .collect()
}

fn attr(row: &str, name: &str) -> String {
    let start = format!(r#"{name}=""#);
    let at = row.find(&start).unwrap_or_else(|| panic!("no {name}")) + start.len();
    row[at..at + row[at..].find('"').expect("quote")].to_owned()
}

/// The ids of the statements listed on a page.
fn listed(body: &str) -> Vec<i64> {
    rows(body, "data-statement-id=")
        .iter()
        .map(|row| {
            row[1..row[1..].find('"').expect("id") + 1]
                .parse()
                .expect("id")
        })
        .collect()
}

/// A statement page's lines: (date, what, order, paisa as shown).
fn page_lines(body: &str) -> Vec<(String, String, String, i64)> {
    rows(body, "data-line-id=")
        .into_iter()
        .map(|row| {
            let cells = cells(row);
            let paisa = shown_paisa(&cells[3]);
            assert_eq!(attr(row, "data-amount-paisa"), paisa.to_string());
            (cells[0].clone(), cells[1].clone(), cells[2].clone(), paisa)
        })
        .collect()
}

/// A statement page's totals: (label, paisa as shown), by `data-total`.
fn page_totals(body: &str) -> Vec<(String, String, i64)> {
    rows(body, "data-total=")
        .into_iter()
        .map(|row| {
            let key = row[1..row[1..].find('"').expect("key") + 1].to_owned();
            let th = &row[row.find("<th").expect("label")..row.find("</th>").expect("label")];
            let paisa = shown_paisa(&cells(row)[0]);
            assert_eq!(attr(row, "data-amount-paisa"), paisa.to_string());
            (key, text(th), paisa)
        })
        .collect()
}

/// The CSV's rows: (kind of row, date, what, order, paisa).
fn csv_rows(csv: &Page) -> Vec<(String, String, String, String, i64)> {
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "Row",
            "Statement",
            "Laundry",
            "Week",
            "Date",
            "What",
            "Order",
            "Amount (Rs)"
        ]
    );
    reader
        .records()
        .map(|record| {
            let r = record.expect("a CSV record");
            (
                r[0].to_owned(),
                r[4].to_owned(),
                r[5].to_owned(),
                r[6].to_owned(),
                decimal_paisa(&r[7]),
            )
        })
        .collect()
}

/// The statement's totals by kind as stored, in the page's order.
async fn stored_totals(app: &TestApp, id: i64) -> Vec<i64> {
    let row: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT gross_paisa, commission_paisa, refunds_paisa, clawbacks_paisa, adjustments_paisa,
                carried_paisa, net_paisa FROM payout_statements WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("statement");
    vec![row.0, row.1, row.2, row.3, row.4, row.5, row.6]
}

/// The statement page and its CSV say the same: each line (date, what,
/// order, amount), then each total; and the totals are the stored ones,
/// the sum of the lines.
async fn assert_csv_equals_page(app: &TestApp, browser: &Browser, id: i64) {
    let page = browser.get(&format!("/payouts/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            r#"<a href="/payouts/{id}.csv" download data-hx-boost="false">"#
        )),
        "a plain download, never swapped in by htmx"
    );
    let csv = browser.get(&format!("/payouts/{id}.csv")).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = csv.headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"dhune-statement-{id}-"))
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );

    let lines = page_lines(&page.body);
    let totals = page_totals(&page.body);
    let rows = csv_rows(&csv);
    let (csv_lines, csv_totals): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|row| row.0 == "line");
    assert!(csv_totals.iter().all(|row| row.0 == "total"));
    let csv_lines: Vec<_> = csv_lines
        .into_iter()
        .map(|(_, date, what, order, paisa)| {
            let order = if order.is_empty() {
                order
            } else {
                format!("#{order}")
            };
            (date, what, order, paisa)
        })
        .collect();
    assert_eq!(csv_lines, lines, "statement #{id}: the CSV's lines");
    let csv_totals: Vec<_> = csv_totals
        .into_iter()
        .map(|(_, _, what, _, paisa)| (what, paisa))
        .collect();
    let shown: Vec<_> = totals
        .iter()
        .map(|(_, label, paisa)| (label.clone(), *paisa))
        .collect();
    assert_eq!(csv_totals, shown, "statement #{id}: the CSV's totals");

    let keys: Vec<&str> = totals.iter().map(|(key, _, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "gross",
            "commission",
            "refunds",
            "clawbacks",
            "adjustments",
            "carried",
            "net"
        ]
    );
    let amounts: Vec<i64> = totals.iter().map(|(_, _, paisa)| *paisa).collect();
    assert_eq!(amounts, stored_totals(app, id).await);
    let line_sum: i64 = lines.iter().map(|line| line.3).sum();
    assert_eq!(
        line_sum, amounts[6],
        "statement #{id}: the net is its lines"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_a_laundry_sees_its_statements_lines_and_csv(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let w = world(&app).await;

    let list = w.vendor.get("/payouts").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(listed(&list.body), [w.carrying, w.clawback, w.first]);
    let nets: Vec<String> = rows(&list.body, "data-statement-id=")
        .iter()
        .map(|row| cells(row)[2].clone())
        .collect();
    assert_eq!(nets, ["Rs 1,620.00", "-Rs 180.00", "Rs 1,210.00"]);
    assert!(list.body.contains(r#"data-status="ISSUED""#));
    // The order of Rs 300 this week: the laundry's Rs 270, on no statement.
    let running = &list.body[list.body.find("data-running").expect("running")..];
    assert_eq!(attr(running, "data-balance-paisa"), "27000");
    assert_eq!(attr(running, "data-entries"), "1");
    assert!(text(running).contains("Rs 270.00 from 1 entry"));
    let unlined: i64 = app
        .count(
            "SELECT coalesce(-sum(e.amount_paisa), 0)::bigint FROM ledger_entries e
             JOIN users u ON e.account = 'vendor:' || u.id || ':payable'
             WHERE u.email = 'v@example.com'
               AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = e.id)",
        )
        .await;
    assert_eq!(unlined, 27_000);
    assert!(list.body.contains(r#"href="/payouts""#), "the navigation");

    let first = w.vendor.get(&format!("/payouts/{}", w.first)).await;
    assert_eq!(first.status, StatusCode::OK);
    let whats: Vec<String> = page_lines(&first.body)
        .into_iter()
        .map(|line| line.1)
        .collect();
    assert_eq!(
        whats,
        [
            "Paid online",
            "Commission on a cash order",
            "Paid online",
            "Refund"
        ]
    );
    assert!(
        first
            .body
            .contains(&format!(r#"href="/orders/{}""#, w.online_order))
    );
    assert!(!first.body.contains("Transfer reference"), "no admin form");
    let clawback = w.vendor.get(&format!("/payouts/{}", w.clawback)).await;
    let lines = page_lines(&clawback.body);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].1, "Refund after payout (clawback)");
    assert_eq!(lines[0].2, format!("#{}", w.online_order));
    assert_eq!(lines[0].3, -18_000);
    let carrying = w.vendor.get(&format!("/payouts/{}", w.carrying)).await;
    assert!(
        carrying.body.contains(&format!(
            r#"<a href="/payouts/{0}">Carried from statement #{0}</a>"#,
            w.clawback
        )),
        "{}",
        carrying.body
    );
    for id in [w.first, w.clawback, w.carrying] {
        assert_csv_equals_page(&app, &w.vendor, id).await;
    }
    // An admin sees the same statement, and the same CSV.
    assert_csv_equals_page(&app, &w.admin, w.first).await;
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_nobody_else_sees_a_laundrys_statements(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let w = world(&app).await;

    for path in [
        format!("/payouts/{}", w.other),
        format!("/payouts/{}.csv", w.other),
    ] {
        let page = w.vendor.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("Himal Wash"), "{path}");
    }
    let theirs = w.other_vendor.get("/payouts").await;
    assert_eq!(listed(&theirs.body), [w.other]);
    for path in [
        format!("/payouts/{}", w.first),
        format!("/payouts/{}.csv", w.first),
    ] {
        let page = w.other_vendor.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        let page = w.customer.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("Sparkle"), "{path}");
    }
    assert_eq!(
        w.customer.get("/payouts").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.customer.get("/admin/payouts").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.vendor.get("/admin/payouts").await.status,
        StatusCode::FORBIDDEN
    );
    let anonymous = app.browser();
    let page = anonymous.get(&format!("/payouts/{}.csv", w.first)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().is_some_and(|to| to.starts_with("/login")));
    for path in [
        "/payouts/0",
        "/payouts/-1",
        "/payouts/abc",
        "/payouts/.csv",
        "/payouts/1.csv.csv",
        "/payouts/1.pdf",
        "/payouts/99999999999999999999.csv",
    ] {
        assert_eq!(
            w.vendor.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    app.assert_books_balance().await;
}

/// The values of the admin list's totals row.
fn list_totals(body: &str) -> Vec<i64> {
    let row = &body[body.find("data-totals").expect("totals row")..];
    [
        "data-count",
        "data-gross-paisa",
        "data-commission-paisa",
        "data-refunds-paisa",
        "data-clawbacks-paisa",
        "data-adjustments-paisa",
        "data-carried-paisa",
        "data-net-paisa",
        "data-to-pay-paisa",
    ]
    .iter()
    .map(|name| attr(row, name).parse().expect("a number"))
    .collect()
}

/// The same totals and ids, summed by SQL over the statements `condition`
/// picks (`s` the statement, `v` its vendor, `u` its user).
async fn sql_totals(app: &TestApp, condition: &str) -> (Vec<i64>, Vec<i64>) {
    let from = format!(
        "FROM payout_statements s JOIN vendors v ON v.user_id = s.vendor_id
         JOIN users u ON u.id = s.vendor_id WHERE {condition}"
    );
    let totals: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), coalesce(sum(s.gross_paisa), 0)::bigint,
                coalesce(sum(s.commission_paisa), 0)::bigint,
                coalesce(sum(s.refunds_paisa), 0)::bigint,
                coalesce(sum(s.clawbacks_paisa), 0)::bigint,
                coalesce(sum(s.adjustments_paisa), 0)::bigint,
                coalesce(sum(s.carried_paisa), 0)::bigint, coalesce(sum(s.net_paisa), 0)::bigint,
                coalesce(sum(CASE WHEN s.status = 'ISSUED' AND s.net_paisa > 0
                                  THEN s.net_paisa END), 0)::bigint
         {from}"
    ))
    .fetch_one(&app.pool)
    .await
    .expect(condition);
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT s.id {from} ORDER BY s.period_start DESC, s.id DESC"
    ))
    .fetch_all(&app.pool)
    .await
    .expect(condition);
    let t = totals;
    (vec![t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8], ids)
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_admin_filters_and_totals_match_the_statements(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let w = world(&app).await;
    // One paid, from the filtered list: back to it.
    let back = "/admin/payouts?status=ISSUED&q=sparkle";
    w.admin
        .post(
            &format!("/admin/payouts/{}/paid", w.first),
            &[("reference", "NIC-0001".into()), ("back", back.into())],
        )
        .await
        .assert_redirect(back);

    let week = dhune::domain::payouts::week_start(time::OffsetDateTime::now_utc());
    let second_week = (week + time::Duration::days(9)).to_string();
    let cases: [(String, String); 10] = [
        (String::new(), "true".into()),
        ("status=ISSUED".into(), "s.status = 'ISSUED'".into()),
        ("status=issued".into(), "s.status = 'ISSUED'".into()),
        ("status=PAID".into(), "s.status = 'PAID'".into()),
        ("status=nonsense".into(), "true".into()),
        (
            format!("week={second_week}"),
            format!("'{second_week}'::date BETWEEN s.period_start AND s.period_end"),
        ),
        ("q=himal".into(), "v.business_name ILIKE '%himal%'".into()),
        (
            "q=W%40EXAMPLE&status=ISSUED".into(),
            "u.email ILIKE '%w@example%' AND s.status = 'ISSUED'".into(),
        ),
        // Wildcards match only themselves.
        ("q=%25".into(), "false".into()),
        ("q=_".into(), "false".into()),
    ];
    for (query, condition) in cases {
        let page = w.admin.get(&format!("/admin/payouts?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        let (totals, ids) = sql_totals(&app, &condition).await;
        assert_eq!(listed(&page.body), ids, "{query}: the rows");
        assert_eq!(list_totals(&page.body), totals, "{query}: the totals");
    }
    let (_, everything) = sql_totals(&app, "true").await;
    assert_eq!(everything.len(), 4);
    let (_, week_two) = sql_totals(
        &app,
        &format!("'{second_week}'::date BETWEEN s.period_start AND s.period_end"),
    )
    .await;
    assert_eq!(week_two, [w.clawback], "the week filter picks one week");
    let (totals, _) = sql_totals(&app, "s.status = 'ISSUED'").await;
    assert_eq!(totals[8], 162_000, "to pay: the carrying statement's net");

    // A "Mark paid" form on each issued statement owing nothing to Dhune.
    let all = w.admin.get("/admin/payouts").await;
    for row in rows(&all.body, "data-statement-id=") {
        let id: i64 = row[1..row[1..].find('"').expect("id") + 1]
            .parse()
            .expect("id");
        let form = row.contains(&format!(r#"action="/admin/payouts/{id}/paid""#));
        assert_eq!(form, id == w.carrying, "statement #{id}'s form");
    }
    assert!(all.body.contains(r#"<label for="reference-"#));
    assert!(all.body.contains("Transfer reference"));
    let home = w.admin.get("/admin").await;
    assert!(home.body.contains(r#"href="/admin/payouts""#));

    // More than a page: the totals are of every matching statement, on
    // every page. 22 more weeks of the other laundry, with nothing on them.
    sqlx::query(
        "INSERT INTO payout_statements (vendor_id, period_start, period_end, gross_paisa,
             commission_paisa, refunds_paisa, clawbacks_paisa, carried_paisa, net_paisa)
         SELECT u.id, $2 - 7 * k, $2 - 7 * k + 6, 0, 0, 0, 0, 0, 0
         FROM users u, generate_series(1, 22) AS k WHERE u.email = $1",
    )
    .bind(OTHER)
    .bind(week)
    .execute(&app.pool)
    .await
    .expect("more weeks");
    let (totals, ids) = sql_totals(&app, "s.status = 'ISSUED'").await;
    assert_eq!(ids.len(), 25);
    let first_page = w.admin.get("/admin/payouts?status=ISSUED").await;
    assert_eq!(listed(&first_page.body), ids[..20]);
    assert!(
        first_page
            .body
            .contains(r#"href="/admin/payouts?status=ISSUED&#38;page=2""#)
    );
    let second_page = w.admin.get("/admin/payouts?status=ISSUED&page=2").await;
    assert_eq!(listed(&second_page.body), ids[20..]);
    for page in [&first_page, &second_page] {
        assert_eq!(list_totals(&page.body), totals);
    }
    // A form on the second page comes back to the second page.
    assert!(
        second_page
            .body
            .contains(r#"name="back" value="/admin/payouts?status=ISSUED&#38;page=2""#)
    );
    app.assert_books_balance().await;
}

async fn payouts_written(app: &TestApp, id: i64) -> (String, i64, i64, i64) {
    let status: String = app.status_of("payout_statements", id).await;
    let ledger = app
        .count(&format!(
            "SELECT count(*) FROM ledger_transactions WHERE kind = 'payout' AND source_id = {id}"
        ))
        .await;
    let audit = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE target_type = 'payout_statement' AND target_id = {id}"
        ))
        .await;
    let events = app
        .count("SELECT count(*) FROM events WHERE kind = 'payout_paid'")
        .await;
    (status, ledger, audit, events)
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_an_admin_marks_a_statement_paid(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let w = world(&app).await;
    let statement = w.admin.get(&format!("/payouts/{}", w.first)).await;
    assert!(statement.body.contains(&format!(
        r#"<label for="reference-{}">Transfer reference</label>"#,
        w.first
    )));
    assert!(statement.body.contains(VENDOR), "the admin sees the email");

    // Refused: no reference (422, the message on the form).
    let empty = w
        .admin
        .post(
            &format!("/admin/payouts/{}/paid", w.first),
            &[("reference", "   ".into())],
        )
        .await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.body
    );
    assert!(empty.body.contains(&format!(
        r#"<p class="field-error" id="reference-{}-error">This field is required.</p>"#,
        w.first
    )));
    assert!(empty.body.contains(r#"aria-invalid="true""#));
    assert!(
        empty
            .body
            .contains(&format!(r##"href="#reference-{}""##, w.first))
    );
    // A reference too long: kept as typed beside its message.
    let long = "R".repeat(101);
    let page = w
        .admin
        .post(
            &format!("/admin/payouts/{}/paid", w.first),
            &[
                ("reference", long.clone()),
                ("back", "/admin/payouts".into()),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(&format!(r#"value="{long}""#)));
    assert!(page.body.contains("under 100 characters"));
    assert!(page.body.contains(r#"name="back" value="/admin/payouts""#));
    assert_eq!(
        payouts_written(&app, w.first).await,
        ("ISSUED".into(), 0, 0, 0)
    );

    // Nobody but an admin: 404, nothing written.
    for browser in [&w.vendor, &w.customer, &w.other_vendor] {
        let page = browser
            .post(
                &format!("/admin/payouts/{}/paid", w.first),
                &[("reference", "MINE".into())],
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        payouts_written(&app, w.first).await,
        ("ISSUED".into(), 0, 0, 0)
    );

    // Paid: back to the statement (a return address elsewhere is ignored).
    let before = app.notification_titles(VENDOR).await.len();
    w.admin
        .post(
            &format!("/admin/payouts/{}/paid", w.first),
            &[
                ("reference", " NIC-2026-0042 ".into()),
                ("back", "https://evil.example/".into()),
            ],
        )
        .await
        .assert_redirect(&format!("/payouts/{}", w.first));
    assert_eq!(
        payouts_written(&app, w.first).await,
        ("PAID".into(), 1, 1, 1)
    );
    let paid: (String, i64, bool) = sqlx::query_as(
        "SELECT s.transfer_reference, s.net_paisa, s.paid_by = u.id
         FROM payout_statements s, users u WHERE s.id = $1 AND u.email = 'admin@example.com'",
    )
    .bind(w.first)
    .fetch_one(&app.pool)
    .await
    .expect("paid");
    assert_eq!(paid, ("NIC-2026-0042".into(), 121_000, true));
    let entries: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.account, e.amount_paisa FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
         WHERE t.kind = 'payout' AND t.source_type = 'statement' AND t.source_id = $1
         ORDER BY e.amount_paisa",
    )
    .bind(w.first)
    .fetch_all(&app.pool)
    .await
    .expect("payout entries");
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[0].1, entries[1].1), (-121_000, 121_000));
    assert!(entries[1].0.starts_with("vendor:") && entries[1].0.ends_with(":payable"));
    let audit = app
        .count(&format!(
            "SELECT count(*) FROM audit_log a JOIN users u ON u.id = a.actor_id
             WHERE a.target_id = {} AND a.action = 'payout.paid' AND a.reason = 'NIC-2026-0042'
               AND u.email = 'admin@example.com'",
            w.first
        ))
        .await;
    assert_eq!(audit, 1);
    let titles = app.notification_titles(VENDOR).await;
    assert_eq!(titles.len(), before + 1);
    let title = titles.last().expect("a notification");
    assert!(
        title.contains(&format!("paid statement #{}", w.first)) && title.contains("Rs 1,210.00"),
        "{title}"
    );
    let shown = w.admin.get(&format!("/payouts/{}", w.first)).await;
    assert!(shown.body.contains("NIC-2026-0042"));
    assert!(
        shown
            .body
            .contains(&format!("Statement #{} is marked paid", w.first))
    );
    assert!(!shown.body.contains("Mark paid</button>"), "paid: no form");
    let mine = w.vendor.get("/payouts").await;
    let row = rows(&mine.body, &format!(r#"data-statement-id="{}""#, w.first))[0];
    assert!(row.contains(r#"data-status="PAID""#));
    assert_eq!(cells(row)[4], "NIC-2026-0042");
    assert!(!cells(row)[5].is_empty(), "the paid date");

    // Paid again: 409, nothing more.
    let again = w
        .admin
        .post(
            &format!("/admin/payouts/{}/paid", w.first),
            &[("reference", "NIC-2026-0043".into())],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already paid"));
    assert_eq!(
        payouts_written(&app, w.first).await,
        ("PAID".into(), 1, 1, 1)
    );

    // In Dhune's favour: 409, nothing written.
    let negative = w
        .admin
        .post(
            &format!("/admin/payouts/{}/paid", w.clawback),
            &[("reference", "NIC-2026-0044".into())],
        )
        .await;
    assert_eq!(negative.status, StatusCode::CONFLICT, "{}", negative.body);
    assert!(negative.body.contains("nothing to pay"));
    assert_eq!(
        payouts_written(&app, w.clawback).await,
        ("ISSUED".into(), 0, 0, 1)
    );
    let page = w.admin.get(&format!("/payouts/{}", w.clawback)).await;
    assert!(!page.body.contains("Mark paid</button>"));
    assert_eq!(
        w.admin
            .post("/admin/payouts/999999/paid", &[("reference", "X".into())])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_csv_never_hands_a_spreadsheet_a_formula(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let w = world(&app).await;
    sqlx::query(
        "UPDATE vendors SET business_name = '=HYPERLINK(\"http://evil.example\",\"x\")'
         WHERE user_id = (SELECT id FROM users WHERE email = $1)",
    )
    .bind(VENDOR)
    .execute(&app.pool)
    .await
    .expect("rename");
    let csv = w.vendor.get(&format!("/payouts/{}.csv", w.first)).await;
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let mut laundries = 0;
    for record in reader.records() {
        let record = record.expect("record");
        assert!(record[2].starts_with("'="), "{:?}", &record[2]);
        laundries += 1;
    }
    assert_eq!(laundries, 4 + 7, "four lines and seven totals");
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_are_valid_html(pool: PgPool) {
    let Some(jar) = crate::html_valid::checker() else {
        return;
    };
    let app = TestApp::spawn(pool).await;
    let w = world(&app).await;
    let mut pages = crate::html_valid::Pages::new();
    let mut keep = |who: &str, path: String, page: Page| {
        assert!(
            page.status == StatusCode::OK || page.status.is_client_error(),
            "{who} {path}: {}",
            page.status
        );
        pages.push((format!("{who}: {path} ({})", page.status), page.body));
    };
    for path in [
        "/payouts".to_owned(),
        format!("/payouts/{}", w.first),
        format!("/payouts/{}", w.clawback),
        format!("/payouts/{}", w.carrying),
    ] {
        keep("laundry", path.clone(), w.vendor.get(&path).await);
    }
    for path in [
        "/admin/payouts".to_owned(),
        "/admin/payouts?status=ISSUED&week=2026-11-26&q=sparkle".to_owned(),
        "/admin".to_owned(),
        format!("/payouts/{}", w.carrying),
    ] {
        keep("admin", path.clone(), w.admin.get(&path).await);
    }
    let action = format!("/admin/payouts/{}/paid", w.carrying);
    let refused = w.admin.post(&action, &[("reference", String::new())]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    keep("admin", action.clone(), refused);
    let negative = format!("/admin/payouts/{}/paid", w.clawback);
    let conflict = w.admin.post(&negative, &[("reference", "X".into())]).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    keep("admin", negative, conflict);
    let errors = crate::html_valid::validate(&jar, &pages);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_an_adjustment_reads_as_its_reason(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    paid_online(&app, &customer, &vendor, "1000").await;
    let by = dhune::market::accounts::find_user_by_email(&app.pool, "admin@example.com")
        .await
        .expect("find")
        .expect("admin");
    let reason = "=cmd|' /C calc'!A0";
    dhune::market::payouts::adjust(&app.pool, &by, VENDOR, "debit", "25", reason)
        .await
        .expect("debit");
    assert_eq!(issue(&app, later(8)).await, 1);
    let id: i64 = app.count("SELECT id FROM payout_statements").await;

    let page = vendor.get(&format!("/payouts/{id}")).await;
    let lines = page_lines(&page.body);
    let whats: Vec<&str> = lines.iter().map(|line| line.1.as_str()).collect();
    let adjustment = format!("Adjustment: {reason}");
    assert_eq!(whats, ["Paid online", adjustment.as_str()]);
    assert_eq!(lines[1].3, -2_500);
    let totals = page_totals(&page.body);
    assert_eq!(
        totals[4],
        ("adjustments".into(), "Adjustments".into(), -2_500)
    );
    assert_eq!(totals[6].2, 87_500);
    assert_csv_equals_page(&app, &vendor, id).await;
    let admin_list = admin.get("/admin/payouts").await;
    assert_eq!(list_totals(&admin_list.body)[5], -2_500);
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn payout_pages_an_admin_adjusts_a_balance_on_the_payouts_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let page = admin.get("/admin/payouts").await;
    assert!(page.body.contains(r#"action="/admin/payouts/adjustments""#));

    // Refused: each error by its field, what was typed kept, nothing written.
    let refused = admin
        .post(
            "/admin/payouts/adjustments",
            &[
                ("email", "c@example.com".into()),
                ("direction", "credit".into()),
                ("amount", "12.345".into()),
                ("reason", "Courier <fee>".into()),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("No laundry has an account with that email.")
    );
    assert!(refused.body.contains("Use at most two decimals (paisa)."));
    assert!(refused.body.contains(r#"value="c@example.com""#));
    assert!(refused.body.contains(r#"value="12.345""#));
    assert!(
        refused.body.contains("Courier &#60;fee&#62;</textarea>"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="credit" required checked"#));
    assert_eq!(
        app.count("SELECT count(*) FROM payout_adjustments").await,
        0
    );

    // Neither the laundry nor a customer may adjust.
    for browser in [&vendor, &customer] {
        let page = browser
            .post(
                "/admin/payouts/adjustments",
                &[
                    ("email", VENDOR.into()),
                    ("direction", "credit".into()),
                    ("amount", "10".into()),
                    ("reason", "Mine".into()),
                ],
            )
            .await;
        assert!(
            matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{}",
            page.status
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM payout_adjustments").await,
        0
    );

    admin
        .post(
            "/admin/payouts/adjustments",
            &[
                ("email", VENDOR.into()),
                ("direction", "debit".into()),
                ("amount", "40".into()),
                ("reason", "Lost hanger fine".into()),
            ],
        )
        .await
        .assert_redirect("/admin/payouts");
    let page = admin.get("/admin/payouts").await;
    assert!(
        page.body
            .contains("Sparkle Laundry owes Dhune Rs 40.00; it is on their next statement."),
        "{}",
        page.body
    );
    assert_eq!(
        app.count("SELECT amount_paisa FROM payout_adjustments")
            .await,
        -4_000
    );
    // The laundry's running balance of this week shows it.
    let list = vendor.get("/payouts").await;
    assert!(
        list.body
            .contains(r#"data-running data-balance-paisa="-4000" data-entries="1""#),
        "{}",
        list.body
    );
    assert!(list.body.contains("<strong>-Rs 40.00</strong>"));
    app.assert_books_balance().await;
}
