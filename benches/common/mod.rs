//! What the benchmarks share: a release `dhune serve` on a scratch database,
//! and signed-up users that post forms with their session's CSRF token.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use sqlx::migrate::MigrateDatabase;

/// The setting `name` from the environment, or `default` when it is not
/// set or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A running `dhune serve` on its own database, stopped and dropped with
/// [`Server::stop`].
pub struct Server {
    process: Child,
    pub database: String,
    pub base: String,
    /// Whether the database is the server's own scratch one, dropped on stop.
    scratch: bool,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A server with these extra environment variables (settings).
    pub async fn start_with(settings: &[(&str, &str)]) -> Self {
        let database = format!("{SERVER}/dhune_bench_{}", std::process::id());
        let _ = sqlx::Postgres::drop_database(&database).await;
        Self::run(database.clone(), &database, settings, true)
    }

    /// A server on an existing database, left in place on stop.
    pub fn start_on(database: &str, settings: &[(&str, &str)]) -> Self {
        Self::start_via(database, database, settings)
    }

    /// A server on an existing database that it reaches at `url` (another
    /// way to the same database, such as a proxy), left in place on stop.
    pub fn start_via(database: &str, url: &str, settings: &[(&str, &str)]) -> Self {
        Self::run(database.to_owned(), url, settings, false)
    }

    fn run(database: String, url: &str, settings: &[(&str, &str)], scratch: bool) -> Self {
        // BENCH_DHUNE runs another build (an older one, to compare).
        let program =
            std::env::var("BENCH_DHUNE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_dhune").to_owned());
        let mut process = Command::new(program)
            .arg("serve")
            .envs(settings.iter().copied())
            .env("DATABASE_URL", url)
            .env("DHUNE_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dhune serve");
        let stdout = process.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("Dhune is running at ")
                    .map(|a| a.trim_end_matches('/').to_owned())
            })
            .expect("server address");
        // Read on, so what the server says later never meets a closed pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Self {
            process,
            database,
            base,
            scratch,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The server's resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The server's peak resident memory since it started, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|l| {
                    l.strip_prefix(field)
                        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
                })
            })
            .unwrap_or(0)
    }

    pub async fn stop(mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if self.scratch {
            let _ = sqlx::Postgres::drop_database(&self.database).await;
        }
    }
}

/// A bench that stops early (a failed check panics) leaves no server behind.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A signed-in user's HTTP client (cookies kept, redirects not followed).
#[derive(Clone)]
pub struct User {
    pub client: reqwest::Client,
    base: String,
    token: String,
}

pub fn token(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a form") + marker.len();
    html[start..start + html[start..].find('"').expect("token end")].to_owned()
}

/// The local time `hours` from now, as the forms take it.
pub fn local_in(hours: i64) -> String {
    dhune::domain::request::format_local_input(
        time::OffsetDateTime::now_utc() + time::Duration::hours(hours),
    )
}

/// A valid request form: `kg` kilograms of wash & fold.
pub fn request_form(kg: u32) -> Vec<(&'static str, String)> {
    vec![
        ("pickup_address", "Bench Road 1".to_owned()),
        ("city", "Kathmandu".to_owned()),
        ("pickup_from", local_in(3)),
        ("pickup_to", local_in(6)),
        ("expires_in_hours", "24".to_owned()),
        ("qty_wash_fold", kg.to_string()),
    ]
}

/// A valid offer form at `rupees`.
pub fn offer_form(rupees: u32) -> Vec<(&'static str, String)> {
    vec![
        ("price", rupees.to_string()),
        ("pickup_at", local_in(4)),
        ("delivery_at", local_in(52)),
        ("message", "Bench offer".to_owned()),
    ]
}

/// The password of every bench user.
pub const PASSWORD: &str = "fold-and-press-77";

impl User {
    /// A browser on `server` with no session yet, keeping its cookies and
    /// following no redirects; `reuse`: keep idle connections open.
    fn browser(server: &Server, reuse: bool) -> Self {
        Self::browser_at(&server.base, reuse)
    }

    fn browser_at(base: &str, reuse: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none());
        if !reuse {
            builder = builder.pool_max_idle_per_host(0);
        }
        Self {
            client: builder.build().expect("client"),
            base: base.to_owned(),
            token: String::new(),
        }
    }

    pub async fn sign_up(server: &Server, email: &str, role: &str) -> Self {
        let mut user = Self::browser(server, false);
        user.token = token(&user.get("/signup").await.1);
        let mut form = vec![
            ("name", "Bench".to_owned()),
            ("email", email.to_owned()),
            ("phone", "9800000000".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("role", role.to_owned()),
        ];
        if role == "vendor" {
            form.push(("business_name", "Bench Laundry".into()));
            form.push(("city", "Kathmandu".into()));
        }
        let (status, _) = user.post("/signup", form).await;
        assert_eq!(status, 303, "signed up");
        // Signing up renews the CSRF token: take the one of a page after it.
        user.token = token(&user.get("/notifications").await.1);
        user
    }

    /// A user who logs in with an existing account.
    pub async fn log_in(server: &Server, email: &str, password: &str) -> Self {
        let mut user = Self::browser(server, true);
        user.token = token(&user.get("/login").await.1);
        let form = vec![
            ("email", email.to_owned()),
            ("password", password.to_owned()),
        ];
        let (status, _) = user.post("/login", form).await;
        assert_eq!(status, 303, "{email} logged in");
        user.token = token(&user.get("/notifications").await.1);
        user
    }

    /// A visitor without a session at `base` (any HTTP server), with the
    /// same client settings as a logged-in user: cookies kept, connections
    /// kept open, no redirects followed.
    pub fn visitor(base: &str) -> Self {
        Self::browser_at(base, true)
    }

    /// The same user (same cookies, so the same session) on another server
    /// of the same database.
    pub fn on(&self, server: &Server) -> Self {
        Self {
            base: server.base.clone(),
            ..self.clone()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// The version of an offer that its accept confirmation page carries
    /// (the accept form posts it back as `offer_version`).
    pub async fn offer_version(&self, offer_id: i64) -> i32 {
        let (status, html) = self.get(&format!("/offers/{offer_id}/accept")).await;
        assert_eq!(status, 200, "confirmation page of offer {offer_id}");
        let marker = r#"name="offer_version" value=""#;
        let start = html.find(marker).expect("an offer_version field") + marker.len();
        html[start..start + html[start..].find('"').expect("version end")]
            .parse()
            .expect("a version number")
    }

    /// POSTs a form with the session's token: the status and the Location.
    pub async fn post(&self, path: &str, mut form: Vec<(&str, String)>) -> (u16, String) {
        form.push(("csrf_token", self.token.clone()));
        let response = self
            .client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .expect("POST");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status().as_u16(), location)
    }
}

/// Settings for a server that signs up many bench users from one address.
pub const MANY_SIGNUPS: &[(&str, &str)] = &[("DHUNE_SIGNUP_LIMIT_PER_ADDRESS", "1000000")];

/// Enough vendors to hold `streams` live streams, each within the streams
/// one user may keep open; stream `n` belongs to `vendors[n / per_vendor]`.
pub async fn stream_vendors(server: &Server, streams: usize) -> (Vec<User>, usize) {
    let per_vendor = dhune::events::relay::STREAMS_PER_USER;
    let mut vendors = Vec::new();
    for n in 0..streams.div_ceil(per_vendor) {
        vendors.push(User::sign_up(server, &format!("vendor{n}@bench.test"), "vendor").await);
    }
    (vendors, per_vendor)
}

/// The value at quantile `q` (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// What one event to many idle streams cost: see [`fan_out`].
pub struct FanOut {
    /// The server's RSS before the streams opened, KiB.
    pub idle_rss: u64,
    /// The server's RSS with every stream open and idle, KiB.
    pub connected_rss: u64,
    /// From the POST that caused the event to each stream's frame, sorted.
    pub latencies: Vec<Duration>,
    /// Where the POST sent the customer: the new request's page.
    pub posted: String,
}

impl FanOut {
    /// The server's memory per open stream, KiB.
    pub fn rss_per_stream(&self) -> f64 {
        self.connected_rss.saturating_sub(self.idle_rss) as f64 / self.latencies.len() as f64
    }
}

/// Opens `streams` idle `GET /events` streams, stream `n` of
/// `vendors[n / per_vendor]` (see [`stream_vendors`]), waits a second, then
/// `customer` posts one request, whose `request_created` frame every stream
/// waits for.
pub async fn fan_out(
    server: &Server,
    vendors: &[User],
    per_vendor: usize,
    customer: &User,
    streams: usize,
) -> FanOut {
    let idle_rss = server.rss_kib();
    let started = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(streams);
    let mut tasks = Vec::with_capacity(streams);
    for n in 0..streams {
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
                        .expect("the event was sent after every stream opened");
                    return t0.elapsed();
                }
            }
            panic!("stream ended before the event");
        }));
    }
    for _ in 0..streams {
        ready_rx.recv().await.expect("a stream opened");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected_rss = server.rss_kib();

    started.set(Instant::now()).expect("once");
    let (status, posted) = customer.post("/requests", request_form(5)).await;
    assert_eq!(status, 303, "request posted");

    let mut latencies = Vec::with_capacity(streams);
    for task in tasks {
        latencies.push(task.await.expect("task"));
    }
    latencies.sort();
    FanOut {
        idle_rss,
        connected_rss,
        latencies,
        posted,
    }
}

/// The times of one measured run.
pub struct Run {
    pub elapsed: Duration,
    /// Sorted.
    pub times: Vec<Duration>,
}

impl Run {
    pub fn calls(&self) -> usize {
        self.times.len()
    }

    pub fn rate(&self) -> f64 {
        self.calls() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p(&self, q: f64) -> Duration {
        percentile(&self.times, q)
    }

    pub fn print(&self, name: &str) {
        println!(
            "    {name:<46} {:>6} calls {:>7.0}/s  p50 {:>7.1?}  p99 {:>7.1?}  max {:>7.1?}",
            self.calls(),
            self.rate(),
            self.p(0.5),
            self.p(0.99),
            self.p(1.0)
        );
    }
}

/// Runs `call(n)` from `concurrency` tasks for `seconds` (or until `limit`
/// calls were made), prints one line and returns the times. An answer that
/// is not the expected one stops the bench.
pub async fn measure<F, Fut>(
    name: &str,
    concurrency: usize,
    seconds: u64,
    limit: usize,
    call: F,
) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= limit || Instant::now() >= deadline {
                    return Ok::<_, String>(times);
                }
                let t0 = Instant::now();
                call(n).await?;
                times.push(t0.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        match task.await.expect("a load task") {
            Ok(mine) => times.extend(mine),
            Err(wrong) => panic!("perf: wrong answer during {name}: {wrong}; bench stopped"),
        }
    }
    let elapsed = started.elapsed();
    times.sort();
    assert!(!times.is_empty(), "perf: {name} made no call");
    let run = Run { elapsed, times };
    run.print(name);
    run
}
