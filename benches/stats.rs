//! Statistics benchmark: every statistics page (and the admin's order list
//! at page 2,000, reached by its links and by a bare page number) on a
//! database of generated history, one request at a time, reporting
//! p50/p99/max; a laundry's and a customer's pages for the busiest of each
//! and for one of median size.
//!
//! `STATS_DATABASE=dhune_gen1m cargo bench --bench stats`: the database is
//! filled by `dhune generate` when it has no orders (`STATS_ORDERS`,
//! default 1,000,000, with 50 customers and 2 laundries per 1,000 orders);
//! then the payout statements and the platform's daily figures are brought
//! up to date, as the sweep would, so the server measured does no catching
//! up. The database is left in place for the next run.

#[allow(dead_code, reason = "shared by the benches; each uses part of it")]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{SERVER, Server, User, percentile};
use sqlx::migrate::MigrateDatabase;

const CALLS: usize = 30;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn dhune(database: &str, args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_dhune"))
        .args(args)
        .env("DATABASE_URL", database)
        .env("RUST_LOG", "warn")
        .status()
        .expect("run dhune");
    assert!(status.success(), "dhune {args:?}");
}

/// Times `CALLS` GETs of `path` (after 3 not counted) and prints a line.
async fn measure(user: &User, path: &str) {
    for _ in 0..3 {
        let (status, _) = user.get(path).await;
        assert_eq!(status, 200, "{path}");
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let (status, _) = user.get(path).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{path}");
    }
    times.sort();
    println!(
        "  {path:<40} p50 {:>7.1?}  p99 {:>7.1?}  max {:>7.1?}",
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(Duration::ZERO)
    );
}

#[tokio::main]
async fn main() {
    let name = env_or("STATS_DATABASE", "dhune_stats_bench");
    let database = format!("{SERVER}/{name}");
    if !sqlx::Postgres::database_exists(&database)
        .await
        .unwrap_or(false)
    {
        sqlx::Postgres::create_database(&database)
            .await
            .expect("create");
    }
    dhune(&database, &["migrate"]);
    let pool = sqlx::PgPool::connect(&database).await.expect("connect");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .expect("orders");
    if orders == 0 {
        let wanted: i64 = env_or("STATS_ORDERS", "1000000")
            .parse()
            .expect("STATS_ORDERS");
        let started = Instant::now();
        dhune(
            &database,
            &[
                "generate",
                "--orders",
                &wanted.to_string(),
                "--customers",
                &(wanted / 20).max(10).to_string(),
                "--vendors",
                &(wanted / 500).max(2).to_string(),
            ],
        );
        println!("generated {wanted} orders in {:.0?}", started.elapsed());
    }
    let now = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let statements = dhune::market::payouts::issue_statements(&pool, now)
        .await
        .expect("statements");
    println!(
        "issued {statements} payout statements in {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    let mut days = 0;
    loop {
        let written = dhune::market::platform_stats::refresh(&pool, now)
            .await
            .expect("figures");
        days += written;
        if written <= dhune::market::platform_stats::RECENT_DAYS {
            break;
        }
    }
    println!("stored {days} days of figures in {:.1?}", started.elapsed());
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .expect("orders");
    // Page 2,000 of the admin's orders as its links reach it: after the
    // last order of page 1,999.
    let edge: i64 = sqlx::query_scalar(
        "SELECT id FROM orders ORDER BY created_at DESC, id DESC OFFSET 39979 LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("edge");
    // The busiest laundry and customer, and ones of median size.
    let size = |role: &'static str, email: String| {
        let pool = pool.clone();
        async move {
            let column = if role == "vendor" {
                "vendor_id"
            } else {
                "customer_id"
            };
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM orders o JOIN users u ON u.id = o.{column} WHERE u.email = $1"
            ))
            .bind(&email)
            .fetch_one(&pool)
            .await
            .expect("size");
            (email, n)
        }
    };
    let vendors = (orders / 500).max(2);
    let customers = (orders / 20).max(10);
    let people = [
        size("vendor", "vendor1@generated.example".into()).await,
        size("vendor", format!("vendor{}@generated.example", vendors / 2)).await,
        size("customer", "customer1@generated.example".into()).await,
        size(
            "customer",
            format!("customer{}@generated.example", customers / 2),
        )
        .await,
    ];
    pool.close().await;

    let server = Server::start_on(&database, &[("DHUNE_SWEEP_SECS", "3600")]);
    let admin = User::log_in(&server, "admin@generated.example", "dhune-generated").await;
    println!("{orders} orders; one request at a time, {CALLS} calls each:");
    let deep = format!("/admin/orders?page=2000&after={edge}");
    for path in [
        "/admin",
        "/admin/stats?range=7d",
        "/admin/stats?range=28d",
        "/admin/stats?range=90d",
        "/admin/stats?range=365d",
        "/admin/stats.csv?range=365d",
        "/admin/orders",
        &deep,
        "/admin/orders?page=2000",
    ] {
        measure(&admin, path).await;
    }
    for (n, (email, orders)) in people.iter().enumerate() {
        let user = User::log_in(&server, email, "dhune-generated").await;
        println!("{email} ({orders} orders):");
        let paths: &[&str] = if n < 2 {
            &[
                "/stats?range=28d",
                "/stats?range=365d",
                "/stats.csv?range=365d",
            ]
        } else {
            &["/stats", "/stats?range=28d", "/stats.csv"]
        };
        for path in paths {
            measure(&user, path).await;
        }
    }
    server.stop().await;
}
