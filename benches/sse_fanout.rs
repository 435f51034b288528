//! SSE fan-out benchmark: N idle `GET /events` connections (of N/8 vendors,
//! each within the streams one user may keep open) to a real
//! `dhune serve`, then one event; reports the server's memory per connection
//! and how long the event took to reach every connection (p50/p99/max).
//!
//! `cargo bench --bench sse_fanout` (SSE_CONNECTIONS=10000 for more; raise
//! `ulimit -n` first). Needs the local Postgres; uses a scratch database.

#[allow(dead_code, reason = "shared by the benches; each uses part of it")]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, User, percentile, request_form};

#[tokio::main]
async fn main() {
    let connections: usize = std::env::var("SSE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let server = Server::start_with(common::MANY_SIGNUPS).await;
    let (vendors, per_vendor) = common::stream_vendors(&server, connections).await;
    let customer = User::sign_up(&server, "customer@bench.test", "customer").await;
    let idle_rss = server.rss_kib();

    let started = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(connections);
    let mut tasks = Vec::with_capacity(connections);
    for n in 0..connections {
        let vendor = vendors[n / per_vendor].client.clone();
        let url = customer.url("/events");
        let started = Arc::clone(&started);
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut response = vendor.get(url).send().await.expect("GET /events");
            assert_eq!(response.status(), 200);
            ready.send(()).await.expect("ready");
            let mut seen = String::new();
            while let Some(chunk) = response.chunk().await.expect("read") {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains("event: request_created") {
                    let t0 = started
                        .get()
                        .copied()
                        .expect("the event was sent after every connection opened");
                    return t0.elapsed();
                }
            }
            panic!("stream ended before the event");
        }));
    }
    for _ in 0..connections {
        ready_rx.recv().await.expect("a connection opened");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected_rss = server.rss_kib();

    started.set(Instant::now()).expect("once");
    let (status, _) = customer.post("/requests", request_form(5)).await;
    assert_eq!(status, 303, "request posted");

    let mut latencies = Vec::with_capacity(connections);
    for task in tasks {
        latencies.push(task.await.expect("task"));
    }
    latencies.sort();
    let per_connection = (connected_rss.saturating_sub(idle_rss) as f64) / connections as f64;
    println!(
        "SSE fan-out, {connections} idle connections to one `dhune serve` (debug={})",
        cfg!(debug_assertions)
    );
    println!(
        "  server RSS: {idle_rss} KiB idle, {connected_rss} KiB connected, {per_connection:.1} KiB per connection"
    );
    println!(
        "  one event to all: p50 {:?}, p99 {:?}, max {:?} (from the POST that caused it; includes the relay's 100 ms poll)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    server.stop().await;
}
