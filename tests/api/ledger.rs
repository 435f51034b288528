//! The ledger against a real Postgres: the rules the database keeps (balance
//! at commit, append-only, refunds within the payment), posting a movement
//! once however often and however concurrently it is posted, and
//! `dhune ledger check` on sound and on broken books.

use std::sync::Arc;

use dhune::domain::ledger::{Capture, Method, Movement, Provider};
use dhune::market::ledger::{self, Difference, Posted};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::TestApp;

/// An order, as the ledger needs it.
struct Order {
    id: i64,
    vendor_id: i64,
    price_paisa: i64,
    commission_bps: i32,
}

impl Order {
    fn capture(&self, method: Method) -> Capture {
        Capture {
            method,
            vendor_id: self.vendor_id,
            amount_paisa: self.price_paisa,
            commission_bps: self.commission_bps,
        }
    }
}

/// An order made through the app at Rs 123.45 (odd paisa: its 10%
/// commission, 12.345, rounds to 12.35), by a new customer and laundry.
async fn order(app: &TestApp, n: u32) -> Order {
    let customer = app.customer(&format!("c{n}@example.com")).await;
    let vendor_email = format!("v{n}@example.com");
    let vendor = app.vendor(&vendor_email).await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "123.45").await;
    let offer_id = app.offer_id(request_id, &vendor_email).await;
    customer.accept(offer_id, 1).await;
    let (id, vendor_id, price_paisa, commission_bps): (i64, i64, i64, i32) = sqlx::query_as(
        "SELECT id, vendor_id, price_paisa, commission_bps FROM orders WHERE offer_id = $1",
    )
    .bind(offer_id)
    .fetch_one(&app.pool)
    .await
    .expect("the order");
    assert_eq!(price_paisa, 12_345);
    Order {
        id,
        vendor_id,
        price_paisa,
        commission_bps,
    }
}

/// A payment row for the whole of `order` (`provider` None: cash).
async fn payment(pool: &PgPool, order: &Order, provider: Option<&str>, status: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO payments (order_id, method, provider, status, amount_paisa, reference)
         VALUES ($1, CASE WHEN $2::text IS NULL THEN 'cod' ELSE 'online' END, $2, $3, $4,
                 'test-' || $1 || '-' || $3) RETURNING id",
    )
    .bind(order.id)
    .bind(provider)
    .bind(status)
    .bind(order.price_paisa)
    .fetch_one(pool)
    .await
    .expect("a payment")
}

/// Posts in a transaction of its own.
async fn post(pool: &PgPool, movement: Movement, capture: &Capture) -> Posted {
    let mut tx = pool.begin().await.unwrap();
    let posted = ledger::post(&mut tx, movement, &capture.postings().unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    posted
}

/// A succeeded refund of `amount`, recorded on the payment and posted, in
/// one transaction, the way the refund operation will.
async fn refund(pool: &PgPool, payment_id: i64, capture: &Capture, amount: i64) {
    let mut tx = pool.begin().await.unwrap();
    let before: i64 =
        sqlx::query_scalar("SELECT refunded_paisa FROM payments WHERE id = $1 FOR NO KEY UPDATE")
            .bind(payment_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    let refund_id: i64 = sqlx::query_scalar(
        "INSERT INTO refunds (payment_id, amount_paisa, status, reason)
         VALUES ($1, $2, 'SUCCEEDED', 'Two shirts were not washed') RETURNING id",
    )
    .bind(payment_id)
    .bind(amount)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE payments SET refunded_paisa = refunded_paisa + $2,
             status = CASE WHEN refunded_paisa + $2 = amount_paisa THEN 'REFUNDED'
                           ELSE 'PARTIALLY_REFUNDED' END
         WHERE id = $1",
    )
    .bind(payment_id)
    .bind(amount)
    .execute(&mut *tx)
    .await
    .unwrap();
    let postings = capture.refund(before, amount).unwrap();
    let posted = ledger::post(&mut tx, Movement::Refund { refund_id }, &postings)
        .await
        .unwrap();
    assert!(matches!(posted, Posted::New(_)), "{posted:?}");
    tx.commit().await.unwrap();
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// The message of a database error, or a panic when `result` is fine.
fn refusal<T: std::fmt::Debug>(result: Result<T, sqlx::Error>) -> String {
    match result {
        Ok(value) => panic!("the database accepted it: {value:?}"),
        Err(err) => err.to_string(),
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_transaction_that_does_not_balance_is_refused_at_commit(pool: PgPool) {
    let write = |entries: &'static [(&'static str, i64)]| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO ledger_transactions (kind, source_type, source_id)
                 VALUES ('capture', 'payment', (SELECT count(*) + 1 FROM ledger_transactions))
                 RETURNING id",
            )
            .fetch_one(&mut *tx)
            .await?;
            for (account, amount) in entries {
                // Each insert is accepted: the sum is checked at commit.
                sqlx::query(
                    "INSERT INTO ledger_entries (transaction_id, account, amount_paisa)
                     VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(account)
                .bind(amount)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
    };
    let off_by_one = write(&[("provider:sandbox", 100), ("platform:commission", -99)]).await;
    assert!(
        refusal(off_by_one).contains("does not balance: 2 entries summing to 1 paisa"),
        "the sum is checked"
    );
    let alone = write(&[("provider:sandbox", 100)]).await;
    assert!(refusal(alone).contains("1 entries"));
    let empty = write(&[]).await;
    assert!(refusal(empty).contains("0 entries"));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM ledger_transactions").await,
        0
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM ledger_entries").await, 0);

    write(&[
        ("provider:sandbox", 100),
        ("vendor:1:payable", -90),
        ("platform:commission", -10),
    ])
    .await
    .expect("a balanced transaction commits");
    assert_eq!(count(&pool, "SELECT count(*) FROM ledger_entries").await, 3);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn ledger_rows_are_never_updated_deleted_or_added_to(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let order = order(&app, 1).await;
    let payment_id = payment(&pool, &order, Some("sandbox"), "SUCCEEDED").await;
    let capture = order.capture(Method::Online(Provider::Sandbox));
    let Posted::New(tx_id) = post(&pool, Movement::Capture { payment_id }, &capture).await else {
        panic!("a first posting is new");
    };
    let entries = "SELECT string_agg(account || '=' || amount_paisa, ' ' ORDER BY id) \
                   FROM ledger_entries";
    let before: String = sqlx::query_scalar(entries).fetch_one(&pool).await.unwrap();
    assert_eq!(
        before,
        format!(
            "provider:sandbox=12345 vendor:{}:payable=-11110 platform:commission=-1235",
            order.vendor_id
        )
    );

    for sql in [
        "UPDATE ledger_entries SET amount_paisa = amount_paisa * 2",
        "UPDATE ledger_entries SET account = 'cash:payouts' WHERE account = 'provider:sandbox'",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries CASCADE",
        "UPDATE ledger_transactions SET source_id = source_id + 1",
        "DELETE FROM ledger_transactions",
        "TRUNCATE ledger_transactions CASCADE",
    ] {
        let err = refusal(sqlx::query(sql).execute(&pool).await);
        assert!(err.contains("the ledger is append-only"), "{sql}: {err}");
    }
    // Nor do entries join a committed transaction, balanced or not.
    let added = sqlx::query(
        "INSERT INTO ledger_entries (transaction_id, account, amount_paisa)
         VALUES ($1, 'platform:commission', 5), ($1, 'cash:payouts', -5)",
    )
    .bind(tx_id)
    .execute(&pool)
    .await;
    assert!(refusal(added).contains("is already committed"));

    let after: String = sqlx::query_scalar(entries).fetch_one(&pool).await.unwrap();
    assert_eq!(after, before);
    assert!(ledger::check(&pool).await.unwrap().differences.is_empty());
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_movement_posted_twice_or_by_twenty_at_once_is_one_transaction(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let first = order(&app, 1).await;
    let payment_id = payment(&pool, &first, Some("khalti"), "SUCCEEDED").await;
    let capture = first.capture(Method::Online(Provider::Khalti));
    let movement = Movement::Capture { payment_id };
    let Posted::New(id) = post(&pool, movement, &capture).await else {
        panic!("a first posting is new");
    };
    assert_eq!(post(&pool, movement, &capture).await, Posted::Already(id));
    // The same movement with other amounts is a bug, refused.
    let mut tx = pool.begin().await.unwrap();
    let other = Capture {
        commission_bps: 2_000,
        ..capture
    };
    let err = ledger::post(&mut tx, movement, &other.postings().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was posted before"), "{err}");
    drop(tx);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM ledger_transactions").await,
        1
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM ledger_entries").await, 3);

    // Twenty connections post one capture at the same moment, each in its
    // own transaction that stays open a little after posting.
    let second = order(&app, 2).await;
    let payment_id = payment(&pool, &second, Some("khalti"), "SUCCEEDED").await;
    let capture = second.capture(Method::Online(Provider::Khalti));
    let movement = Movement::Capture { payment_id };
    let racers = PgPoolOptions::new()
        .max_connections(20)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (racers, start) = (racers.clone(), start.clone());
            tokio::spawn(async move {
                let mut tx = racers.begin().await.unwrap();
                start.wait().await;
                let posted = ledger::post(&mut tx, movement, &capture.postings().unwrap())
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                tx.commit().await.unwrap();
                posted
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let new: Vec<i64> = outcomes
        .iter()
        .filter_map(|posted| match posted {
            Posted::New(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|posted| matches!(posted, Posted::New(id) | Posted::Already(id) if *id == new[0])),
        "{outcomes:?}"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM ledger_transactions").await,
        2
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM ledger_entries").await, 6);
    let report = ledger::check(&pool).await.unwrap();
    assert_eq!(report.differences, []);
    assert_eq!((report.transactions, report.entries), (2, 6));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_database_refuses_refunds_beyond_the_payment_and_a_second_live_payment(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let order = order(&app, 1).await;
    let method: String = sqlx::query_scalar("SELECT payment_method FROM orders WHERE id = $1")
        .bind(order.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(method, "cod", "an order made without choosing is cash");
    let payment_id = payment(&pool, &order, Some("esewa"), "SUCCEEDED").await;
    let set = |refunded: i64, status: &'static str| {
        sqlx::query("UPDATE payments SET refunded_paisa = $2, status = $3 WHERE id = $1")
            .bind(payment_id)
            .bind(refunded)
            .bind(status)
            .execute(&pool)
    };
    let err = refusal(set(12_346, "REFUNDED").await);
    assert!(err.contains("payments_refunded_within_amount"), "{err}");
    let err = refusal(set(-1, "SUCCEEDED").await);
    assert!(err.contains("payments_refunded_within_amount"), "{err}");
    // The status says how much came back.
    let err = refusal(set(100, "SUCCEEDED").await);
    assert!(err.contains("payments_status_matches_refunds"), "{err}");
    let err = refusal(set(12_345, "PARTIALLY_REFUNDED").await);
    assert!(err.contains("payments_status_matches_refunds"), "{err}");
    set(12_345, "REFUNDED").await.expect("all of it back");

    let err = refusal(
        sqlx::query(
            "INSERT INTO refunds (payment_id, amount_paisa, reason) VALUES ($1, 0, 'nothing')",
        )
        .bind(payment_id)
        .execute(&pool)
        .await,
    );
    assert!(err.contains("refunds_amount_paisa_check"), "{err}");
    // One live payment per order; a failed one leaves room for the next.
    let err = refusal(
        sqlx::query(
            "INSERT INTO payments (order_id, method, provider, amount_paisa, reference)
             VALUES ($1, 'online', 'esewa', 100, 'second')",
        )
        .bind(order.id)
        .execute(&pool)
        .await,
    );
    assert!(err.contains("payments_one_alive_per_order"), "{err}");
    sqlx::query("UPDATE payments SET status = 'FAILED', refunded_paisa = 0 WHERE id = $1")
        .bind(payment_id)
        .execute(&pool)
        .await
        .unwrap();
    payment(&pool, &order, None, "PENDING").await;
}

/// `dhune ledger check` run as the binary on the test's database.
pub(crate) fn check_command(pool: &PgPool) -> (bool, String) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dhune"))
        .args(["ledger", "check"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.success(), format!("{stdout}{stderr}"))
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn ledger_check_passes_sound_books_and_names_each_difference(pool: PgPool) {
    let report = ledger::check(&pool).await.unwrap();
    assert_eq!((report.transactions, report.entries), (0, 0));
    assert_eq!(report.differences, []);

    // An online payment refunded in three odd parts (not all of it), a cash
    // order completed, and a payment that failed.
    let app = TestApp::spawn(pool.clone()).await;
    let online = order(&app, 1).await;
    let online_payment = payment(&pool, &online, Some("sandbox"), "SUCCEEDED").await;
    let capture = online.capture(Method::Online(Provider::Sandbox));
    post(
        &pool,
        Movement::Capture {
            payment_id: online_payment,
        },
        &capture,
    )
    .await;
    for part in [2_345, 1, 333] {
        refund(&pool, online_payment, &capture, part).await;
    }
    let cash = order(&app, 2).await;
    let cash_payment = payment(&pool, &cash, None, "SUCCEEDED").await;
    post(
        &pool,
        Movement::Capture {
            payment_id: cash_payment,
        },
        &cash.capture(Method::CashOnDelivery),
    )
    .await;
    let failed = order(&app, 3).await;
    let failed_payment = payment(&pool, &failed, Some("sandbox"), "FAILED").await;

    let report = ledger::check(&pool).await.unwrap();
    assert_eq!(report.differences, []);
    // The refund of one paisa moves no commission (Rs 99.99 paid and
    // Rs 100.00 paid both carry Rs 10.00), so it has two entries.
    assert_eq!(
        (report.transactions, report.entries),
        (5, 3 + 3 + 2 + 3 + 2)
    );
    // The provider holds what was paid less what went back.
    let held: i64 = sqlx::query_scalar(
        "SELECT sum(amount_paisa)::bigint FROM ledger_entries WHERE account = 'provider:sandbox'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(held, 12_345 - 2_345 - 1 - 333);
    let (ok, output) = check_command(&pool);
    assert!(ok, "{output}");
    assert!(
        output.contains("ledger: 5 transactions, 13 entries, books balance"),
        "{output}"
    );

    // Broken on purpose: a paid payment nobody posted, a refund recorded
    // without its payment knowing, and a capture of the failed payment.
    let unposted = order(&app, 4).await;
    let unposted_payment = payment(&pool, &unposted, Some("sandbox"), "SUCCEEDED").await;
    sqlx::query(
        "INSERT INTO refunds (payment_id, amount_paisa, status, reason)
         VALUES ($1, 500, 'SUCCEEDED', 'Refunded by hand')",
    )
    .bind(online_payment)
    .execute(&pool)
    .await
    .unwrap();
    let failed_capture = failed.capture(Method::Online(Provider::Sandbox));
    let Posted::New(stray) = post(
        &pool,
        Movement::Capture {
            payment_id: failed_payment,
        },
        &failed_capture,
    )
    .await
    else {
        panic!("posted");
    };

    let differences = ledger::check(&pool).await.unwrap().differences;
    assert!(differences.contains(&Difference::Unbacked {
        transaction_id: stray,
        kind: "capture".into(),
        source_type: "payment".into(),
        source_id: failed_payment,
    }));
    assert!(differences.contains(&Difference::Refunded {
        payment_id: online_payment,
        recorded_paisa: 2_345 + 1 + 333,
        succeeded_paisa: 2_345 + 1 + 333 + 500,
    }));
    for (payment_id, expected_paisa, posted_paisa) in
        [(unposted_payment, 12_345, 0), (failed_payment, 0, 12_345)]
    {
        let difference = Difference::Postings {
            payment_id,
            account: "provider:sandbox".into(),
            expected_paisa,
            posted_paisa,
        };
        assert!(differences.contains(&difference), "{differences:?}");
    }
    // Provider, laundry and platform, for each of the two.
    assert_eq!(differences.len(), 2 + 3 + 3, "{differences:?}");

    let (ok, output) = check_command(&pool);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "payment {unposted_payment}: provider:sandbox should hold 12345 paisa from it, \
             its postings hold 0"
        )),
        "{output}"
    );
    assert!(
        output.contains("ledger: 6 transactions, 16 entries, 8 differences"),
        "{output}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn refunds_asked_for_at_once_never_exceed_the_payment(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let order = order(&app, 1).await;
    let payment_id = payment(&pool, &order, Some("khalti"), "SUCCEEDED").await;
    // Twenty refunds of Rs 10.00 asked for at the same moment on a payment
    // of Rs 123.45: twelve fit.
    let racers = PgPoolOptions::new()
        .max_connections(20)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (racers, start) = (racers.clone(), start.clone());
            tokio::spawn(async move {
                let mut tx = racers.begin().await.unwrap();
                start.wait().await;
                sqlx::query(
                    "INSERT INTO refunds (payment_id, amount_paisa, reason)
                     VALUES ($1, 1000, 'A shirt was lost')",
                )
                .bind(payment_id)
                .execute(&mut *tx)
                .await?;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                tx.commit().await
            })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        if let Err(err) = task.await.unwrap() {
            assert!(
                err.to_string().contains("more than the 12345 paid"),
                "{err}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 8);
    let asked =
        "SELECT coalesce(sum(amount_paisa), 0)::bigint FROM refunds WHERE status <> 'FAILED'";
    assert_eq!(count(&pool, asked).await, 12_000);

    // A failed refund does not count, until it is retried.
    sqlx::query("UPDATE refunds SET status = 'FAILED' WHERE id = (SELECT min(id) FROM refunds)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO refunds (payment_id, amount_paisa, status, reason)
         VALUES ($1, 1345, 'MANUAL_ACTION_NEEDED', 'The rest')",
    )
    .bind(payment_id)
    .execute(&pool)
    .await
    .expect("the rest fits while one refund has failed");
    let retried = sqlx::query(
        "UPDATE refunds SET status = 'PENDING' WHERE id = (SELECT min(id) FROM refunds)",
    )
    .execute(&pool)
    .await;
    let err = refusal(retried);
    assert!(
        err.contains("would come to 13345 paisa, more than the 12345 paid"),
        "{err}"
    );
}
