//! SSE fan-out benchmark: N idle `GET /events` connections (of N/8 vendors,
//! each within the streams one user may keep open) to a real
//! `dhune serve`, then one event; reports the server's memory per connection
//! and how long the event took to reach every connection (p50/p99/max).
//!
//! `cargo bench --bench sse_fanout` (SSE_CONNECTIONS=10000 for more; raise
//! `ulimit -n` first). Needs the local Postgres; uses a scratch database.

#[allow(dead_code, reason = "shared by the benches; each uses part of it")]
mod common;

use common::{Server, User, percentile};

#[tokio::main]
async fn main() {
    let connections: usize = std::env::var("SSE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let server = Server::start_with(common::MANY_SIGNUPS).await;
    let (vendors, per_vendor) = common::stream_vendors(&server, connections).await;
    let customer = User::sign_up(&server, "customer@bench.test", "customer").await;
    let fan_out = common::fan_out(&server, &vendors, per_vendor, &customer, connections).await;
    let latencies = &fan_out.latencies;
    println!(
        "SSE fan-out, {connections} idle connections to one `dhune serve` (debug={})",
        cfg!(debug_assertions)
    );
    println!(
        "  server RSS: {} KiB idle, {} KiB connected, {:.1} KiB per connection",
        fan_out.idle_rss,
        fan_out.connected_rss,
        fan_out.rss_per_stream()
    );
    println!(
        "  one event to all: p50 {:?}, p99 {:?}, max {:?} (from the POST that caused it; includes the relay's 100 ms poll)",
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    server.stop().await;
}
