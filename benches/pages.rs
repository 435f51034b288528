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

use common::{Server, User, env_or, measure, offer_form, request_form};

/// A checked answer as `measure` takes it.
fn expected(ok: bool) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err("an unexpected answer".into())
    }
}

#[tokio::main]
async fn main() {
    let requests = env_or("PAGES_REQUESTS", 300);
    let concurrency = env_or("PAGES_CONCURRENCY", 16);
    let seconds: u64 = env_or("PAGES_SECONDS", 5);
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
        usize::MAX,
        move |_| {
            let board = board.clone();
            async move { expected(board.get("/board").await.0 == 200) }
        },
    )
    .await;
    let (owner, pages) = (customer.clone(), ids.clone());
    measure(
        "GET /requests/{id} (owner)",
        concurrency,
        seconds,
        usize::MAX,
        move |n| {
            let (owner, id) = (owner.clone(), pages[n % pages.len()]);
            async move { expected(owner.get(&format!("/requests/{id}")).await.0 == 200) }
        },
    )
    .await;
    let list = customer.clone();
    measure(
        "GET /requests (owner's list)",
        concurrency,
        seconds,
        usize::MAX,
        move |_| {
            let list = list.clone();
            async move { expected(list.get("/requests").await.0 == 200) }
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
        to_accept.len(),
        move |n| {
            let (accepting, (id, version)) = (accepting.clone(), to_accept[n]);
            async move {
                let form = vec![("offer_version", version.to_string())];
                let (status, location) =
                    accepting.post(&format!("/offers/{id}/accept"), form).await;
                expected(status == 303 && location.starts_with("/orders/"))
            }
        },
    )
    .await;
    let orders = customer.clone();
    measure(
        "GET /orders (owner's list)",
        concurrency,
        seconds,
        usize::MAX,
        move |_| {
            let orders = orders.clone();
            async move { expected(orders.get("/orders").await.0 == 200) }
        },
    )
    .await;
    println!("  server RSS at the end: {} KiB", server.rss_kib());
    server.stop().await;
}
