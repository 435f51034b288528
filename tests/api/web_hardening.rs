//! Hardening of the web layer: database outages, hostile filters, the admin's
//! user page, security headers, the notes hint and quiet page views.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhune::Config;
use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Browser, Page, TestApp, request_fields};

/// A TCP proxy in front of Postgres that can be cut like a network outage:
/// open connections drop, new ones are accepted but never answered.
struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (is_down, open_links) = (down.clone(), links.clone());
        tokio::spawn(async move {
            let mut unanswered = Vec::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    unanswered.push(inbound);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open_links.lock().unwrap().push(link);
            }
        });
        Self { addr, down, links }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The app on a pool that reaches the test database through a [`Proxy`].
async fn app_behind_proxy(pool: PgPool) -> (TestApp, Proxy) {
    let proxy = Proxy::start(SocketAddr::from((
        [127, 0, 0, 1],
        pool.connect_options().get_port(),
    )))
    .await;
    let options = (*pool.connect_options())
        .clone()
        .host("127.0.0.1")
        .port(proxy.addr.port());
    let app_pool = dhune::db::pool_options().connect_lazy_with(options);
    let app = TestApp::spawn_through(app_pool, pool, Config::for_tests()).await;
    (app, proxy)
}

#[track_caller]
fn assert_unavailable_page(page: &Page, what: &str) {
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        page.body
    );
    assert!(
        page.body.contains("<h1>Temporarily unavailable</h1>"),
        "{what}: {}",
        page.body
    );
    let request_id = page.headers["x-request-id"].to_str().unwrap();
    assert!(page.body.contains(request_id), "{what}: {}", page.body);
    assert!(page.headers.contains_key("retry-after"), "{what}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_a_database_outage_answers_503_pages_and_passes(pool: PgPool) {
    let (app, proxy) = app_behind_proxy(pool).await;
    let customer = app.customer("outage@example.com").await;
    assert_eq!(customer.get("/requests").await.status, StatusCode::OK);

    proxy.cut();
    let visitor = app.browser();
    let health = async {
        let response = visitor
            .client
            .get(visitor.url("/healthz"))
            .timeout(Duration::from_secs(4))
            .send()
            .await
            .expect("/healthz answers within 4 s");
        (response.status(), response.text().await.expect("body"))
    };
    let (signed_in, signed_out, health) =
        tokio::join!(customer.get("/requests"), visitor.get("/login"), health);
    assert_unavailable_page(&signed_in, "signed-in page");
    assert_unavailable_page(&signed_out, "signed-out page");
    assert_eq!(
        health,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable".to_owned()
        )
    );

    proxy.restore();
    assert_eq!(customer.get("/requests").await.status, StatusCode::OK);
    assert_eq!(visitor.get("/healthz").await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_a_committed_write_redirects_even_if_the_session_cannot_be_saved(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("committed@example.com").await;
    customer.get("/requests/new").await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_session_writes() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the database system is shutting down' USING ERRCODE = '57P01'; END $$;
         CREATE TRIGGER refuse_session_writes BEFORE INSERT OR UPDATE ON tower_sessions.session
         FOR EACH ROW EXECUTE FUNCTION refuse_session_writes();",
    )
    .execute(&pool)
    .await
    .unwrap();

    let page = customer.post("/requests", &request_fields()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(page.location().unwrap().starts_with("/requests/"));
    assert_eq!(app.count("SELECT count(*) FROM requests").await, 1);
    // A page that would change the session (a fresh CSRF token) cannot be
    // shown without it: the 503 page, not a blank 500.
    assert_unavailable_page(&app.browser().get("/login").await, "login page");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_far_off_dates_and_nul_bytes_in_filters_are_ignored(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = app.admin("admin@example.com").await;
    for list in ["requests", "offers", "orders", "disputes", "users", "audit"] {
        for query in [
            "from=-9999-01-01",
            "to=-4713-01-01",
            "from=0001-01-01&to=9999-12-31",
            "q=%00",
            "q=a%00b&status=%00",
        ] {
            let path = format!("/admin/{list}?{query}");
            let page = admin.get(&path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        }
    }
    let vendor = app.vendor("vendor@example.com").await;
    for path in ["/board?city=%00", "/board?city=Kath%00mandu&page=%00"] {
        let page = vendor.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_a_nul_byte_in_a_form_is_refused_with_the_form_kept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("nul@example.com").await;
    let mut fields = request_fields();
    for (name, value) in fields.iter_mut() {
        if *name == "area" {
            *value = "Tin\0kune".into();
        }
    }
    let page = customer.post("/requests", &fields).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Please remove the control characters."),
        "{}",
        page.body
    );
    assert!(page.body.contains("House 7, Tinkune Marg"), "{}", page.body);
    assert_eq!(app.count("SELECT count(*) FROM requests").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_a_users_page_finds_the_user_among_many_id_matches(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.admin("first-admin@example.com").await;
    let admin_id: i64 =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'first-admin@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(admin_id, 1);
    sqlx::query(
        "INSERT INTO users (email, name, phone, password_hash, role)
         SELECT 'user1-' || n || '@example.com', 'User ' || n, '9801234567', 'x', 'customer'
         FROM generate_series(1, 30) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    for id in 1..=5 {
        let page = admin.get(&format!("/admin/users/{id}")).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "/admin/users/{id}: {}",
            page.body
        );
    }
    let page = admin.get("/admin/users/1").await;
    assert!(
        page.body.contains("first-admin@example.com"),
        "{}",
        page.body
    );
    assert_eq!(
        admin.get("/admin/users/999").await.status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_the_notes_hint_says_every_laundry_reads_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("hint@example.com").await;
    let page = customer.get("/requests/new").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("Every laundry that sees the request can read this before you choose one"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("do not write gate codes or anything private")
    );
    assert!(
        !page
            .body
            .contains("Optional: stains, delicate items, gate code.")
    );
}

/// Each session row with the transaction that last wrote it.
async fn session_versions(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT id, xmin::text FROM tower_sessions.session ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_page_views_do_not_rewrite_the_session(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("quiet@example.com").await;
    // The first page after signing in may push the session's expiry back.
    customer.get("/requests").await;
    let before = session_versions(&pool).await;
    assert_eq!(before.len(), 1);
    for round in 0..4 {
        for path in [
            "/requests",
            "/requests/new",
            "/orders",
            "/notifications",
            "/no/such/page",
        ] {
            let page = customer.get(path).await;
            assert!(
                page.status.is_success() || page.status == StatusCode::NOT_FOUND,
                "{round} {path}"
            );
        }
    }
    assert_eq!(session_versions(&pool).await, before);

    // A flash message is shown once, then removed; neither writes the
    // session (it waits in a cookie of its own).
    let page = customer.post("/requests", &request_fields()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let shown = customer.get(page.location().unwrap()).await;
    assert!(shown.body.contains("class=\"flash"), "{}", shown.body);
    let again = customer.get(page.location().unwrap()).await;
    assert!(!again.body.contains("class=\"flash"), "{}", again.body);
    assert_eq!(session_versions(&pool).await, before);
}

/// The login page as a browser that sends only `cookie` sees it.
async fn login_page_with(app: &TestApp, cookie: &str) -> String {
    reqwest::Client::new()
        .get(format!("http://{}/login", app.addr))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_a_flash_shows_only_as_the_app_signed_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let posted = customer.post("/requests", &request_fields()).await;
    let cookie = posted.cookie("dhune_flash").expect("a flash cookie");

    let page = login_page_with(&app, &cookie).await;
    assert!(page.contains("Your request is posted."), "{page}");

    // One letter of the message changed, the signature kept.
    let mut altered = cookie.clone().into_bytes();
    let at = altered.len() - 5;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let page = login_page_with(&app, &altered).await;
    assert!(
        !page.contains("class=\"flash"),
        "an altered message: {page}"
    );

    // A message of one's own, in the cookie's encoding, unsigned.
    let unsigned = "dhune_flash=W3sia2luZCI6IkluZm8iLCJ0ZXh0IjoiQ2FsbCB1cyJ9XQ";
    let page = login_page_with(&app, unsigned).await;
    assert!(
        !page.contains("class=\"flash"),
        "an unsigned message: {page}"
    );
    assert!(!page.contains("Call us"), "{page}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_logging_out_drops_the_messages_still_queued(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let posted = customer.post("/requests", &request_fields()).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);

    customer.logout().await.assert_redirect("/login");
    let page = customer.get("/login").await;
    assert!(!page.body.contains("class=\"flash"), "{}", page.body);
    assert!(
        !page.body.contains("Your request is posted."),
        "{}",
        page.body
    );
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; \
     form-action 'self'";

#[track_caller]
fn assert_security_headers(page: &Page, what: &str) {
    let header = |name: &str| {
        page.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("content-security-policy"), CSP, "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_every_response_carries_security_headers(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let admin = app.admin("a@example.com").await;
    let anonymous = app.browser();
    let pages: [(&str, &Browser, &str); 4] = [
        ("anonymous", &anonymous, "/"),
        ("customer", &customer, "/requests"),
        ("vendor", &vendor, "/board"),
        ("admin", &admin, "/admin"),
    ];
    for (role, browser, path) in pages {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{role}");
        assert_security_headers(&page, role);
        assert_eq!(page.headers["cache-control"], "no-store", "{role}");
        assert!(
            !page.headers.contains_key("strict-transport-security"),
            "{role}"
        );
    }
    let error = customer.get("/no/such/page").await;
    assert_eq!(error.status, StatusCode::NOT_FOUND);
    assert_security_headers(&error, "error page");
    assert_eq!(error.headers["cache-control"], "no-store");
    let asset = anonymous.get("/static/app.css").await;
    assert_security_headers(&asset, "static file");
    assert_eq!(asset.headers["cache-control"], "no-cache");

    let config = Config {
        secure_cookies: true,
        ..Config::for_tests()
    };
    let https = TestApp::spawn_with(pool, config).await;
    for path in ["/", "/login", "/static/app.css", "/no/such/page"] {
        let page = https.browser().get(path).await;
        assert_security_headers(&page, path);
        assert_eq!(
            page.headers["strict-transport-security"], "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hardening_a_nul_byte_in_any_text_field_is_refused_not_a_500(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut vendor_fields =
        crate::helpers::signup_fields("Ram Thapa", "nulv@example.com", "vendor");
    vendor_fields.push(("business_name", "Sparkle Laundry".into()));
    vendor_fields.push(("city", "Kathmandu".into()));
    for field in ["name", "email", "phone", "business_name", "city"] {
        let fields: Vec<_> = vendor_fields
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == field {
                        format!("a\0{v}")
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        let page = app.browser().signup(&fields).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "sign-up {field}: {}",
            page.body
        );
    }
    let page = app.browser().login("a\0b@example.com", "whatever").await;
    assert!(page.status.is_client_error(), "login: {}", page.status);

    let admin = app.admin("nul-admin@example.com").await;
    let customer = app.customer("nulc@example.com").await;
    customer.get("/requests").await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'nulc@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let page = admin
        .post(
            &format!("/admin/users/{id}/suspend"),
            &[("reason", "spam\0".into())],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "suspend: {}",
        page.body
    );
    assert_eq!(app.status_of("users", id).await, "ACTIVE");
}
