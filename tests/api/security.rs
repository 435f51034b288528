//! CSRF (both locks), role guards, redirects after login, escaping.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Captured, PASSWORD, TestApp, signup_fields};

fn with_token(fields: &[(&'static str, String)], token: &str) -> Vec<(&'static str, String)> {
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", token.to_owned()));
    fields
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_form_without_the_session_token_is_refused_and_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    browser.get("/signup").await;
    let fields = signup_fields("Sita", "sita@example.com", "customer");

    let missing = browser.post_raw("/signup", &fields, &[]).await;
    let wrong = browser
        .post_raw("/signup", &with_token(&fields, "0123456789abcdef"), &[])
        .await;
    let empty = browser
        .post_raw("/signup", &with_token(&fields, ""), &[])
        .await;

    for page in [&missing, &wrong, &empty] {
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.contains("Nothing was changed."), "{}", page.body);
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn another_sessions_token_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let victim = app.customer("victim@example.com").await;
    let attacker = app.browser();
    let attackers_token = attacker.csrf_token().await;

    let page = victim
        .post_raw("/logout", &[("csrf_token", attackers_token)], &[])
        .await;

    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        victim.get("/requests").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_token_in_a_header_works_for_htmx_and_a_wrong_one_does_not(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.customer("c@example.com").await;
    let page = browser.get("/requests").await;
    let token = browser.csrf_token().await;
    assert!(page.body.contains(&format!(
        r#"data-hx-headers='{{"X-CSRF-Token": "{token}"}}'"#
    )));

    let refused = browser
        .post_raw(
            "/logout",
            &[],
            &[("X-CSRF-Token", "nope"), ("HX-Request", "true")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/requests").await.status, StatusCode::OK);

    let accepted = browser
        .post_raw("/logout", &[], &[("X-CSRF-Token", &token)])
        .await;
    accepted.assert_redirect("/login");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_cross_origin_post_is_refused_even_with_a_valid_token(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let token = browser.csrf_token().await;
    let fields = with_token(
        &signup_fields("Sita", "sita@example.com", "customer"),
        &token,
    );

    let foreign_origin = browser
        .post_raw("/signup", &fields, &[("Origin", "https://evil.example")])
        .await;
    let cross_site = browser
        .post_raw("/signup", &fields, &[("Sec-Fetch-Site", "cross-site")])
        .await;

    for page in [&foreign_origin, &cross_site] {
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            page.body.contains("sent from another site"),
            "{}",
            page.body
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);

    let origin = browser.base.clone();
    let same_origin = browser
        .post_raw(
            "/signup",
            &fields,
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        )
        .await;
    same_origin.assert_redirect("/requests");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn each_role_is_kept_to_its_own_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let admin = app.admin("a@example.com").await;

    for (who, browser, allowed) in [
        ("customer", &customer, "/requests"),
        ("vendor", &vendor, "/board"),
        ("admin", &admin, "/admin"),
    ] {
        for path in ["/requests", "/board", "/admin"] {
            let page = browser.get(path).await;
            let expected = if path == allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(page.status, expected, "{who} on {path}");
            if expected == StatusCode::FORBIDDEN {
                assert!(page.body.contains("Your account cannot open this page."));
                assert!(
                    page.body.contains("Log out"),
                    "the error page keeps the user's navigation"
                );
            }
        }
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn anonymous_visitors_log_in_and_come_back_to_where_they_were_going(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.admin("a@example.com").await;
    let browser = app.browser();

    browser
        .get("/admin?page=2")
        .await
        .assert_redirect("/login?next=%2Fadmin%3Fpage%3D2");
    let form = browser.get("/login?next=%2Fadmin%3Fpage%3D2").await;
    assert!(
        form.body.contains(r#"name="next" value="/admin?page=2""#),
        "{}",
        form.body
    );

    let page = browser
        .post(
            "/login",
            &[
                ("email", "a@example.com".into()),
                ("password", PASSWORD.into()),
                ("next", "/admin?page=2".into()),
            ],
        )
        .await;
    page.assert_redirect("/admin?page=2");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn login_never_redirects_off_the_site(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;

    for next in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "requests",
    ] {
        let browser = app.browser();
        let form = browser
            .get(&format!("/login?next={}", urlencode(next)))
            .await;
        assert!(
            !form.body.contains("evil.example"),
            "{next}: not echoed into the form"
        );
        let page = browser
            .post(
                "/login",
                &[
                    ("email", "c@example.com".into()),
                    ("password", PASSWORD.into()),
                    ("next", next.into()),
                ],
            )
            .await;
        page.assert_redirect("/requests");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn what_users_type_is_shown_escaped(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let script = "<script>alert('x')</script>";

    let refused = browser
        .signup(&[
            ("name", script.into()),
            ("email", format!("\"><img src=x onerror=alert(1)>{script}")),
            ("role", "customer".into()),
        ])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !refused.body.contains(script) && !refused.body.contains("<img src=x"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("&lt;script&gt;") || refused.body.contains("&#60;script&#62;"));

    let signed_up = browser
        .signup(&signup_fields(script, "x@example.com", "customer"))
        .await;
    signed_up.assert_redirect("/requests");
    let home = browser.get("/requests").await;
    assert!(!home.body.contains(script));
    assert!(
        home.body.contains("&lt;script&gt;") || home.body.contains("&#60;script&#62;"),
        "{}",
        home.body
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_csrf_token_seen_before_login_or_signup_is_refused_after(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;

    let browser = app.browser();
    let before = browser.csrf_token().await;
    browser
        .login("c@example.com", PASSWORD)
        .await
        .assert_redirect("/requests");
    let stale = browser
        .post_raw("/logout", &[("csrf_token", before.clone())], &[])
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
    let fresh = browser.csrf_token().await;
    assert_ne!(fresh, before);
    browser.logout().await.assert_redirect("/login");

    let newcomer = app.browser();
    let before = newcomer.csrf_token().await;
    newcomer
        .signup(&signup_fields("Gita", "gita@example.com", "customer"))
        .await
        .assert_redirect("/requests");
    let stale = newcomer
        .post_raw("/logout", &[("csrf_token", before)], &[])
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_wrong_password_is_not_logged_as_an_error(pool: PgPool) {
    let captured = Captured::default();
    let _guard = captured.start();
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    captured.listen_again();

    let page = app.browser().login("c@example.com", "wrong-password").await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let log = captured.text();
    assert!(log.contains("POST"), "the capture works: {log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn htmx_loads_the_page_whole_after_login_signup_and_logout(pool: PgPool) {
    // The CSRF token htmx sends sits on <body>, which a boosted swap keeps:
    // after the session changes, the next page must be loaded whole.
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    let htmx = [("hx-request", "true"), ("hx-boosted", "true")];

    let browser = app.browser();
    let token = browser.csrf_token().await;
    let login = browser
        .post_raw(
            "/login",
            &[
                ("email", "c@example.com".into()),
                ("password", PASSWORD.into()),
                ("csrf_token", token),
            ],
            &htmx,
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.headers["hx-redirect"], "/requests");

    let page = browser.get("/requests").await;
    assert_eq!(page.status, StatusCode::OK);
    let token = browser.csrf_token().await;
    let logout = browser
        .post_raw("/logout", &[("csrf_token", token)], &htmx)
        .await;
    assert_eq!(logout.headers["hx-redirect"], "/login");

    let newcomer = app.browser();
    let mut fields = signup_fields("Gita", "gita@example.com", "customer");
    fields.push(("csrf_token", newcomer.csrf_token().await));
    let signup = newcomer.post_raw("/signup", &fields, &htmx).await;
    assert_eq!(signup.headers["hx-redirect"], "/requests");
}
