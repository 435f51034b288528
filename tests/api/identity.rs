//! Sessions and signed-in users kept in each instance's memory: a page view
//! runs only its own query, and what ends a session still ends it on every
//! instance.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, PASSWORD, Statements, TestApp};

/// The same browser (its cookies) talking to another instance.
fn on(app: &TestApp, browser: &Browser) -> Browser {
    let mut other = browser.clone();
    other.base = format!("http://{}", app.addr);
    other
}

/// What `path` answers to a request carrying only this session cookie.
async fn with_cookie(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{}{path}", app.addr))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status(), location)
}

/// Asks `path` with `cookie` (for up to 5 s) until it is sent to log in.
async fn until_sent_to_login(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = with_cookie(app, cookie, path).await;
        if answer.0 == StatusCode::SEE_OTHER || std::time::Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_suspension_ends_the_users_sessions_on_every_instance(pool: PgPool) {
    let one = TestApp::spawn(pool.clone()).await;
    let two = TestApp::spawn(pool).await;
    let customer = one.customer("c@example.com").await;
    let customer_on_two = on(&two, &customer);
    // Both instances now keep the session and the user.
    for browser in [&customer, &customer_on_two] {
        assert_eq!(browser.get("/requests").await.status, StatusCode::OK);
        assert_eq!(browser.get("/requests").await.status, StatusCode::OK);
    }
    let admin = one.admin("admin@example.com").await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'c@example.com'")
        .fetch_one(&one.pool)
        .await
        .unwrap();

    admin
        .post(
            &format!("/admin/users/{id}/suspend"),
            &[("reason", "Abusive messages".into())],
        )
        .await
        .assert_redirect("/admin/users");

    // The instance that suspended forgets at once; the other when it hears.
    customer
        .get("/requests")
        .await
        .assert_redirect("/login?next=%2Frequests");
    customer_on_two
        .get_until("/requests", |page| page.status == StatusCode::SEE_OTHER)
        .await
        .assert_redirect("/login?next=%2Frequests");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_logged_out_cookie_is_refused_on_every_instance(pool: PgPool) {
    let one = TestApp::spawn(pool.clone()).await;
    let two = TestApp::spawn(pool).await;
    one.customer("c@example.com").await;
    let browser = one.browser();
    let login = browser.login("c@example.com", PASSWORD).await;
    let cookie = login.cookie("dhune_session").expect("a session cookie");
    for app in [&one, &two] {
        for _ in 0..2 {
            assert_eq!(
                with_cookie(app, &cookie, "/requests").await.0,
                StatusCode::OK
            );
        }
    }

    browser.logout().await.assert_redirect("/login");

    assert_eq!(
        with_cookie(&one, &cookie, "/requests").await,
        (StatusCode::SEE_OTHER, "/login?next=%2Frequests".to_owned()),
        "refused at once where it logged out"
    );
    assert_eq!(
        until_sent_to_login(&two, &cookie, "/requests").await,
        (StatusCode::SEE_OTHER, "/login?next=%2Frequests".to_owned()),
        "and on the other instance"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_message_queued_on_one_instance_shows_on_the_next_page_on_another(pool: PgPool) {
    let one = TestApp::spawn(pool.clone()).await;
    let two = TestApp::spawn(pool).await;
    let customer = one.customer("c@example.com").await;
    let customer_on_two = on(&two, &customer);
    customer_on_two.get("/requests").await;
    customer_on_two.get("/requests").await;

    customer.create_request().await;

    let page = customer_on_two
        .get_until("/requests", |page| page.body.contains(r#"class="flash"#))
        .await;
    assert!(page.body.contains(r#"class="flash"#), "{}", page.body);
    let again = customer_on_two.get("/requests").await;
    assert!(!again.body.contains(r#"class="flash"#), "shown once");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn marking_read_on_one_instance_clears_the_count_on_another(pool: PgPool) {
    let one = TestApp::spawn(pool.clone()).await;
    let two = TestApp::spawn(pool).await;
    let customer = one.customer("c@example.com").await;
    let vendor = one.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let customer_on_two = on(&two, &customer);
    let one_unread = r#"1<span class="visually-hidden"> unread</span>"#;
    let page = customer_on_two
        .get_until("/requests", |page| page.body.contains(one_unread))
        .await;
    assert!(page.body.contains(one_unread), "{}", page.body);

    customer
        .post("/notifications/read-all", &[])
        .await
        .assert_redirect("/notifications");

    let none_unread = r#"0<span class="visually-hidden"> unread</span>"#;
    let page = customer_on_two
        .get_until("/requests", |page| page.body.contains(none_unread))
        .await;
    assert!(page.body.contains(none_unread), "{}", page.body);
}

/// The statements `browser` runs for `path` on its fewest of five views (a
/// change's notice, or an event the relay hands on, may come after a view
/// read the session or user again, and make the next view read it again).
async fn statements_of(statements: &Statements, browser: &Browser, path: &str) -> Vec<String> {
    let mut fewest: Option<Vec<String>> = None;
    for _ in 0..5 {
        statements.take();
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let ran = statements.take();
        if fewest.as_ref().is_none_or(|least| ran.len() < least.len()) {
            fewest = Some(ran);
        }
    }
    fewest.expect("five views")
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_signed_in_page_runs_only_its_own_statements(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let looking = app.vendor("w@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    customer.create_request().await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let order = customer.accept(offer_id, 1).await;
    let order_path = order.location().expect("the order").to_owned();
    let (statements, _guard) = Statements::record();

    for (browser, path, expected) in [
        (&customer, "/requests", 1),
        (&looking, "/board", 1),
        (&customer, order_path.as_str(), 1),
    ] {
        let ran = statements_of(&statements, browser, path).await;
        assert_eq!(ran.len(), expected, "{path}:\n{}", ran.join("\n"));
    }
}
