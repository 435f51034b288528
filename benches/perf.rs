//! Performance against a bare handler: Dhune's pages and its accept measured
//! as ratios to anchors run on the same machine in the same run.
//!
//! - The anchor: a bare "Fortunes" handler built here (axum, sqlx with
//!   Dhune's pool settings, an inline askama template) on its own port and
//!   tokio runtime, reading 12 rows of its own table in its own database.
//! - P1: signed-in `GET /requests`, `GET /board` and `GET /orders/{id}`,
//!   each run between two anchor runs, as a ratio to their mean.
//! - P2: `POST /offers/{id}/accept`, each on its own request, against a
//!   minimal accept in pgbench on tables of its own (lock the request, update
//!   the offer and the request, insert an order and one outbox row).
//! - P3: accepts of offers whose request already has an order (409) against
//!   a lock and a rollback in pgbench.
//! - P4: accepts with 1,000 vendor streams open against accepts with none
//!   (also with the two vendors of the accepted requests among them).
//! - P5: 10,000 idle streams: the server's memory per stream and the time
//!   from one POST to each stream's frame (as `benches/sse_fanout.rs`).
//!
//! Then, one call at a time through a counting proxy in front of Postgres,
//! the SQL statements and round trips per call.
//!
//! `cargo bench --bench perf`; PERF_SECONDS (3), PERF_CONCURRENCY (16),
//! PERF_ACCEPTS (1500 per accept run), PERF_STREAMS (10000),
//! PERF_P4_STREAMS (1000) and PERF_COUNT_CALLS (200) change the size;
//! PERF_ONLY=p1 (the pages), p2 (P2 and P3) or p4 runs one part and stops
//! (no statement counts). Needs
//! the local Postgres and pgbench; uses scratch databases `dhune_perf_*`.
//! The load generator is reqwest (as in the other benches), the same client
//! settings for the anchor and for Dhune.

#[allow(dead_code, reason = "shared by the benches; each uses part of it")]
mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use common::{
    PASSWORD, Run, SERVER, Server, User, env_or, measure, offer_form, percentile, request_form,
};
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The sizes of one run.
struct Sizes {
    seconds: u64,
    concurrency: usize,
    accepts: usize,
    streams: usize,
    p4_streams: usize,
    count_calls: usize,
    /// The customer's own requests on `GET /requests`.
    list: usize,
    /// Open requests on the board.
    board: usize,
}

/// Calls made once before counting, so that the pool has its connections
/// and each connection its prepared statements.
const WARM_UP: usize = 10;

/// The accept runs of P2 and P4, in the order they run.
const ACCEPT_RUNS: usize = 6;

/// The scratch databases and directory, dropped when the bench ends (also
/// when a check fails and the bench stops early).
struct Scratch {
    databases: Vec<String>,
    dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        for name in &self.databases {
            let _ = Command::new("dropdb")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "--if-exists",
                    "--force",
                ])
                .arg(name)
                .status();
        }
    }
}

// ---------------------------------------------------------------- anchor

/// One fortune, as the anchor renders it.
struct Fortune {
    id: i32,
    message: String,
}

#[derive(Template)]
#[template(
    source = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>{% for fortune in fortunes %}<tr><td>{{ fortune.id }}</td><td>{{ fortune.message }}</td></tr>{% endfor %}</table></body></html>",
    ext = "html"
)]
struct FortunesPage {
    fortunes: Vec<Fortune>,
}

const FORTUNES: [&str; 12] = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    "<script>alert(\"This should not be displayed in a browser alert box.\");</script>",
    "フレームワークのベンチマーク",
];

async fn fortunes(State(pool): State<PgPool>) -> Result<Html<String>, StatusCode> {
    let rows: Vec<(i32, String)> = sqlx::query_as("SELECT id, message FROM fortune")
        .fetch_all(&pool)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let mut fortunes: Vec<Fortune> = rows
        .into_iter()
        .map(|(id, message)| Fortune { id, message })
        .collect();
    fortunes.push(Fortune {
        id: 0,
        message: "Additional fortune added at request time.".to_owned(),
    });
    fortunes.sort_by(|a, b| a.message.cmp(&b.message));
    FortunesPage { fortunes }
        .render()
        .map(Html)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

/// The anchor's table in its own database.
async fn create_fortunes(url: &str) {
    sqlx::Postgres::create_database(url)
        .await
        .expect("create the anchor's database");
    let pool = dhune::db::pool_options()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect to the anchor's database");
    sqlx::query("CREATE TABLE fortune (id int PRIMARY KEY, message text NOT NULL)")
        .execute(&pool)
        .await
        .expect("create table fortune");
    for (n, message) in FORTUNES.iter().enumerate() {
        sqlx::query("INSERT INTO fortune (id, message) VALUES ($1, $2)")
            .bind(n as i32 + 1)
            .bind(message)
            .execute(&pool)
            .await
            .expect("insert a fortune");
    }
    pool.close().await;
}

/// The bare handler, served on its own port by its own tokio runtime (as
/// many worker threads as the server's: one per core).
struct Anchor {
    base: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Anchor {
    async fn start(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("anchor")
            .build()
            .expect("the anchor's runtime");
        let (bound, address) = tokio::sync::oneshot::channel();
        let url = url.to_owned();
        runtime.spawn(async move {
            let pool = dhune::db::pool_options()
                .connect(&url)
                .await
                .expect("the anchor's pool");
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let _ = bound.send(listener.local_addr().expect("address"));
            let app = Router::new()
                .route("/fortunes", get(fortunes))
                .with_state(pool);
            axum::serve(listener, app).await.expect("the anchor serves");
        });
        let address = address.await.expect("the anchor started");
        Self {
            base: format!("http://{address}"),
            runtime: Some(runtime),
        }
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------- CPU

/// Where a run's CPU time went, in clock ticks (USER_HZ, 100 a second on
/// Linux): the bench's own threads (the load generator), the server (the
/// `dhune serve` process, or the anchor's threads in this process) and every
/// Postgres process.
#[derive(Clone, Copy, Default)]
struct Cpu {
    client: u64,
    server: u64,
    postgres: u64,
}

/// Who serves a run, for [`Cpu::now`].
#[derive(Clone, Copy)]
enum Served {
    Anchor,
    Dhune(u32),
}

/// utime + stime and the command name from a `/proc/…/stat` line.
fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (head, tail) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let mut fields = tail.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, utime + stime))
}

impl Cpu {
    fn now(served: Served) -> Self {
        let mut cpu = Cpu::default();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                if let Some((name, ticks)) = stat_ticks(&task.path().join("stat")) {
                    if matches!(served, Served::Anchor) && name.starts_with("anchor") {
                        cpu.server += ticks;
                    } else {
                        cpu.client += ticks;
                    }
                }
            }
        }
        if let Served::Dhune(pid) = served {
            cpu.server = stat_ticks(Path::new(&format!("/proc/{pid}/stat"))).map_or(0, |s| s.1);
        }
        if let Ok(processes) = std::fs::read_dir("/proc") {
            for process in processes.flatten() {
                if let Some((name, ticks)) = stat_ticks(&process.path().join("stat"))
                    && name.starts_with("postgres")
                {
                    cpu.postgres += ticks;
                }
            }
        }
        cpu
    }

    /// Microseconds of CPU per call since `before`: client, server, Postgres.
    fn per_call(self, before: Cpu, calls: usize) -> [f64; 3] {
        let per = |a: u64, b: u64| (a.saturating_sub(b)) as f64 * 10_000.0 / calls.max(1) as f64;
        [
            per(self.client, before.client),
            per(self.server, before.server),
            per(self.postgres, before.postgres),
        ]
    }
}

/// `run` measured with the CPU it took, per call.
async fn with_cpu(served: Served, run: impl Future<Output = Run>) -> (Run, [f64; 3]) {
    let before = Cpu::now(served);
    let run = run.await;
    let cpu = Cpu::now(served).per_call(before, run.calls());
    (run, cpu)
}

// ---------------------------------------------------------------- load

/// `job(n)` for every n below `count`, `concurrency` at a time, the results
/// in the order of n (setting up, not measured).
async fn each<T, F, Fut>(count: usize, concurrency: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return done;
                }
                done.push((n, job(n).await));
            }
        }));
    }
    let mut done = Vec::with_capacity(count);
    for task in tasks {
        done.extend(task.await.expect("a set-up task"));
    }
    done.sort_by_key(|(n, _)| *n);
    done.into_iter().map(|(_, result)| result).collect()
}

async fn page(user: &User, path: &str) -> Result<(), String> {
    let (status, body) = user.get(path).await;
    if status == 200 && !body.is_empty() {
        Ok(())
    } else {
        Err(format!("GET {path} answered {status} (expected 200)"))
    }
}

/// An offer to accept and the version its confirmation page showed.
#[derive(Clone, Copy)]
struct Pick {
    offer: i64,
    version: i32,
}

async fn accept(customer: &User, pick: Pick, expected: u16) -> Result<(), String> {
    let form = vec![("offer_version", pick.version.to_string())];
    let path = format!("/offers/{}/accept", pick.offer);
    let (status, location) = customer.post(&path, form).await;
    let right = match expected {
        303 => status == 303 && location.starts_with("/orders/"),
        _ => status == expected,
    };
    if right {
        Ok(())
    } else {
        Err(format!(
            "POST {path} answered {status} {location:?} (expected {expected})"
        ))
    }
}

fn id_after(location: &str, prefix: &str) -> i64 {
    location
        .strip_prefix(prefix)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("perf: expected {prefix}{{id}}, got {location:?}"))
}

/// The ids of the offers on a page, each once, in ascending order.
fn offer_ids(html: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = html
        .split("data-offer-id=\"")
        .skip(1)
        .filter_map(|chunk| chunk[..chunk.find('"')?].parse().ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

async fn post_request(customer: &User, kg: u32) -> i64 {
    let (status, location) = customer.post("/requests", request_form(kg)).await;
    assert_eq!(status, 303, "perf: request posted");
    id_after(&location, "/requests/")
}

async fn post_offer(vendor: &User, request: i64, rupees: u32) {
    let (status, _) = vendor
        .post(&format!("/requests/{request}/offers"), offer_form(rupees))
        .await;
    assert_eq!(status, 303, "perf: offer made on request {request}");
}

/// One request for the accept runs: offers by the winning vendor (first)
/// and by another (rejected by the accept); the loser's version only when
/// it is needed later.
#[derive(Clone, Copy)]
struct Contest {
    winner: Pick,
    loser: Option<Pick>,
}

/// A user signed up, then logged in again: a client that keeps its
/// connections open.
async fn person(server: &Server, email: &str, role: &str) -> User {
    User::sign_up(server, email, role).await;
    User::log_in(server, email, PASSWORD).await
}

/// An offer and the version its confirmation page shows the customer.
async fn pick(customer: &User, offer: i64) -> Pick {
    Pick {
        offer,
        version: customer.offer_version(offer).await,
    }
}

/// Accepts every winner's offer of `share`, `concurrency` at a time.
async fn accept_run(name: String, customer: &User, share: Arc<Vec<Contest>>, sizes: &Sizes) -> Run {
    let customer = customer.clone();
    measure(
        &name,
        sizes.concurrency,
        sizes.seconds * 20,
        share.len(),
        move |n| {
            let (customer, pick) = (customer.clone(), share[n].winner);
            async move { accept(&customer, pick, 303).await }
        },
    )
    .await
}

// ---------------------------------------------------------------- streams

/// Open `GET /events` streams, read as they come; closed by [`Streams::close`].
struct Streams {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    bytes: Arc<AtomicU64>,
}

impl Streams {
    /// Opens one stream per client (a vendor's client may appear up to
    /// eight times) and returns once every stream has answered.
    async fn open(clients: Vec<User>) -> Self {
        let bytes = Arc::new(AtomicU64::new(0));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients.len());
        let mut tasks = Vec::with_capacity(clients.len());
        for user in &clients {
            let (client, url) = (user.client.clone(), user.url("/events"));
            let (ready, bytes) = (ready_tx.clone(), bytes.clone());
            tasks.push(tokio::spawn(async move {
                let mut response = client.get(url).send().await.expect("GET /events");
                assert_eq!(response.status(), 200, "perf: GET /events");
                ready.send(()).await.expect("ready");
                while let Ok(Some(chunk)) = response.chunk().await {
                    bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            }));
        }
        for _ in 0..clients.len() {
            ready_rx.recv().await.expect("perf: a stream opened");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        Self { tasks, bytes }
    }

    fn received(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    async fn close(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        // Give the server a moment to see the streams go.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------- pgbench

/// pgbench on its own tables in its own database.
struct Pgbench {
    program: PathBuf,
    database: String,
    dir: PathBuf,
    runs: usize,
    /// The requests (with their offers) added so far: ids `1..=rows`.
    rows: usize,
}

/// A pgbench run: transactions per second and the latencies of its log.
struct PgRun {
    tps: f64,
    transactions: usize,
    latencies: Vec<Duration>,
}

impl PgRun {
    fn print(&self, name: &str) {
        println!(
            "    {name:<46} {:>6} txns  {:>7.0}/s  p50 {:>7.1?}  p99 {:>7.1?}",
            self.transactions,
            self.tps,
            percentile(&self.latencies, 0.5),
            percentile(&self.latencies, 0.99)
        );
    }
}

const PG_SCHEMA: &str = "
CREATE TABLE perf_requests (id bigint PRIMARY KEY, customer_id bigint NOT NULL,
    status text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE perf_offers (id bigint PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES perf_requests, status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE perf_orders (id bigserial PRIMARY KEY,
    request_id bigint NOT NULL UNIQUE REFERENCES perf_requests,
    offer_id bigint NOT NULL REFERENCES perf_offers, price_paisa bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE perf_outbox (id bigserial PRIMARY KEY, kind text NOT NULL,
    request_id bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
";

/// Each client takes the next request of its own (`n` counts its
/// transactions), so every accept is on a request of its own.
const PG_ACCEPT: &str = "\\set rid :base + :n * :clients + :client_id + 1
\\set n :n + 1
BEGIN;
SELECT status FROM perf_requests WHERE id = :rid FOR NO KEY UPDATE;
UPDATE perf_offers SET status = 'ACCEPTED', updated_at = now() WHERE id = :rid;
UPDATE perf_requests SET status = 'ORDER_CREATED', updated_at = now() WHERE id = :rid;
INSERT INTO perf_orders (request_id, offer_id, price_paisa) VALUES (:rid, :rid, 50000);
INSERT INTO perf_outbox (kind, request_id) VALUES ('order_created', :rid);
COMMIT;
";

const PG_LOCK: &str = "\\set rid :base + random(1, :rows)
BEGIN;
SELECT status FROM perf_requests WHERE id = :rid FOR NO KEY UPDATE;
ROLLBACK;
";

/// Rows each accept run may use, per second of the run.
const PG_ROWS_PER_SECOND: usize = 25_000;

impl Pgbench {
    fn find() -> PathBuf {
        let found = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|version| version.path().join("bin/pgbench"))
            .filter(|path| path.exists())
            .max();
        found.unwrap_or_else(|| {
            panic!("perf: pgbench is missing (looked for /usr/lib/postgresql/*/bin/pgbench); install postgresql-contrib or the server package")
        })
    }

    async fn create(database: &str, dir: &Path) -> Self {
        let url = format!("{SERVER}/{database}");
        sqlx::Postgres::create_database(&url)
            .await
            .expect("create pgbench's database");
        let pool = dhune::db::pool_options()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect to pgbench's database");
        sqlx::raw_sql(PG_SCHEMA)
            .execute(&pool)
            .await
            .expect("pgbench's tables");
        pool.close().await;
        for (name, script) in [("accept.sql", PG_ACCEPT), ("lock.sql", PG_LOCK)] {
            std::fs::write(dir.join(name), script).expect("write a pgbench script");
        }
        Self {
            program: Self::find(),
            database: database.to_owned(),
            dir: dir.to_owned(),
            runs: 0,
            rows: 0,
        }
    }

    fn url(&self, port: u16) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{port}/{}?sslmode=disable&gssencmode=disable",
            self.database
        )
    }

    /// Adds `count` open requests, each with its offer; the id before the
    /// first of them.
    async fn add_rows(&mut self, count: usize) -> usize {
        let first = self.rows;
        self.rows += count;
        let pool = dhune::db::pool_options()
            .max_connections(1)
            .connect(&format!("{SERVER}/{}", self.database))
            .await
            .expect("connect to pgbench's database");
        let range = (first as i64 + 1, (first + count) as i64);
        sqlx::query(
            "INSERT INTO perf_requests (id, customer_id, status)
             SELECT id, 1, 'OPEN' FROM generate_series($1::bigint, $2::bigint) id",
        )
        .bind(range.0)
        .bind(range.1)
        .execute(&pool)
        .await
        .expect("pgbench's requests");
        sqlx::query(
            "INSERT INTO perf_offers (id, request_id, status)
             SELECT id, id, 'PENDING' FROM generate_series($1::bigint, $2::bigint) id",
        )
        .bind(range.0)
        .bind(range.1)
        .execute(&pool)
        .await
        .expect("pgbench's offers");
        sqlx::query("VACUUM ANALYZE perf_requests, perf_offers")
            .execute(&pool)
            .await
            .expect("vacuum");
        pool.close().await;
        first
    }

    /// A minimal accept, each on its own request, for `seconds`.
    async fn accept(&mut self, concurrency: usize, seconds: u64) -> PgRun {
        let base = self.add_rows(PG_ROWS_PER_SECOND * seconds as usize).await;
        self.run_accept(base, concurrency, &format!("-T{seconds}"), 5432)
            .await
    }

    /// The minimal accept from `concurrency` clients on new requests, for
    /// `length` (`-T` seconds or `-t` transactions per client), on `port`.
    async fn run_accept(
        &mut self,
        base: usize,
        concurrency: usize,
        length: &str,
        port: u16,
    ) -> PgRun {
        let vars = [
            format!("base={base}"),
            "n=0".to_owned(),
            format!("clients={concurrency}"),
        ];
        self.run("accept.sql", &vars, concurrency, length, port)
            .await
    }

    /// Locks one of `rows` requests (that no accept run takes) and rolls
    /// back, for `seconds`.
    async fn lock(&mut self, rows: usize, concurrency: usize, seconds: u64) -> PgRun {
        let base = self.add_rows(rows).await;
        let vars = [format!("base={base}"), format!("rows={rows}")];
        self.run(
            "lock.sql",
            &vars,
            concurrency,
            &format!("-T{seconds}"),
            5432,
        )
        .await
    }

    async fn run(
        &mut self,
        script: &str,
        vars: &[String],
        concurrency: usize,
        length: &str,
        port: u16,
    ) -> PgRun {
        self.runs += 1;
        let prefix = format!("run{}", self.runs);
        let mut command = Command::new(&self.program);
        command
            .args(["-n", "-M", "prepared", "-l"])
            .arg(format!("-c{concurrency}"))
            .arg(format!("-j{}", concurrency.min(2)))
            .arg(length)
            .arg(format!("--log-prefix={}", self.dir.join(&prefix).display()))
            .arg("-f")
            .arg(self.dir.join(script));
        for var in vars {
            command.arg("-D").arg(var);
        }
        command.arg(self.url(port));
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("pgbench task")
            .expect("start pgbench");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            panic!(
                "perf: pgbench {script} failed ({}); bench stopped:\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tps = stdout
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse().ok())
            .unwrap_or_else(|| panic!("perf: no tps in pgbench's output:\n{stdout}"));
        let mut latencies = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .expect("pgbench logs")
            .flatten()
        {
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let log = std::fs::read_to_string(entry.path()).expect("a pgbench log");
            latencies.extend(log.lines().filter_map(|line| {
                let micros = line.split_whitespace().nth(2)?.parse().ok()?;
                Some(Duration::from_micros(micros))
            }));
            let _ = std::fs::remove_file(entry.path());
        }
        latencies.sort();
        assert!(!latencies.is_empty(), "perf: pgbench logged no transaction");
        PgRun {
            tps,
            transactions: latencies.len(),
            latencies,
        }
    }
}

// ---------------------------------------------------------------- wire

/// Frontend messages seen between clients and Postgres.
#[derive(Default)]
struct Wire {
    /// `Q` (simple query) and `E` (execute).
    statements: AtomicU64,
    /// `Q` and `S` (sync): each waits for the server's answer.
    round_trips: AtomicU64,
    /// `S` with no other message since the last `S` or `Q`: sqlx's ping.
    pings: AtomicU64,
}

#[derive(Clone, Copy)]
struct Counts {
    statements: u64,
    round_trips: u64,
    pings: u64,
}

impl Wire {
    fn read(&self) -> Counts {
        Counts {
            statements: self.statements.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            pings: self.pings.load(Ordering::Relaxed),
        }
    }
}

/// The codes of SSLRequest and GSSENCRequest, sent before the startup message.
const ENCRYPTION_REQUESTS: [usize; 2] = [80_877_103, 80_877_104];

/// Where one frontend connection's byte stream is: in the startup message
/// (which has no type byte) or in the typed messages after it.
#[derive(Default)]
struct Frontend {
    started: bool,
    header: Vec<u8>,
    skip: usize,
    /// A message other than `S` since the last `S` or `Q`.
    busy: bool,
}

impl Frontend {
    fn feed(&mut self, mut bytes: &[u8], wire: &Wire) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            // A typed message: type, length; a startup message (or a
            // request for encryption before it): length, code.
            let want = if self.started { 5 } else { 8 };
            let n = (want - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() < want {
                return;
            }
            let word = |at: usize| {
                let b = &self.header[at..at + 4];
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            };
            if self.started {
                self.skip = word(1).saturating_sub(4);
                self.count(self.header[0], wire);
            } else {
                self.skip = word(0).saturating_sub(8);
                self.started = !ENCRYPTION_REQUESTS.contains(&word(4));
            }
            self.header.clear();
        }
    }

    fn count(&mut self, kind: u8, wire: &Wire) {
        match kind {
            b'Q' => {
                wire.statements.fetch_add(1, Ordering::Relaxed);
                wire.round_trips.fetch_add(1, Ordering::Relaxed);
                self.busy = false;
            }
            b'S' => {
                wire.round_trips.fetch_add(1, Ordering::Relaxed);
                if !self.busy {
                    wire.pings.fetch_add(1, Ordering::Relaxed);
                }
                self.busy = false;
            }
            b'E' => {
                wire.statements.fetch_add(1, Ordering::Relaxed);
                self.busy = true;
            }
            _ => self.busy = true,
        }
    }
}

/// A TCP proxy to the local Postgres that counts what clients send; returns
/// its port.
async fn counting_proxy(wire: Arc<Wire>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let wire = wire.clone();
            tokio::spawn(async move {
                let Ok(postgres) = TcpStream::connect("127.0.0.1:5432").await else {
                    return;
                };
                let _ = (client.set_nodelay(true), postgres.set_nodelay(true));
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_postgres, mut to_postgres) = postgres.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_postgres, &mut to_client).await;
                    let _ = to_client.shutdown().await;
                });
                let mut frontend = Frontend::default();
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let n = match from_client.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    frontend.feed(&buffer[..n], &wire);
                    if to_postgres.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = to_postgres.shutdown().await;
            });
        }
    });
    port
}

/// Statements, round trips and pings per call, background subtracted.
#[derive(Clone, Copy)]
struct PerCall {
    statements: f64,
    round_trips: f64,
    pings: f64,
}

/// Counts `calls` calls of `call` one after another: a warm-up first, then
/// an idle second for the background (the relay's polls, the sweeps),
/// then the calls; the background's rate over their time is subtracted.
async fn count<F, Fut>(name: &str, wire: &Wire, calls: usize, call: F) -> PerCall
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let check = |result: Result<(), String>| {
        if let Err(wrong) = result {
            panic!("perf: wrong answer while counting {name}: {wrong}; bench stopped");
        }
    };
    for n in 0..WARM_UP {
        check(call(n).await);
    }
    let idle_from = (wire.read(), Instant::now());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle, idle_time) = (wire.read(), idle_from.1.elapsed().as_secs_f64());
    let started = Instant::now();
    for n in WARM_UP..WARM_UP + calls {
        check(call(n).await);
    }
    let (done, time) = (wire.read(), started.elapsed().as_secs_f64());
    let per_call = |pick: fn(&Counts) -> u64| {
        let background = (pick(&idle) - pick(&idle_from.0)) as f64 / idle_time * time;
        ((pick(&done) - pick(&idle)) as f64 - background) / calls as f64
    };
    let counted = PerCall {
        statements: per_call(|c| c.statements),
        round_trips: per_call(|c| c.round_trips),
        pings: per_call(|c| c.pings),
    };
    println!(
        "    {name:<46} {:>5.1} statements  {:>5.1} round trips ({:.1} of them pings) per call; background {:.1} statements/s",
        counted.statements,
        counted.round_trips,
        counted.pings,
        (idle.statements - idle_from.0.statements) as f64 / idle_time,
    );
    counted
}

// ---------------------------------------------------------------- report

/// One line of the summary.
struct Line {
    what: String,
    target: &'static str,
    calls: usize,
    rate: f64,
    /// The rate it is compared with.
    against: f64,
    p50: Duration,
    p99: Duration,
    wire: Option<PerCall>,
    /// CPU per call, µs: the load generator, the server, Postgres.
    cpu: Option<[f64; 3]>,
}

impl Line {
    /// A measured run's line, compared with `against`.
    fn of(what: String, target: &'static str, (run, cpu): &(Run, [f64; 3]), against: f64) -> Self {
        Line {
            what,
            target,
            calls: run.calls(),
            rate: run.rate(),
            against,
            p50: run.p(0.5),
            p99: run.p(0.99),
            wire: None,
            cpu: Some(*cpu),
        }
    }
}

fn mean(rates: &[f64]) -> f64 {
    rates.iter().sum::<f64>() / rates.len() as f64
}

/// Vacuums and analyzes Dhune's tables after a set-up, as pgbench's own
/// tables are: a live database has its statistics from autovacuum within
/// a minute or so of such changes, and a set-up of a few seconds would
/// otherwise be measured with none (plans from guesses).
async fn settle(db: &PgPool) {
    sqlx::query("VACUUM ANALYZE")
        .execute(db)
        .await
        .expect("vacuum analyze after the set-up");
}

/// The summary of the part `only` names, without the statement counts,
/// and the server stopped.
async fn finish_early(
    only: &str,
    mut lines: Vec<Line>,
    anchor_runs: &[(Run, [f64; 3])],
    server: Server,
    db: PgPool,
) {
    println!("\nOnly {only} (PERF_ONLY):");
    if !anchor_runs.is_empty() {
        lines.insert(0, anchor_line(anchor_runs, None));
    }
    print_summary(&lines);
    server.stop().await;
    db.close().await;
}

/// The anchor's runs as one line.
fn anchor_line(runs: &[(Run, [f64; 3])], wire: Option<PerCall>) -> Line {
    let mut times: Vec<Duration> = runs.iter().flat_map(|(run, _)| run.times.clone()).collect();
    times.sort();
    let rate = mean(&runs.iter().map(|(run, _)| run.rate()).collect::<Vec<_>>());
    Line {
        what: format!("anchor GET /fortunes ({} runs)", runs.len()),
        target: "",
        calls: times.len(),
        rate,
        against: rate,
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        wire,
        cpu: Some([0, 1, 2].map(|k| mean(&runs.iter().map(|(_, cpu)| cpu[k]).collect::<Vec<_>>()))),
    }
}

fn print_summary(lines: &[Line]) {
    println!(
        "\n  {:<48} {:>7} {:>7} {:>8} {:>8} {:>6} {:>8} {:>8} {:>6} {:>6} {:>6} {:>20}",
        "what",
        "target",
        "calls",
        "rate/s",
        "against",
        "ratio",
        "p50",
        "p99",
        "stmts",
        "trips",
        "pings",
        "CPU µs: load/app/pg"
    );
    for line in lines {
        let wire = |pick: fn(&PerCall) -> f64| {
            line.wire
                .as_ref()
                .map_or("—".to_owned(), |w| format!("{:.1}", pick(w)))
        };
        let cpu = line.cpu.map_or("—".to_owned(), |[load, app, pg]| {
            format!("{load:.0}/{app:.0}/{pg:.0}")
        });
        println!(
            "  {:<48} {:>7} {:>7} {:>8.0} {:>8.0} {:>5.2}x {:>8.1?} {:>8.1?} {:>6} {:>6} {:>6} {:>20}",
            line.what,
            line.target,
            line.calls,
            line.rate,
            line.against,
            line.rate / line.against,
            line.p50,
            line.p99,
            wire(|w| w.statements),
            wire(|w| w.round_trips),
            wire(|w| w.pings),
            cpu,
        );
    }
}

/// The soft limit of open files, raised to the hard limit (with `prlimit`)
/// when `needed` is more; the server started after this inherits it.
fn enough_files(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let (soft, hard) = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| {
            let mut fields = line.split_whitespace().skip(3);
            let soft = fields.next()?.parse::<u64>().unwrap_or(u64::MAX);
            let hard = fields.next()?.parse::<u64>().unwrap_or(u64::MAX);
            Some((soft, hard))
        })
        .expect("the open files limit");
    if soft >= needed {
        return;
    }
    let raised = hard >= needed
        && Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={hard}:"))
            .status()
            .is_ok_and(|status| status.success());
    if raised {
        println!("  open files: soft limit raised from {soft} to {hard} (prlimit)");
    } else {
        panic!(
            "perf: {needed} open files are needed, the limit is {soft} (hard {hard}); \
             run `ulimit -n {needed}` first, or set PERF_STREAMS lower"
        );
    }
}

fn machine() -> String {
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{} cores, {memory} memory, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

#[tokio::main]
async fn main() {
    let sizes = Sizes {
        seconds: env_or("PERF_SECONDS", 3) as u64,
        concurrency: env_or("PERF_CONCURRENCY", 16),
        accepts: env_or("PERF_ACCEPTS", 1500),
        streams: env_or("PERF_STREAMS", 10_000),
        p4_streams: env_or("PERF_P4_STREAMS", 1000),
        count_calls: env_or("PERF_COUNT_CALLS", 200),
        list: 36,
        board: 300,
    };
    let pid = std::process::id();
    let database = format!("dhune_perf_{pid}");
    let scratch = Scratch {
        databases: vec![
            database.clone(),
            format!("{database}_fortune"),
            format!("{database}_pgbench"),
        ],
        dir: std::env::temp_dir().join(&database),
    };
    std::fs::create_dir_all(&scratch.dir).expect("a scratch directory");
    let mut pgbench = Pgbench::create(&scratch.databases[2], &scratch.dir).await;
    let url = format!("{SERVER}/{database}");
    let fortune_url = format!("{SERVER}/{}", scratch.databases[1]);
    create_fortunes(&fortune_url).await;
    enough_files(sizes.streams as u64 + 1000);

    println!(
        "Performance against a bare handler (debug={}): {}; {} clients, {} s a run, {}",
        cfg!(debug_assertions),
        machine(),
        sizes.concurrency,
        sizes.seconds,
        pgbench.program.display(),
    );
    let setup = Instant::now();
    let server = Server::start_on(&url, common::MANY_SIGNUPS);
    let list = person(&server, "list@bench.test", "customer").await;
    let filler = person(&server, "filler@bench.test", "customer").await;
    let accepting = person(&server, "accepting@bench.test", "customer").await;
    let winner = person(&server, "winner@bench.test", "vendor").await;
    let loser = person(&server, "loser@bench.test", "vendor").await;
    let board = person(&server, "board@bench.test", "vendor").await;

    // P1: the customer's few dozen requests, each with an offer, one
    // accepted (its order page); other customers' requests up to the
    // board's size.
    let own = {
        let (list, winner) = (list.clone(), winner.clone());
        each(sizes.list, sizes.concurrency, move |n| {
            let (list, winner) = (list.clone(), winner.clone());
            async move {
                let id = post_request(&list, 3 + (n % 5) as u32).await;
                post_offer(&winner, id, 400 + n as u32).await;
                id
            }
        })
        .await
    };
    let (_, html) = list.get(&format!("/requests/{}", own[0])).await;
    let offer = pick(&list, offer_ids(&html)[0]).await;
    let (status, order) = list
        .post(
            &format!("/offers/{}/accept", offer.offer),
            vec![("offer_version", offer.version.to_string())],
        )
        .await;
    assert_eq!(status, 303, "perf: the list's order");
    {
        let filler = filler.clone();
        each(
            sizes.board - (sizes.list - 1),
            sizes.concurrency,
            move |n| {
                let filler = filler.clone();
                async move { post_request(&filler, 3 + (n % 5) as u32).await }
            },
        )
        .await;
    }
    let db = PgPool::connect(&url).await.expect("the bench's own look");
    settle(&db).await;
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM requests WHERE status = 'OPEN'")
        .fetch_one(&db)
        .await
        .expect("open requests");
    println!(
        "  set up P1 in {:.1?}: {open} open requests, the list has {}, order {order}",
        setup.elapsed(),
        sizes.list
    );

    let mut lines = Vec::new();
    let mut anchor_runs: Vec<(Run, [f64; 3])> = Vec::new();
    let anchor = Anchor::start(&fortune_url).await;
    let visitor = User::visitor(&anchor.base);
    let run_anchor = |visitor: User| {
        let concurrency = sizes.concurrency;
        let seconds = sizes.seconds;
        async move {
            with_cpu(
                Served::Anchor,
                measure(
                    "anchor GET /fortunes",
                    concurrency,
                    seconds,
                    usize::MAX,
                    move |_| {
                        let visitor = visitor.clone();
                        async move { page(&visitor, "/fortunes").await }
                    },
                ),
            )
            .await
        }
    };
    let only = std::env::var("PERF_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    let served = Served::Dhune(server.pid());
    if part("p1") {
        println!("  P1: pages against the anchor");
        anchor_runs.push(run_anchor(visitor.clone()).await);
        let p1: [(&str, User, String); 4] = [
            (
                "GET /healthz (signed in: the floor)",
                list.clone(),
                "/healthz".to_owned(),
            ),
            (
                "GET /requests (customer, 36 requests)",
                list.clone(),
                "/requests".to_owned(),
            ),
            (
                "GET /board (vendor, 300 open requests)",
                board.clone(),
                "/board".to_owned(),
            ),
            (
                "GET /orders/{id} (the customer's order)",
                list.clone(),
                order.clone(),
            ),
        ];
        for (what, user, path) in p1 {
            let (name, target) = match path.as_str() {
                "/healthz" => (what.to_owned(), ""),
                _ => (format!("P1 {what}"), "≥ 0.5x"),
            };
            let (run, cpu) = with_cpu(
                served,
                measure(
                    what,
                    sizes.concurrency,
                    sizes.seconds,
                    usize::MAX,
                    move |_| {
                        let (user, path) = (user.clone(), path.clone());
                        async move { page(&user, &path).await }
                    },
                ),
            )
            .await;
            anchor_runs.push(run_anchor(visitor.clone()).await);
            let near = &anchor_runs[anchor_runs.len() - 2..];
            lines.push(Line::of(
                name,
                target,
                &(run, cpu),
                mean(&near.iter().map(|(run, _)| run.rate()).collect::<Vec<_>>()),
            ));
        }
    }
    drop(anchor);
    if only == "p1" {
        return finish_early(&only, lines, &anchor_runs, server, db).await;
    }

    // The accept runs' requests, each with the winner's offer first and the
    // loser's second; the losers' versions only for P2's share (P3 posts
    // them after P2 accepted their requests).
    let setup = Instant::now();
    let contests = {
        let (accepting, winner, loser) = (accepting.clone(), winner.clone(), loser.clone());
        let with_loser = sizes.accepts;
        each(
            ACCEPT_RUNS * sizes.accepts + WARM_UP + sizes.count_calls,
            sizes.concurrency,
            move |n| {
                let (accepting, winner, loser) = (accepting.clone(), winner.clone(), loser.clone());
                async move {
                    let id = post_request(&accepting, 3 + (n % 5) as u32).await;
                    post_offer(&winner, id, 500).await;
                    post_offer(&loser, id, 600).await;
                    let (_, html) = accepting.get(&format!("/requests/{id}")).await;
                    let offers = offer_ids(&html);
                    assert_eq!(offers.len(), 2, "perf: two offers on request {id}");
                    Contest {
                        winner: pick(&accepting, offers[0]).await,
                        loser: if n < with_loser {
                            Some(pick(&accepting, offers[1]).await)
                        } else {
                            None
                        },
                    }
                }
            },
        )
        .await
    };
    settle(&db).await;
    println!(
        "  set up {} requests with two offers each in {:.1?}",
        contests.len(),
        setup.elapsed()
    );
    // One share for each accept run, the rest for counting.
    let mut shares: Vec<Arc<Vec<Contest>>> = (0..ACCEPT_RUNS)
        .map(|k| Arc::new(contests[k * sizes.accepts..(k + 1) * sizes.accepts].to_vec()))
        .collect();
    shares.push(Arc::new(contests[ACCEPT_RUNS * sizes.accepts..].to_vec()));
    let accepts =
        |name: String, share: usize| accept_run(name, &accepting, shares[share].clone(), &sizes);

    let losers: Arc<Vec<Pick>> = Arc::new(shares[0].iter().filter_map(|c| c.loser).collect());
    if part("p2") {
        println!("  P2: accepts against pgbench's minimal accept");
        let before = pgbench.accept(sizes.concurrency, sizes.seconds).await;
        before.print("pgbench minimal accept");
        let (run, cpu) = with_cpu(served, accepts("POST /offers/{id}/accept".to_owned(), 0)).await;
        let after = pgbench.accept(sizes.concurrency, sizes.seconds).await;
        after.print("pgbench minimal accept");
        lines.push(Line::of(
            "P2 POST /offers/{id}/accept vs pgbench".to_owned(),
            "≥ 0.5x",
            &(run, cpu),
            mean(&[before.tps, after.tps]),
        ));

        println!(
            "  P3: accepts of offers whose request has an order (409) against a lock and rollback"
        );
        let rows = losers.len();
        let before = pgbench.lock(rows, sizes.concurrency, sizes.seconds).await;
        before.print("pgbench lock and rollback");
        let (run, cpu) = {
            let (accepting, losers) = (accepting.clone(), losers.clone());
            with_cpu(
                served,
                measure(
                    "POST /offers/{id}/accept (409)",
                    sizes.concurrency,
                    sizes.seconds,
                    usize::MAX,
                    move |n| {
                        let (accepting, pick) = (accepting.clone(), losers[n % losers.len()]);
                        async move { accept(&accepting, pick, 409).await }
                    },
                ),
            )
            .await
        };
        let after = pgbench.lock(rows, sizes.concurrency, sizes.seconds).await;
        after.print("pgbench lock and rollback");
        lines.push(Line::of(
            "P3 POST accept, request has an order (409)".to_owned(),
            "≥ 0.5x",
            &(run, cpu),
            mean(&[before.tps, after.tps]),
        ));
    }
    if only == "p2" {
        return finish_early(&only, lines, &anchor_runs, server, db).await;
    }

    // Vendors for the streams of P4 and P5, each within the streams one
    // user may keep open.
    let setup = Instant::now();
    let (vendors, per_vendor) =
        common::stream_vendors(&server, sizes.streams.max(sizes.p4_streams)).await;
    println!(
        "  signed up {} vendors for the streams in {:.1?}",
        vendors.len(),
        setup.elapsed()
    );

    if part("p4") {
        println!(
            "  P4: accepts with {} vendor streams open against none",
            sizes.p4_streams
        );
        let none = accepts("POST accept, no streams".to_owned(), 1).await;
        let mut nones = vec![none.rate()];
        let others: Vec<User> = (0..sizes.p4_streams)
            .map(|n| vendors[n / per_vendor].clone())
            .collect();
        let mut involved: Vec<User> = (0..sizes.p4_streams.saturating_sub(2 * per_vendor))
            .map(|n| vendors[n / per_vendor].clone())
            .collect();
        for _ in 0..per_vendor {
            involved.push(winner.clone());
            involved.push(loser.clone());
        }
        let variants = [
            (
                format!("{} streams of other vendors", sizes.p4_streams),
                others,
            ),
            (
                format!("{} streams incl. both vendors'", sizes.p4_streams),
                involved,
            ),
        ];
        for (k, (what, streams)) in variants.into_iter().enumerate() {
            let count = streams.len();
            let streams = Streams::open(streams).await;
            let before = streams.received();
            let (run, cpu) =
                with_cpu(served, accepts(format!("POST accept, {what}"), 2 + 2 * k)).await;
            let received = streams.received() - before;
            streams.close().await;
            // Streams of vendors with no offer on the accepted requests are sent
            // nothing (their boards do not show those requests); the involved
            // vendors' streams are told of their offers' outcome.
            assert!(
                k == 0 || received > 0,
                "perf: the involved vendors' streams received no event during the accepts"
            );
            println!(
                "      the streams received {:.0} bytes each per accept",
                received as f64 / count as f64 / run.calls() as f64
            );
            let none = accepts("POST accept, no streams".to_owned(), 3 + 2 * k).await;
            nones.push(none.rate());
            lines.push(Line::of(
                format!("P4 accept, {what}"),
                "≥ 0.9x",
                &(run, cpu),
                mean(&nones[nones.len() - 2..]),
            ));
        }
    }
    if only == "p4" {
        return finish_early(&only, lines, &anchor_runs, server, db).await;
    }

    println!(
        "  P5: {} idle streams, one event to all of them",
        sizes.streams
    );
    let fan_out = common::fan_out(&server, &vendors, per_vendor, &filler, sizes.streams).await;
    let (status, _) = filler
        .post(&format!("{}/cancel", fan_out.posted), Vec::new())
        .await;
    assert_eq!(status, 303, "perf: the fan-out's request cancelled");
    let fanned = &fan_out.latencies;
    println!(
        "    server RSS {} KiB idle, {} KiB with the streams: {:.1} KiB per stream (target ≤ 16)",
        fan_out.idle_rss,
        fan_out.connected_rss,
        fan_out.rss_per_stream()
    );
    println!(
        "    POST to frame on every stream: p50 {:.1?}, p99 {:.1?} (target ≤ 1 s), max {:.1?}",
        percentile(fanned, 0.5),
        percentile(fanned, 0.99),
        fanned[fanned.len() - 1]
    );
    println!("    server RSS at the end: {} KiB", server.rss_kib());
    server.stop().await;

    // Statements and round trips, one call at a time, through the proxy.
    println!(
        "  statements and round trips, {} calls one at a time through a counting proxy",
        sizes.count_calls
    );
    let wire = Arc::new(Wire::default());
    let port = counting_proxy(wire.clone()).await;
    let proxied =
        |database: &str| format!("postgres://postgres@127.0.0.1:{port}/{database}?sslmode=disable");
    let counted = Server::start_via(&url, &proxied(&database), &[]);
    let anchor = Anchor::start(&proxied(&scratch.databases[1])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = sizes.count_calls;
    let visitor = User::visitor(&anchor.base);
    let anchor_wire = count("anchor GET /fortunes", &wire, calls, |_| {
        page(&visitor, "/fortunes")
    })
    .await;
    let (accepting, list, board) = (
        accepting.on(&counted),
        list.on(&counted),
        board.on(&counted),
    );
    let share = &shares[ACCEPT_RUNS];
    let accept_wire = count("POST /offers/{id}/accept", &wire, calls, |n| {
        accept(&accepting, share[n].winner, 303)
    })
    .await;
    let loser_wire = count("POST /offers/{id}/accept (409)", &wire, calls, |n| {
        accept(&accepting, losers[n % losers.len()], 409)
    })
    .await;
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM requests WHERE status = 'OPEN'")
        .fetch_one(&db)
        .await
        .expect("open requests");
    println!("    ({open} open requests)");
    let mut page_wire = Vec::new();
    for (what, user, path) in [
        ("GET /healthz", &list, "/healthz"),
        ("GET /requests", &list, "/requests"),
        ("GET /board", &board, "/board"),
        ("GET /orders/{id}", &list, order.as_str()),
    ] {
        page_wire.push(count(what, &wire, calls, |_| page(user, path)).await);
    }
    drop(anchor);
    counted.stop().await;
    db.close().await;
    // With nothing else on the proxy.
    let pg_accept = {
        let base = pgbench.add_rows(WARM_UP + calls).await;
        let before = wire.read();
        let length = format!("-t{}", WARM_UP + calls);
        pgbench.run_accept(base, 1, &length, port).await;
        let after = wire.read();
        let per = |a: u64, b: u64| (a - b) as f64 / (WARM_UP + calls) as f64;
        PerCall {
            statements: per(after.statements, before.statements),
            round_trips: per(after.round_trips, before.round_trips),
            pings: per(after.pings, before.pings),
        }
    };

    for (line, counted) in lines.iter_mut().zip(page_wire.into_iter().chain([
        accept_wire,
        loser_wire,
        accept_wire,
        accept_wire,
    ])) {
        line.wire = Some(counted);
    }
    lines.insert(0, anchor_line(&anchor_runs, Some(anchor_wire)));
    println!(
        "\nSummary (ratio: rate / the rate it is compared with; statements, round trips and pings per call):"
    );
    print_summary(&lines);
    println!(
        "  pgbench minimal accept, counted through the proxy: {:.1} statements, {:.1} round trips per transaction",
        pg_accept.statements, pg_accept.round_trips
    );
    println!(
        "  P5 {} idle streams: {:.1} KiB per stream (target ≤ 16), POST to frame p50 {:.1?}, p99 {:.1?} (target ≤ 1 s)",
        sizes.streams,
        fan_out.rss_per_stream(),
        percentile(fanned, 0.5),
        percentile(fanned, 0.99),
    );
    println!("  at the end: {}", machine());
    drop(scratch);
}
