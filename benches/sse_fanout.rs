//! SSE fan-out benchmark: N idle `GET /events` connections to a real
//! `dhune serve`, then one event; reports the server's memory per connection
//! and how long the event took to reach every connection (p50/p99/max).
//!
//! `cargo bench --bench sse_fanout` (SSE_CONNECTIONS=10000 for more; raise
//! `ulimit -n` first). Needs the local Postgres; uses a scratch database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use sqlx::migrate::MigrateDatabase;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| {
                    l.strip_prefix("VmRSS:")
                        .map(|v| v.trim().trim_end_matches(" kB").parse().ok())
                })
                .flatten()
        })
        .unwrap_or(0)
}

fn token(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a form") + marker.len();
    html[start..start + html[start..].find('"').expect("token end")].to_owned()
}

async fn signed_up(base: &str, email: &str, role: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let page = client
        .get(format!("{base}/signup"))
        .send()
        .await
        .expect("signup page")
        .text()
        .await
        .expect("body");
    let mut form = vec![
        ("csrf_token", token(&page)),
        ("name", "Bench".into()),
        ("email", email.into()),
        ("phone", "9800000000".into()),
        ("password", "bench-password".into()),
        ("role", role.into()),
    ];
    if role == "vendor" {
        form.push(("business_name", "Bench Laundry".into()));
        form.push(("city", "Kathmandu".into()));
    }
    let answer = client
        .post(format!("{base}/signup"))
        .form(&form)
        .send()
        .await
        .expect("signup");
    assert_eq!(answer.status(), 303, "signed up");
    client
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let connections: usize = std::env::var("SSE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let database = format!("{SERVER}/dhune_bench_{}", std::process::id());
    let _ = sqlx::Postgres::drop_database(&database).await;

    let mut server = Command::new(env!("CARGO_BIN_EXE_dhune"))
        .arg("serve")
        .env("DATABASE_URL", &database)
        .env("DHUNE_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dhune serve");
    let stdout = server.stdout.take().expect("stdout");
    let base = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("Dhune is running at ")
                .map(|a| a.trim_end_matches('/').to_owned())
        })
        .expect("server address");

    let vendor = signed_up(&base, "vendor@bench.test", "vendor").await;
    let customer = signed_up(&base, "customer@bench.test", "customer").await;
    let idle_rss = rss_kib(server.id());

    let started = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(connections);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let vendor = vendor.clone();
        let url = format!("{base}/events");
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
    let connected_rss = rss_kib(server.id());

    let form_page = customer
        .get(format!("{base}/requests/new"))
        .send()
        .await
        .expect("form")
        .text()
        .await
        .expect("body");
    let when = |h: i64| {
        dhune::domain::request::format_local_input(
            time::OffsetDateTime::now_utc() + time::Duration::hours(h),
        )
    };
    let form = vec![
        ("csrf_token", token(&form_page)),
        ("pickup_address", "Bench Road 1".to_owned()),
        ("city", "Kathmandu".to_owned()),
        ("pickup_from", when(3)),
        ("pickup_to", when(6)),
        ("expires_in_hours", "24".to_owned()),
        ("qty_wash_fold", "5".to_owned()),
    ];
    started.set(Instant::now()).expect("once");
    let posted = customer
        .post(format!("{base}/requests"))
        .form(&form)
        .send()
        .await
        .expect("post request");
    assert_eq!(posted.status(), 303, "request posted");

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

    let _ = server.kill();
    let _ = server.wait();
    let _ = sqlx::Postgres::drop_database(&database).await;
}
