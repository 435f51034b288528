//! Live latency while unrelated write transactions stay open: a release
//! `dhune serve`, LIVE_STREAMS (100) vendor streams (a few vendors, each
//! within the streams one user may keep open), write transactions
//! held open for the whole run (one in another database on the server, one
//! in Dhune's own on an unrelated row), then LIVE_EVENTS (200) requests
//! posted one after another; reports the time from each POST to its
//! `request_created` frame on every stream (p50/p99/max).
//!
//! `cargo bench --bench live_latency` (LIVE_OPEN_TRANSACTIONS=0 to run it
//! without the open transactions). Needs the local Postgres; uses a scratch
//! database.

#[allow(
    dead_code,
    reason = "shared with benches/pages.rs, which uses all of it"
)]
mod common;

use std::time::{Duration, Instant};

use common::{Server, User, env_or, percentile, request_form};
use sqlx::{Connection, PgConnection};

#[tokio::main]
async fn main() {
    let streams = env_or("LIVE_STREAMS", 100);
    let events = env_or("LIVE_EVENTS", 200);
    let hold = env_or("LIVE_OPEN_TRANSACTIONS", 1) == 1;
    let server = Server::start_with(common::MANY_SIGNUPS).await;
    let (vendors, per_vendor) = common::stream_vendors(&server, streams).await;
    let customer = User::sign_up(&server, "customer@bench.test", "customer").await;

    // Write transactions that stay open for the whole run.
    let mut elsewhere = PgConnection::connect(&format!("{}/postgres", common::SERVER))
        .await
        .expect("connect to the postgres database");
    let mut here = PgConnection::connect(&server.database)
        .await
        .expect("connect to the bench database");
    if hold {
        for (conn, sql) in [
            (&mut elsewhere, "SELECT pg_current_xact_id()::text"),
            (
                &mut here,
                "UPDATE services SET description = description WHERE code = 'iron_only'",
            ),
        ] {
            sqlx::query("BEGIN")
                .execute(&mut *conn)
                .await
                .expect("BEGIN");
            sqlx::query(sql).execute(&mut *conn).await.expect("a write");
        }
    }

    // When each POST started; the k-th `request_created` frame on a stream
    // is the k-th request posted (streams open at the head, before any).
    let posted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(streams);
    let mut tasks = Vec::with_capacity(streams);
    for n in 0..streams {
        let vendor = &vendors[n / per_vendor];
        let client = vendor.client.clone();
        let url = vendor.url("/events");
        let ready = ready_tx.clone();
        let posted = posted.clone();
        tasks.push(tokio::spawn(async move {
            let mut response = client.get(url).send().await.expect("GET /events");
            assert_eq!(response.status(), 200);
            ready.send(()).await.expect("ready");
            let mut buffer = String::new();
            let mut latencies = Vec::with_capacity(events);
            while latencies.len() < events {
                let chunk = response.chunk().await.expect("read").expect("stream open");
                let arrived = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if frame.contains("event: request_created") {
                        let at = posted.lock().expect("times")[latencies.len()];
                        latencies.push(arrived - at);
                    }
                }
            }
            latencies
        }));
    }
    for _ in 0..streams {
        ready_rx.recv().await.expect("a stream opened");
    }

    for _ in 0..events {
        posted.lock().expect("times").push(Instant::now());
        let (status, _) = customer.post("/requests", request_form(5)).await;
        assert_eq!(status, 303, "request posted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("stream task"));
    }
    latencies.sort();
    println!(
        "Live latency, {streams} streams x {events} events, unrelated write transactions open: {hold}"
    );
    println!(
        "  POST to frame: p50 {:?}, p99 {:?}, max {:?} (includes the relay's 100 ms poll)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    drop(here);
    drop(elsewhere);
    server.stop().await;
}
