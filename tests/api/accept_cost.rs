//! What accepting an offer costs the database: the statements the winner's
//! transaction runs, and those of a refused loser, counted so that they
//! cannot silently grow back.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, Statements, TestApp};

/// A customer's request with an offer from each of three laundries; returns
/// the customer, the request and the offers.
async fn three_offers(app: &TestApp) -> (Browser, i64, Vec<i64>) {
    let customer = app.customer("c@example.com").await;
    let request_id = customer.create_request().await;
    let mut offers = Vec::new();
    for n in 0..3 {
        let email = format!("v{n}@example.com");
        let vendor = app.vendor(&email).await;
        vendor.make_offer(request_id, &format!("{}", 400 + n)).await;
        offers.push(app.offer_id(request_id, &email).await);
    }
    (customer, request_id, offers)
}

async fn accept(customer: &Browser, token: &str, offer_id: i64) -> crate::helpers::Page {
    customer
        .post_raw(
            &format!("/offers/{offer_id}/accept"),
            &[("offer_version", "1".into()), ("csrf_token", token.into())],
            &[],
        )
        .await
}

/// The statements of the operation itself: not the session store's, nor
/// the login layer's load of the user, nor the error page's header count.
fn of_the_operation(statements: &[String]) -> Vec<&String> {
    statements
        .iter()
        .filter(|sql| {
            !sql.contains("tower_sessions")
                && !sql.contains("FROM users u WHERE u.id = $1")
                && !sql.contains("FROM notifications WHERE user_id = $1 AND read_at IS NULL")
        })
        .collect()
}

fn writes(sql: &str) -> bool {
    let sql = sql.to_lowercase();
    ["insert ", "update ", "delete "]
        .iter()
        .any(|verb| sql.contains(verb))
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_accept_runs_seven_statements_however_many_offers_it_rejects(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _, offers) = three_offers(&app).await;
    let alone = customer.create_request().await;
    let vendor = app.vendor("alone@example.com").await;
    vendor.make_offer(alone, "450").await;
    let single = app.offer_id(alone, "alone@example.com").await;
    let token = customer.csrf_token().await;
    let (statements, _guard) = Statements::record();

    for offer_id in [offers[0], single] {
        let page = accept(&customer, &token, offer_id).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let all = statements.take();
        assert!(
            !all.iter().any(|sql| sql.contains("tower_sessions.session")),
            "the flash waits in a cookie, not in the session: {all:#?}"
        );
        let run = of_the_operation(&all);
        // A plain read, then the transaction: (BEGIN, not logged) the
        // request's lock, every row change, the events, their
        // notifications, COMMIT.
        assert_eq!(run.len(), 6, "offer {offer_id}: {run:#?}");
        assert!(
            !writes(run[0]) && !run[0].contains("FOR NO KEY UPDATE"),
            "{run:#?}"
        );
        assert!(
            run[1].contains("FROM requests WHERE id = $1 FOR NO KEY UPDATE"),
            "{run:#?}"
        );
        assert!(run[2].contains("INSERT INTO orders"), "{run:#?}");
        assert!(run[3].contains("INSERT INTO events"), "{run:#?}");
        assert!(run[4].contains("INSERT INTO notifications"), "{run:#?}");
        assert_eq!(run[5], "COMMIT");
    }
    // Everything the operation writes today is still written.
    assert_eq!(
        app.count("SELECT count(*) FROM offers WHERE status = 'REJECTED'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM order_status_history").await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE kind = 'offer_rejected'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM notifications n JOIN events e ON e.id = n.event_id WHERE e.kind = 'offer_rejected'")
            .await,
        2
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_loser_is_refused_after_one_plain_read_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (customer, _, offers) = three_offers(&app).await;
    // The winner's flash is still queued: the first refusal's page shows
    // it, and that writes nothing either.
    customer.accept(offers[0], 1).await;
    let token = customer.csrf_token().await;
    let (statements, _guard) = Statements::record();
    let mut totals = Vec::new();

    for offer_id in [offers[1], offers[0], offers[2]] {
        let lost = accept(&customer, &token, offer_id).await;
        assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.body);
        assert!(lost.body.contains("already has an order"), "{}", lost.body);
        let all = statements.take();
        assert!(
            !all.iter().any(|sql| writes(sql)),
            "a refusal writes nothing, not even the session: {all:#?}"
        );
        let run = of_the_operation(&all);
        assert_eq!(run.len(), 1, "no transaction, no lock: {run:#?}");
        assert!(!run[0].contains("FOR NO KEY UPDATE"), "{run:#?}");
        totals.push(all.len());
    }
    // The session and the user are kept in memory; only a view that came
    // right after a change to them (the flash taken, the winner's events
    // relayed) reads them again.
    assert_eq!(totals.iter().min(), Some(&1), "{totals:?}");
}
