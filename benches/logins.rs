//! Memory under parallel logins: N visitors (300 unless LOGINS says
//! otherwise) open the login page, then all post a login with an unknown
//! email at once to a release `dhune serve`. Reports the answers and the
//! server's peak resident memory (VmHWM), once with the default limits and
//! once with the per-address login limit raised so that every login reaches
//! the password hashing.
//!
//! `cargo bench --bench logins`. Needs the local Postgres; uses a scratch
//! database.

#[allow(dead_code, reason = "shared by the benches; each uses part of it")]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use common::{Server, token};
use reqwest::redirect::Policy;

#[tokio::main]
async fn main() {
    let logins: usize = std::env::var("LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    println!("{logins} simultaneous logins with unknown emails");
    run(logins, "default limits", &[]).await;
    run(
        logins,
        "DHUNE_LOGIN_LIMIT_PER_ADDRESS=100000",
        &[("DHUNE_LOGIN_LIMIT_PER_ADDRESS", "100000")],
    )
    .await;
}

async fn run(logins: usize, label: &str, settings: &[(&str, &str)]) {
    let server = Server::start_with(settings).await;
    let mut visitors = Vec::with_capacity(logins);
    for _ in 0..logins {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("client");
        let page = client
            .get(format!("{}/login", server.base))
            .send()
            .await
            .expect("GET /login")
            .text()
            .await
            .expect("body");
        visitors.push((client, token(&page)));
    }
    let before = server.peak_rss_kib();

    let barrier = Arc::new(tokio::sync::Barrier::new(logins));
    let started = Instant::now();
    let tasks: Vec<_> = visitors
        .into_iter()
        .enumerate()
        .map(|(n, (client, token))| {
            let barrier = Arc::clone(&barrier);
            let url = format!("{}/login", server.base);
            tokio::spawn(async move {
                barrier.wait().await;
                let form = [
                    ("email", format!("nobody{n}@bench.test")),
                    ("password", "not-the-password".to_owned()),
                    ("csrf_token", token),
                ];
                let response = client.post(url).form(&form).send().await.expect("POST");
                response.status().as_u16()
            })
        })
        .collect();
    let mut answers = BTreeMap::<u16, usize>::new();
    for task in tasks {
        *answers.entry(task.await.expect("task")).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let peak = server.peak_rss_kib();
    println!("{label}:");
    println!("  answers (status: count): {answers:?} in {elapsed:.1?}");
    println!(
        "  peak RSS: {} MiB before the logins, {} MiB after",
        before / 1024,
        peak / 1024
    );
    server.stop().await;
}
