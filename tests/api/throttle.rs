//! Login and sign-up limits under real concurrency, the bound on parallel
//! password hashing, and the header-read timeout.

use std::sync::Arc;
use std::time::Duration;

use dhune::Config;
use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{PASSWORD, TestApp, signup_fields};

/// Runs `run(n)` for n in 0..count, all released at once; the statuses.
async fn all_at_once<F, Fut>(count: usize, run: F) -> Vec<StatusCode>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = StatusCode> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(count));
    let mut tasks = Vec::new();
    for n in 0..count {
        let barrier = barrier.clone();
        let attempt = run(n);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            attempt.await
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn eighty_parallel_wrong_passwords_get_at_most_ten_evaluated(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("owner@example.com").await;
    let mut browsers = Vec::new();
    for _ in 0..80 {
        let browser = app.browser();
        browser.csrf_token().await;
        browsers.push(Arc::new(browser));
    }

    let statuses = all_at_once(80, |n| {
        let browser = browsers[n].clone();
        async move {
            browser
                .login("owner@example.com", &format!("guess-number-{n}"))
                .await
                .status
        }
    })
    .await;

    let evaluated = count(&statuses, StatusCode::UNPROCESSABLE_ENTITY);
    let refused = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    let busy = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    assert!(evaluated <= 10, "{evaluated} guesses were evaluated");
    assert!(evaluated >= 1, "the first guesses are evaluated");
    assert_eq!(evaluated + refused + busy, 80, "{statuses:?}");
    let failures = app
        .count("SELECT count(*) FROM throttle_attempts WHERE key LIKE 'login-pair:owner@example.com %'")
        .await;
    assert_eq!(
        failures, evaluated as i64,
        "each evaluated guess counted once"
    );
    // The owner, elsewhere, still gets in.
    app.browser_from([127, 0, 0, 9])
        .login("owner@example.com", PASSWORD)
        .await
        .assert_redirect("/requests");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_stranger_guessing_from_one_address_does_not_lock_the_owner_out(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("owner@example.com").await;
    let stranger = app.browser_from([127, 0, 0, 2]);
    for attempt in 1..=12 {
        let page = stranger.login("owner@example.com", "guess-guess").await;
        let expected = if attempt <= 10 {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(page.status, expected, "attempt {attempt}");
    }
    // Even the right password is not tried for the stranger's address ...
    assert_eq!(
        stranger.login("owner@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ... but the owner at home logs in.
    app.browser_from([127, 0, 0, 3])
        .login("owner@example.com", PASSWORD)
        .await
        .assert_redirect("/requests");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_account_guessed_at_from_many_addresses_hits_a_ceiling(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("owner@example.com").await;
    // A hundred failures from a botnet's addresses in the last minutes.
    sqlx::query(
        "INSERT INTO throttle_attempts (key, at)
         SELECT 'login-account:owner@example.com', now() - interval '1 minute'
         FROM generate_series(1, 100)",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let page = app
        .browser_from([127, 0, 0, 4])
        .login("owner@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.body
            .contains("Too many failed attempts for this account"),
        "{}",
        page.body
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn logins_from_one_address_are_limited_whatever_the_account(pool: PgPool) {
    let config = Config {
        login_limit_per_address: 5,
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;
    let browser = app.browser_from([127, 0, 0, 5]);
    for n in 1..=5 {
        let page = browser
            .login(&format!("nobody{n}@example.com"), "guess-guess")
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "attempt {n}");
    }
    let page = browser.login("sixth@example.com", "guess-guess").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.body
            .contains("Too many login attempts from your network"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"value="sixth@example.com""#),
        "the email is kept: {}",
        page.body
    );
    // Another address is not affected.
    let elsewhere = app
        .browser_from([127, 0, 0, 6])
        .login("nobody@example.com", "guess-guess")
        .await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn behind_a_trusted_proxy_the_address_comes_from_its_header(pool: PgPool) {
    let config = Config {
        login_limit_per_address: 2,
        trusted_proxy: Some("x-forwarded-for".parse().unwrap()),
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;
    let proxy = app.browser();
    let token = proxy.csrf_token().await;
    let login_from = |forwarded: &'static str| {
        let fields = [
            ("email", "nobody@example.com".to_owned()),
            ("password", "guess-guess".to_owned()),
            ("csrf_token", token.clone()),
        ];
        let proxy = &proxy;
        async move {
            proxy
                .post_raw("/login", &fields, &[("x-forwarded-for", forwarded)])
                .await
                .status
        }
    };
    let refused = StatusCode::TOO_MANY_REQUESTS;
    let evaluated = StatusCode::UNPROCESSABLE_ENTITY;
    assert_eq!(login_from("203.0.113.7").await, evaluated);
    assert_eq!(login_from("203.0.113.7").await, evaluated);
    assert_eq!(login_from("203.0.113.7").await, refused);
    // An entry the client wrote itself before the proxy's does not help.
    assert_eq!(login_from("198.51.100.1, 203.0.113.7").await, refused);
    // Another client behind the same proxy is counted on its own.
    assert_eq!(login_from("198.51.100.1, 203.0.113.8").await, evaluated);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_burst_of_signups_from_one_address_is_refused_after_the_limit(pool: PgPool) {
    let config = Config {
        signup_limit_per_address: 5,
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;
    let mut browsers = Vec::new();
    for _ in 0..30 {
        let browser = app.browser_from([127, 0, 0, 7]);
        browser.csrf_token().await;
        browsers.push(Arc::new(browser));
    }

    let statuses = all_at_once(30, |n| {
        let browser = browsers[n].clone();
        async move {
            browser
                .signup(&signup_fields(
                    "Sita Sharma",
                    &format!("burst{n}@example.com"),
                    "customer",
                ))
                .await
                .status
        }
    })
    .await;

    assert_eq!(count(&statuses, StatusCode::SEE_OTHER), 5, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 25);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 5);

    let refused = browsers[0]
        .signup(&signup_fields("Gita Rai", "late@example.com", "customer"))
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused.body.contains("Too many sign-ups from your network"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"value="Gita Rai""#),
        "typed values kept"
    );
    assert!(refused.body.contains(r#"value="late@example.com""#));

    // Someone at another address signs up as usual.
    let other = app.browser_from([127, 0, 0, 8]);
    other
        .signup(&signup_fields("Gita Rai", "late@example.com", "customer"))
        .await
        .assert_redirect("/requests");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn many_parallel_logins_wait_for_a_hashing_permit_or_get_503(pool: PgPool) {
    let config = Config {
        login_limit_per_address: 1000,
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;
    let mut browsers = Vec::new();
    for _ in 0..60 {
        let browser = app.browser();
        browser.csrf_token().await;
        browsers.push(Arc::new(browser));
    }
    let answers = Arc::new(tokio::sync::Mutex::new(Vec::new()));

    let statuses = all_at_once(60, |n| {
        let browser = browsers[n].clone();
        let answers = answers.clone();
        async move {
            let page = browser
                .login(&format!("unknown{n}@example.com"), "guess-guess")
                .await;
            let status = page.status;
            answers.lock().await.push(page);
            status
        }
    })
    .await;

    for page in answers.lock().await.iter() {
        match page.status {
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert!(page.body.contains("The email or password is not right."));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(page.headers.contains_key("retry-after"), "{page:?}");
                assert!(page.body.contains("Very busy"), "{}", page.body);
            }
            other => panic!("unexpected {other}: {}", page.body),
        }
    }
    assert_eq!(statuses.len(), 60);
}

/// Reads until the server closes the connection; what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut received))
        .await
        .is_ok();
    assert!(closed, "the server kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_half_sent_request_head_and_an_idle_connection_are_closed(pool: PgPool) {
    let config = Config {
        header_read_timeout: Duration::from_secs(1),
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;

    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /login HTTP/1.1\r\nHost: dhune\r\nUser-Agent: sl")
        .await
        .unwrap();
    read_until_closed(&mut slow).await;

    // A keep-alive connection that answered a request and then sits idle.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: dhune\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_live_stream_outlives_the_header_read_timeout(pool: PgPool) {
    let config = Config {
        header_read_timeout: Duration::from_secs(1),
        ..Config::for_tests()
    };
    let app = TestApp::spawn_with(pool, config).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    let mut stream = customer.events(Some("0-0")).await;
    assert_eq!(stream.next().await.event, "request_created");

    tokio::time::sleep(Duration::from_secs(3)).await;
    vendor.make_offer(request_id, "500").await;
    assert_eq!(stream.next().await.event, "offer_created");
}
