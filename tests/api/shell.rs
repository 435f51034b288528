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
async fn static_files_are_served_with_cache_headers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in [
        "/static/htmx.min.js",
        "/static/htmx-ext-sse.min.js",
        "/static/app.css",
    ] {
        let page = app.browser().get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.headers["cache-control"], "public, max-age=86400");
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
