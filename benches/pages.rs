//! Page benchmark: a release `dhune serve` with a few hundred requests and
//! offers, then CONCURRENCY clients at once for each of the busiest pages
//! and for accepting offers (the critical transaction), reporting requests
//! per second and latency (p50/p99/max).
//!
//! `cargo bench --bench pages` (PAGES_REQUESTS, PAGES_CONCURRENCY and
//! PAGES_SECONDS change the size). Needs the local Postgres; uses a scratch
//! database. Client and server share the machine, so the figures are a floor.

#[allow(dead_code, reason = "shared by the benches; each uses part of it")]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{Server, User, env_or, offer_form, percentile, request_form};

/// Runs `call(n)` from `concurrency` tasks for `seconds` (or until `limit`
/// calls were made) and prints one line of figures.
async fn measure<F, Fut>(name: &str, concurrency: u64, seconds: u64, limit: u64, call: F)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= limit || Instant::now() >= deadline {
                    return times;
                }
                let t0 = Instant::now();
                assert!(call(n).await, "call {n} answered as expected");
                times.push(t0.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("task"));
    }
    let elapsed = started.elapsed();
    times.sort();
    println!(
        "  {name:<34} {:>6} calls  {:>7.0}/s  p50 {:>6.1?}  p99 {:>6.1?}  max {:>6.1?}",
        times.len(),
        times.len() as f64 / elapsed.as_secs_f64(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
    );
}

#[tokio::main]
async fn main() {
    let requests = env_or("PAGES_REQUESTS", 300);
    let concurrency = env_or("PAGES_CONCURRENCY", 16);
    let seconds = env_or("PAGES_SECONDS", 5);
    let server = Server::start().await;
    let customer = User::sign_up(&server, "customer@bench.test", "customer").await;
    let offering = User::sign_up(&server, "offers@bench.test", "vendor").await;
    let looking = User::sign_up(&server, "board@bench.test", "vendor").await;

    let mut ids = Vec::new();
    let mut offers = Vec::new();
    for n in 0..requests {
        let (status, location) = customer
            .post("/requests", request_form(3 + (n % 5) as u32))
            .await;
        assert_eq!(status, 303, "request posted");
        let id: i64 = location
            .trim_start_matches("/requests/")
            .parse()
            .expect("request id");
        let (status, _) = offering
            .post(
                &format!("/requests/{id}/offers"),
                offer_form(400 + n as u32),
            )
            .await;
        assert_eq!(status, 303, "offer made");
        ids.push(id);
    }
    for page in 1.. {
        let (_, body) = offering.get(&format!("/offers?page={page}")).await;
        let before = offers.len();
        for chunk in body.split("data-offer-id=\"").skip(1) {
            let id = &chunk[..chunk.find('"').expect("id end")];
            offers.push(id.parse::<i64>().expect("offer id"));
        }
        if offers.len() == before {
            break;
        }
    }
    assert_eq!(offers.len(), ids.len(), "every offer found");
    println!(
        "Pages, {requests} open requests with one offer each, {concurrency} clients at once, up to {seconds} s each (debug={})",
        cfg!(debug_assertions)
    );

    let board = looking.clone();
    measure(
        "GET /board (vendor)",
        concurrency,
        seconds,
        u64::MAX,
        move |_| {
            let board = board.clone();
            async move { board.get("/board").await.0 == 200 }
        },
    )
    .await;
    let (owner, pages) = (customer.clone(), ids.clone());
    measure(
        "GET /requests/{id} (owner)",
        concurrency,
        seconds,
        u64::MAX,
        move |n| {
            let (owner, id) = (owner.clone(), pages[n as usize % pages.len()]);
            async move { owner.get(&format!("/requests/{id}")).await.0 == 200 }
        },
    )
    .await;
    let list = customer.clone();
    measure(
        "GET /requests (owner's list)",
        concurrency,
        seconds,
        u64::MAX,
        move |_| {
            let list = list.clone();
            async move { list.get("/requests").await.0 == 200 }
        },
    )
    .await;
    // The customer reads each confirmation page first, as in the browser;
    // only the POST is timed.
    let mut to_accept = Vec::new();
    for &id in &offers {
        to_accept.push((id, customer.offer_version(id).await));
    }
    let accepting = customer.clone();
    measure(
        "POST /offers/{id}/accept",
        concurrency,
        seconds * 10,
        to_accept.len() as u64,
        move |n| {
            let (accepting, (id, version)) = (accepting.clone(), to_accept[n as usize]);
            async move {
                let form = vec![("offer_version", version.to_string())];
                let (status, location) =
                    accepting.post(&format!("/offers/{id}/accept"), form).await;
                status == 303 && location.starts_with("/orders/")
            }
        },
    )
    .await;
    let orders = customer.clone();
    measure(
        "GET /orders (owner's list)",
        concurrency,
        seconds,
        u64::MAX,
        move |_| {
            let orders = orders.clone();
            async move { orders.get("/orders").await.0 == 200 }
        },
    )
    .await;
    println!("  server RSS at the end: {} KiB", server.rss_kib());
    server.stop().await;
}
