//! Weekly payout statements (issue 12, item 2): issued by the sweep once a
//! Nepal week has ended, once on any number of instances, every entry of a
//! vendor's ledger account on exactly one line. Time is controlled by the
//! `now` given to `issue_statements` (the ledger is append-only, so its rows
//! keep the time they were written).

use axum::http::StatusCode;
use dhune::domain::payouts::{week_begins, week_start};
use dhune::market::payouts::{Issuer, issue_statements};
use sqlx::PgPool;
use time::{Date, Duration, OffsetDateTime};

use crate::helpers::{Browser, TestApp};

const VENDOR: &str = "v@example.com";

pub(crate) async fn issue(app: &TestApp, now: OffsetDateTime) -> u64 {
    issue_statements(&app.pool, now).await.expect("issue")
}

/// `days` days from now.
pub(crate) fn later(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(days)
}

/// The local path of an absolute URL on the app.
fn local(app: &TestApp, url: &str) -> String {
    let base = format!("http://{}", app.addr);
    url.strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not on {base}"))
        .to_owned()
}

/// An online order of `price` rupees, paid through the sandbox.
pub(crate) async fn paid_online(
    app: &TestApp,
    customer: &Browser,
    vendor: &Browser,
    price: &str,
) -> i64 {
    let order_id = app
        .order_paying(customer, vendor, VENDOR, price, "online")
        .await;
    let page = customer.post(&format!("/orders/{order_id}/pay"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let sandbox = local(app, page.location().expect("location"));
    let fields = vec![
        ("action", "pay".to_owned()),
        ("callback", "none".to_owned()),
    ];
    let page = customer.post_raw(&sandbox, &fields, &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let back = local(app, page.location().expect("location"));
    customer
        .get(&back)
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    order_id
}

/// An admin refunds `amount` rupees of the order's payment.
pub(crate) async fn refund(app: &TestApp, admin: &Browser, order_id: i64, amount: &str) {
    let payment_id: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&app.pool)
        .await
        .expect("payment");
    admin
        .post(
            &format!("/admin/payments/{payment_id}/refund"),
            &[("amount", amount.to_owned()), ("reason", "Goodwill".into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
}

/// (period_start, kind of each line in order, net) of the vendor's statements.
async fn statements(app: &TestApp) -> Vec<(Date, Vec<(String, i64)>, i64)> {
    let rows: Vec<(i64, Date, i64)> = sqlx::query_as(
        "SELECT s.id, s.period_start, s.net_paisa FROM payout_statements s
         JOIN users u ON u.id = s.vendor_id WHERE u.email = $1 ORDER BY s.period_start",
    )
    .bind(VENDOR)
    .fetch_all(&app.pool)
    .await
    .expect("statements");
    let mut out = Vec::new();
    for (id, start, net) in rows {
        let lines: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, amount_paisa FROM payout_statement_lines
             WHERE statement_id = $1 ORDER BY kind, id",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .expect("lines");
        out.push((start, lines, net));
    }
    out
}

/// The statements' invariants: every vendor ledger entry written before
/// `issued_until` is on exactly one line, none after it is, and each
/// statement's net is the sum of its lines and of its totals.
async fn assert_statements_sound(app: &TestApp, issued_until: OffsetDateTime) {
    let unlined: i64 = app
        .count(&format!(
            "SELECT count(*) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
             WHERE e.account LIKE 'vendor:%' AND t.created_at < '{}' AND t.kind <> 'payout'
             AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.ledger_entry_id = e.id)",
            week_begins(week_start(issued_until))
        ))
        .await;
    assert_eq!(unlined, 0, "vendor entries of ended weeks on no statement");
    let strays = app
        .count(
            "SELECT count(*) FROM payout_statement_lines l JOIN ledger_entries e ON e.id = l.ledger_entry_id
             JOIN payout_statements s ON s.id = l.statement_id
             WHERE e.account <> 'vendor:' || s.vendor_id || ':payable'",
        )
        .await;
    assert_eq!(strays, 0, "lines of another account");
    let wrong = app
        .count(
            "SELECT count(*) FROM payout_statements s
             WHERE s.net_paisa <> (SELECT coalesce(sum(amount_paisa), 0) FROM payout_statement_lines l
                                   WHERE l.statement_id = s.id)
                OR s.gross_paisa <> (SELECT coalesce(sum(amount_paisa), 0) FROM payout_statement_lines l
                                     WHERE l.statement_id = s.id AND l.kind = 'capture')
                OR s.clawbacks_paisa <> (SELECT coalesce(sum(amount_paisa), 0) FROM payout_statement_lines l
                                         WHERE l.statement_id = s.id AND l.kind = 'clawback')",
        )
        .await;
    assert_eq!(
        wrong, 0,
        "statements whose net or totals are not their lines'"
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_racing_sweepers_issue_each_vendor_week_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let other = app.vendor("w@example.com").await;
    app.delivered(&customer, &vendor, VENDOR, "1000").await;
    paid_online(&app, &customer, &vendor, "2000").await;
    app.delivered(&customer, &other, "w@example.com", "500")
        .await;
    let vendor_entries = app
        .count("SELECT count(*) FROM ledger_entries WHERE account LIKE 'vendor:%'")
        .await;
    assert_eq!(vendor_entries, 3);

    let now = later(8);
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move { issue_statements(&pool, now).await })
        })
        .collect();
    let mut issued = 0;
    for sweep in sweeps {
        issued += sweep.await.expect("join").expect("issue");
    }
    assert_eq!(issued, 2, "one statement per vendor and week");
    assert_eq!(app.count("SELECT count(*) FROM payout_statements").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM payout_statement_lines WHERE ledger_entry_id IS NOT NULL")
            .await,
        vendor_entries
    );
    // Cash commission 10% of 1000, the laundry's share of the online 2000.
    let week = week_start(OffsetDateTime::now_utc());
    assert_eq!(
        statements(&app).await,
        vec![(
            week,
            vec![
                ("capture".to_owned(), 180_000),
                ("cash_commission".to_owned(), -10_000)
            ],
            170_000
        )]
    );
    assert_eq!(issue(&app, later(8)).await, 0, "issued once, not again");
    assert_statements_sound(&app, now).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_a_week_is_issued_once_it_has_ended_in_nepal(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    app.delivered(&customer, &vendor, VENDOR, "1000").await;

    let week = week_start(OffsetDateTime::now_utc());
    let next_sunday = week_begins(week) + Duration::days(7);
    // Saturday 23:50 in Nepal: the week has not ended.
    assert_eq!(issue(&app, next_sunday - Duration::minutes(10)).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM payout_statements").await, 0);
    // Sunday 00:10 in Nepal: it has.
    assert_eq!(issue(&app, next_sunday + Duration::minutes(10)).await, 1);
    let period: (Date, Date) =
        sqlx::query_as("SELECT period_start, period_end FROM payout_statements")
            .fetch_one(&app.pool)
            .await
            .expect("period");
    assert_eq!(period, (week, week + Duration::days(6)));
    assert_eq!(period.0.weekday(), time::Weekday::Sunday);
    assert_statements_sound(&app, next_sunday + Duration::minutes(10)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_a_refund_after_a_statement_is_a_clawback_on_the_next(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let first = paid_online(&app, &customer, &vendor, "1000").await;
    let second = paid_online(&app, &customer, &vendor, "500").await;
    // Refunded in the week it was paid: a refund on the same statement.
    refund(&app, &admin, second, "100").await;
    assert_eq!(issue(&app, later(8)).await, 1);

    // Refunded after its capture was on a statement: a clawback.
    refund(&app, &admin, first, "200").await;
    assert_eq!(issue(&app, later(15)).await, 1);

    let week = week_start(OffsetDateTime::now_utc());
    assert_eq!(
        statements(&app).await,
        vec![
            (
                week,
                vec![
                    ("capture".to_owned(), 90_000),
                    ("capture".to_owned(), 45_000),
                    ("refund".to_owned(), -9_000)
                ],
                126_000
            ),
            (
                week + Duration::days(7),
                vec![("clawback".to_owned(), -18_000)],
                -18_000
            ),
        ]
    );
    assert_statements_sound(&app, later(15)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_a_negative_net_carries_into_the_next_statement(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    // Cash only: the laundry owes its commission.
    app.delivered(&customer, &vendor, VENDOR, "1000").await;
    assert_eq!(issue(&app, later(8)).await, 1);
    // Nothing new: no statement, the negative net waits.
    assert_eq!(issue(&app, later(15)).await, 0);

    app.delivered(&customer, &vendor, VENDOR, "500").await;
    assert_eq!(issue(&app, later(22)).await, 1);
    paid_online(&app, &customer, &vendor, "2000").await;
    assert_eq!(issue(&app, later(29)).await, 1);

    let week = week_start(OffsetDateTime::now_utc());
    let stmts = statements(&app).await;
    assert_eq!(
        stmts,
        vec![
            (week, vec![("cash_commission".to_owned(), -10_000)], -10_000),
            (
                week + Duration::days(7),
                vec![
                    ("carried".to_owned(), -10_000),
                    ("cash_commission".to_owned(), -5_000)
                ],
                -15_000
            ),
            (
                week + Duration::days(14),
                vec![
                    ("capture".to_owned(), 180_000),
                    ("carried".to_owned(), -15_000)
                ],
                165_000
            ),
        ]
    );
    // Each negative net is carried once, into the statement after it.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM payout_statement_lines l JOIN payout_statements f ON f.id = l.carried_from
             JOIN payout_statements s ON s.id = l.statement_id
             WHERE l.amount_paisa = f.net_paisa AND s.vendor_id = f.vendor_id
               AND s.period_start > f.period_start"
        )
        .await,
        2
    );
    assert_statements_sound(&app, later(29)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_ledger_check_finds_a_net_that_is_not_the_sum_of_its_lines(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    app.delivered(&customer, &vendor, VENDOR, "1000").await;
    assert_eq!(issue(&app, later(8)).await, 1);
    app.assert_books_balance().await;

    let (id, vendor_id): (i64, i64) = sqlx::query_as(
        "UPDATE payout_statements SET gross_paisa = gross_paisa + 1, net_paisa = net_paisa + 1
         RETURNING id, vendor_id",
    )
    .fetch_one(&app.pool)
    .await
    .expect("tamper");
    let report = dhune::market::ledger::check(&app.pool)
        .await
        .expect("check");
    // The net is neither its lines' sum nor what the laundry's account says.
    assert_eq!(
        report.differences,
        vec![
            dhune::market::ledger::Difference::Statement {
                statement_id: id,
                net_paisa: -9_999,
                lines_paisa: -10_000,
            },
            dhune::market::ledger::Difference::VendorBalance {
                vendor_id,
                owed_paisa: -10_000,
                statements_paisa: -9_999,
                unlisted_paisa: 0,
            }
        ]
    );
}

/// The admin `email` as the operations see them.
async fn user(app: &TestApp, email: &str) -> dhune::market::accounts::User {
    dhune::market::accounts::find_user_by_email(&app.pool, email)
        .await
        .expect("find")
        .expect("user")
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_racing_admins_pay_a_statement_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    app.admin("admin@example.com").await;
    app.admin("other@example.com").await;
    paid_online(&app, &customer, &vendor, "2000").await;
    assert_eq!(issue(&app, later(8)).await, 1);
    let id: i64 = sqlx::query_scalar("SELECT id FROM payout_statements")
        .fetch_one(&app.pool)
        .await
        .expect("statement");
    assert_eq!(
        app.notification_titles(VENDOR)
            .await
            .last()
            .map(String::as_str),
        Some(format!("Your payout statement #{id} is ready: Rs 1,800.00").as_str())
    );

    let admins = [
        user(&app, "admin@example.com").await,
        user(&app, "other@example.com").await,
    ];
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let pool = app.pool.clone();
            let admin = admins[n % 2].clone();
            tokio::spawn(async move {
                dhune::market::payouts::mark_paid(&pool, &admin, id, &format!("NIBL-{n}")).await
            })
        })
        .collect();
    let mut paid = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok(()) => paid.push(n),
            Err(dhune::market::MarketError::Conflict(message)) => {
                assert!(message.contains("already paid"), "{message}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(paid.len(), 1, "one admin pays, the others are told");
    let (status, reference): (String, String) =
        sqlx::query_as("SELECT status, transfer_reference FROM payout_statements WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("statement");
    assert_eq!(
        (status.as_str(), reference),
        ("PAID", format!("NIBL-{}", paid[0]))
    );
    let postings: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.account, e.amount_paisa FROM ledger_entries e
         JOIN ledger_transactions t ON t.id = e.transaction_id
         WHERE t.kind = 'payout' AND t.source_type = 'statement' AND t.source_id = $1
         ORDER BY e.account",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .expect("postings");
    let vendor_id: i64 = app
        .count(&format!("SELECT id FROM users WHERE email = '{VENDOR}'"))
        .await;
    assert_eq!(
        postings,
        vec![
            ("cash:payouts".to_owned(), -180_000),
            (format!("vendor:{vendor_id}:payable"), 180_000)
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'payout.paid'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'payout_paid'")
            .await,
        1
    );
    assert_eq!(
        app.notification_titles(VENDOR)
            .await
            .last()
            .map(String::as_str),
        Some(format!("Dhune paid statement #{id}: Rs 1,800.00").as_str())
    );
    // The payout's own entry is never a line of a later statement.
    assert_eq!(issue(&app, later(15)).await, 0);
    assert_statements_sound(&app, later(15)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_a_refund_after_payout_is_a_clawback_and_a_negative_net_is_not_paid(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let admin = app.admin("admin@example.com").await;
    let order = paid_online(&app, &customer, &vendor, "1000").await;
    assert_eq!(issue(&app, later(8)).await, 1);
    let first: i64 = sqlx::query_scalar("SELECT id FROM payout_statements")
        .fetch_one(&app.pool)
        .await
        .expect("statement");
    let paying = user(&app, "admin@example.com").await;
    let blank = dhune::market::payouts::mark_paid(&app.pool, &paying, first, "  ").await;
    assert!(
        matches!(&blank, Err(dhune::market::MarketError::Invalid(errors)) if errors.get("reference").is_some()),
        "{blank:?}"
    );
    dhune::market::payouts::mark_paid(&app.pool, &paying, first, "NIBL-1")
        .await
        .expect("paid");

    // The customer gets money back after the laundry was paid.
    refund(&app, &admin, order, "400").await;
    assert_eq!(issue(&app, later(15)).await, 1);
    let (second, net): (i64, i64) =
        sqlx::query_as("SELECT id, net_paisa FROM payout_statements WHERE id <> $1")
            .bind(first)
            .fetch_one(&app.pool)
            .await
            .expect("second");
    assert_eq!(net, -36_000);
    let refused = dhune::market::payouts::mark_paid(&app.pool, &paying, second, "NIBL-2").await;
    assert!(
        matches!(&refused, Err(dhune::market::MarketError::Conflict(message)) if message.contains("nothing to pay")),
        "{refused:?}"
    );
    assert_eq!(app.status_of("payout_statements", second).await, "ISSUED");
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_transactions WHERE kind = 'payout'")
            .await,
        1
    );
    // Neither a vendor nor a customer may pay a statement.
    for email in [VENDOR, "c@example.com"] {
        let who = user(&app, email).await;
        assert!(matches!(
            dhune::market::payouts::mark_paid(&app.pool, &who, first, "X").await,
            Err(dhune::market::MarketError::NotFound)
        ));
    }
    assert_statements_sound(&app, later(15)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_an_order_at_2350_saturday_nepal_is_in_that_week_and_0010_sunday_in_the_next(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let saturday = app.delivered(&customer, &vendor, VENDOR, "1000").await;
    let sunday = app.delivered(&customer, &vendor, VENDOR, "500").await;
    // 00:00 on the Sunday two weeks back in Nepal (18:15 Saturday in UTC),
    // and ten minutes either side of it.
    let edge = week_begins(week_start(OffsetDateTime::now_utc())) - Duration::days(14);
    app.move_ledger(saturday, edge - Duration::minutes(10))
        .await;
    app.move_ledger(sunday, edge + Duration::minutes(10)).await;

    assert_eq!(issue(&app, OffsetDateTime::now_utc()).await, 2);
    let ends = week_start(OffsetDateTime::now_utc()) - Duration::days(14);
    assert_eq!(week_start(edge), ends);
    assert_eq!(
        statements(&app).await,
        vec![
            (
                ends - Duration::days(7),
                vec![("cash_commission".to_owned(), -10_000)],
                -10_000
            ),
            (
                ends,
                vec![
                    ("carried".to_owned(), -10_000),
                    ("cash_commission".to_owned(), -5_000)
                ],
                -15_000
            ),
        ]
    );
    assert_statements_sound(&app, OffsetDateTime::now_utc()).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_an_admins_adjustments_are_lines_of_the_next_statement(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    app.admin("admin@example.com").await;
    let admin = user(&app, "admin@example.com").await;
    app.delivered(&customer, &vendor, VENDOR, "1000").await;

    let adjust = |email: &'static str, direction: &'static str, amount: &'static str| {
        let (pool, admin) = (app.pool.clone(), admin.clone());
        async move {
            dhune::market::payouts::adjust(&pool, &admin, email, direction, amount, "Courier fee")
                .await
        }
    };
    let refused = adjust("c@example.com", "sideways", "-5").await;
    let Err(dhune::market::MarketError::Invalid(errors)) = refused else {
        panic!("{refused:?}");
    };
    for field in ["email", "direction", "amount"] {
        assert!(errors.get(field).is_some(), "{field}: {errors:?}");
    }
    let (laundry, paisa) = adjust(VENDOR, "credit", "150").await.expect("credit");
    assert_eq!(
        (laundry.business_name.as_str(), paisa),
        ("Sparkle Laundry", 15_000)
    );
    adjust(VENDOR, "debit", "20.50").await.expect("debit");
    let customer_user = user(&app, "c@example.com").await;
    assert!(matches!(
        dhune::market::payouts::adjust(&app.pool, &customer_user, VENDOR, "credit", "1", "x").await,
        Err(dhune::market::MarketError::NotFound)
    ));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'payout.adjust'")
            .await,
        2
    );

    assert_eq!(issue(&app, later(8)).await, 1);
    let week = week_start(OffsetDateTime::now_utc());
    assert_eq!(
        statements(&app).await,
        vec![(
            week,
            vec![
                ("adjustment".to_owned(), 15_000),
                ("adjustment".to_owned(), -2_050),
                ("cash_commission".to_owned(), -10_000)
            ],
            2_950
        )]
    );
    let adjustments: i64 = app
        .count("SELECT adjustments_paisa FROM payout_statements")
        .await;
    assert_eq!(adjustments, 12_950);
    let books = dhune::market::ledger::check(&app.pool)
        .await
        .expect("check");
    assert_eq!(books.balances.adjustments.paisa(), 12_950);
    assert_statements_sound(&app, later(8)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_the_sweep_reads_the_ledger_again_only_once_a_week_has_ended(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    let vendor_id = user(&app, VENDOR).await.id;
    let unissued = "SELECT count(*) FROM ledger_entries e
                    WHERE e.account LIKE 'vendor:%'
                      AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l
                                      WHERE l.ledger_entry_id = e.id)";
    app.delivered(&customer, &vendor, VENDOR, "1000").await;
    let mut issuer = Issuer::default();
    assert_eq!(issuer.tick(&app.pool, later(7)).await.expect("tick"), 1);

    // An entry written after this week's run waits for the next week's.
    app.delivered(&customer, &vendor, VENDOR, "600").await;
    assert_eq!(
        issuer.tick(&app.pool, later(7)).await.expect("tick"),
        0,
        "this week's run is done"
    );
    assert!(app.count(unissued).await > 0);

    // Another instance issuing the laundry (its advisory lock held): the
    // run is not complete, so the next tick runs again. 1398033748 is the
    // issuer's first lock key (`ISSUING`, 0x5354_4d54).
    let mut other = app.pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock(1398033748, $1::int)")
        .bind(vendor_id)
        .execute(&mut *other)
        .await
        .expect("lock");
    assert_eq!(
        issuer.tick(&app.pool, later(14)).await.expect("tick"),
        0,
        "skipped while locked"
    );
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *other)
        .await
        .expect("unlock");
    assert_eq!(
        issuer.tick(&app.pool, later(14)).await.expect("tick"),
        1,
        "run again after a skip"
    );
    assert_eq!(app.count(unissued).await, 0);
    assert_eq!(issuer.tick(&app.pool, later(14)).await.expect("tick"), 0);
    assert_statements_sound(&app, later(14)).await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn statements_an_entry_committed_after_its_week_was_issued_waits_for_the_next_week_to_end(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor(VENDOR).await;
    app.delivered(&customer, &vendor, VENDOR, "1000").await;
    assert_eq!(issue(&app, later(7)).await, 1);
    // Seen from a week later, this entry is of a week already issued.
    app.delivered(&customer, &vendor, VENDOR, "600").await;
    assert_eq!(
        issue(&app, later(7)).await,
        0,
        "no statement for the week still running"
    );
    assert_eq!(issue(&app, later(14)).await, 1);
    let issued = statements(&app).await;
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].0, issued[0].0 + Duration::days(7));
    // The first week's negative net (commission owed on cash) carried, and
    // the late order's entry.
    let kinds = |lines: &[(String, i64)]| -> Vec<String> {
        lines.iter().map(|(kind, _)| kind.clone()).collect()
    };
    assert_eq!(kinds(&issued[0].1), ["cash_commission"]);
    assert_eq!(kinds(&issued[1].1), ["carried", "cash_commission"]);
    assert_statements_sound(&app, later(14)).await;
}
