//! The health check, error pages, static files and database set-up.

use reqwest::StatusCode;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn healthz_answers_ok_while_the_database_answers(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let page = app.browser().get("/healthz").await;
    assert_eq!((page.status, page.body.as_str()), (StatusCode::OK, "ok"));

    pool.close().await;
    let page = app.browser().get("/healthz").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn unknown_pages_get_a_404_page_and_every_response_a_request_id(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let page = app.browser().get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("<h1>Not found</h1>"), "{}", page.body);
    assert!(page.headers.contains_key("x-request-id"));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn static_files_without_their_version_are_revalidated(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in [
        "/static/htmx.min.js",
        "/static/htmx-ext-sse.min.js",
        "/static/live.js",
        "/static/app.css",
    ] {
        let page = app.browser().get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.headers["cache-control"], "no-cache");
        assert!(page.body.len() > 1000, "{path}");
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn pages_are_built_for_phones_and_label_every_input(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let page = app.browser().get("/signup").await;
    assert!(
        page.body
            .contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    for name in [
        "name",
        "email",
        "phone",
        "password",
        "business_name",
        "city",
    ] {
        assert!(
            page.body.contains(&format!(r#"<label for="{name}">"#)),
            "label for {name}"
        );
        assert!(
            page.body.contains(&format!(r#"id="{name}" name="{name}""#)),
            "input {name}"
        );
    }
}

#[tokio::test]
async fn connect_creates_a_missing_database() {
    let url = format!(
        "postgres://postgres@127.0.0.1:5432/dhune_test_create_{}",
        std::process::id()
    );
    let _ = sqlx::Postgres::drop_database(&url).await;

    let pool = dhune::db::connect(&url)
        .await
        .expect("connect creates the database");
    dhune::db::migrate(&pool).await.expect("migrations apply");
    let services: i64 = sqlx::query_scalar("SELECT count(*) FROM services")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(services, 6, "the catalog is seeded");
    pool.close().await;

    sqlx::Postgres::drop_database(&url).await.expect("drop");
}

#[tokio::test]
async fn an_unreachable_server_gets_a_message_saying_what_to_do() {
    let err = dhune::db::connect("postgres://postgres@127.0.0.1:1/dhune")
        .await
        .expect_err("nothing listens on port 1");
    let message = format!("{err:#}");
    assert!(
        message.contains("cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/dhune"),
        "{message}"
    );
    assert!(
        message.contains("pg_isready") && message.contains("DATABASE_URL"),
        "{message}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_internal_error_shows_a_request_id_and_no_internals(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    browser.csrf_token().await;
    sqlx::query("DROP TABLE throttle_attempts")
        .execute(&app.pool)
        .await
        .unwrap();

    let page = browser.login("c@example.com", "whatever-password").await;

    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = page.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        page.body.contains(&format!("<code>{request_id}</code>")),
        "{}",
        page.body
    );
    assert!(page.body.contains("Something went wrong on our side."));
    assert!(
        !page.body.contains("throttle_attempts") && !page.body.contains("relation"),
        "{}",
        page.body
    );
}

/// The real binary: `create-admin`, then `serve` on a free port, then SIGTERM
/// ends it cleanly.
#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_binary_creates_an_admin_serves_and_stops_on_sigterm(pool: PgPool) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let database = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let bin = env!("CARGO_BIN_EXE_dhune");

    let created = Command::new(bin)
        .args([
            "create-admin",
            "--email",
            "Boss@Example.com",
            "--password",
            "a-long-secret",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let role: String =
        sqlx::query_scalar("SELECT role FROM users WHERE email = 'boss@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(role, "admin");

    let mut server = Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("DHUNE_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let address = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("Dhune is running at ").map(str::to_owned))
    })
    .await
    .unwrap()
    .expect("the server prints its address");
    let health = reqwest::get(format!("{address}healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn htmx_requests_get_an_error_fragment_and_boosted_ones_the_whole_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let fragment = browser
        .client
        .get(browser.url("/nope"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(fragment.status(), StatusCode::NOT_FOUND);
    let body = fragment.text().await.unwrap();
    assert!(
        body.contains("<h1>Not found</h1>") && !body.contains("<html"),
        "{body}"
    );

    let boosted = browser
        .client
        .get(browser.url("/nope"))
        .header("HX-Request", "true")
        .header("HX-Boosted", "true")
        .send()
        .await
        .unwrap();
    let body = boosted.text().await.unwrap();
    assert!(body.contains("<html") && body.contains("<h1>Not found</h1>"));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_refused_boosted_form_keeps_the_address_bar(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.customer("c@example.com").await;
    let token = browser.csrf_token().await;
    let page = browser
        .post_raw(
            "/requests",
            &[("csrf_token", token.clone())],
            &[("HX-Request", "true"), ("HX-Boosted", "true")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.headers["hx-push-url"], "false");

    let plain = browser
        .post_raw("/requests", &[("csrf_token", token)], &[])
        .await;
    assert!(!plain.headers.contains_key("hx-push-url"));
}
