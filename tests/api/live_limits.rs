//! The live stream under stress: unrelated open transactions do not hold it
//! back, replays deliver everything in pages, old gaps get a reload instead,
//! each user's streams are capped, and a stream ends with its session.

use std::time::Duration;

use dhune::Config;
use sqlx::{Connection, PgConnection, PgPool};

use crate::helpers::TestApp;

const QUIET: Duration = Duration::from_millis(800);

async fn user_id(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A connection to another database on the same server.
async fn other_database(pool: &PgPool) -> PgConnection {
    let options = pool.connect_options().as_ref().clone().database("postgres");
    PgConnection::connect_with(&options).await.unwrap()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn events_flow_while_unrelated_write_transactions_stay_open(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let mut board = vendor.events(None).await;

    // Write transactions that never end: one in another database on the
    // server, one in ours on an unrelated table (each holds an xid, which
    // holds back the server-wide transaction horizon).
    let mut elsewhere = other_database(&pool).await;
    let mut open_elsewhere = elsewhere.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()::text")
        .execute(&mut *open_elsewhere)
        .await
        .unwrap();
    let mut open_here = pool.begin().await.unwrap();
    sqlx::query("UPDATE services SET description = description WHERE code = 'wash_fold'")
        .execute(&mut *open_here)
        .await
        .unwrap();

    for _ in 0..3 {
        let request_id = customer.create_request().await;
        let event = board
            .next_within(Duration::from_secs(5))
            .await
            .expect("the event arrives while the other transactions are open");
        assert_eq!(event.event, "request_created");
        assert!(
            event.data.contains(&format!("#{request_id}")),
            "{}",
            event.data
        );
    }
    open_here.rollback().await.unwrap();
    open_elsewhere.rollback().await.unwrap();
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_event_takes_its_id_only_behind_the_fence(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    let last_id = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = last_id().await;

    // The relay's side of the fence, held by hand.
    let mut relay = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)::text")
        .bind(dhune::market::feed::FENCE)
        .execute(&mut *relay)
        .await
        .unwrap();
    let writer = tokio::spawn(async move { customer.create_request().await });
    // Wait until the writer is queued at the fence.
    let mut waiting = false;
    for _ in 0..100 {
        waiting = sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting, "the writer waits at the fence");
    assert_eq!(last_id().await, before, "no id is taken before the fence");

    sqlx::query("SELECT pg_advisory_unlock($1)::text")
        .bind(dhune::market::feed::FENCE)
        .execute(&mut *relay)
        .await
        .unwrap();
    let request_id = writer.await.unwrap();
    assert!(request_id > 0);
    assert!(last_id().await > before);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_replay_of_more_than_ten_thousand_events_delivers_them_all(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    let stranger = app.customer("s@example.com").await;
    let me = user_id(&pool, "c@example.com").await;
    let other = user_id(&pool, "s@example.com").await;
    drop(stranger);
    // 10,500 events for this customer, interleaved with 10,500 for someone else.
    sqlx::query(
        "INSERT INTO events (kind, audience_users)
         SELECT 'user_reinstated', ARRAY[CASE WHEN n % 2 = 0 THEN $1 ELSE $2 END]::bigint[]
         FROM generate_series(1, 21000) AS n",
    )
    .bind(me)
    .bind(other)
    .execute(&pool)
    .await
    .unwrap();
    let newest: i64 =
        sqlx::query_scalar("SELECT max(id) FROM events WHERE $1 = ANY(audience_users)")
            .bind(me)
            .fetch_one(&pool)
            .await
            .unwrap();
    // Let the relay pass the new rows, so they come from the replay.
    tokio::time::sleep(QUIET).await;

    let mut stream = customer.events(Some("0")).await;
    let mut seen = 0;
    let mut last = 0;
    while last < newest {
        let event = stream.next().await;
        assert_eq!(event.event, "user_reinstated");
        let id: i64 = event.id.parse().unwrap();
        assert!(id > last, "in order, nothing twice");
        last = id;
        seen += 1;
    }
    assert_eq!(seen, 10_500);
    assert!(stream.next_within(QUIET).await.is_none());
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_gap_older_than_a_day_asks_the_page_to_reload(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    let request_id = customer.create_request().await;
    let first: i64 = sqlx::query_scalar("SELECT min(id) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();

    // Within the day: replayed.
    sqlx::query("UPDATE events SET created_at = now() - interval '23 hours'")
        .execute(&pool)
        .await
        .unwrap();
    let mut stream = customer.events(Some("0")).await;
    let event = stream.next().await;
    assert_eq!(
        (event.event.as_str(), event.id.parse()),
        ("request_created", Ok(first))
    );

    // Older than a day: one event telling the page to reload, then live.
    sqlx::query("UPDATE events SET created_at = now() - interval '25 hours'")
        .execute(&pool)
        .await
        .unwrap();
    let mut stream = customer.events(Some("0")).await;
    let event = stream.next().await;
    assert_eq!(event.event, "reload");
    assert!(event.data.contains("Reload the page"), "{}", event.data);
    assert!(stream.next_within(QUIET).await.is_none(), "no replay");
    customer
        .post(&format!("/requests/{request_id}/cancel"), &[])
        .await;
    assert_eq!(stream.next().await.event, "request_cancelled");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn opening_more_streams_than_allowed_closes_the_oldest(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let vendor = app.vendor("v@example.com").await;
    let mut streams = Vec::new();
    for _ in 0..dhune::events::relay::STREAMS_PER_USER {
        streams.push(vendor.events(None).await);
    }
    let mut oldest = streams.remove(0);
    assert!(
        !oldest.ends_within(QUIET).await,
        "within the cap all stay open"
    );
    let _newest = vendor.events(None).await;
    assert!(oldest.ends_within(Duration::from_secs(5)).await);
    assert!(!streams[0].ends_within(QUIET).await, "only the oldest");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_suspended_users_stream_ends_at_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.admin("a@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let customer = app.customer("c@example.com").await;
    let vendor_id = user_id(&pool, "v@example.com").await;
    let mut stream = vendor.events(None).await;

    let suspended = admin
        .post(
            &format!("/admin/users/{vendor_id}/suspend"),
            &[("reason", "Spam offers".into())],
        )
        .await;
    assert_eq!(suspended.status, 303, "{}", suspended.body);
    assert!(stream.ends_within(Duration::from_secs(5)).await);
    // And it learns nothing more.
    customer.create_request().await;
    let reopened = vendor
        .client
        .get(vendor.url("/events"))
        .send()
        .await
        .unwrap();
    assert_ne!(reopened.status(), 200);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_stream_ends_when_its_session_ends(pool: PgPool) {
    let config = Config {
        stream_recheck: Duration::from_millis(200),
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;
    let customer = app.customer("c@example.com").await;
    let mut stream = customer.events(None).await;
    assert!(!stream.ends_within(QUIET).await, "open while signed in");

    customer.logout().await;
    assert!(stream.ends_within(Duration::from_secs(5)).await);
}
