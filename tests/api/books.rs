//! Reconciliation (issue 12, item 5): `dhune ledger check` verifies each
//! laundry's balance against its unpaid statements and the current week,
//! each paid statement's payout, and the platform's commission against the
//! commission of every order net of refunds; the admin's Books page shows
//! the same check and the platform's balances. The books are built through
//! the operations, then broken on purpose with SQL to see each check fail.

use axum::http::StatusCode;
use dhune::market::accounts::{self, User};
use dhune::market::ledger::{self, Difference, Report};
use dhune::market::payouts::mark_paid;
use sqlx::PgPool;

use crate::commission::user_id;
use crate::helpers::{Browser, TestApp};
use crate::ledger::check_command;
use crate::statements::{issue, later, paid_online, refund};

/// The laundry paid online (`statements::paid_online` orders from it).
const ONLINE: &str = "v@example.com";
/// The laundry paid in cash only, whose negative nets carry.
const CASH: &str = "w@example.com";
const ADMIN: &str = "admin@example.com";

/// The books after three weeks of a marketplace, built through the
/// operations (amounts in paisa, commission 10%):
///
/// - week 1: the online laundry is paid Rs 2000 online (Rs 300 refunded)
///   and Rs 1000 in cash; the cash laundry Rs 500 in cash. Statements:
///   online 1,800.00 − 100.00 − 270.00 = 1,430.00, paid (TRX-1); cash
///   −50.00 (it owes its commission).
/// - week 2: the online laundry is paid Rs 500 online, all refunded: a
///   statement of 0.00, paid with no payout (TRX-2); the cash laundry
///   Rs 300 in cash: −50.00 carried + −30.00 = −80.00, issued.
/// - this week (on no statement): Rs 100 more refunded of the first
///   order (a clawback to be) and Rs 1000 paid online.
struct Books {
    app: TestApp,
    customer: Browser,
    online: Browser,
    admin: Browser,
    admin_user: User,
    online_id: i64,
    cash_id: i64,
    /// The online laundry's paid statement of week 1, and its paid
    /// statement of 0.00 of week 2.
    paid: i64,
    paid_zero: i64,
    /// The cash laundry's statement of week 1 (carried) and of week 2
    /// (issued, negative).
    carried: i64,
    issued: i64,
}

/// The statement of `vendor_id` for the `n`th week (1-based) it has one.
async fn statement(app: &TestApp, vendor_id: i64, n: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT id FROM payout_statements WHERE vendor_id = $1
         ORDER BY period_start OFFSET $2 LIMIT 1",
    )
    .bind(vendor_id)
    .bind(n - 1)
    .fetch_one(&app.pool)
    .await
    .expect("statement")
}

async fn net(app: &TestApp, id: i64) -> i64 {
    sqlx::query_scalar("SELECT net_paisa FROM payout_statements WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("net")
}

async fn books(pool: PgPool) -> Books {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let online = app.vendor(ONLINE).await;
    let cash = app.vendor(CASH).await;
    let admin = app.admin(ADMIN).await;
    let admin_user = accounts::find_user_by_email(&app.pool, ADMIN)
        .await
        .expect("find")
        .expect("the admin");
    let (online_id, cash_id) = (user_id(&app, ONLINE).await, user_id(&app, CASH).await);

    // Week 1.
    let first = paid_online(&app, &customer, &online, "2000").await;
    refund(&app, &admin, first, "300").await;
    app.delivered(&customer, &online, ONLINE, "1000").await;
    app.delivered(&customer, &cash, CASH, "500").await;
    assert_eq!(issue(&app, later(8)).await, 2);
    let paid = statement(&app, online_id, 1).await;
    assert_eq!(net(&app, paid).await, 180_000 - 10_000 - 27_000);
    mark_paid(&app.pool, &admin_user, paid, "TRX-1")
        .await
        .expect("paid");

    // Week 2.
    let second = paid_online(&app, &customer, &online, "500").await;
    refund(&app, &admin, second, "500").await;
    app.delivered(&customer, &cash, CASH, "300").await;
    assert_eq!(issue(&app, later(15)).await, 2);
    let paid_zero = statement(&app, online_id, 2).await;
    assert_eq!(net(&app, paid_zero).await, 0);
    mark_paid(&app.pool, &admin_user, paid_zero, "TRX-2")
        .await
        .expect("paid at zero");
    let (carried, issued) = (
        statement(&app, cash_id, 1).await,
        statement(&app, cash_id, 2).await,
    );
    assert_eq!(net(&app, carried).await, -5_000);
    assert_eq!(net(&app, issued).await, -8_000);

    // This week, on no statement yet.
    refund(&app, &admin, first, "100").await;
    paid_online(&app, &customer, &online, "1000").await;

    Books {
        app,
        customer,
        online,
        admin,
        admin_user,
        online_id,
        cash_id,
        paid,
        paid_zero,
        carried,
        issued,
    }
}

async fn check(app: &TestApp) -> Report {
    ledger::check(&app.pool).await.expect("check")
}

/// Writes one balanced ledger transaction by hand, as a bug would.
async fn post_by_hand(app: &TestApp, kind: &str, source: (&str, i64), entries: &[(String, i64)]) {
    let mut tx = app.pool.begin().await.expect("begin");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger_transactions (kind, source_type, source_id) VALUES ($1, $2, $3)
         RETURNING id",
    )
    .bind(kind)
    .bind(source.0)
    .bind(source.1)
    .fetch_one(&mut *tx)
    .await
    .expect("transaction");
    for (account, amount) in entries {
        sqlx::query(
            "INSERT INTO ledger_entries (transaction_id, account, amount_paisa) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(account)
        .bind(amount)
        .execute(&mut *tx)
        .await
        .expect("entry");
    }
    tx.commit().await.expect("balanced, so committed");
}

/// A balanced transaction that gives Rs 5 of the platform's commission to
/// the online laundry, posing as the capture of a payment that does not
/// exist.
async fn give_away_commission(b: &Books) {
    post_by_hand(
        &b.app,
        "capture",
        ("payment", 999_999),
        &[
            (format!("vendor:{}:payable", b.online_id), -500),
            ("platform:commission".into(), 500),
        ],
    )
    .await;
}

async fn sum(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(sql)
        .fetch_one(&app.pool)
        .await
        .expect(sql)
        .unwrap_or(0)
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_balance_through_captures_cash_refunds_payouts_and_carries(pool: PgPool) {
    let b = books(pool).await;
    let report = check(&b.app).await;
    assert_eq!(report.differences, []);
    let balances = &report.balances;
    // The online laundry is owed this week's Rs 1000 less its commission,
    // less the clawback of Rs 100 less its commission: 900.00 − 90.00; the
    // cash laundry owes the −80.00 of its issued statement (the −50.00 it
    // carried is in it, not counted twice).
    assert_eq!(balances.not_on_statements.paisa(), 90_000 - 9_000);
    assert_eq!(balances.on_statements.paisa(), -8_000);
    assert_eq!(balances.vendors_payable.paisa(), 81_000 - 8_000);
    // Commission on what was finally paid: 1600 + 1000 + 0 + 1000 online
    // and cash at the online laundry, 500 + 300 cash at the other.
    assert_eq!(
        balances.commission_earned.paisa(),
        16_000 + 10_000 + 10_000 + 5_000 + 3_000
    );
    assert_eq!(balances.paid_out.paisa(), 143_000);
    for (provider, held) in &balances.providers {
        let expected = match provider.as_str() {
            "sandbox" => 200_000 - 30_000 - 10_000 + 50_000 - 50_000 + 100_000,
            _ => 0,
        };
        assert_eq!(held.paisa(), expected, "{provider:?}");
    }
    assert_eq!(balances.providers.len(), 3);
    // One payout: the statement paid at zero posted none.
    assert_eq!(
        b.app
            .count("SELECT count(*) FROM ledger_transactions WHERE kind = 'payout'")
            .await,
        1
    );

    let (ok, output) = check_command(&b.app.pool);
    assert!(ok, "{output}");
    assert!(output.contains("books balance"), "{output}");
    b.app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_a_line_that_is_not_its_entry_is_a_laundry_balance_difference(pool: PgPool) {
    let b = books(pool).await;
    b.app.assert_books_balance().await;
    // The cash laundry's issued statement says it owes Rs 1 less than the
    // ledger says, its net still the sum of its lines.
    sqlx::query(
        "UPDATE payout_statement_lines SET amount_paisa = amount_paisa + 100
         WHERE statement_id = $1 AND kind = 'cash_commission'",
    )
    .bind(b.issued)
    .execute(&b.app.pool)
    .await
    .expect("tamper the line");
    sqlx::query(
        "UPDATE payout_statements SET commission_paisa = commission_paisa + 100,
                net_paisa = net_paisa + 100 WHERE id = $1",
    )
    .bind(b.issued)
    .execute(&b.app.pool)
    .await
    .expect("tamper the statement");
    let expected = Difference::VendorBalance {
        vendor_id: b.cash_id,
        owed_paisa: -8_000,
        statements_paisa: -7_900,
        unlisted_paisa: 0,
    };
    assert_eq!(
        check(&b.app).await.differences,
        std::slice::from_ref(&expected)
    );

    // The command says it in words, and fails.
    let (ok, output) = check_command(&b.app.pool);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "vendor:{}:payable says Dhune owes the laundry -8000 paisa, but its unpaid \
             statements (-7900) and its entries on no statement (0) come to -7900",
            b.cash_id
        )),
        "{output}"
    );
    assert!(output.contains(&expected.to_string()), "{output}");
    assert!(output.contains("1 differences"), "{output}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_a_carried_statement_counted_again_is_a_laundry_balance_difference(pool: PgPool) {
    let b = books(pool).await;
    // The carried line of the issued statement forgets what it carried:
    // its week-1 net would then be owed twice over (once still on the
    // statement it came from, once not taken off here).
    sqlx::query("UPDATE payout_statement_lines SET amount_paisa = 0 WHERE carried_from = $1")
        .bind(b.carried)
        .execute(&b.app.pool)
        .await
        .expect("tamper the carry");
    sqlx::query(
        "UPDATE payout_statements SET carried_paisa = 0, net_paisa = net_paisa + 5000
         WHERE id = $1",
    )
    .bind(b.issued)
    .execute(&b.app.pool)
    .await
    .expect("tamper the statement");
    assert_eq!(
        check(&b.app).await.differences,
        [Difference::VendorBalance {
            vendor_id: b.cash_id,
            owed_paisa: -8_000,
            statements_paisa: -3_000,
            unlisted_paisa: 0,
        }]
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_a_paid_statement_needs_its_payout_and_only_its_own(pool: PgPool) {
    let b = books(pool).await;
    // This week is issued, then marked paid by hand: no payout posted.
    assert_eq!(issue(&b.app, later(22)).await, 1);
    let forged = statement(&b.app, b.online_id, 3).await;
    assert_eq!(net(&b.app, forged).await, 81_000);
    b.app.assert_books_balance().await;
    sqlx::query(
        "UPDATE payout_statements SET status = 'PAID', paid_at = now(), paid_by = $2,
                transfer_reference = 'forged' WHERE id = $1",
    )
    .bind(forged)
    .bind(b.admin_user.id)
    .execute(&b.app.pool)
    .await
    .expect("forge");
    let vendor_account = format!("vendor:{}:payable", b.online_id);
    assert_eq!(
        check(&b.app).await.differences,
        [
            Difference::Payout {
                statement_id: forged,
                account: "cash:payouts".into(),
                expected_paisa: -81_000,
                posted_paisa: 0,
            },
            Difference::Payout {
                statement_id: forged,
                account: vendor_account.clone(),
                expected_paisa: 81_000,
                posted_paisa: 0,
            },
            // And the laundry's account still says it is owed.
            Difference::VendorBalance {
                vendor_id: b.online_id,
                owed_paisa: 81_000,
                statements_paisa: 0,
                unlisted_paisa: 0,
            },
        ]
    );

    // A payout of a statement paid at zero, and one of a statement not
    // paid (the cash laundry's): the first has another amount than its
    // net, the second nothing that moved money behind it.
    post_by_hand(
        &b.app,
        "payout",
        ("statement", b.paid_zero),
        &[(vendor_account.clone(), 100), ("cash:payouts".into(), -100)],
    )
    .await;
    post_by_hand(
        &b.app,
        "payout",
        ("statement", b.issued),
        &[
            (format!("vendor:{}:payable", b.cash_id), 100),
            ("cash:payouts".into(), -100),
        ],
    )
    .await;
    let differences = check(&b.app).await.differences;
    for difference in [
        Difference::Payout {
            statement_id: b.paid_zero,
            account: vendor_account.clone(),
            expected_paisa: 0,
            posted_paisa: 100,
        },
        Difference::Payout {
            statement_id: b.paid_zero,
            account: "cash:payouts".into(),
            expected_paisa: 0,
            posted_paisa: -100,
        },
    ] {
        assert!(differences.contains(&difference), "{differences:?}");
    }
    assert!(
        differences.iter().any(|d| matches!(
            d,
            Difference::Unbacked { kind, source_id, .. } if kind == "payout" && *source_id == b.issued
        )),
        "{differences:?}"
    );
    // The statement paid through the operation is sound throughout, and
    // its payout is not unbacked.
    assert!(
        !differences.iter().any(|d| matches!(
            d,
            Difference::Payout { statement_id, .. } if *statement_id == b.paid
        ) || matches!(
            d,
            Difference::Unbacked { source_id, kind, .. } if kind == "payout" && *source_id == b.paid
        )),
        "{differences:?}"
    );
    assert_eq!(differences.len(), 3 + 2 + 2, "{differences:?}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_commission_moved_by_hand_is_a_commission_difference(pool: PgPool) {
    let b = books(pool).await;
    let earned = check(&b.app).await.balances.commission_earned.paisa();
    give_away_commission(&b).await;
    let differences = check(&b.app).await.differences;
    assert!(
        differences.contains(&Difference::Commission {
            earned_paisa: earned - 500,
            expected_paisa: earned,
        }),
        "{differences:?}"
    );
    assert!(
        differences.iter().any(|d| matches!(
            d,
            Difference::Unbacked {
                source_id: 999_999,
                ..
            }
        )),
        "{differences:?}"
    );
    // The laundry's account agrees with its statements and this week (the
    // entry is on none yet): the commission is what is wrong.
    assert_eq!(differences.len(), 2, "{differences:?}");
}

/// The `data-paisa` of the balance row named `name` on the Books page.
fn shown(body: &str, name: &str) -> i64 {
    let row = &body[body
        .find(&format!(r#"data-balance="{name}""#))
        .unwrap_or_else(|| panic!("no row {name}"))..];
    let start = row.find(r#"data-paisa=""#).expect("paisa") + r#"data-paisa=""#.len();
    row[start..start + row[start..].find('"').expect("quote")]
        .parse()
        .expect("a number")
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_page_shows_the_check_and_the_balances_to_admins_only(pool: PgPool) {
    let b = books(pool).await;
    let page = b.admin.get("/admin/books").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("The books balance."), "{body}");
    assert!(!body.contains("data-difference"), "{body}");
    // Every figure is the sum of its ledger rows.
    let app = &b.app;
    let of = |account: &str| {
        format!("SELECT sum(amount_paisa)::bigint FROM ledger_entries WHERE account = '{account}'")
    };
    for provider in ["sandbox", "khalti", "esewa"] {
        assert_eq!(
            shown(body, &format!("provider-{provider}")),
            sum(app, &of(&format!("provider:{provider}"))).await,
            "{provider}"
        );
    }
    assert_eq!(shown(body, "provider-sandbox"), 260_000);
    assert_eq!(
        shown(body, "vendors-payable"),
        -sum(
            app,
            "SELECT sum(amount_paisa)::bigint FROM ledger_entries WHERE account LIKE 'vendor:%'"
        )
        .await
    );
    assert_eq!(shown(body, "vendors-payable"), 73_000);
    assert_eq!(
        shown(body, "on-statements"),
        sum(
            app,
            "SELECT sum(net_paisa)::bigint FROM payout_statements s WHERE status = 'ISSUED'
             AND NOT EXISTS (SELECT 1 FROM payout_statement_lines l WHERE l.carried_from = s.id)"
        )
        .await
    );
    assert_eq!(
        shown(body, "on-statements") + shown(body, "not-on-statements"),
        73_000
    );
    assert_eq!(
        shown(body, "commission"),
        -sum(app, &of("platform:commission")).await
    );
    assert_eq!(
        shown(body, "paid-out"),
        -sum(app, &of("cash:payouts")).await
    );
    assert_eq!(shown(body, "paid-out"), 143_000);
    let transactions = app.count("SELECT count(*) FROM ledger_transactions").await;
    assert!(
        body.contains(&format!(r#"data-count="{transactions}""#)),
        "{body}"
    );
    // Money as everywhere else.
    assert!(body.contains("Rs 1,430.00"), "{body}");
    assert!(body.contains("-Rs 80.00"), "{body}");

    // Linked from the admin's navigation and home.
    let home = b.admin.get("/admin").await.body;
    assert!(home.contains(r#"<a class="button" href="/admin/books">Books</a>"#));
    assert!(home.contains(r#"<li><a href="/admin/books">Books</a></li>"#));

    // Nobody else: other roles are refused, visitors sent to log in.
    for outsider in [&b.customer, &b.online] {
        let page = outsider.get("/admin/books").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(!page.body.contains("data-balance"));
    }
    let visitor = app.browser().get("/admin/books").await;
    assert_eq!(visitor.status, StatusCode::SEE_OTHER);
    assert!(
        visitor
            .location()
            .is_some_and(|to| to.starts_with("/login")),
        "{:?}",
        visitor.location()
    );
    app.assert_books_balance().await;
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn books_page_lists_the_differences_in_words_and_is_valid_html(pool: PgPool) {
    let b = books(pool).await;
    let balanced = b.admin.get("/admin/books").await.body;
    give_away_commission(&b).await;
    let page = b.admin.get("/admin/books").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(!body.contains("The books balance."), "{body}");
    assert!(
        body.contains("The books do not balance: 2 differences"),
        "{body}"
    );
    for difference in check(&b.app).await.differences {
        assert!(
            body.contains(&format!("<li data-difference>{difference}</li>")),
            "{difference} not on {body}"
        );
    }
    let Some(jar) = crate::html_valid::checker() else {
        return;
    };
    let errors = crate::html_valid::validate(
        &jar,
        &[
            ("admin: GET /admin/books (balanced)".into(), balanced),
            ("admin: GET /admin/books (differences)".into(), page.body),
        ],
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
