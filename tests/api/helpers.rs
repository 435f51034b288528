//! `TestApp` serves the app on port 0; `Browser` acts like one person's
//! browser: it keeps cookies, does not follow redirects, and sends back the
//! CSRF token from the last page it saw.

use std::net::SocketAddr;
use std::sync::Mutex;

use dhune::Config;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use sqlx::PgPool;

pub const PASSWORD: &str = "laundry-day-42";

pub struct TestApp {
    pub addr: SocketAddr,
    pub pool: PgPool,
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, Config::for_tests()).await
    }

    /// The app with these settings.
    pub async fn spawn_with(pool: PgPool, config: Config) -> Self {
        Self::spawn_through(pool.clone(), pool, config).await
    }

    /// The app with `config`, on `app_pool` (which may reach the database
    /// another way than the test's `pool`, e.g. through a proxy).
    pub async fn spawn_through(app_pool: PgPool, pool: PgPool, mut config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        config.public_url = format!("http://{addr}");
        let header_read_timeout = config.header_read_timeout;
        let app = dhune::build_app(app_pool, config).await.expect("app");
        tokio::spawn(async move {
            dhune::web::serve(listener, app, header_read_timeout, std::future::pending())
                .await
                .expect("serve")
        });
        Self { addr, pool }
    }

    pub fn browser(&self) -> Browser {
        self.browser_from([127, 0, 0, 1])
    }

    /// A browser whose connections come from another loopback address, like
    /// a visitor elsewhere on the internet.
    pub fn browser_from(&self, ip: [u8; 4]) -> Browser {
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            base: format!("http://{}", self.addr),
            client,
            csrf: Mutex::new(None),
        }
    }

    /// A browser signed in as a new customer with this email.
    pub async fn customer(&self, email: &str) -> Browser {
        let browser = self.browser();
        let page = browser
            .signup(&signup_fields("Sita Sharma", email, "customer"))
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// A browser signed in as a new vendor with this email.
    pub async fn vendor(&self, email: &str) -> Browser {
        let browser = self.browser();
        let mut fields = signup_fields("Ram Thapa", email, "vendor");
        fields.push(("business_name", "Sparkle Laundry".into()));
        fields.push(("city", "Kathmandu".into()));
        let page = browser.signup(&fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// A browser signed in as a new admin with this email.
    pub async fn admin(&self, email: &str) -> Browser {
        dhune::market::accounts::create_admin(&self.pool, email, PASSWORD)
            .await
            .expect("create admin");
        let browser = self.browser();
        let page = browser.login(email, PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// The titles of a user's notifications, oldest first.
    pub async fn notification_titles(&self, email: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT n.title FROM notifications n JOIN users u ON u.id = n.user_id \
             WHERE u.email = $1 ORDER BY n.id",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await
        .expect("notification titles")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }
}

pub fn signup_fields(name: &str, email: &str, role: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.into()),
        ("email", email.into()),
        ("phone", "9801234567".into()),
        ("password", PASSWORD.into()),
        ("role", role.into()),
    ]
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The cookie `name` this answer sets, as a browser sends it back
    /// (`name=value`).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.set_cookies().iter().find_map(|c| {
            c.split(';')
                .next()
                .filter(|kv| kv.starts_with(&prefix))
                .map(str::to_owned)
        })
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "body: {}", self.body);
        assert_eq!(self.location(), Some(to));
    }
}

pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    csrf: Mutex<Option<String>>,
}

/// The same person in another tab: the same cookies and form token.
impl Clone for Browser {
    fn clone(&self) -> Self {
        let csrf = self
            .csrf
            .lock()
            .map(|token| token.clone())
            .unwrap_or_default();
        Self {
            base: self.base.clone(),
            client: self.client.clone(),
            csrf: Mutex::new(csrf),
        }
    }
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn read(&self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        if let Some(token) = csrf_token_in(&body) {
            *self.csrf.lock().expect("lock") = Some(token);
        }
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        self.read(response).await
    }

    /// `path` once it shows what `shown` looks for, fetched again for up to
    /// 5 s (the last answer if it never does). What an instance keeps in
    /// memory, such as the unread count, follows the events its relay reads
    /// every 100 ms, not the request that caused them.
    pub async fn get_until(&self, path: &str, shown: impl Fn(&Page) -> bool) -> Page {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let page = self.get(path).await;
            if shown(&page) || std::time::Instant::now() > deadline {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The CSRF token of the last page, fetching a page with a form first
    /// when none was seen yet.
    pub async fn csrf_token(&self) -> String {
        let known = self.csrf.lock().expect("lock").clone();
        match known {
            Some(token) => token,
            None => {
                // Signed in, /login leads home, whose page carries the token.
                let page = self.get("/login").await;
                if let Some(home) = page.location() {
                    self.get(home).await;
                }
                self.csrf
                    .lock()
                    .expect("lock")
                    .clone()
                    .expect("a CSRF token on /login or the home page")
            }
        }
    }

    /// Posts a form like a browser does: with the page's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, String)]) -> Page {
        let mut fields: Vec<(&str, String)> = fields.to_vec();
        fields.push(("csrf_token", self.csrf_token().await));
        self.post_raw(path, &fields, &[]).await
    }

    /// Posts exactly these fields and headers, nothing added.
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.client.post(self.url(path)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("POST");
        self.read(response).await
    }

    pub async fn signup(&self, fields: &[(&str, String)]) -> Page {
        let page = self.post("/signup", fields).await;
        self.forget_token_when_signed_in(&page);
        page
    }

    pub async fn login(&self, email: &str, password: &str) -> Page {
        let page = self
            .post(
                "/login",
                &[("email", email.into()), ("password", password.into())],
            )
            .await;
        self.forget_token_when_signed_in(&page);
        page
    }

    /// Signing in rotates the session's CSRF token, so the next form needs
    /// the token of a page seen after it.
    fn forget_token_when_signed_in(&self, page: &Page) {
        if page.status == StatusCode::SEE_OTHER {
            *self.csrf.lock().expect("lock") = None;
        }
    }

    pub async fn logout(&self) -> Page {
        self.post("/logout", &[]).await
    }
}

fn csrf_token_in(body: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// A local (Nepal time) `datetime-local` value `hours` from now.
pub fn local_in(hours: i64) -> String {
    dhune::domain::request::format_local_input(
        time::OffsetDateTime::now_utc() + time::Duration::hours(hours),
    )
}

/// A complete, valid new-request form.
pub fn request_fields() -> Vec<(&'static str, String)> {
    vec![
        ("pickup_address", "House 7, Tinkune Marg".into()),
        ("area", "Tinkune".into()),
        ("city", "Kathmandu".into()),
        ("pickup_from", local_in(3)),
        ("pickup_to", local_in(6)),
        ("notes", "Ring the bell twice".into()),
        ("expires_in_hours", "24".into()),
        ("qty_wash_fold", "6".into()),
        ("qty_dry_clean", "2".into()),
    ]
}

/// A complete, valid offer form.
pub fn offer_fields(price: &str) -> Vec<(&'static str, String)> {
    vec![
        ("price", price.into()),
        ("pickup_at", local_in(4)),
        ("delivery_at", local_in(52)),
        ("message", "Fresh and folded in two days.".into()),
    ]
}

impl Browser {
    /// Posts a valid request; returns its id.
    pub async fn create_request(&self) -> i64 {
        let page = self.post("/requests", &request_fields()).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        id_after(page.location().expect("location"), "/requests/")
    }

    /// Confirms the accept of an offer at `version`, the version of it the
    /// customer saw on the confirmation page.
    pub async fn accept(&self, offer_id: i64, version: i32) -> Page {
        self.post(
            &format!("/offers/{offer_id}/accept"),
            &[("offer_version", version.to_string())],
        )
        .await
    }

    /// Accepts an offer (at version 1) choosing how to pay: `online` or `cod`.
    pub async fn accept_paying(&self, offer_id: i64, method: &str) -> Page {
        self.post(
            &format!("/offers/{offer_id}/accept"),
            &[
                ("offer_version", "1".into()),
                ("payment_method", method.into()),
            ],
        )
        .await
    }

    /// Moves an order to `to` and expects the redirect back to it.
    pub async fn move_order(&self, order_id: i64, to: &str) {
        self.post(
            &format!("/orders/{order_id}/status"),
            &[("status", to.into())],
        )
        .await
        .assert_redirect(&format!("/orders/{order_id}"));
    }

    /// Makes a valid offer at `price` rupees on a request.
    pub async fn make_offer(&self, request_id: i64, price: &str) -> Page {
        self.post(
            &format!("/requests/{request_id}/offers"),
            &offer_fields(price),
        )
        .await
    }
}

pub fn id_after(location: &str, prefix: &str) -> i64 {
    location
        .strip_prefix(prefix)
        .and_then(|rest| rest.parse().ok())
        .unwrap_or_else(|| panic!("{location} is not {prefix}<id>"))
}

impl TestApp {
    /// The id of the newest offer a vendor made on a request.
    pub async fn offer_id(&self, request_id: i64, vendor_email: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT o.id FROM offers o JOIN users u ON u.id = o.vendor_id
             WHERE o.request_id = $1 AND u.email = $2 ORDER BY o.id DESC LIMIT 1",
        )
        .bind(request_id)
        .bind(vendor_email)
        .fetch_one(&self.pool)
        .await
        .expect("offer")
    }

    /// An order: `customer` posts a request, `vendor` offers `price`
    /// rupees, `customer` accepts. Returns the order's id.
    pub async fn order(
        &self,
        customer: &Browser,
        vendor: &Browser,
        vendor_email: &str,
        price: &str,
    ) -> i64 {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, price).await;
        let offer_id = self.offer_id(request_id, vendor_email).await;
        let accepted = customer.accept(offer_id, 1).await;
        id_after(accepted.location().expect("location"), "/orders/")
    }

    /// An order the customer chose to pay `online` (or `cod`) for.
    pub async fn order_paying(
        &self,
        customer: &Browser,
        vendor: &Browser,
        vendor_email: &str,
        price: &str,
        method: &str,
    ) -> i64 {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, price).await;
        let offer_id = self.offer_id(request_id, vendor_email).await;
        let accepted = customer.accept_paying(offer_id, method).await;
        id_after(accepted.location().expect("location"), "/orders/")
    }

    /// The demo's payments, made through this app's sandbox (after
    /// `seed_if_empty`); returns whether they were added.
    pub async fn seed_demo_payments(&self) -> bool {
        let mut config = Config::for_tests();
        config.public_url = format!("http://{}", self.addr);
        let gateway = dhune::gateways::payments::build(&config).expect("gateway");
        dhune::demo::seed_payments(&self.pool, &*gateway, &config.public_url, 1000)
            .await
            .expect("demo payments")
    }

    /// Moves the ledger transactions of order `order_id` (its captures and
    /// refunds) to `at`, as if the money had moved then: the ledger refuses
    /// updates (a trigger), so its guard is lifted for this one change.
    pub async fn move_ledger(&self, order_id: i64, at: time::OffsetDateTime) {
        let mut tx = self.pool.begin().await.expect("begin");
        sqlx::query("ALTER TABLE ledger_transactions DISABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .expect("disable");
        sqlx::query(
            "UPDATE ledger_transactions t SET created_at = $2
             WHERE (t.kind = 'capture' AND t.source_id IN (SELECT id FROM payments WHERE order_id = $1))
                OR (t.kind = 'refund' AND t.source_id IN
                    (SELECT r.id FROM refunds r JOIN payments p ON p.id = r.payment_id
                     WHERE p.order_id = $1))",
        )
        .bind(order_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .expect("ledger");
        sqlx::query("ALTER TABLE ledger_transactions ENABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .expect("enable");
        tx.commit().await.expect("commit");
    }

    /// Fails the test unless `dhune ledger check` finds the books sound.
    pub async fn assert_books_balance(&self) {
        let report = dhune::market::ledger::check(&self.pool)
            .await
            .expect("ledger check");
        assert!(
            report.differences.is_empty(),
            "ledger check: {:?}",
            report.differences
        );
    }

    /// An order the vendor took all the way to delivered.
    pub async fn delivered(
        &self,
        customer: &Browser,
        vendor: &Browser,
        vendor_email: &str,
        price: &str,
    ) -> i64 {
        let order_id = self.order(customer, vendor, vendor_email, price).await;
        for step in ["PICKED_UP", "IN_PROGRESS", "DELIVERING", "COMPLETED"] {
            vendor.move_order(order_id, step).await;
        }
        order_id
    }

    pub async fn status_of(&self, table: &str, id: i64) -> String {
        sqlx::query_scalar(&format!("SELECT status FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("status")
    }
}

/// One server-sent event as a client sees it.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// An open `GET /events` stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// The next event, or `None` when none arrives within `wait`.
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data.push_str(v);
                    }
                }
                if !event.event.is_empty() {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?;
            let bytes = chunk.expect("stream read")?;
            self.buffer.push_str(&String::from_utf8_lossy(&bytes));
        }
    }

    /// Whether the server ends the stream within `wait` (events before the
    /// end are skipped).
    pub async fn ends_within(&mut self, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(None) | Err(_)) => return true,
                Ok(Ok(Some(_))) => {}
            }
        }
    }

    /// The next event, which must come within five seconds.
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(std::time::Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }
}

impl Browser {
    /// Opens the live stream, optionally resuming after `last_event_id`.
    pub async fn events(&self, last_event_id: Option<&str>) -> EventStream {
        let mut request = self.client.get(self.url("/events"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        Self::stream(request).await
    }

    /// Opens the live stream at this URL (with a page's query).
    pub async fn events_at(&self, path: &str) -> EventStream {
        Self::stream(self.client.get(self.url(path))).await
    }

    async fn stream(request: reqwest::RequestBuilder) -> EventStream {
        let response = request.send().await.expect("GET /events");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(
            response
                .headers()
                .get("x-accel-buffering")
                .map(|v| v.as_bytes()),
            Some(&b"no"[..]),
            "a reverse proxy passes each event on at once"
        );
        EventStream {
            response,
            buffer: String::new(),
        }
    }
}

/// Collects what the app logs at DEBUG and above, as text, on this test's
/// thread (the test's runtime runs the server's tasks there too).
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Starts capturing until the guard is dropped.
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Asks every log call site again whether it is wanted. One first
    /// reached by another test's thread while this capture was starting may
    /// have cached "never" (this once made the capture miss a span).
    pub fn listen_again(&self) {
        tracing::callsite::rebuild_interest_cache();
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// The SQL statements the server runs while answering requests, in order:
/// what sqlx logs (target `sqlx::query`) inside a request's span. sqlx logs
/// every statement it sends except the `BEGIN` of a transaction (and the
/// `ROLLBACK` of one dropped unfinished); an explicit commit or rollback is
/// logged. Recording is for the test's thread, which also runs the server's
/// tasks (`#[sqlx::test]` uses a current-thread runtime).
///
/// One subscriber serves the whole test binary and hands each statement to
/// the recording of the thread it ran on: a subscriber set per thread lets
/// a call site first reached on another thread cache "never" for it, which
/// made a recording come back empty now and then.
#[derive(Clone, Default)]
pub struct Statements(std::sync::Arc<Mutex<Vec<String>>>);

thread_local! {
    static RECORDING: std::cell::RefCell<Option<Statements>> = const { std::cell::RefCell::new(None) };
}

/// Ends a recording when dropped.
pub struct Recording(());

impl Drop for Recording {
    fn drop(&mut self) {
        RECORDING.with(|recording| recording.borrow_mut().take());
    }
}

impl Statements {
    /// Starts recording on this thread; it ends when the guard is dropped.
    pub fn record() -> (Self, Recording) {
        static SUBSCRIBER: std::sync::Once = std::sync::Once::new();
        SUBSCRIBER.call_once(|| {
            use tracing_subscriber::layer::SubscriberExt as _;
            let subscriber = tracing_subscriber::registry().with(StatementLayer);
            tracing::subscriber::set_global_default(subscriber).expect("the one subscriber");
        });
        let statements = Self::default();
        RECORDING.with(|recording| *recording.borrow_mut() = Some(statements.clone()));
        (statements, Recording(()))
    }

    /// The statements recorded since the last call, each with its SQL.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Hands sqlx's statements inside a request's span to this thread's
/// recording; nothing else is wanted.
struct StatementLayer;

impl<S> tracing_subscriber::Layer<S> for StatementLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // sqlx asks `enabled!` (a hint, neither event nor span) first.
        let wanted = metadata.target() == "sqlx::query"
            || (metadata.is_span() && metadata.name() == "request");
        if wanted {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(statements) = RECORDING.with(|recording| recording.borrow().clone()) else {
            return;
        };
        let in_request = ctx
            .event_scope(event)
            .is_some_and(|mut spans| spans.any(|span| span.name() == "request"));
        if !in_request {
            return;
        }
        let mut sql = Sql::default();
        event.record(&mut sql);
        // A short statement is logged as its summary alone.
        let text = if sql.statement.trim().is_empty() {
            sql.summary
        } else {
            sql.statement
        };
        statements.0.lock().unwrap().push(text.trim().to_owned());
    }
}

/// The fields of sqlx's statement log line.
#[derive(Default)]
struct Sql {
    summary: String,
    statement: String,
}

impl tracing::field::Visit for Sql {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}
